import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.models import Lead
from leads.services import lead_create
from scoring.models import EngagementEvent, EventType
from scoring.services import event_log
from tests.api.clients import token_client
from tests.factories import LeadFactory, UserFactory, manager, marketer, rep

pytestmark = pytest.mark.django_db

URL = "/api/v1/events/"


def test_one_event_answers_one_object_and_rescores_the_lead():
    lead = lead_create(email="kim@acme.example", title="VP Marketing")

    response = token_client(marketer()).post(
        URL,
        {"lead_id": lead.id, "type": "pricing_page_view", "properties": {"url": "/pricing"}},
        format="json",
    )

    assert response.status_code == 201
    event = EngagementEvent.objects.get()
    lead.refresh_from_db()
    assert response.json() == {
        "id": event.id,
        "lead_id": lead.id,
        "duplicate": False,
        "score": lead.score,
        "temperature": lead.temperature,
        "stage": lead.stage,
    }
    assert lead.score == 15
    assert (event.source, event.properties) == ("api", {"url": "/pricing"})


def test_events_move_a_leads_temperature_and_stage():
    lead = lead_create(email="dana@acme.example", title="VP Sales", attributes={"lead_origin": "Lead Add Form"})
    client = token_client(manager())

    for event_type in ("webinar_attended", "email_reply", "demo_request"):
        response = client.post(URL, {"lead_id": lead.id, "type": event_type}, format="json")
        assert response.status_code == 201

    assert (response.json()["temperature"], response.json()["stage"]) == ("hot", "sql")
    lead.refresh_from_db()
    assert (lead.temperature, lead.stage) == ("hot", "sql")


def test_an_unknown_email_creates_a_raw_lead():
    response = token_client(marketer()).post(URL, {"email": "New@Example.com", "type": "page_view"}, format="json")

    assert response.status_code == 201
    lead = Lead.objects.get()
    assert (lead.email, lead.stage) == ("new@example.com", "raw")
    assert response.json()["lead_id"] == lead.id


def test_a_repeated_idempotency_key_is_not_counted_twice():
    lead = lead_create(email="kim@acme.example")
    client = token_client(marketer())
    body = {"lead_id": lead.id, "type": "pricing_page_view", "idempotency_key": "evt-1"}

    first = client.post(URL, body, format="json")
    second = client.post(URL, body, format="json")

    assert (first.status_code, first.json()["duplicate"]) == (201, False)
    assert (second.status_code, second.json()["duplicate"]) == (201, True)
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["score"] == first.json()["score"]
    assert EngagementEvent.objects.count() == 1


def test_a_key_used_again_for_another_lead_or_type_is_refused_not_taken_for_a_duplicate():
    hans, karl = lead_create(email="hans@acme.example"), lead_create(email="karl@acme.example")
    client = token_client(marketer())
    first = client.post(URL, {"lead_id": hans.id, "type": "page_view", "idempotency_key": "k1"}, format="json")

    other_lead = client.post(URL, {"lead_id": karl.id, "type": "page_view", "idempotency_key": "k1"}, format="json")
    other_type = client.post(URL, {"lead_id": hans.id, "type": "demo_request", "idempotency_key": "k1"}, format="json")
    in_a_list = client.post(
        URL,
        [
            {"lead_id": karl.id, "type": "page_view", "idempotency_key": "k1"},
            {"lead_id": karl.id, "type": "email_open", "idempotency_key": "k2"},
            {"lead_id": hans.id, "type": "email_open", "idempotency_key": "k2"},
        ],
        format="json",
    )

    event_id = first.json()["id"]
    message = (
        f"This idempotency key was already used for event {event_id} (page_view of lead {hans.id}); "
        "send a new key for a new event."
    )
    assert (other_lead.status_code, other_lead.json()) == (409, {"detail": message, "event_id": event_id})
    assert other_type.status_code == 409
    assert in_a_list.status_code == 207
    answers = in_a_list.json()
    assert answers[0] == {"errors": {"idempotency_key": [message]}}
    assert answers[1]["duplicate"] is False
    assert "idempotency_key" in answers[2]["errors"]  # k2 went to Karl's e-mail open just before
    assert EngagementEvent.objects.filter(lead=karl).count() == 1
    assert EngagementEvent.objects.filter(lead=hans).count() == 1


