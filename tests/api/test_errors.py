import json

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from api.errors import api_exception_handler, field_errors
from leads.models import Lead
from scoring.models import EngagementEvent
from tests.api.clients import token_client
from tests.factories import LeadFactory, UserFactory, manager, marketer, rep

pytestmark = pytest.mark.django_db

LIST = "/api/v1/leads/"


@pytest.mark.parametrize("header", [None, "Token not-a-real-key", "Bearer abc", "Token"])
def test_missing_or_bad_token_answers_401(header):
    LeadFactory(owner=None)
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)

    listed = client.get(LIST)
    created = client.post(LIST, {"email": "a@example.com"}, format="json")

    assert listed.status_code == 401
    assert created.status_code == 401
    assert listed["WWW-Authenticate"] == "Token"
    assert Lead.objects.count() == 1


def test_a_token_sent_with_another_scheme_is_told_how_to_send_it():
    user = marketer()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {Token.objects.create(user=user).key}")

    response = client.get(LIST)

    assert (response.status_code, response.json()) == (
        401,
        {"detail": 'Send the token as "Authorization: Token <key>".'},
    )


def test_an_unknown_source_is_named_in_plain_words():
    response = token_client(marketer()).post(LIST, {"email": "a@example.com", "source": "Nope"}, format="json")

    assert (response.status_code, response.json()) == (400, {"source": ["There is no lead source named “Nope”."]})


def test_a_token_of_an_inactive_user_answers_401():
    user = rep()
    client = token_client(user)
    user.is_active = False
    user.save()

    assert client.get(LIST).status_code == 401


def test_malformed_json_answers_400():
    response = token_client(rep()).generic("POST", LIST, '{"email": "a@example.com",', content_type="application/json")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")
    assert Lead.objects.count() == 0


def test_a_form_encoded_body_answers_415():
    response = token_client(rep()).post(LIST, {"email": "a@example.com"})

    assert response.status_code == 415
    assert Lead.objects.count() == 0


@override_settings(API_MAX_BODY_BYTES=1000)
def test_an_oversized_body_answers_413_and_writes_nothing():
    body = json.dumps({"email": "a@example.com", "need": "x" * 2000})

    response = token_client(rep()).generic("POST", LIST, body, content_type="application/json")

    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is too large: at most 1,000 bytes."}
    assert Lead.objects.count() == 0


