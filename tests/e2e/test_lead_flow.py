"""A rep finds a lead, logs a call and moves its stage; a manager sees every lead."""

import re

import pytest
from playwright.sync_api import expect

from leads.models import Activity, Lead
from tests.factories import ActivityFactory, LeadFactory, LeadSourceFactory, manager, rep

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def book():
    maya, jonas = rep(username="maya", first_name="Maya", last_name="Patel"), rep(username="jonas")
    webinar = LeadSourceFactory(name="Webinar")
    ada = LeadFactory(
        owner=maya,
        first_name="Ada",
        last_name="Lovelace",
        company="Analytical Engines",
        title="CTO",
        email="ada@engines.example",
        score=87,
        temperature="hot",
        stage="mql",
        source=webinar,
    )
    for i, (first, last, company) in enumerate(
        [
            ("Grace", "Hopper", "Compilers Inc"),
            ("Alan", "Turing", "Bletchley Labs"),
            ("Katherine", "Johnson", "Orbital"),
        ]
    ):
        LeadFactory(
            owner=maya if i % 2 else None,
            first_name=first,
            last_name=last,
            company=company,
            score=40 + i * 9,
            temperature="warm",
            source=webinar,
        )
    LeadFactory(owner=jonas, first_name="Edsger", last_name="Dijkstra", company="Shortest Paths", score=55)
    ActivityFactory(lead=ada, kind="email", subject="Sent the pricing guide", actor=maya)
    return {"maya": maya, "jonas": jonas, "ada": ada}


def test_rep_finds_a_lead_logs_a_call_and_marks_it_lost(book, sign_in, live_server, artifacts_dir):
    page = sign_in(book["maya"])

    page.get_by_role("link", name="Leads").first.click()
    expect(page.locator(".lead-table tbody tr")).to_have_count(4)  # own + pool, not Jonas's lead
    expect(page.get_by_text("Edsger Dijkstra")).to_have_count(0)
    page.screenshot(path=str(artifacts_dir / "lead-list.png"), full_page=True)

    page.keyboard.press("/")
    expect(page.get_by_label("Search")).to_be_focused()
    page.keyboard.type("lovelace")
    expect(page.locator(".lead-table tbody tr")).to_have_count(1)  # htmx swapped the results in place
    expect(page).to_have_url(re.compile(r"q=lovelace"))

    page.get_by_role("link", name="Ada Lovelace").click()
    expect(page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()

    page.get_by_label("Subject").fill("Discovery call")
    page.get_by_label("Notes").fill("Needs a pilot for 40 seats before Q1.")
    page.get_by_role("button", name="Log activity").click()
    expect(page.locator("#timeline")).to_contain_text("Discovery call")
    expect(page.locator("#timeline")).to_contain_text("Needs a pilot for 40 seats")
    call = Activity.objects.get(lead=book["ada"], kind="call")
    assert (call.subject, call.actor_id) == ("Discovery call", book["maya"].pk)

    lost_reason = page.get_by_label("Lost reason")
    expect(lost_reason).to_be_hidden()
    page.get_by_label("Move to").select_option("lost")
    expect(lost_reason).to_be_visible()
    lost_reason.select_option("competitor")
    page.get_by_label("Reason", exact=True).fill("Signed with a competitor for two years.")
    page.get_by_role("button", name="Move stage").click()

    expect(page.locator(".lead-header .badge-stage")).to_have_text("Lost")
    expect(page.locator("#timeline")).to_contain_text("Signed with a competitor for two years.")
    ada = Lead.objects.get(pk=book["ada"].pk)
    assert (ada.stage, ada.lost_reason) == ("lost", "competitor")
    page.screenshot(path=str(artifacts_dir / "lead-page.png"), full_page=True)


def test_stage_move_without_a_lost_reason_shows_the_error(book, sign_in, live_server):
    page = sign_in(book["maya"])
    page.goto(f"{live_server.url}/leads/{book['ada'].pk}/")

    page.get_by_label("Move to").select_option("lost")
    page.get_by_role("button", name="Move stage").click()

    expect(page.get_by_text("Choose why the lead was lost.")).to_be_visible()
    assert Lead.objects.get(pk=book["ada"].pk).stage == "mql"


def test_manager_sees_every_lead(book, sign_in, live_server, artifacts_dir):
    page = sign_in(manager(username="grace"))

    expect(page.get_by_role("heading", name="Team overview")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "home-manager.png"), full_page=True)
    page.get_by_role("link", name="Leads").first.click()

    expect(page.locator(".lead-table tbody tr")).to_have_count(5)
    expect(page.get_by_text("Edsger Dijkstra")).to_be_visible()
    page.get_by_label("Owner").select_option(label="Maya Patel")
    expect(page.locator(".lead-table tbody tr")).to_have_count(2)

    page.get_by_role("link", name="Created").click()  # a column header sorts through the filter form
    expect(page.get_by_label("Sort by")).to_have_value("created")
    expect(page).to_have_url(re.compile(r"sort=created"))
    expect(page.locator("th[aria-sort=descending]")).to_have_text("Created")


