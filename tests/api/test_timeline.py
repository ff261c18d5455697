import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leads.models import Stage
from leads.services import activity_log, lead_create, lead_transition
from scoring.services import event_log
from tests.api.clients import token_client
from tests.factories import manager, rep

pytestmark = pytest.mark.django_db


def test_the_timeline_lists_activities_and_stage_changes_newest_first():
    me = rep(username="rita")
    start = timezone.now() - datetime.timedelta(hours=3)
    lead = lead_create(email="a@example.com", actor=me, now=start)
    activity_log(
        lead=lead, kind="call", subject="Intro call", actor=me, occurred_at=start + datetime.timedelta(hours=1)
    )
    lead_transition(lead=lead, to_stage=Stage.MQL, actor=me, now=start + datetime.timedelta(hours=2))

    response = token_client(me).get(f"/api/v1/leads/{lead.id}/timeline/")

    assert response.status_code == 200
    results = response.json()["results"]
    assert [entry["kind"] for entry in results] == ["stage_change", "activity", "stage_change"]
    assert [entry["at"] for entry in results] == sorted((entry["at"] for entry in results), reverse=True)
    moved, call, created = results
    assert (moved["from_stage"], moved["to_stage"], moved["actor"]) == ("raw", "mql", "rita")
    assert (call["activity_kind"], call["subject"], call["actor"]) == ("call", "Intro call", "rita")
    assert (created["from_stage"], created["to_stage"]) == (None, "raw")


def test_the_timeline_limit_keeps_the_newest_entries():
    me = rep()
    start = timezone.now() - datetime.timedelta(days=1)
    lead = lead_create(email="a@example.com", actor=me, now=start)
    for hour in range(1, 6):
        activity_log(
            lead=lead, kind="note", body=f"note {hour}", actor=me, occurred_at=start + datetime.timedelta(hours=hour)
        )

    results = token_client(me).get(f"/api/v1/leads/{lead.id}/timeline/", {"limit": 2}).json()["results"]

    assert [entry["body"] for entry in results] == ["note 5", "note 4"]


@pytest.mark.parametrize("limit", ["0", "501", "many"])
def test_a_bad_limit_answers_400(limit):
    me = rep()
    lead = lead_create(email="a@example.com", actor=me)

    response = token_client(me).get(f"/api/v1/leads/{lead.id}/timeline/", {"limit": limit})

    assert (response.status_code, list(response.json())) == (400, ["limit"])


def test_the_timeline_shows_events_and_score_changes():
    me = rep()
    lead = lead_create(email="kim@acme.example", title="VP Marketing", actor=me)
    event_log(lead=lead, event_type="pricing_page_view", properties={"url": "/pricing"}, source="web")

    results = token_client(me).get(f"/api/v1/leads/{lead.id}/timeline/").json()["results"]

    by_kind = {entry["kind"]: entry for entry in results}
    assert set(by_kind) == {"event", "score_change", "stage_change"}
    assert (by_kind["event"]["type"], by_kind["event"]["properties"], by_kind["event"]["points"]) == (
        "pricing_page_view",
        {"url": "/pricing"},
        10.0,
    )
    assert (by_kind["score_change"]["previous_score"], by_kind["score_change"]["score"]) == (0, 15)


def test_the_timeline_costs_the_same_queries_for_a_long_history():
    me = rep()
    short = lead_create(email="short@example.com", actor=me)
    long = lead_create(email="long@example.com", actor=me)
    for i in range(30):
        event_log(lead=long, event_type="page_view", idempotency_key=f"k{i}")
        activity_log(lead=long, kind="note", body=f"note {i}", actor=me)
    client = token_client(me)
    client.get("/api/v1/event-types/")  # the token's user is cached from here on

    counts = []
    for lead in (short, long):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/api/v1/leads/{lead.id}/timeline/").status_code == 200
        counts.append(len(queries))

    assert counts[0] == counts[1]


def test_the_timeline_says_who_got_the_lead_and_how():
    from leads.services import lead_assign

    boss, seller = manager(), rep(username="sam")
    lead = lead_create(email="owned@example.com")
    lead_assign(lead=lead, owner=seller, actor=boss)

    results = token_client(boss).get(f"/api/v1/leads/{lead.id}/timeline/").json()["results"]

    changes = [entry for entry in results if entry["kind"] == "owner_change"]
    assert [(c["from_owner"], c["to_owner"], c["actor"], c["via"]) for c in changes] == [
        (None, "sam", boss.get_username(), "")
    ]
