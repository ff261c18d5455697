"""The OpenAPI schema, its offline docs, and schema-driven fuzzing of every endpoint."""

import json

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from rest_framework.settings import api_settings

from tests.factories import LeadFactory, LeadSourceFactory, manager

pytestmark = pytest.mark.django_db


def test_the_schema_is_openapi_3_and_public(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {
        "/api/v1/leads/",
        "/api/v1/leads/{lead_id}/",
        "/api/v1/leads/{lead_id}/transition/",
        "/api/v1/leads/{lead_id}/timeline/",
        "/api/v1/reports/funnel/",
    } <= set(schema["paths"])
    # A developer reading the docs learns how to authenticate.
    assert "`Authorization: Token <key>`" in schema["info"]["description"]
    assert "create_api_token USERNAME" in schema["info"]["description"]


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_the_browsable_docs_load_their_scripts_from_our_own_static_files(client, path):
    response = client.get(path)

    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in page
    assert "cdn" not in page.lower()
    assert "unpkg" not in page.lower()


# Loaded at collection from the running app: the schema view needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application(), headers={"Accept": "application/json"})


@pytest.fixture
def keep_test_connection():
    """Calls go straight to the WSGI app, which closes old database connections at each request
    start and end; inside a test transaction that would close the test's own connection. Django's
    test client disconnects the same handler."""
    signals = (request_started, request_finished)
    for signal in signals:
        signal.disconnect(close_old_connections)
    yield
    for signal in signals:
        signal.connect(close_old_connections)


@pytest.fixture
def manager_token(db, monkeypatch, keep_test_connection) -> str:
    # Fuzzing sends hundreds of requests with one token: lift the per-token budget.
    monkeypatch.setitem(api_settings.DEFAULT_THROTTLE_RATES, "api", "1000000/min")
    monkeypatch.setitem(api_settings.DEFAULT_THROTTLE_RATES, "events", "1000000/min")
    cache.clear()
    user = manager()
    for _ in range(3):
        LeadFactory(owner=user)
    return Token.objects.create(user=user).key


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzzed_requests_get_no_server_error_and_answers_that_match_the_schema(case, manager_token):
    # positive_data_acceptance is left out: a request can match the schema and still be refused
    # by data the schema cannot know (a source name that does not exist, an e-mail already taken).
    excluded = [schemathesis.checks.positive_data_acceptance]
    if case.operation.label == "POST /api/v1/events/" and isinstance(case.body, list):
        # The contract answers a list with bad items 207, each bad item with its errors, not 4xx.
        excluded.append(schemathesis.checks.negative_data_rejection)
    if "Authorization" not in (case.headers or {}):
        # A case made invalid by leaving out the token header: the call below sends a valid one.
        excluded.append(schemathesis.checks.negative_data_rejection)
    case.call_and_validate(headers={"Authorization": f"Token {manager_token}"}, excluded_checks=excluded)


def test_every_request_example_in_the_docs_works_as_written(client):
    # What "Try it out" sends when a developer picks an example: each must be accepted.
    LeadFactory(pk=1)
    LeadSourceFactory(name="Website")
    token = Token.objects.create(user=manager()).key
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    tried = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            for name, example in content.get("examples", {}).items():
                response = client.generic(
                    method.upper(), path, json.dumps(example["value"]), content_type="application/json",
                    HTTP_AUTHORIZATION=f"Token {token}",
                )  # fmt: skip
                tried.append((method, path, name, response.status_code))

    assert {(method, path) for method, path, _, _ in tried} >= {("post", "/api/v1/events/"), ("post", "/api/v1/leads/")}
    assert [t for t in tried if t[3] not in (200, 201)] == []