def test_a_body_over_djangos_own_limit_answers_413(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body = json.dumps({"email": "a@example.com", "need": "x" * 200})

    response = token_client(rep()).generic("POST", LIST, body, content_type="application/json")

    assert response.status_code == 413
    assert Lead.objects.count() == 0


def test_requests_past_the_tokens_budget_answer_429_per_token(monkeypatch):
    cache.clear()
    monkeypatch.setitem(api_settings.DEFAULT_THROTTLE_RATES, "api", "3/min")
    busy, calm = token_client(rep()), token_client(rep())

    statuses = [busy.get(LIST).status_code for _ in range(4)]
    refused = busy.get(LIST)

    assert statuses == [200, 200, 200, 429]
    assert int(refused["Retry-After"]) >= 1
    assert calm.get(LIST).status_code == 200
    cache.clear()


def test_unknown_api_paths_answer_json_404():
    response = token_client(rep()).get("/api/v1/nothing-here/")

    assert response.status_code == 404
    assert response.json() == {"detail": "No such API endpoint."}


def test_a_deleted_token_stops_working_at_once():
    user = rep()
    client = token_client(user)
    assert client.get(LIST).status_code == 200

    Token.objects.filter(user=user).delete()

    assert client.get(LIST).status_code == 401


def test_a_user_deactivated_after_using_the_api_is_refused_at_once():
    user = rep()
    client = token_client(user)
    assert client.get(LIST).status_code == 200

    user.is_active = False
    user.save()

    assert client.get(LIST).status_code == 401


def test_a_user_who_loses_their_role_is_refused_at_once():
    user = rep()
    client = token_client(user)
    assert client.get(LIST).status_code == 200

    user.groups.clear()

    assert client.get(LIST).status_code == 403


def test_a_known_token_costs_no_query_before_the_work(django_assert_num_queries):
    user = rep()
    client = token_client(user)
    client.get("/api/v1/event-types/")

    with django_assert_num_queries(1):  # the event types themselves
        assert client.get("/api/v1/event-types/").status_code == 200


def endpoints(lead_id: int) -> list[tuple[str, str, object]]:
    return [
        ("get", "/api/v1/leads/", None),
        ("post", "/api/v1/leads/", {"email": "new@example.com"}),
        ("get", f"/api/v1/leads/{lead_id}/", None),
        ("patch", f"/api/v1/leads/{lead_id}/", {"first_name": "Changed"}),
        ("post", f"/api/v1/leads/{lead_id}/transition/", {"stage": "mql"}),
        ("get", f"/api/v1/leads/{lead_id}/score/", None),
        ("get", f"/api/v1/leads/{lead_id}/timeline/", None),
        ("post", "/api/v1/events/", {"lead_id": lead_id, "type": "page_view"}),
        ("get", "/api/v1/event-types/", None),
        ("get", "/api/v1/reports/funnel/", None),
    ]


def call(client, method: str, path: str, body: object):
    return getattr(client, method)(path, body, format="json") if body is not None else getattr(client, method)(path)


def test_every_endpoint_answers_401_without_a_token_and_403_without_a_role():
    lead = LeadFactory(owner=None, first_name="Kept")
    anonymous, roleless = APIClient(), token_client(UserFactory())

    for method, path, body in endpoints(lead.id):
        assert call(anonymous, method, path, body).status_code == 401, (method, path)
        assert call(roleless, method, path, body).status_code == 403, (method, path)
    lead.refresh_from_db()
    assert (Lead.objects.count(), lead.first_name, lead.stage) == (1, "Kept", "raw")


def test_every_lead_endpoint_answers_404_for_another_reps_lead():
    lead = LeadFactory(owner=rep(), first_name="Kept")
    client = token_client(rep())

    for method, path, body in endpoints(lead.id):
        if f"/{lead.id}/" in path or (isinstance(body, dict) and body.get("lead_id") == lead.id):
            assert call(client, method, path, body).status_code == 404, (method, path)
    lead.refresh_from_db()
    assert (lead.first_name, lead.stage) == ("Kept", "raw")


def test_the_events_budget_is_separate_from_the_rest(monkeypatch):
    cache.clear()
    monkeypatch.setitem(api_settings.DEFAULT_THROTTLE_RATES, "events", "2/min")
    lead = LeadFactory(owner=None)
    client = token_client(marketer())

    statuses = [
        client.post("/api/v1/events/", {"lead_id": lead.id, "type": "page_view"}, format="json").status_code
        for _ in range(3)
    ]

    assert statuses == [201, 201, 429]
    assert client.get(LIST).status_code == 200
    cache.clear()


@override_settings(API_MAX_BODY_BYTES=5000)
def test_an_oversized_event_batch_answers_413_and_stores_nothing():
    lead = LeadFactory(owner=None)
    body = json.dumps([{"lead_id": lead.id, "type": "page_view"}] * 200)

    response = token_client(marketer()).generic("POST", "/api/v1/events/", body, content_type="application/json")

    assert response.status_code == 413
    assert EngagementEvent.objects.count() == 0


def test_a_path_with_a_newline_still_answers_json_404():
    response = token_client(rep()).get("/api/v1/leads/%0Ax/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


def test_a_service_error_about_no_single_field_answers_a_detail_string():
    response = api_exception_handler(ValidationError(["The lead moved.", "Reload the page."]), {})

    assert (response.status_code, response.data) == (400, {"detail": "The lead moved. Reload the page."})
    # in a list's item, where every value is a list of messages, it goes where DRF puts such errors
    assert field_errors(ValidationError("The lead moved.")) == {"non_field_errors": ["The lead moved."]}


LIST_PARAMETERS = "stage, temperature, owner, source, q, min_score, ordering, cursor, page_size"


def test_unknown_query_parameters_of_a_list_answer_400_naming_each():
    LeadFactory(owner=None)

    response = token_client(manager()).get(LIST, {"foo": "1", "stage": "raw", "pagesize": "10"})

    assert (response.status_code, response.json()) == (
        400,
        {
            "foo": [f"Unknown query parameter. Known: {LIST_PARAMETERS}."],
            "pagesize": [f"Unknown query parameter. Known: {LIST_PARAMETERS}."],
        },
    )


def test_the_documented_query_parameters_format_and_the_next_link_still_work():
    boss = manager()
    leads = [LeadFactory(owner=None, score=score, company="Acme") for score in (30, 20, 10)]
    client = token_client(boss)
    params = {
        "stage": "raw",
        "temperature": "cold",
        "owner": "none",
        "q": "acme",
        "min_score": "0",
        "ordering": "-score",
        "page_size": "2",
        "format": "json",
    }

    first = client.get(LIST, params)
    second = client.get(first.json()["next"])

    assert (first.status_code, second.status_code) == (200, 200)
    assert "format=json" in first.json()["next"] and "cursor=" in first.json()["next"]
    seen = [lead["id"] for lead in first.json()["results"] + second.json()["results"]]
    assert seen == [lead.id for lead in leads]


@pytest.mark.parametrize(
    ("path", "params", "known"),
    [
        ("/api/v1/leads/{id}/timeline/", {"limit": "5", "since": "2026-01-01"}, "Known: limit."),
        ("/api/v1/reports/funnel/", {"group_by": "source", "groupby": "owner"}, "Known: start, end, group_by."),
    ],
)
def test_other_lists_refuse_unknown_query_parameters_too(path, params, known):
    lead = LeadFactory(owner=None)
    client = token_client(manager())
    unknown = next(key for key in params if key not in known)

    refused = client.get(path.format(id=lead.id), params)
    answered = client.get(path.format(id=lead.id), {key: value for key, value in params.items() if key != unknown})

    assert (refused.status_code, refused.json()) == (400, {unknown: [f"Unknown query parameter. {known}"]})
    assert answered.status_code == 200


def test_an_endpoint_without_query_parameters_refuses_any_and_writes_nothing():
    lead = LeadFactory(owner=None, first_name="Kept")
    client = token_client(manager())
    none = ["Unknown query parameter: this endpoint takes none."]

    read = client.get(f"/api/v1/leads/{lead.id}/?fields=email")
    patched = client.patch(f"/api/v1/leads/{lead.id}/?dry_run=1", {"first_name": "Changed"}, format="json")
    logged = client.post("/api/v1/events/?async=1", {"lead_id": lead.id, "type": "page_view"}, format="json")

    assert (read.status_code, read.json()) == (400, {"fields": none})
    assert (patched.status_code, patched.json()) == (400, {"dry_run": none})
    assert (logged.status_code, logged.json()) == (400, {"async": none})
    lead.refresh_from_db()
    assert (lead.first_name, EngagementEvent.objects.count()) == ("Kept", 0)
    assert client.get(f"/api/v1/leads/{lead.id}/?format=json").status_code == 200


def test_a_request_without_a_token_hears_of_the_token_before_its_query_parameters():
    response = APIClient().get(LIST, {"foo": "1"})

    assert response.status_code == 401


def test_a_method_the_endpoint_lacks_is_405_whatever_its_query_and_head_reads_as_get():
    LeadFactory(owner=None)
    client = token_client(manager())

    assert client.put(f"{LIST}?foo=1", {"email": "a@example.com"}, format="json").status_code == 405
    assert client.head(LIST, {"stage": "raw"}).status_code == 200
    assert client.head(LIST, {"foo": "1"}).status_code == 400


def test_a_query_parameter_given_twice_is_refused_not_read_as_the_last():
    response = token_client(manager()).get("/api/v1/leads/?stage=mql&stage=sql")

    assert (response.status_code, response.json()) == (400, {"stage": ["Give this parameter once (one value each)."]})


def test_attributes_that_are_not_an_object_are_told_the_shape_to_send():
    response = token_client(manager()).post(
        "/api/v1/leads/", {"email": "shape@example.com", "attributes": ["Pro"]}, format="json"
    )

    assert (response.status_code, response.json()) == (
        400,
        {"attributes": ['Send an object of keys and values, e.g. {"plan": "Pro"} (not list).']},
    )
