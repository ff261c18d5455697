"""leads_score_replay: scoring event logs that were stored in bulk (the demo seed, back-fills)."""

import datetime

import pytest

from leads.models import Lead, StageChange
from leads.services import lead_create
from scoring import services
from scoring.models import EngagementEvent, LeadScoringState, ScoreChange

NOW = datetime.datetime(2026, 11, 2, 10, 0, tzinfo=datetime.UTC)
pytestmark = pytest.mark.django_db


def test_replaying_a_log_stored_in_bulk_scores_as_event_log_did_live_and_moves_no_stage():
    # Given two identical leads: one gets its events through event_log, the other as bare rows.
    steps = [
        ("webinar_attended", {}, NOW - datetime.timedelta(days=20)),
        ("page_view", {"seconds": 700}, NOW - datetime.timedelta(days=9)),
        ("demo_request", {}, NOW - datetime.timedelta(days=2)),
    ]
    live = lead_create(
        email="live@acme.example", title="VP Sales", attributes={"lead_origin": "Lead Add Form"}, now=NOW
    )
    bulk = lead_create(
        email="bulk@acme.example", title="VP Sales", attributes={"lead_origin": "Lead Add Form"}, now=NOW
    )
    Lead.objects.filter(pk=bulk.pk).update(score=0, fit_score=0, engagement_score=0)
    for key, properties, at in steps:
        services.event_log(lead=live, event_type=key, properties=properties, occurred_at=at, now=at)
        EngagementEvent.objects.create(
            lead=bulk,
            event_type_id=services._event_type_ids()[key][0],
            occurred_at=at,
            recorded_at=at,
            properties=properties,
        )
    stage_changes_before = StageChange.objects.filter(lead=bulk).count()

    # When the bulk lead's log is replayed
    scored = services.leads_score_replay(first_id=bulk.pk, last_id=bulk.pk, now=NOW)

    # Then its events, history and state match the live lead's, and its stage did not move
    assert scored == 1
    live_final = services.lead_rescore(lead=live, now=NOW)
    bulk.refresh_from_db()
    assert (bulk.score, bulk.fit_score, bulk.engagement_score, bulk.temperature) == (
        live_final.score,
        live_final.fit_score,
        live_final.engagement_score,
        live_final.temperature,
    )
    assert bulk.last_engaged_at == steps[-1][2]
    assert list(EngagementEvent.objects.filter(lead=bulk).order_by("id").values_list("points", flat=True)) == list(
        EngagementEvent.objects.filter(lead=live).order_by("id").values_list("points", flat=True)
    )
    event_history = ScoreChange.objects.filter(lead=bulk, cause="event").order_by("changed_at")
    assert [(c.score, c.temperature) for c in event_history] == [
        (c.score, c.temperature) for c in ScoreChange.objects.filter(lead=live, cause="event").order_by("changed_at")
    ]
    state = LeadScoringState.objects.get(lead=bulk)
    assert state.engagement_state == LeadScoringState.objects.get(lead=live).engagement_state
    assert state.next_cooling_at is not None
    assert (bulk.stage, StageChange.objects.filter(lead=bulk).count()) == ("raw", stage_changes_before)
    assert live_final.stage == "sql"
