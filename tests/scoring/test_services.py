import datetime
import itertools
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import IdempotencyKeyConflict
from leads.models import Lead, StageChange
from leads.services import lead_create
from scoring import selectors, services
from scoring.models import EngagementEvent, LeadScoringState, ScoreChange
from tests.factories import LeadFactory

NOW = datetime.datetime(2026, 11, 2, 10, 0, tzinfo=datetime.UTC)
pytestmark = pytest.mark.django_db
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def _statements(captured: CaptureQueriesContext) -> list[str]:
    """The SQL statements run, without transaction control (which SQLite logs and PostgreSQL does not)."""
    return [q["sql"] for q in captured.captured_queries if not q["sql"].upper().startswith(TRANSACTION_CONTROL)]


def _warm_mql_lead():
    lead = lead_create(
        email="dana@acme.example", title="VP Sales", attributes={"lead_origin": "Lead Add Form"}, now=NOW
    )
    services.event_log(lead=lead, event_type="webinar_attended", now=NOW - datetime.timedelta(hours=2))
    services.event_log(lead=lead, event_type="email_reply", now=NOW - datetime.timedelta(hours=1))
    lead.refresh_from_db()
    return lead


def test_an_event_is_stored_and_rescores_its_lead():
    lead = lead_create(email="kim@acme.example", title="VP Marketing", now=NOW)

    result = services.event_log(
        lead=lead, event_type="pricing_page_view", properties={"url": "/pricing"}, source="web", now=NOW
    )

    lead.refresh_from_db()
    assert result.duplicate is False
    assert result.event.points == 10
    assert (lead.fit_score, lead.engagement_score, lead.score, lead.temperature) == (20.0, 10.0, 15, "cold")
    assert lead.last_engaged_at == NOW
    change = ScoreChange.objects.get(lead=lead)
    assert (change.cause, change.previous_score, change.score, change.event_id) == ("event", 0, 15, result.event.pk)


def test_a_demo_request_on_a_warm_mql_lead_makes_it_hot_and_sql_at_once():
    lead = _warm_mql_lead()
    assert (lead.stage, lead.temperature, lead.score) == ("mql", "warm", 52)

    result = services.event_log(lead=lead, event_type="demo_request", source="web", now=NOW)

    lead.refresh_from_db()
    assert (lead.stage, lead.temperature, lead.score) == ("sql", "hot", 72)
    assert result.stage_rule == "Sales qualified (hand-raiser)"
    move = StageChange.objects.filter(lead=lead).order_by("-id").first()
    assert (move.from_stage, move.to_stage, move.transition, move.actor) == ("mql", "sql", "advance", None)
    assert move.rule == "Sales qualified (hand-raiser) (scoring model v1)"
    assert move.reason == "SQL: demo_request or contact_sales or quote_request within 30 days and fit >= 40"
    explanation = selectors.lead_score_explanation(lead=lead, now=NOW)
    assert explanation["model_version"] == 1
    assert explanation["temperature"] == "hot"
    by_rule = {c["rule"]: c for c in explanation["contributions"]}
    assert by_rule["Demo request"]["points"] == 40.0
    assert by_rule["Demo request"]["events"] == 1
    assert by_rule["Came through a lead form"]["points"] == 50


def test_rules_never_move_a_lead_back():
    lead = LeadFactory(stage="sql", title="VP Sales")

    services.event_log(lead=lead, event_type="unsubscribe", now=NOW)

    lead.refresh_from_db()
    assert lead.stage == "sql"
    assert not StageChange.objects.filter(lead=lead).exists()


def test_a_lost_lead_is_not_requalified_by_rules():
    lead = LeadFactory(
        stage="lost", lost_reason="no_budget", title="VP Sales", attributes={"lead_origin": "Lead Add Form"}
    )

    services.event_log(lead=lead, event_type="demo_request", now=NOW)

    lead.refresh_from_db()
    assert (lead.stage, lead.temperature) == ("lost", "warm")