def test_a_new_address_under_a_taken_key_is_refused_without_making_a_lead():
    hans = lead_create(email="hans@acme.example")
    client = token_client(marketer())
    client.post(URL, {"lead_id": hans.id, "type": "page_view", "idempotency_key": "k1"}, format="json")

    single = client.post(
        URL, {"email": "new@acme.example", "type": "page_view", "idempotency_key": "k1"}, format="json"
    )
    listed = client.post(
        URL,
        [
            {"email": "other@acme.example", "type": "page_view", "idempotency_key": "k1"},
            {"email": "third@acme.example", "type": "page_view", "idempotency_key": "k3"},
        ],
        format="json",
    )

    assert single.status_code == 409
    assert listed.status_code == 207
    assert "idempotency_key" in listed.json()[0]["errors"] and listed.json()[1]["duplicate"] is False
    assert sorted(Lead.objects.values_list("email", flat=True)) == ["hans@acme.example", "third@acme.example"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"type": "page_view"}, {"lead_id"}),
        ({"email": "a@example.com"}, {"type"}),
        ({"email": "a@example.com", "type": "teleportation"}, {"type"}),
        ({"email": "not-an-email", "type": "page_view"}, {"email"}),
        ({"email": "a@example.com", "lead_id": 1, "type": "page_view"}, {"lead_id"}),
        ({"email": "a@example.com", "type": "page_view", "occurred_at": "yesterday"}, {"occurred_at"}),
        ({"email": "a@example.com", "type": "page_view", "occurred_at": "2026-01-01T10:00:00"}, {"occurred_at"}),
        ({"email": "a@example.com", "type": "page_view", "occurred_at": "2999-01-01T10:00:00Z"}, {"occurred_at"}),
        ({"email": "a@example.com", "type": "page_view", "properties": ["x"]}, {"properties"}),
        ({"email": "a@example.com", "type": "page_view", "properties": {"u": "a\x00b"}}, {"properties"}),
        ({"email": "a@example.com", "type": "page_view", "idempotency_key": ""}, {"idempotency_key"}),
        ({"email": "a@example.com", "type": "page_view", "colour": "red"}, {"colour"}),
        ({"lead_id": True, "type": "page_view"}, {"lead_id"}),
    ],
)
def test_a_bad_event_answers_400_with_field_errors_and_writes_nothing(body, fields):
    response = token_client(marketer()).post(URL, body, format="json")

    assert response.status_code == 400
    assert set(response.json()) == fields
    assert EngagementEvent.objects.count() == 0
    assert Lead.objects.count() == 0


