"""A big batch outside any transaction is logged in parts side by side (PostgreSQL), and the
result is what one transaction would have stored."""

import datetime
import random
import re

import pytest
from django.db import connection, transaction

from core.errors import IdempotencyKeyConflict
from leads.models import Lead
from leads.services import lead_create
from scoring import services
from scoring.models import EngagementEvent, LeadScoringState, ScoreChange

NOW = datetime.datetime(2026, 11, 2, 10, 0, tzinfo=datetime.UTC)
TYPES = ["page_view", "pricing_page_view", "content_download", "email_open", "email_click", "webinar_attended"]
LEAD_COLUMNS = ["score", "fit_score", "engagement_score", "temperature", "stage", "last_engaged_at"]


def _twins(prefix: str, count: int) -> list[Lead]:
    titles = ["VP Sales", "Head of Growth", "Intern", "CTO"]
    return [
        lead_create(email=f"{prefix}{i}@acme.example", title=titles[i % len(titles)], now=NOW) for i in range(count)
    ]


def _items(leads: list[Lead], prefix: str) -> list[dict]:
    picks = random.Random(7)
    items: list[dict] = []
    for i in range(300):
        item = {
            "lead_id": leads[picks.randrange(len(leads))].pk,
            "type": picks.choice(TYPES),
            "occurred_at": NOW - datetime.timedelta(minutes=picks.randrange(600)),
            "idempotency_key": f"{prefix}-{i}",
        }
        items.append(item)
    items[10]["type"] = "no_such_type"  # refused, the rest stored
    items[20].update(lead_id=items[19]["lead_id"], type=items[19]["type"], idempotency_key=f"{prefix}-19")  # a repeat
    items[30] = {"email": f"{prefix}-new@acme.example", "type": "email_open", "idempotency_key": f"{prefix}-n"}
    return items


