from unittest import mock

import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper

pytestmark = pytest.mark.django_db


@pytest.fixture
def embedded_broker(settings, tmp_path):
    """The filesystem broker of `make run`, whatever broker the test run itself is configured with."""
    settings.REDIS_URL = ""
    settings.CELERY_BROKER_DIR = tmp_path / "broker"
    (tmp_path / "broker" / "in").mkdir(parents=True)
    return settings.CELERY_BROKER_DIR


def test_healthz_answers_200_with_database_and_broker_state(client, embedded_broker):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok (embedded)"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_answers_503_when_the_database_is_unreachable(client, embedded_broker):
    with mock.patch.object(BaseDatabaseWrapper, "cursor", side_effect=OperationalError("connection refused")):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "down: OperationalError",
        "broker": "ok (embedded)",
    }


def test_healthz_reports_a_missing_embedded_broker_folder(client, embedded_broker):
    (embedded_broker / "in").rmdir()

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["broker"] == "down: broker folder missing"


def test_healthz_reports_a_broker_that_does_not_answer_without_failing(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["database"] == "ok"
    assert response.json()["broker"] == "down: ConnectionError"


@pytest.mark.redis
def test_healthz_reports_a_live_redis_broker(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["broker"] == "ok"


def test_healthz_needs_no_login_and_refuses_post(client):
    assert client.get("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


def test_the_favicon_address_leads_to_the_apps_icon(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"].endswith("img/favicon.svg")