def test_a_repeated_idempotency_key_is_a_duplicate_and_changes_nothing():
    lead = lead_create(email="ana@acme.example", now=NOW)
    first = services.event_log(
        lead=lead, event_type="email_click", idempotency_key="msg-1:click", source="mailer", now=NOW
    )
    lead.refresh_from_db()
    before = (lead.score, lead.engagement_score, ScoreChange.objects.count(), EngagementEvent.objects.count())

    again = services.event_log(
        lead=lead, event_type="email_click", idempotency_key="msg-1:click", source="mailer", now=NOW
    )

    lead.refresh_from_db()
    assert again.duplicate is True
    assert again.event.pk == first.event.pk
    assert (lead.score, lead.engagement_score, ScoreChange.objects.count(), EngagementEvent.objects.count()) == before


def test_the_same_key_from_another_source_is_a_new_event():
    lead = lead_create(email="ana@acme.example", now=NOW)
    services.event_log(lead=lead, event_type="email_click", idempotency_key="k1", source="mailer", now=NOW)

    other = services.event_log(lead=lead, event_type="email_click", idempotency_key="k1", source="tracker", now=NOW)

    assert other.duplicate is False
    assert EngagementEvent.objects.filter(lead=lead).count() == 2


def test_an_unknown_email_creates_a_raw_lead():
    result = services.event_log(email="New.Person@Example.org", event_type="content_download", now=NOW)

    lead = Lead.objects.get(email="new.person@example.org")
    assert result.lead.pk == lead.pk
    assert (lead.stage, lead.engagement_score) == ("raw", 10.0)


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"event_type": "telepathy"}, "type", "'telepathy' is not a known event type."),
        ({"event_type": "page_view", "properties": {"url": 42}}, "properties", "'url' must be text"),
        ({"event_type": "page_view", "properties": "nope"}, "properties", "must be an object of name: value pairs"),
        (
            {"event_type": "page_view", "occurred_at": NOW + datetime.timedelta(minutes=6)},
            "occurred_at",
            "This is more than 5 minutes in the future.",
        ),
        (
            {"event_type": "page_view", "email": "not-an-address", "lead": None},
            "email",
            "Enter a valid e-mail address.",
        ),
    ],
)
def test_bad_input_is_refused_field_by_field_and_writes_nothing(kwargs, field, message):
    lead = lead_create(email="ana@acme.example", now=NOW)
    kwargs = {"lead": lead, **kwargs}
    leads_before = Lead.objects.count()

    with pytest.raises(ValidationError) as refused:
        services.event_log(now=NOW, **kwargs)

    assert refused.value.message_dict == {field: [message]}
    assert EngagementEvent.objects.count() == 0
    assert ScoreChange.objects.count() == 0
    assert Lead.objects.count() == leads_before


def test_an_event_five_minutes_ahead_is_accepted():
    lead = lead_create(email="ana@acme.example", now=NOW)

    result = services.event_log(
        lead=lead, event_type="page_view", occurred_at=NOW + datetime.timedelta(minutes=4), now=NOW
    )

    assert result.event.occurred_at == NOW + datetime.timedelta(minutes=4)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_event_costs_at_most_five_queries_whatever_the_history(migration_data):
    lead = lead_create(email="busy@acme.example", now=NOW)
    for i in range(120):
        services.event_log(
            lead=lead,
            event_type="page_view",
            properties={"url": f"/blog/{i}", "seconds": 30},
            now=NOW - datetime.timedelta(minutes=200 - i),
        )
    lead.refresh_from_db()

    with CaptureQueriesContext(connection) as plain:
        services.event_log(lead=lead, event_type="email_open", now=NOW)
    with CaptureQueriesContext(connection) as keyed:
        services.event_log(lead=lead, event_type="email_click", idempotency_key="c-1", source="mailer", now=NOW)

    # PostgreSQL: lock + one statement for every write; SQLite: lock, event, lead, state, history.
    expected = 2 if connection.vendor == "postgresql" else 5
    assert len(_statements(plain)) == expected
    assert len(_statements(keyed)) == expected
    assert EngagementEvent.objects.filter(lead=lead).count() == 122


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_stage_move_stays_within_the_query_budget(migration_data):
    lead = _warm_mql_lead()
    for i in range(50):
        services.event_log(lead=lead, event_type="page_view", now=NOW - datetime.timedelta(minutes=50 - i))

    # PostgreSQL writes everything in one statement; SQLite needs one more for the stage-history row.
    budget = 2 if connection.vendor == "postgresql" else 6
    with CaptureQueriesContext(connection) as captured:
        services.event_log(lead=lead, event_type="demo_request", now=NOW)

    assert len(_statements(captured)) == budget

    lead.refresh_from_db()
    assert lead.stage == "sql"


