"""In a real browser: a visitor submits the public contact form; a marketer imports a messy CSV."""

import threading

import pytest

from intake.models import CaptureForm, FormSubmission
from intake.services import capture_form_ensure_demo
from leads.models import Lead
from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.factories import LeadSourceFactory, marketer, rep

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture(autouse=True)
def _data_from_migrations(transactional_db):
    """Other transactional tests end with a flush that also drops what data migrations made
    (role groups, event types, the contact form); put it back when it is missing."""
    from django.contrib.auth.models import Group

    from leads import roles
    from scoring.models import EventType
    from scoring.services import clear_caches
    from tests.e2e.conftest import _rerun_data_migrations

    if not Group.objects.filter(name=roles.MARKETER).exists() or not EventType.objects.exists():
        _rerun_data_migrations()
    clear_caches()  # scoring caches event-type ids, which a flush renumbers


MESSY_CSV = (
    "E-mail Address;First Name;Surname;Company Name;Employees;Newsletter\n"
    "ada@engines.example;Ada;Lovelace;Analytical Engines;12;yes\n"
    "grace@compilers.example;Grace;Hopper;Compilers Inc;many;no\n"
    "not-an-address;Alan;Turing;Bletchley;4;yes\n"
    "katherine@orbital.example;Katherine;Johnson;Orbital;;maybe\n"
    "ADA@engines.example;;;Analytical Engines Ltd;;\n"
)


def _in_browser(scenario, cookies=()):
    """Run ``scenario(page)`` in Chromium on a thread of its own and return what it returns.

    Playwright's sync API refuses to start where another sync Playwright (the e2e suite's, kept
    for the whole session) already runs an event loop; a thread of its own has none.
    """
    from playwright.sync_api import sync_playwright

    outcome: dict = {}

    def run() -> None:
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                context.set_default_timeout(15_000)
                if cookies:
                    context.add_cookies(list(cookies))
                try:
                    outcome["value"] = scenario(context.new_page())
                finally:
                    browser.close()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _session_cookie(client, live_server, user) -> list[dict]:
    client.force_login(user)
    return [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]


def test_visitor_submits_the_contact_form(live_server, artifacts_dir):
    form = capture_form_ensure_demo()
    # The time trap has its own tests. Other transactional tests flush tables, so name the source afresh.
    CaptureForm.objects.filter(pk=form.pk).update(
        min_fill_seconds=0,
        source=LeadSourceFactory(name="Website"),
        assignment=CaptureForm.Assignment.ROUND_ROBIN,
        last_assigned=None,
    )
    on_duty = rep()
    _in_browser(lambda page: _submit_contact_form(page, live_server, artifacts_dir))

    lead = Lead.objects.get(email="visitor@example.com")
    assert (lead.first_name, lead.company, lead.email_opt_in) == ("Vera", "Visit GmbH", True)
    assert lead.first_touch_utm == {"utm_source": "newsletter", "utm_campaign": "autumn"}
    assert FormSubmission.objects.filter(lead=lead).count() == 1
    # It lands scored (its form submission counted) and with a sales rep.
    assert lead.owner == on_duty
    assert lead.score > 0 and lead.last_engaged_at is not None


def _submit_contact_form(page, live_server, artifacts_dir) -> None:
    page.goto(f"{live_server.url}/f/contact/?utm_source=newsletter&utm_campaign=autumn")
    page.get_by_label("Work e-mail").fill("not an address")
    page.get_by_role("button", name="Send").click()
    assert page.locator(".invalid-feedback").first.inner_text() == "Enter a valid e-mail address."
    page.screenshot(path=str(artifacts_dir / "intake-capture-form-error.png"), full_page=True)

    page.get_by_label("Work e-mail").fill("visitor@example.com")
    page.get_by_label("First name").fill("Vera")
    page.get_by_label("Company").fill("Visit GmbH")
    page.get_by_label("Yes, send me news and offers by e-mail").check()
    page.screenshot(path=str(artifacts_dir / "intake-capture-form.png"), full_page=True)
    page.get_by_role("button", name="Send").click()

    assert page.locator("#capture-thanks").inner_text() == "Thank you! We will be in touch soon."
    page.screenshot(path=str(artifacts_dir / "intake-capture-thanks.png"), full_page=True)


def test_marketer_imports_a_messy_csv_and_sees_which_rows_failed(live_server, client, artifacts_dir, tmp_path):
    cookies = _session_cookie(client, live_server, marketer())
    upload = tmp_path / "trade-fair.csv"
    upload.write_text(MESSY_CSV, encoding="utf-8")

    filename = _in_browser(lambda page: _import_messy_csv(page, live_server, artifacts_dir, upload), cookies)

    assert filename == "trade-fair-rejects.csv"
    ada = Lead.objects.get(email="ada@engines.example")
    assert (ada.first_name, ada.company, ada.company_size, ada.email_opt_in) == (
        "Ada", "Analytical Engines Ltd", 12, True,
    )  # fmt: skip
    assert Lead.objects.count() == 1


def _import_messy_csv(page, live_server, artifacts_dir, upload) -> str:
    page.goto(f"{live_server.url}/leads/import/")
    page.get_by_label("CSV file").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and map columns").click()

    assert page.locator("#col_0").input_value() == "email"
    assert page.locator("#col_2").input_value() == "last_name"
    assert page.locator("#col_4").input_value() == "company_size"
    page.locator("#col_5").select_option("email_opt_in")
    page.get_by_role("button", name="Preview").click()

    preview = page.locator("#import-preview")
    assert "Employees: 'many' is not a whole number" in preview.inner_text()  # as the file calls it
    assert "E-mail Address: 'not-an-address' is not a valid e-mail address" in preview.inner_text()
    page.screenshot(path=str(artifacts_dir / "intake-import-preview.png"), full_page=True)
    page.get_by_role("button", name="Start the import").click()

    page.locator("#import-counts").wait_for()
    assert page.locator("#import-status").inner_text().startswith("Done")
    rejects = page.locator("#import-rejects tbody tr").all_inner_texts()
    assert rejects == [
        "3\tEmployees: 'many' is not a whole number",
        "4\tE-mail Address: 'not-an-address' is not a valid e-mail address",
        "5\tNewsletter: 'maybe' is not yes or no",
    ]
    page.screenshot(path=str(artifacts_dir / "intake-import-result.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download them as CSV").click()
    return download.value.suggested_filename