def test_scrolling_the_list_loads_every_lead_and_the_footer_counts_them(sign_in, live_server):
    boss = manager(username="grace")
    LeadFactory.create_batch(62)
    page = sign_in(boss)

    page.goto(f"{live_server.url}/leads/")
    expect(page.locator("#results-count")).to_have_text("Showing 50 leads — scroll to the end for more.")
    page.locator("#lead-load-more").scroll_into_view_if_needed()

    expect(page.locator(".lead-table tbody tr[data-lead]")).to_have_count(62)
    expect(page.locator("#results-count")).to_have_text("Showing 62 leads, all that match.")


def test_on_a_phone_the_list_fits_and_the_lead_page_puts_the_rep_s_actions_first(
    book, sign_in, live_server, page, artifacts_dir
):
    Lead.objects.filter(pk=book["ada"].pk).update(phone="+1 (555) 010-2000")
    page.set_viewport_size({"width": 390, "height": 800})
    sign_in(book["maya"])

    page.goto(f"{live_server.url}/leads/")
    row = page.locator("tr[data-lead]").first
    assert "Ada Lovelace" in row.inner_text() and "Analytical Engines" in row.inner_text()  # company under the name
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing to scroll sideways
    fits = (
        "document.querySelector('.lead-table').scrollWidth <= document.querySelector('.table-responsive').clientWidth"
    )
    assert page.evaluate(fits)  # the score column is not cut off inside the card either
    page.screenshot(path=str(artifacts_dir / "phone-lead-list.png"))

    page.get_by_role("link", name="Ada Lovelace").click()
    top = {name: page.locator(f"#{name}-title").bounding_box()["y"] for name in ("stage", "log-activity", "timeline")}
    assert top["stage"] < top["log-activity"] < top["timeline"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator(".lead-meta a[href^='tel:']").get_attribute("href") == "tel:+15550102000"  # tap to call
    page.screenshot(path=str(artifacts_dir / "phone-lead-page.png"), full_page=True)


def test_back_from_a_lead_found_by_search_shows_the_whole_list_again(book, sign_in, live_server, page):
    sign_in(book["maya"])
    page.goto(f"{live_server.url}/leads/")
    page.get_by_label("Search").fill("Lovelace")
    expect(page.locator("tr[data-lead]")).to_have_count(1)

    page.get_by_role("link", name="Ada Lovelace").click()
    page.wait_for_url("**/leads/*/")
    page.go_back()

    # The page with its styles and navigation, not the bare table the search fetched.
    expect(page.get_by_role("heading", name="Leads")).to_be_visible()
    assert page.evaluate("document.styleSheets.length") > 0
    expect(page.locator("tr[data-lead]")).to_have_count(1)