def test_incremental_scores_equal_a_full_recomputation_from_the_event_log():
    lead = lead_create(email="mix@acme.example", title="Director of IT", company_size=80, now=NOW)
    plan = [
        ("page_view", {"seconds": 300}, -40),
        ("pricing_page_view", {}, -3),
        ("pricing_page_view", {}, -3),
        ("pricing_page_view", {}, -3),
        ("pricing_page_view", {}, -2),
        ("email_open", {}, -20),  # arrives late: older than what came before
        ("product_usage", {}, -1),
        ("unsubscribe", {}, -5),
        ("webinar_attended", {}, 0),
        ("page_view", {"seconds": 900}, -10),
    ]
    for event_type, properties, days in plan:
        services.event_log(
            lead=lead,
            event_type=event_type,
            properties=properties,
            occurred_at=NOW + datetime.timedelta(days=days),
            now=NOW,
        )
    lead.refresh_from_db()
    incremental = (lead.score, lead.fit_score, lead.engagement_score, lead.temperature)
    incremental_state = LeadScoringState.objects.get(lead=lead).engagement_state

    recomputed = services.lead_rescore(lead=lead, now=NOW)

    assert (recomputed.score, recomputed.fit_score, recomputed.engagement_score, recomputed.temperature) == incremental
    assert LeadScoringState.objects.get(lead=lead).engagement_state == incremental_state


def test_a_batch_keeps_order_and_each_item_stands_alone():
    lead = lead_create(email="ana@acme.example", now=NOW)

    results = services.event_log_batch(
        items=[
            {"lead_id": lead.pk, "type": "email_open"},
            {"lead_id": lead.pk, "type": "nonsense"},
            {"email": "fresh@example.org", "type": "page_view", "occurred_at": "2026-11-02T09:00:00Z"},
            {"lead_id": 987654, "type": "page_view"},
        ],
        source="api",
        now=NOW,
    )

    assert [type(r).__name__ for r in results] == ["EventResult", "ValidationError", "EventResult", "ValidationError"]
    assert results[1].message_dict == {"type": ["'nonsense' is not a known event type."]}
    assert results[3].message_dict == {"lead_id": ["No such lead."]}
    assert results[2].lead.email == "fresh@example.org"
    assert results[2].event.occurred_at == datetime.datetime(2026, 11, 2, 9, 0, tzinfo=datetime.UTC)
    assert EngagementEvent.objects.count() == 2


def test_selectors_list_events_and_score_changes_newest_first():
    lead = lead_create(email="ana@acme.example", now=NOW)
    services.event_log(lead=lead, event_type="email_open", occurred_at=NOW - datetime.timedelta(hours=1), now=NOW)
    services.event_log(lead=lead, event_type="email_click", now=NOW)

    assert [e.event_type.key for e in selectors.lead_events(lead=lead)] == ["email_click", "email_open"]
    assert [c.score for c in selectors.lead_score_changes(lead=lead)] == [6, 4]
    assert "demo_request" in [t.key for t in selectors.event_types()]


# --- cooling over time -------------------------------------------------------------------