def test_a_list_answers_a_list_in_the_same_order():
    first, second = lead_create(email="a@example.com"), lead_create(email="b@example.com")

    response = token_client(marketer()).post(
        URL,
        [
            {"lead_id": second.id, "type": "page_view"},
            {"lead_id": first.id, "type": "pricing_page_view"},
            {"email": "c@example.com", "type": "page_view"},
        ],
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    created = Lead.objects.get(email="c@example.com")
    assert [item["lead_id"] for item in body] == [second.id, first.id, created.id]
    assert [item["duplicate"] for item in body] == [False, False, False]
    assert EngagementEvent.objects.count() == 3


def test_a_list_with_bad_items_stores_the_good_ones_and_answers_207():
    lead = lead_create(email="a@example.com")

    response = token_client(marketer()).post(
        URL,
        [
            {"lead_id": lead.id, "type": "page_view"},
            {"lead_id": lead.id, "type": "teleportation"},
            "not an object",
            {"lead_id": 987654321, "type": "page_view"},
            {"lead_id": lead.id, "type": "pricing_page_view"},
        ],
        format="json",
    )

    assert response.status_code == 207
    body = response.json()
    assert [sorted(item) == ["errors"] for item in body] == [False, True, True, True, False]
    assert list(body[1]["errors"]) == ["type"]
    assert list(body[3]["errors"]) == ["lead_id"]
    assert sorted(EngagementEvent.objects.values_list("event_type__key", flat=True)) == [
        "page_view",
        "pricing_page_view",
    ]


def test_a_list_of_1000_is_accepted_and_1001_refused():
    lead = lead_create(email="a@example.com")
    client = token_client(marketer())
    batch = [{"lead_id": lead.id, "type": "page_view", "idempotency_key": f"k{i}"} for i in range(1001)]

    refused = client.post(URL, batch, format="json")
    assert (refused.status_code, refused.json()) == (400, {"detail": "Send at most 1,000 events at once."})
    assert EngagementEvent.objects.count() == 0

    accepted = client.post(URL, batch[:1000], format="json")
    assert accepted.status_code == 201
    assert len(accepted.json()) == 1000
    assert EngagementEvent.objects.count() == 1000


def test_an_empty_list_answers_400():
    response = token_client(marketer()).post(URL, [], format="json")

    assert (response.status_code, response.json()) == (400, {"detail": "Send at least one event."})


def test_a_rep_cannot_post_events_for_another_reps_lead():
    me, other = rep(), rep()
    theirs = LeadFactory(owner=other, email="theirs@example.com")
    mine = LeadFactory(owner=me)
    client = token_client(me)

    by_id = client.post(URL, {"lead_id": theirs.id, "type": "page_view"}, format="json")
    by_email = client.post(URL, {"email": "THEIRS@example.com", "type": "page_view"}, format="json")
    listed = client.post(
        URL,
        [{"lead_id": theirs.id, "type": "page_view"}, {"lead_id": mine.id, "type": "page_view"}],
        format="json",
    )

    assert by_id.status_code == 404
    assert (by_email.status_code, list(by_email.json())) == (400, ["email"])
    assert listed.status_code == 207
    assert listed.json()[0] == {"errors": {"lead_id": ["No such lead."]}}
    assert listed.json()[1]["lead_id"] == mine.id
    assert list(EngagementEvent.objects.values_list("lead_id", flat=True)) == [mine.id]


def test_posting_events_needs_a_role():
    lead = LeadFactory(owner=None)

    response = token_client(UserFactory()).post(URL, {"lead_id": lead.id, "type": "page_view"}, format="json")

    assert response.status_code == 403
    assert EngagementEvent.objects.count() == 0


def test_a_malformed_body_answers_400():
    response = token_client(marketer()).generic("POST", URL, "[{", content_type="application/json")

    assert response.status_code == 400
    assert EngagementEvent.objects.count() == 0


def test_event_types_lists_the_active_types():
    EventType.objects.filter(key="sms_sent").update(active=False)

    response = token_client(rep()).get("/api/v1/event-types/")

    assert response.status_code == 200
    keys = [item["key"] for item in response.json()["results"]]
    assert "demo_request" in keys
    assert "sms_sent" not in keys
    demo = next(item for item in response.json()["results"] if item["key"] == "demo_request")
    assert demo == {"key": "demo_request", "label": "Demo request", "category": "hand_raiser"}


def test_the_score_endpoint_explains_the_score():
    lead = lead_create(email="kim@acme.example", title="VP Marketing")
    client = token_client(manager())
    client.post(URL, {"lead_id": lead.id, "type": "pricing_page_view"}, format="json")

    response = client.get(f"/api/v1/leads/{lead.id}/score/")

    assert response.status_code == 200
    body = response.json()
    assert (body["score"], body["fit_score"], body["engagement_score"], body["temperature"]) == (15, 20.0, 10.0, "cold")
    assert body["model_version"] == 1
    rules = {item["rule"]: item["points"] for item in body["contributions"]}
    assert rules["Senior title (VP)"] == 20
    assert rules["Pricing page view"] == pytest.approx(10, abs=0.01)


def test_another_reps_score_is_404():
    lead = LeadFactory(owner=rep())

    assert token_client(rep()).get(f"/api/v1/leads/{lead.id}/score/").status_code == 404


@pytest.mark.parametrize("make_user", [manager, rep])
def test_an_event_for_a_missing_lead_is_404_and_stores_nothing(make_user):
    response = token_client(make_user()).post(URL, {"lead_id": 987654321, "type": "page_view"}, format="json")

    assert response.status_code == 404
    assert EngagementEvent.objects.count() == 0


def test_the_api_adds_no_query_to_the_services_for_an_event():
    first, second = lead_create(email="a@example.com"), lead_create(email="b@example.com")
    client = token_client(marketer())
    client.post(URL, {"lead_id": first.id, "type": "page_view"}, format="json")  # token cached, scoring warmed

    event_log(lead=second, event_type="page_view", source="api")  # both leads have a scoring state now

    with CaptureQueriesContext(connection) as direct:
        event_log(lead=Lead(pk=second.id), event_type="page_view", source="api")
    with CaptureQueriesContext(connection) as through_api:
        assert client.post(URL, {"lead_id": first.id, "type": "page_view"}, format="json").status_code == 201

    assert len(through_api) == len(direct)


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"email": "a@example.com", "type": "page_view", "idempotency_key": 123},
            {"idempotency_key": ["Send the key as text of 1-200 characters."]},
        ),
        (
            {"email": "a@example.com", "type": "page_view", "idempotency_key": "k" * 201},
            {"idempotency_key": ["Use 1-200 characters."]},
        ),
        (
            {"email": "a@example.com", "type": "page_view", "idempotency_key": "k\x00"},
            {"idempotency_key": ["Null characters are not allowed."]},
        ),
        ({"email": "a@example.com", "type": 5}, {"type": ["Send the event type as text of 1-50 characters."]}),
        ({"email": "a@example.com", "type": ["view"]}, {"type": ["Send the event type as text of 1-50 characters."]}),
        ({"email": "a@example.com", "type": ""}, {"type": ["Name the event type (1-50 characters)."]}),
        ({"email": "a@example.com"}, {"type": ["Name the event type (1-50 characters)."]}),
        ({"email": "a@example.com", "type": "page\x00view"}, {"type": ["Null characters are not allowed."]}),
        (
            {"email": "a@example.com", "type": "page_view", "properties": "url=/pricing"},
            {"properties": ["Send the properties as an object of name: value pairs."]},
        ),
        (
            {"email": "a@example.com", "type": "page_view", "occurred_at": 1767225600},
            {"occurred_at": ["Send the time as text: an ISO 8601 date and time with a time zone."]},
        ),
        (
            {"email": "a@example.com", "type": "page_view", "occurred_at": "2026-01-01T10:00:00"},
            {"occurred_at": ["Give an ISO 8601 date and time with a time zone."]},
        ),
        ({"lead_id": "12", "type": "page_view"}, {"lead_id": ["Send the lead id as a whole number (a JSON number)."]}),
        ({"lead_id": 1.5, "type": "page_view"}, {"lead_id": ["Send the lead id as a whole number (a JSON number)."]}),
        ({"lead_id": True, "type": "page_view"}, {"lead_id": ["Send the lead id as a whole number (a JSON number)."]}),
        ({"lead_id": 0, "type": "page_view"}, {"lead_id": ["A lead id is a positive whole number."]}),
        ({"email": 42, "type": "page_view"}, {"email": ["Send the address as text (a JSON string)."]}),
        ({"email": "a\x00@example.com", "type": "page_view"}, {"email": ["Null characters are not allowed."]}),
        ({"email": "   ", "type": "page_view"}, {"email": ["Enter a valid e-mail address."]}),
    ],
)
def test_a_bad_event_value_is_told_the_type_or_size_that_fits(body, errors):
    response = token_client(marketer()).post(URL, body, format="json")
    listed = token_client(marketer()).post(URL, [body], format="json")

    assert (response.status_code, response.json()) == (400, errors)
    assert (listed.status_code, listed.json()) == (207, [{"errors": errors}])
    assert EngagementEvent.objects.count() == 0
    assert Lead.objects.count() == 0


@pytest.mark.parametrize("body", ["5", '"page_view"', "true", "null"])
def test_a_body_that_is_neither_an_event_nor_a_list_answers_a_detail_string(body):
    response = token_client(marketer()).generic("POST", URL, body, content_type="application/json")

    assert (response.status_code, response.json()) == (
        400,
        {"detail": "Send an event (a JSON object) or a list of events."},
    )
    assert EngagementEvent.objects.count() == 0


def test_a_list_item_that_is_not_an_object_is_answered_in_the_items_errors():
    lead = lead_create(email="a@example.com")

    response = token_client(marketer()).post(URL, [5, {"lead_id": lead.id, "type": "page_view"}], format="json")

    assert response.status_code == 207
    assert response.json()[0] == {"errors": {"non_field_errors": ["Send each event as a JSON object."]}}
    assert response.json()[1]["lead_id"] == lead.id
    assert EngagementEvent.objects.count() == 1
