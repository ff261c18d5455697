import datetime

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.utils import timezone

from intake.models import CaptureForm
from leads import roles
from leads.models import Activity, Campaign, Lead, LeadSource, Stage, StageChange, Temperature
from scoring import engine, selectors, services
from scoring.models import EngagementEvent, LeadScoringState, ScoreChange

NOW = datetime.datetime(2026, 11, 20, 15, 0, tzinfo=datetime.UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_settings(settings):
    settings.DEBUG = True
    settings.DEMO_PASSWORD = ""
    return settings


def _stage_counts() -> dict[str, int]:
    return dict(Lead.objects.values_list("stage").annotate(n=Count("id")))


def _row_counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count()
        for model in (
            Lead,
            StageChange,
            Activity,
            Campaign,
            EngagementEvent,
            ScoreChange,
            LeadScoringState,
            CaptureForm,
        )
    )


def test_seed_creates_users_sources_campaigns_and_the_requested_leads(demo_settings):
    call_command("seed_demo", leads=300)

    users = get_user_model().objects.filter(username__in=["manager", "marketer", "rep1", "rep2"])
    assert sorted(users.values_list("username", flat=True)) == ["manager", "marketer", "rep1", "rep2"]
    assert list(get_user_model().objects.get(username="rep1").groups.values_list("name", flat=True)) == [roles.REP]
    assert list(get_user_model().objects.get(username="manager").groups.values_list("name", flat=True)) == [
        roles.MANAGER
    ]
    assert get_user_model().objects.get(username="marketer").is_staff is True
    assert get_user_model().objects.get(username="rep1").check_password("demo-pass-123")
    assert LeadSource.objects.count() == 8
    assert Campaign.objects.count() == 7
    assert Campaign.objects.filter(cost__gt=0).count() == 7
    assert Lead.objects.count() == 300


def test_seeded_leads_follow_a_funnel_shape(demo_settings):
    call_command("seed_demo", leads=1000)

    counts = _stage_counts()
    assert counts[Stage.RAW] > counts[Stage.MQL] > counts[Stage.SQL] > counts[Stage.WON] > 0
    assert counts[Stage.RAW] > 1000 * 0.4
    assert counts[Stage.LOST] > 0
    assert counts[Stage.PQL] > 0
    assert not Lead.objects.filter(stage=Stage.LOST, lost_reason="").exists()
    assert not Lead.objects.exclude(stage=Stage.LOST).exclude(lost_reason="").exists()


def test_temperatures_spread_most_cold_some_warm_a_few_hot(demo_settings):
    call_command("seed_demo", leads=500)

    counts = dict(Lead.objects.values_list("temperature").annotate(n=Count("id")))
    assert counts[Temperature.COLD] > counts[Temperature.WARM] > counts[Temperature.HOT] > 0
    assert counts[Temperature.COLD] > 500 * 0.5
    assert counts[Temperature.HOT] < 500 * 0.15
    hot = list(Lead.objects.filter(temperature=Temperature.HOT).values_list("score", flat=True))
    cold = list(Lead.objects.filter(temperature=Temperature.COLD).values_list("score", flat=True))
    assert sum(hot) / len(hot) > sum(cold) / len(cold) + 30


def test_a_seeded_score_is_what_its_explanation_adds_up_to(demo_settings):
    with time_machine.travel(NOW, tick=False):
        call_command("seed_demo", leads=300)

    spec = services.spec_for_version(services.active_model().version)
    leads = list(Lead.objects.select_related("source", "campaign").order_by("id"))
    assert len(leads) == 300
    for lead in leads:
        explanation = selectors.lead_score_explanation(lead=lead, now=NOW)
        fit = sum(c["points"] for c in explanation["contributions"] if c["kind"] == "fit")
        engagement = sum(c["points"] for c in explanation["contributions"] if c["kind"] == "engagement")
        assert explanation["model_version"] == spec.version
        assert lead.fit_score == min(100.0, max(0.0, fit))
        assert lead.engagement_score == pytest.approx(min(100.0, max(0.0, engagement)), abs=0.1)
        # The panel's points, combined as the model combines fit and engagement, give the score.
        combined = spec.fit_weight * min(100.0, max(0.0, fit)) + (1 - spec.fit_weight) * min(
            100.0, max(0.0, engagement)
        )
        assert abs(lead.score - combined) <= 0.51