def _hot_lead(email: str, at: datetime.datetime) -> Lead:
    lead = lead_create(email=email, now=at)
    services.event_log(lead=lead, event_type="demo_request", now=at)
    services.event_log(lead=lead, event_type="meeting_booked", now=at)
    lead.refresh_from_db()
    assert lead.temperature == "hot"
    return lead


def test_the_sweep_cools_exactly_the_leads_that_are_due():
    hot = _hot_lead("hot@acme.example", NOW - datetime.timedelta(days=30))
    fresh = _hot_lead("fresh@acme.example", NOW)
    due_at = LeadScoringState.objects.get(lead=hot).next_cooling_at
    assert NOW - datetime.timedelta(days=30) < due_at < NOW

    cooled = services.leads_cool(now=NOW)

    hot.refresh_from_db()
    fresh.refresh_from_db()
    assert cooled == 1
    assert hot.temperature == "warm"
    assert fresh.temperature == "hot"
    change = ScoreChange.objects.filter(lead=hot).order_by("-id").first()
    assert (change.cause, change.previous_temperature, change.temperature) == ("decay", "hot", "warm")
    assert change.engagement_score == hot.engagement_score
    assert hot.engagement_score < 40
    next_due = LeadScoringState.objects.get(lead=hot).next_cooling_at
    assert next_due > NOW
    assert services.leads_cool(now=NOW) == 0


def test_a_lead_cools_from_hot_to_warm_to_cold_and_then_leaves_the_watch_list():
    lead = _hot_lead("ana@acme.example", NOW - datetime.timedelta(days=200))

    assert services.leads_cool(now=NOW - datetime.timedelta(days=170)) == 1
    lead.refresh_from_db()
    assert lead.temperature == "warm"
    assert services.leads_cool(now=NOW) == 1

    lead.refresh_from_db()
    assert lead.temperature == "cold"
    assert LeadScoringState.objects.get(lead=lead).next_cooling_at is None
    causes = list(ScoreChange.objects.filter(lead=lead, cause="decay").values_list("temperature", flat=True))
    assert sorted(causes) == ["cold", "warm"]


# --- model versions ----------------------------------------------------------------------


def _draft_from_default() -> "services.ScoringModel":
    return services.model_copy_as_draft(model=services.active_model())


def test_a_rule_on_a_field_that_does_not_exist_cannot_be_published():
    draft = _draft_from_default()
    draft.fit_rules.create(name="Shoe size", attribute="shoe_size", operator="gte", value=42, points=10)

    with pytest.raises(ValidationError) as refused:
        services.model_publish(model=draft)

    assert refused.value.message_dict == {
        "rules": ["Fit rule 'Shoe size': 'shoe_size' is not a lead field or a defined custom attribute."]
    }
    draft.refresh_from_db()
    assert draft.status == "draft"
    assert services.active_model().version == 1


def test_preview_counts_the_leads_a_new_version_would_change_and_writes_nothing():
    warm = _warm_mql_lead()
    lead_create(email="quiet@acme.example", now=NOW)
    draft = _draft_from_default()
    draft.engagement_rules.filter(name="Attended webinar").update(points=60, cap_total=60)

    preview = services.model_preview(model=draft, now=NOW)

    assert (preview.leads, preview.temperature_changes, preview.score_changes) == (2, 1, 1)
    warm.refresh_from_db()
    assert warm.temperature == "warm"


def test_publishing_rescores_every_lead_in_chunks_and_can_resume_after_a_crash(django_capture_on_commit_callbacks):
    warm = _warm_mql_lead()
    others = [lead_create(email=f"p{i}@acme.example", now=NOW) for i in range(4)]
    draft = _draft_from_default()
    draft.engagement_rules.filter(name="Attended webinar").update(points=60, cap_total=60)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = services.model_publish(model=draft, now=NOW)
    assert len(callbacks) == 1  # the background re-score, started once the publication is committed

    # a worker that dies after two chunks of two leads ...
    run = services.rescore_run_execute(run=run, chunk=2, max_chunks=2, now=NOW)
    assert (run.state, run.processed_leads, run.last_lead_id) == ("running", 4, others[2].pk)
    # ... and the next one carries on from the last chunk done
    run = services.rescore_run_execute(run=run, chunk=2, now=NOW)

    assert (run.state, run.processed_leads, run.total_leads, run.changed_temperature) == ("done", 5, 5, 1)
    warm.refresh_from_db()
    assert warm.temperature == "hot"
    assert warm.engagement_score == pytest.approx(80, abs=0.5)
    assert LeadScoringState.objects.get(lead=warm).model_version == draft.version
    assert ScoreChange.objects.filter(cause="rescore").count() == 1
    assert services.active_model().version == draft.version


