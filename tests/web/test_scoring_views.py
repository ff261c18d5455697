import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.services import lead_create
from scoring import services
from scoring.models import EngagementEvent
from web.scoring_views import score_chart


@pytest.fixture
def warm_mql_lead(team):
    lead = lead_create(
        email="dana@acme.example",
        first_name="Dana",
        title="VP Sales",
        attributes={"lead_origin": "Lead Add Form"},
        owner=team["me"],
    )
    services.event_log(lead=lead, event_type="webinar_attended", now=timezone.now() - datetime.timedelta(hours=2))
    services.event_log(lead=lead, event_type="email_reply", now=timezone.now() - datetime.timedelta(hours=1))
    lead.refresh_from_db()
    assert (lead.stage, lead.temperature) == ("mql", "warm")
    return lead


def test_a_rep_logs_a_demo_request_and_the_lead_page_says_why_it_is_hot_and_sql(team, login, warm_mql_lead):
    client = login(team["me"])

    response = client.post(
        reverse("lead_event_create", args=[warm_mql_lead.pk]), {"event_type": "demo_request", "note": "Wants a demo"}
    )

    assert response.status_code == 302
    warm_mql_lead.refresh_from_db()
    assert (warm_mql_lead.stage, warm_mql_lead.temperature) == ("sql", "hot")
    event = EngagementEvent.objects.get(lead=warm_mql_lead, event_type__key="demo_request")
    assert (event.actor, event.source, event.properties) == (team["me"], "rep", {"note": "Wants a demo"})
    page = client.get(response.url).text
    assert "Demo request logged: score 72, Hot. Sales qualified (hand-raiser) moved it to SQL." in page
    assert "Why this score" in page
    assert 'Demo request <span class="text-body-tertiary">(engagement)</span>' in page
    assert 'Came through a lead form <span class="text-body-tertiary">(fit)</span>' in page
    assert "Scoring model v1." in page
    assert "Score = 50% fit + 50% engagement" in page  # how the numbers add up
    assert "Temperature follows engagement: hot from 50 (until it drops below 40)" in page
    assert "Sales qualified (hand-raiser) (scoring model v1)" in page  # the stage change in the timeline
    assert "Wants a demo" in page  # the event in the timeline
    assert "<polyline points=" in page


def test_an_unknown_event_type_is_refused_and_nothing_is_logged(team, login, warm_mql_lead):
    response = login(team["me"]).post(reverse("lead_event_create", args=[warm_mql_lead.pk]), {"event_type": "bogus"})

    assert response.status_code == 400
    assert "Select a valid choice" in response.text
    assert not EngagementEvent.objects.filter(lead=warm_mql_lead, event_type__key="bogus").exists()
    assert EngagementEvent.objects.filter(lead=warm_mql_lead).count() == 2


def test_a_rep_cannot_log_events_on_another_reps_lead(team, login):
    response = login(team["me"]).post(
        reverse("lead_event_create", args=[team["theirs"].pk]), {"event_type": "email_reply"}
    )

    assert response.status_code == 404
    assert not EngagementEvent.objects.exists()


def test_the_score_chart_runs_oldest_to_newest_on_a_0_to_100_scale():
    class Change:
        def __init__(self, score):
            self.score = score
            self.changed_at = timezone.now()

    chart = score_chart([Change(100), Change(0)])  # newest first, as the selector returns them

    assert chart["points"] == "0.0,62.0 280.0,2.0"
    assert (chart["low"], chart["high"], chart["count"]) == (0, 100, 2)


def test_a_lead_no_model_has_scored_yet_says_so(team, login):
    page = login(team["me"]).get(reverse("lead_detail", args=[team["mine"].pk])).text  # made without scoring

    assert "Not scored by a model yet: its next event, or a re-score, scores it." in page
    assert "Scoring model v" not in page
