import datetime

import pytest
from django.utils import timezone

from tests.factories import ActivityFactory, LeadFactory, StageChangeFactory
from web.timeline import lead_timeline

pytestmark = pytest.mark.django_db


def test_timeline_merges_activities_and_stage_changes_newest_first():
    lead = LeadFactory()
    now = timezone.now()
    call = ActivityFactory(lead=lead, kind="call", occurred_at=now - datetime.timedelta(hours=1))
    move = StageChangeFactory(lead=lead, changed_at=now - datetime.timedelta(minutes=30))
    note = ActivityFactory(lead=lead, kind="note", occurred_at=now - datetime.timedelta(days=1))
    ActivityFactory(kind="call")  # another lead's

    entries = lead_timeline(lead=lead)

    assert [(e["kind"], e["obj"]) for e in entries] == [("stage_change", move), ("activity", call), ("activity", note)]
    assert entries[0]["at"] == move.changed_at


def test_timeline_is_cut_to_the_limit():
    lead = LeadFactory()
    ActivityFactory.create_batch(5, lead=lead)
    StageChangeFactory.create_batch(5, lead=lead)

    assert len(lead_timeline(lead=lead, limit=4)) == 4


def test_extra_sources_join_the_merge():
    lead = LeadFactory()
    at = timezone.now() + datetime.timedelta(minutes=1)

    def events(*, lead, limit):
        return [{"kind": "event", "at": at, "obj": "demo_request"}]

    entries = lead_timeline(lead=lead, sources=[events])

    assert entries == [{"kind": "event", "at": at, "obj": "demo_request"}]
