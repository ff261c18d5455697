import datetime

import pytest

from leads.services import lead_create
from scoring import services, tasks

pytestmark = pytest.mark.django_db
NOW = datetime.datetime(2026, 11, 2, 10, 0, tzinfo=datetime.UTC)


def test_a_new_lead_is_scored_on_fit_by_the_rescore_task():
    lead = lead_create(
        email="sam@acme.example", title="VP Operations", attributes={"occupation": "Working Professional"}
    )

    score = tasks.lead_rescore_task(lead.pk)

    lead.refresh_from_db()
    assert (score, lead.fit_score, lead.engagement_score) == (32, 65.0, 0.0)


def test_the_rescore_task_finishes_a_run():
    lead = lead_create(email="sam@acme.example", now=NOW)
    services.event_log(lead=lead, event_type="webinar_attended", now=NOW)
    draft = services.model_copy_as_draft(model=services.active_model())
    run = services.model_publish(model=draft, now=NOW)  # the test transaction never commits: nothing started yet

    state = tasks.rescore_run_task(run.pk)

    run.refresh_from_db()
    assert (state, run.processed_leads, run.last_lead_id) == ("done", 1, lead.pk)


def test_the_cooling_task_reports_how_many_leads_it_cooled():
    assert tasks.cool_leads_task() == 0