def test_the_seeds_scores_are_what_replaying_the_stored_event_logs_gives(demo_settings):
    """The seed scores its leads in memory before writing them; scoring the stored rows
    afterwards (``leads_score_replay``) must give the same columns, points, state and history."""
    with time_machine.travel(NOW, tick=False):
        call_command("seed_demo", leads=120)

    columns = ("id", "score", "fit_score", "engagement_score", "temperature", "last_engaged_at")
    history_columns = ("lead_id", "changed_at", "cause", "event_id", "score", "fit_score", "temperature")
    seeded = list(Lead.objects.order_by("id").values_list(*columns))
    points = dict(EngagementEvent.objects.values_list("id", "points"))
    states = dict(LeadScoringState.objects.values_list("lead_id", "engagement_state"))
    history = sorted(ScoreChange.objects.values_list(*history_columns))
    assert any(points.values()) and history

    ScoreChange.objects.all().delete()
    LeadScoringState.objects.all().delete()
    EngagementEvent.objects.update(points=0)
    Lead.objects.update(score=0, fit_score=0, engagement_score=0, temperature=Temperature.COLD, last_engaged_at=None)
    services.leads_score_replay(first_id=seeded[0][0], last_id=seeded[-1][0], now=NOW)

    assert list(Lead.objects.order_by("id").values_list(*columns)) == seeded
    assert dict(EngagementEvent.objects.values_list("id", "points")) == points
    assert dict(LeadScoringState.objects.values_list("lead_id", "engagement_state")) == states
    assert sorted(ScoreChange.objects.values_list(*history_columns)) == history


def test_seeded_leads_have_events_state_and_history(demo_settings):
    with time_machine.travel(NOW, tick=False):
        call_command("seed_demo", leads=300)

    assert EngagementEvent.objects.count() > 300 * 5
    assert LeadScoringState.objects.count() == 300
    assert not EngagementEvent.objects.filter(occurred_at__gt=NOW).exists()
    assert not EngagementEvent.objects.filter(occurred_at__lt=NOW - datetime.timedelta(days=181)).exists()
    with_history = Lead.objects.annotate(n=Count("score_changes")).filter(n__gte=2).count()
    assert with_history > 300 * 0.8
    # Warm and hot leads know when they cool down; the cooling sweep will find them.
    assert (
        not LeadScoringState.objects.exclude(lead__temperature=Temperature.COLD)
        .filter(next_cooling_at__isnull=True)
        .exists()
    )
    latest = ScoreChange.objects.filter(lead=Lead.objects.filter(temperature=Temperature.HOT).first()).first()
    assert latest.temperature == Temperature.HOT


def test_hand_raisers_come_before_sales_qualification_and_product_usage_before_pql(demo_settings):
    call_command("seed_demo", leads=500)

    sql_moves = StageChange.objects.filter(to_stage=Stage.SQL).select_related("lead")
    assert sql_moves.count() > 0
    for move in sql_moves:
        assert EngagementEvent.objects.filter(
            lead=move.lead,
            event_type__key__in=["demo_request", "contact_sales", "quote_request"],
            occurred_at__lte=move.changed_at,
        ).exists()
    for move in StageChange.objects.filter(to_stage=Stage.PQL):
        assert (
            EngagementEvent.objects.filter(
                lead_id=move.lead_id, event_type__key="product_usage", occurred_at__lte=move.changed_at
            ).count()
            >= 3
        )
    assert not EngagementEvent.objects.filter(
        lead__stage__in=[Stage.RAW, Stage.MQL, Stage.PQL],
        event_type__key__in=["demo_request", "contact_sales", "quote_request"],
    ).exists()


def test_the_scoring_model_would_move_no_seeded_lead(demo_settings):
    with time_machine.travel(NOW, tick=False):
        call_command("seed_demo", leads=1000)

    spec = services.spec_for_version(services.active_model().version)
    moved = []
    for state in LeadScoringState.objects.select_related("lead__source", "lead__campaign"):
        lead = state.lead
        scores = engine.evaluate(
            spec, state.engagement_state, services.lead_values(lead), at=NOW.timestamp(), temperature=lead.temperature
        )
        if engine.stage_target(spec, stage=lead.stage, scores=scores, state=state.engagement_state, at=NOW.timestamp()):
            moved.append(lead.pk)
    assert moved == []
    assert not StageChange.objects.filter(rule__contains="scoring model", changed_at__gte=NOW).exists()


