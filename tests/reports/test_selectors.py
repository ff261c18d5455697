import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leads.models import Lead, Stage
from leads.services import lead_create, lead_transition
from reports.selectors import funnel_report
from tests.factories import LeadFactory, LeadSourceFactory, manager, rep

pytestmark = pytest.mark.django_db


def walk(email: str, *stages: str, actor, **fields) -> Lead:
    """A lead created in raw that moves through ``stages`` in order."""
    lead = lead_create(email=email, actor=actor, **fields)
    for stage in stages:
        lead_transition(
            lead=lead,
            to_stage=stage,
            actor=actor,
            lost_reason="no_budget" if stage == Stage.LOST else "",
            reason="again" if stage == Stage.RAW else "",
        )
    return lead


def test_a_lead_counts_in_every_stage_it_reached_and_every_earlier_main_stage():
    boss = manager()
    walk("raw@example.com", actor=boss)
    walk("mql@example.com", Stage.MQL, actor=boss)
    walk("pql-won@example.com", Stage.PQL, Stage.SQL, Stage.WON, actor=boss)
    walk("sql-lost@example.com", Stage.MQL, Stage.SQL, Stage.LOST, actor=boss)
    walk("pql@example.com", Stage.PQL, actor=boss)
    walk("recycled@example.com", Stage.MQL, Stage.RAW, actor=boss)

    report = funnel_report(user=boss)

    assert report["stages"] == ["raw", "mql", "pql", "sql", "won", "lost"]
    assert report["group_by"] is None
    assert report["rows"] == [
        {
            "group": None,
            "counts": {"raw": 6, "mql": 4, "pql": 2, "sql": 2, "won": 1, "lost": 1},
            "rates": {"raw_mql": 0.6667, "mql_sql": 0.5, "sql_won": 0.5, "raw_pql": 0.3333, "raw_won": 0.1667},
        }
    ]


def test_a_lead_without_history_counts_by_its_current_stage():
    boss = manager()
    LeadFactory(stage=Stage.SQL)

    counts = funnel_report(user=boss)["rows"][0]["counts"]

    assert counts == {"raw": 1, "mql": 1, "pql": 0, "sql": 1, "won": 0, "lost": 0}


def test_rates_are_none_when_nothing_reached_the_earlier_stage():
    report = funnel_report(user=manager())

    assert report["rows"] == [
        {
            "group": None,
            "counts": {"raw": 0, "mql": 0, "pql": 0, "sql": 0, "won": 0, "lost": 0},
            "rates": {"raw_mql": None, "mql_sql": None, "sql_won": None, "raw_pql": None, "raw_won": None},
        }
    ]


def test_group_by_source_owner_and_campaign():
    boss = manager()
    alice, bob = rep(username="alice"), rep(username="bob")
    web, ads = LeadSourceFactory(name="Web"), LeadSourceFactory(name="Ads")
    walk("a1@example.com", Stage.MQL, actor=boss, owner=alice, source=web)
    walk("a2@example.com", actor=boss, owner=alice, source=ads)
    walk("b1@example.com", Stage.MQL, Stage.SQL, actor=boss, owner=bob, source=web)
    walk("n1@example.com", actor=boss)

    by_source = funnel_report(user=boss, group_by="source")["rows"]
    by_owner = funnel_report(user=boss, group_by="owner")["rows"]
    by_campaign = funnel_report(user=boss, group_by="campaign")["rows"]

    assert [(row["group"], row["counts"]["raw"], row["counts"]["mql"]) for row in by_source] == [
        ("Ads", 1, 0),
        ("Web", 2, 2),
        (None, 1, 0),
    ]
    assert [(row["group"], row["counts"]["raw"], row["counts"]["sql"]) for row in by_owner] == [
        ("alice", 2, 0),
        ("bob", 1, 1),
        (None, 1, 0),
    ]
    assert [(row["group"], row["counts"]["raw"]) for row in by_campaign] == [(None, 4)]


def test_start_and_end_are_inclusive_days_of_lead_creation():
    boss = manager()
    for day in (1, 2, 3, 4):
        lead = LeadFactory()
        created = timezone.make_aware(datetime.datetime(2026, 3, day, 23, 30))
        Lead.objects.filter(pk=lead.pk).update(created_at=created)

    report = funnel_report(user=boss, start=datetime.date(2026, 3, 2), end=datetime.date(2026, 3, 3))

    assert report["rows"][0]["counts"]["raw"] == 2
    assert (report["start"], report["end"]) == (datetime.date(2026, 3, 2), datetime.date(2026, 3, 3))


def test_a_rep_sees_the_funnel_of_their_own_leads_and_the_pool():
    me, other = rep(), rep()
    LeadFactory(owner=me)
    LeadFactory(owner=None)
    LeadFactory(owner=other)

    assert funnel_report(user=me)["rows"][0]["counts"]["raw"] == 2


@pytest.mark.parametrize("count", [5, 300])
def test_the_funnel_is_one_query_whatever_the_number_of_leads(count):
    boss = manager()
    Lead.objects.bulk_create(
        [LeadFactory.build(email=f"n{i}@example.org", stage=Stage.MQL if i % 2 else Stage.RAW) for i in range(count)]
    )
    boss.has_perm("leads.view_all_leads")  # the permission cache is the user's, not the report's

    with CaptureQueriesContext(connection) as queries:
        funnel_report(user=boss, group_by="owner")

    assert len(queries) == 1
