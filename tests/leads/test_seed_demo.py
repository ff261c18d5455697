import datetime

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.utils import timezone

from leads import roles
from leads.models import Activity, Campaign, Lead, LeadSource, Stage, StageChange, Temperature

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_settings(settings):
    settings.DEBUG = True
    settings.DEMO_PASSWORD = ""
    return settings


def _stage_counts() -> dict[str, int]:
    return dict(Lead.objects.values_list("stage").annotate(n=Count("id")))


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


def test_seeded_scores_and_temperatures_agree(demo_settings):
    call_command("seed_demo", leads=500)

    hot_average = Lead.objects.filter(temperature=Temperature.HOT).values_list("score", flat=True)
    cold_average = Lead.objects.filter(temperature=Temperature.COLD).values_list("score", flat=True)
    assert min(hot_average) >= 60
    assert max(cold_average) < 50
    assert sum(hot_average) / len(hot_average) > sum(cold_average) / len(cold_average) + 40


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
    before = (Lead.objects.count(), StageChange.objects.count(), Activity.objects.count(), Campaign.objects.count())

    call_command("seed_demo", leads=200)

    after = (Lead.objects.count(), StageChange.objects.count(), Activity.objects.count(), Campaign.objects.count())
    assert after == before
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