def test_events_after_a_publication_rebuild_a_lead_from_its_log_under_the_new_version():
    lead = _warm_mql_lead()
    draft = _draft_from_default()
    draft.engagement_rules.filter(name="Attended webinar").update(points=60, cap_total=60)
    services.model_publish(model=draft, now=NOW)

    services.event_log(lead=lead, event_type="email_open", now=NOW)

    lead.refresh_from_db()
    assert lead.engagement_score == pytest.approx(88, abs=0.5)
    assert LeadScoringState.objects.get(lead=lead).model_version == draft.version


_batch_example = itertools.count()
_batch_items = st.lists(
    st.tuples(
        st.sampled_from([0, 0, 1, 2]),  # lead 0, lead 1, or (2) a new lead named by e-mail
        st.sampled_from(
            [
                ("page_view", {"url": "/blog/a", "seconds": 300}),
                ("pricing_page_view", {"url": "/pricing"}),
                ("product_usage", {"feature": "reports"}),
                ("demo_request", {}),
                ("email_open", {}),
                ("unsubscribe", {}),
                ("nonsense", {}),  # refused: an unknown type
            ]
        ),
        st.integers(min_value=0, max_value=24 * 40),  # hours before NOW
        st.sampled_from([None, None, "k1", "k2", "pre"]),  # "pre" was stored before the batch
    ),
    min_size=1,
    max_size=25,
)


def _outcome(result):
    if isinstance(result, IdempotencyKeyConflict):  # its message names ids, which differ per side
        return ("key used before", result.message_dict.keys())
    if isinstance(result, ValidationError):
        return ("refused", result.message_dict)
    return (
        result.duplicate,
        result.event.idempotency_key,
        result.event.points,
        (result.lead.score, result.lead.temperature, result.lead.stage),
        result.stage_rule,
        result.awards,
    )


