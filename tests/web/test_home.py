import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.models import Lead
from tests.factories import ActivityFactory, LeadFactory

pytestmark = pytest.mark.django_db

HOME_QUERY_BOUND = 10


def test_rep_home_lists_due_and_overdue_tasks_untouched_and_hottest_leads(team, login):
    now = timezone.now()
    ActivityFactory(
        lead=team["mine"],
        kind="task",
        subject="Overdue follow-up",
        actor=team["me"],
        due_at=now - datetime.timedelta(days=2),
    )
    ActivityFactory(
        lead=team["mine"],
        kind="task",
        subject="Today's call",
        actor=team["me"],
        due_at=timezone.localtime(now).replace(hour=23, minute=59),
    )
    ActivityFactory(
        lead=team["mine"], kind="task", subject="Next week", actor=team["me"], due_at=now + datetime.timedelta(days=7)
    )
    ActivityFactory(
        lead=team["mine"],
        kind="task",
        subject="Done already",
        actor=team["me"],
        done=True,
        due_at=now - datetime.timedelta(days=1),
    )
    Lead.objects.filter(pk=team["mine"].pk).update(first_touched_at=now)

    response = login(team["me"]).get(reverse("home"))

    body = response.content.decode()
    assert response.status_code == 200
    assert [t.subject for t in response.context["tasks"]["overdue"]] == ["Overdue follow-up"]
    assert [t.subject for t in response.context["tasks"]["today"]] == ["Today's call"]
    assert "Next week" not in body and "Done already" not in body
    assert [lead.display_name for lead in response.context["untouched"]] == ["Pool Lead"]  # mine was touched
    assert [lead.display_name for lead in response.context["hottest"]] == ["Mine Lead"]
    assert "Theirs Lead" not in body


def test_manager_home_is_a_team_overview(team, login):
    Lead.objects.filter(pk=team["theirs"].pk).update(stage="sql")

    response = login(team["manager"]).get(reverse("home"))

    assert response.context["overview"] is True
    counts = {stage: count for stage, _label, count in response.context["stage_counts"]}
    assert counts == {"raw": 2, "mql": 0, "pql": 0, "sql": 1, "won": 0, "lost": 0}
    assert [lead.display_name for lead in response.context["hottest"]] == ["Pool Lead", "Theirs Lead", "Mine Lead"]
    assert "Untouched across the team" in response.content.decode()


def test_home_has_friendly_empty_states(login, django_user_model):
    from tests.factories import rep

    response = login(rep()).get(reverse("home"))

    body = response.content.decode()
    assert "No tasks due today" in body
    assert "Claim one from the pool" in body


@pytest.mark.parametrize("count", [10, 1000])
@pytest.mark.parametrize("role", ["me", "manager"])
def test_home_query_count_does_not_grow_with_leads(team, login, django_assert_max_num_queries, count, role):
    now = timezone.now()
    leads = Lead.objects.bulk_create(
        [
            LeadFactory.build(owner=team["me"] if i % 2 else None, score=i % 100, stage_entered_at=now)
            for i in range(count)
        ]
    )
    for lead in leads[:: max(1, count // 10)]:
        ActivityFactory(
            lead=lead, kind="task", subject="Call", actor=team["me"], due_at=now - datetime.timedelta(hours=1)
        )
    client = login(team[role])

    with django_assert_max_num_queries(HOME_QUERY_BOUND):
        response = client.get(reverse("home"))
    assert response.status_code == 200