def _writing_transactions(key_prefix: str) -> int:
    """How many transactions wrote the events whose idempotency keys start with ``key_prefix``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT xmin::text) FROM scoring_engagementevent WHERE idempotency_key LIKE %s",
            [f"{key_prefix}%"],
        )
        return cursor.fetchone()[0]


def _answer(result) -> tuple:
    if not isinstance(result, services.EventResult):
        return ("error", tuple(sorted(result.message_dict)))
    lead = result.lead
    return (result.duplicate, lead.score, lead.temperature, lead.stage)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_big_batch_is_logged_in_parts_and_stores_what_one_transaction_would(migration_data, settings):
    settings.DATABASE_PARALLEL_WRITES = 2
    parallel_leads, serial_leads = _twins("p", 40), _twins("s", 40)

    parallel = services.event_log_batch(items=_items(parallel_leads, "p"), source="api", now=NOW)
    with transaction.atomic():  # inside a transaction: one part, on this connection
        serial = services.event_log_batch(items=_items(serial_leads, "s"), source="api", now=NOW)

    # It did split: the events were written by two transactions.
    assert _writing_transactions("p-") == 2
    assert _writing_transactions("s-") == 1

    assert [_answer(r) for r in parallel] == [_answer(r) for r in serial]
    assert _answer(parallel[10])[0] == "error" and parallel[20].duplicate
    for twin_p, twin_s in zip(parallel_leads, serial_leads, strict=True):
        stored_p, stored_s = Lead.objects.get(pk=twin_p.pk), Lead.objects.get(pk=twin_s.pk)
        assert [getattr(stored_p, c) for c in LEAD_COLUMNS] == [getattr(stored_s, c) for c in LEAD_COLUMNS]
        state_p = LeadScoringState.objects.filter(lead=twin_p).first()
        state_s = LeadScoringState.objects.filter(lead=twin_s).first()
        assert (state_p and state_p.engagement_state) == (state_s and state_s.engagement_state)
        assert ScoreChange.objects.filter(lead=twin_p).count() == ScoreChange.objects.filter(lead=twin_s).count()
    assert EngagementEvent.objects.filter(source="api", idempotency_key__startswith="p-").count() == 298
    assert Lead.objects.filter(email="p-new@acme.example").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_key_naming_two_leads_keeps_the_batch_in_one_transaction(migration_data, settings):
    settings.DATABASE_PARALLEL_WRITES = 2
    leads = _twins("k", 10)
    items = _items(leads, "k")
    items[5]["idempotency_key"] = "k-shared"
    items[6]["idempotency_key"] = "k-shared"
    items[6]["lead_id"] = next(lead.pk for lead in leads if lead.pk != items[5]["lead_id"])

    results = services.event_log_batch(items=items, source="api", now=NOW)

    assert isinstance(results[6], IdempotencyKeyConflict) and results[6].event_id == results[5].event.pk
    assert _writing_transactions("k-") == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_key_naming_two_new_addresses_keeps_the_batch_in_one_transaction(migration_data, settings):
    """Addresses become leads before the keys are compared: two new addresses are two leads."""
    settings.DATABASE_PARALLEL_WRITES = 2
    items = _items(_twins("a", 10), "a")
    items[7] = {"email": "a-first@acme.example", "type": "page_view", "idempotency_key": "a-by-address"}
    items[8] = {"email": "a-second@acme.example", "type": "page_view", "idempotency_key": "a-by-address"}

    results = services.event_log_batch(items=items, source="api", now=NOW)

    assert not results[7].duplicate
    assert isinstance(results[8], IdempotencyKeyConflict) and results[8].event_id == results[7].event.pk
    assert _writing_transactions("a-") == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_part_that_fails_on_its_thread_fails_the_batch(migration_data, settings, monkeypatch):
    import threading

    settings.DATABASE_PARALLEL_WRITES = 2
    leads = _twins("f", 20)
    real_log_many = services._log_many

    def log_many(*args, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("connection lost")
        return real_log_many(*args, **kwargs)

    monkeypatch.setattr(services, "_log_many", log_many)

    with pytest.raises(RuntimeError, match="connection lost"):
        services.event_log_batch(items=_items(leads, "f"), source="api", now=NOW)


def _big_table(count: int) -> None:
    """``count`` more leads, each with a scoring state, analysed as a production server's
    autovacuum would have done: the planner then weighs a scan against index probes."""
    model = lead_create(email="model@plan.example", now=NOW)
    services.event_log(lead=model, event_type="page_view", now=NOW)
    others = [f.column for f in Lead._meta.concrete_fields if f.column not in ("id", "email")]
    columns = ", ".join(others)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO leads_lead (email, {columns}) SELECT 'p' || g || '@plan.example', {columns} "  # noqa: S608
            "FROM leads_lead, generate_series(1, %s) g WHERE id = %s",
            [count, model.pk],
        )
        cursor.execute(
            "INSERT INTO scoring_leadscoringstate (lead_id, model_version, engagement_state, next_cooling_at,"
            " updated_at) SELECT l.id, s.model_version, s.engagement_state, NULL, s.updated_at"
            " FROM leads_lead l, scoring_leadscoringstate s WHERE s.lead_id = %s AND l.id <> %s",
            [model.pk, model.pk],
        )
        cursor.execute("ANALYZE leads_lead")
        cursor.execute("ANALYZE scoring_leadscoringstate")


def _plan(sql: str, params: list | None = None) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_batch_locks_its_leads_and_reads_their_states_by_primary_key_not_by_scans():
    """As a plain join, the states of 1,000 leads among 100,000 were read by hashing every
    state row: 29 ms against 11 ms with one probe per lead, growing with the table."""
    _big_table(20000)
    ids = sorted(Lead.objects.order_by("?").values_list("id", flat=True)[:500])

    plan = _plan(services._lock_sql(many=True), [ids])

    assert not re.search(r"Seq Scan on leads_lead\b", plan), plan
    assert "Seq Scan on scoring_leadscoringstate" not in plan, plan
    assert "scoring_leadscoringstate_pkey" in plan, plan
    with transaction.atomic():
        locked = services._locked_leads(ids)
    assert sorted(locked) == ids
    assert all(lead.state_version is not None for lead in locked.values())


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_batch_updates_its_leads_through_the_primary_key_not_a_scan_of_the_table():
    """Told that 500 rows were coming, PostgreSQL hashed the whole lead table to join them:
    23 of the UPDATE's 47 ms for 1,000 leads among 100,000, growing with the table. The batch
    now hands its arrays over unsized, and each lead is found by its primary key."""
    from django.test.utils import CaptureQueriesContext

    _big_table(20000)
    leads = list(Lead.objects.order_by("?")[:500])
    for lead in leads:
        lead.score = 10
    with CaptureQueriesContext(connection) as captured:
        services._bulk_update_leads(leads, services.EVENT_COLUMNS)
    (update,) = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("UPDATE")]
    plan = _plan(update)

    assert not re.search(r"Seq Scan on leads_lead\b", plan), plan
    assert "leads_lead_pkey" in plan, plan
    assert Lead.objects.filter(score=10).count() == 500
