"""A rep logs a demo request on a warm MQL lead: it turns hot and SQL at once, and the page says why."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leads.models import Lead
from leads.services import lead_create
from scoring import services
from tests.factories import rep

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture(autouse=True)
def _fresh_scoring_caches(_data_from_migrations):
    # A flushed and refilled database gives event types and rules new ids.
    services.clear_caches()
    yield
    services.clear_caches()


def test_a_demo_request_makes_a_warm_mql_lead_hot_and_sql_and_the_page_explains_it(sign_in, live_server, artifacts_dir):
    maya = rep(username="maya", first_name="Maya", last_name="Patel")
    lead = lead_create(
        email="dana@acme.example",
        first_name="Dana",
        last_name="Scully",
        company="Acme",
        title="VP Sales",
        attributes={"lead_origin": "Lead Add Form"},
        owner=maya,
    )
    services.event_log(lead=lead, event_type="webinar_attended", now=timezone.now() - datetime.timedelta(days=2))
    services.event_log(lead=lead, event_type="email_reply", now=timezone.now() - datetime.timedelta(days=1))
    lead.refresh_from_db()
    assert (lead.stage, lead.temperature) == ("mql", "warm")
    page = sign_in(maya)

    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    page.get_by_label("What did the lead do?").select_option(label="Demo request")
    page.get_by_role("textbox", name="Note (optional)").fill("Wants a demo for 20 seats")
    page.get_by_role("button", name="Log event").click()

    expect(page.get_by_text("Sales qualified (hand-raiser) moved it to SQL")).to_be_visible()
    panel = page.locator("#score-panel")
    expect(panel.get_by_role("cell", name="Demo request (engagement)")).to_be_visible()
    expect(panel.get_by_text("Scoring model v1.")).to_be_visible()
    expect(page.locator("#timeline").get_by_text("Wants a demo for 20 seats")).to_be_visible()
    expect(panel.locator("svg.score-chart polyline")).to_have_count(1)
    page.screenshot(path=str(artifacts_dir / "lead-score-panel.png"), full_page=True)
    lead = Lead.objects.get(pk=lead.pk)
    assert (lead.stage, lead.temperature) == ("sql", "hot")