def _written(leads):
    found = []
    for lead in leads:
        lead.refresh_from_db()
        events = list(EngagementEvent.objects.filter(lead=lead).order_by("id"))
        position = {event.pk: n for n, event in enumerate(events)}
        state = LeadScoringState.objects.filter(lead=lead).values_list(
            "model_version", "engagement_state", "next_cooling_at"
        )
        found.append(
            (
                (lead.score, lead.fit_score, lead.engagement_score, lead.temperature, lead.stage),
                (lead.stage_entered_at, lead.last_engaged_at),
                list(state),
                [(e.event_type_id, e.occurred_at, e.properties, e.points, e.idempotency_key) for e in events],
                list(
                    ScoreChange.objects.filter(lead=lead)
                    .order_by("id")
                    .values_list(
                        "cause",
                        "model_version",
                        "score",
                        "fit_score",
                        "engagement_score",
                        "temperature",
                        "previous_score",
                        "previous_temperature",
                        "event_id",
                    )
                ),  # fmt: skip
                list(
                    StageChange.objects.filter(lead=lead)
                    .order_by("id")
                    .values_list("from_stage", "to_stage", "rule", "transition", "reason", "time_in_previous_stage")
                ),
            )
        )
        found[-1][4][:] = [(*row[:-1], position.get(row[-1])) for row in found[-1][4]]
    return found


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(_batch_items)
def test_a_batch_equals_the_same_events_logged_one_by_one(plan):
    run = next(_batch_example)
    sides = {}
    for side in ("one", "batch"):
        source = f"{side}-{run}"
        leads = [
            lead_create(
                email=f"{side}{run}-{n}@acme.example",
                title="VP Sales",
                attributes={"lead_origin": "Lead Add Form"} if n == 0 else {},
                now=NOW,
            )
            for n in range(2)
        ]
        services.event_log(lead=leads[0], event_type="email_open", idempotency_key="pre", source=source, now=NOW)
        fresh = f"{side}{run}-new@acme.example"
        items = [
            {
                **({"lead_id": leads[target].pk} if target < 2 else {"email": fresh}),
                "type": event_type,
                "properties": properties,
                "occurred_at": NOW - datetime.timedelta(hours=hours),
                **({"idempotency_key": key} if key else {}),
            }
            for target, (event_type, properties), hours, key in plan
        ]
        if side == "one":
            outcomes = []
            for item in items:
                try:
                    outcomes.append(
                        services.event_log(
                            lead=Lead.objects.get(pk=item["lead_id"]) if "lead_id" in item else None,
                            email=item.get("email"),
                            event_type=item["type"],
                            properties=item["properties"],
                            occurred_at=item["occurred_at"],
                            idempotency_key=item.get("idempotency_key"),
                            source=source,
                            now=NOW,
                        )
                    )
                except ValidationError as error:
                    outcomes.append(error)
        else:
            outcomes = services.event_log_batch(items=items, source=source, now=NOW)
        created = list(Lead.objects.filter(email=fresh))
        sides[side] = ([_outcome(result) for result in outcomes], _written(leads + created), len(created))

    assert sides["batch"] == sides["one"]


def test_a_batch_is_written_set_based_not_event_by_event():
    leads = [lead_create(email=f"b{n}@acme.example", now=NOW) for n in range(20)]
    services.event_log(lead=leads[0], event_type="page_view", idempotency_key="k-0", source="api", now=NOW)
    items = [
        {
            "lead_id": leads[i % 295 % 20].pk,  # a repeated key names the same event
            "type": "page_view",
            "properties": {"url": "/blog", "seconds": 30},
            "occurred_at": NOW - datetime.timedelta(minutes=i),
            "idempotency_key": f"k-{i % 295}",  # k-0 was stored before; k-0..k-4 come twice
        }
        for i in range(300)
    ]

    with CaptureQueriesContext(connection) as captured:
        results = services.event_log_batch(items=items, source="api", now=NOW)

    assert [r.duplicate for r in results].count(True) == 6
    assert EngagementEvent.objects.filter(source="api").count() == 1 + 294
    assert ScoreChange.objects.filter(cause="event").count() == 1 + 294
    # One by one this would be 600+ statements (lock and write per event).
    assert len(_statements(captured)) <= 16


@pytest.mark.parametrize("stored_type", ["page_view", "email_open"])
def test_a_key_stored_by_another_transaction_during_a_batch_makes_it_go_one_by_one(monkeypatch, stored_type):
    lead = lead_create(email="race@acme.example", now=NOW)
    stored = services.event_log(lead=lead, event_type=stored_type, idempotency_key="k-2", source="api", now=NOW)
    real_read = services._stored_events

    def read_before_the_other_commit(keyed):
        # The batch reads the stored keys before another transaction commits "k-2".
        monkeypatch.setattr(services, "_stored_events", real_read)
        return {}

    monkeypatch.setattr(services, "_stored_events", read_before_the_other_commit)
    items = [{"lead_id": lead.pk, "type": "page_view", "idempotency_key": f"k-{i}"} for i in range(4)]

    results = services.event_log_batch(items=items, source="api", now=NOW)

    if stored_type == "page_view":  # the same event: a duplicate, answered with the stored one
        assert [r.duplicate for r in results] == [False, False, True, False]
        assert results[2].event.pk == stored.event.pk
    else:  # another event under the key: refused, the others stored
        assert isinstance(results[2], IdempotencyKeyConflict)
        assert results[2].event_id == stored.event.pk
        assert [r.duplicate for n, r in enumerate(results) if n != 2] == [False, False, False]
    assert EngagementEvent.objects.filter(lead=lead).count() == 4
    assert ScoreChange.objects.filter(lead=lead, cause="event").count() == 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_threads_log_events_side_by_side_each_on_its_own_connection(migration_data):
    """The event path's prepared statements belong to each thread's own connection (a web
    worker with threads): two threads logging at once both succeed, and every event counts."""
    leads = [lead_create(email=f"t{i}@acme.example", now=NOW) for i in range(2)]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def log(lead, count: int) -> None:
        try:
            start.wait()
            for i in range(count):
                services.event_log(lead_id=lead.pk, event_type="page_view", idempotency_key=f"{lead.pk}-{i}", now=NOW)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=log, args=(lead, 20)) for lead in leads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    for lead in leads:
        assert EngagementEvent.objects.filter(lead=lead).count() == 20
        assert ScoreChange.objects.filter(lead=lead, cause=ScoreChange.Cause.EVENT).count() == 20