def test_seed_creates_the_contact_capture_form(demo_settings):
    call_command("seed_demo", leads=0)

    form = CaptureForm.objects.get(slug="contact")
    keys = [field["key"] for field in form.fields]
    assert keys == ["email", "first_name", "last_name", "company", "email_opt_in"]


def test_every_lead_has_a_consistent_stage_history(demo_settings):
    call_command("seed_demo", leads=300)

    for lead in Lead.objects.prefetch_related("stage_changes"):
        changes = sorted(lead.stage_changes.all(), key=lambda change: change.changed_at)
        assert changes[0].from_stage == ""
        assert changes[0].to_stage == Stage.RAW
        assert changes[-1].to_stage == lead.stage
        assert changes[-1].changed_at == lead.stage_entered_at
        for before, after in zip(changes, changes[1:], strict=False):
            assert after.from_stage == before.to_stage
            assert after.time_in_previous_stage == after.changed_at - before.changed_at


def test_history_spans_the_last_six_months_and_never_the_future(demo_settings):
    now = timezone.now()

    call_command("seed_demo", leads=500)

    oldest = Lead.objects.order_by("created_at").values_list("created_at", flat=True).first()
    assert now - datetime.timedelta(days=181) < oldest < now - datetime.timedelta(days=120)
    assert not StageChange.objects.filter(changed_at__gt=timezone.now()).exists()
    assert not Activity.objects.filter(occurred_at__gt=timezone.now()).exists()


def test_some_leads_are_unassigned_and_touched_leads_have_activities(demo_settings):
    call_command("seed_demo", leads=500)

    assert Lead.objects.filter(owner__isnull=True).count() > 0
    assert not Lead.objects.filter(owner__isnull=True).exclude(stage=Stage.RAW).exists()
    touched = Lead.objects.filter(first_touched_at__isnull=False)
    assert touched.count() > 0
    for lead in touched[:50]:
        first_touch = (
            lead.activities.filter(kind__in=Activity.TOUCH_KINDS).order_by("occurred_at").values_list("occurred_at")
        )
        assert first_touch[0][0] == lead.first_touched_at


def test_rep1_has_tasks_due_today_and_overdue(demo_settings):
    call_command("seed_demo", leads=300)

    now = timezone.now()
    open_tasks = Activity.objects.filter(kind=Activity.Kind.TASK, done=False, actor__username="rep1")
    assert open_tasks.filter(due_at__lt=now).count() > 0
    assert open_tasks.filter(due_at__date=now.date()).count() > 0


def test_a_second_run_adds_nothing(demo_settings):
    call_command("seed_demo", leads=200)
    before = _row_counts()

    call_command("seed_demo", leads=200)

    assert _row_counts() == before
    assert get_user_model().objects.filter(username="rep1").count() == 1


def test_a_larger_number_tops_up_without_duplicates(demo_settings):
    call_command("seed_demo", leads=100)

    call_command("seed_demo", leads=250)

    assert Lead.objects.count() == 250
    assert Lead.objects.values("email").distinct().count() == 250


def test_refuses_to_run_with_debug_off_and_no_password(settings):
    settings.DEBUG = False
    settings.DEMO_PASSWORD = ""

    with pytest.raises(CommandError, match="DEMO_PASSWORD"):
        call_command("seed_demo", leads=10)

    assert Lead.objects.count() == 0
    assert not get_user_model().objects.filter(username="rep1").exists()


def test_with_debug_off_it_uses_the_configured_password(settings):
    settings.DEBUG = False
    settings.DEMO_PASSWORD = "a-long-demo-secret-42"

    call_command("seed_demo", leads=10)

    demo_manager = get_user_model().objects.get(username="manager")
    assert demo_manager.check_password("a-long-demo-secret-42")
    assert not demo_manager.check_password("demo-pass-123")


@pytest.mark.postgres
def test_the_seed_leaves_fresh_planner_statistics(demo_settings):
    """Without them PostgreSQL plans the first pages for an empty table (autovacuum may be off)."""
    from django.db import connection

    call_command("seed_demo", leads=120)

    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'leads_lead'")
        assert cursor.fetchone()[0] == 120
