import datetime

import pytest
from django.utils import timezone

from leads.models import Stage
from leads.services import activity_log, lead_create, lead_transition
from tests.api.clients import token_client
from tests.factories import rep

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