def test_an_unsubscribe_event_withdraws_the_leads_email_consent():
    lead = lead_create(email="opt@acme.example", email_opt_in=True, now=NOW)
    services.event_log(lead=lead, event_type="page_view", now=NOW)
    lead.refresh_from_db()
    assert lead.email_opt_in and not lead.unsubscribed

    at = NOW - datetime.timedelta(hours=2)
    services.event_log(lead=lead, event_type="unsubscribe", occurred_at=at, idempotency_key="u-1", now=NOW)
    lead.refresh_from_db()
    assert lead.unsubscribed
    assert lead.unsubscribed_at == at
    assert not lead.email_opt_in

    # A later unsubscribe keeps the first date; the repeated key is a duplicate and changes nothing.
    repeat = services.event_log(lead=lead, event_type="unsubscribe", idempotency_key="u-1", now=NOW)
    assert repeat.duplicate
    services.event_log(lead=lead, event_type="unsubscribe", now=NOW)
    lead.refresh_from_db()
    assert lead.unsubscribed_at == at


def test_a_batch_unsubscribe_withdraws_consent_too():
    lead = lead_create(email="batch-opt@acme.example", email_opt_in=True, now=NOW)
    other = lead_create(email="stays@acme.example", email_opt_in=True, now=NOW)
    services.event_log_batch(
        items=[
            {"lead_id": lead.pk, "type": "page_view"},
            {"lead_id": lead.pk, "type": "unsubscribe"},
            {"lead_id": other.pk, "type": "email_open"},
        ],
        source="api",
        now=NOW,
    )
    lead.refresh_from_db()
    other.refresh_from_db()
    assert lead.unsubscribed and not lead.email_opt_in and lead.unsubscribed_at == NOW
    assert other.email_opt_in and not other.unsubscribed


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_event_that_waited_for_another_on_the_same_lead_builds_on_its_state(migration_data):
    """Two events on one lead at once: the second waits for the first's lock, then must fold
    itself into the state the first one wrote, not into the state from before it."""
    import time

    from django.db import transaction

    from scoring import engine

    lead = lead_create(email="race@acme.example", now=NOW)
    services.event_log(lead=lead, event_type="page_view", now=NOW)
    first_holds_the_lock = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                services.event_log(lead_id=lead.pk, event_type="pricing_page_view", now=NOW)
                first_holds_the_lock.set()
                time.sleep(0.5)  # the second one is waiting for the lead now
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    def second() -> None:
        try:
            first_holds_the_lock.wait(10)
            services.event_log(lead_id=lead.pk, event_type="content_download", now=NOW)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    spec = services.spec_for_version(services.active_model().version)
    stored = LeadScoringState.objects.get(lead=lead).engagement_state
    assert stored["rules"] == engine.replay(spec, services._events_of(lead.pk))["rules"]
    assert sum(rule["n"] for rule in stored["rules"].values()) >= 3
