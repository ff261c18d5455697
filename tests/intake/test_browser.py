"""In a real browser: a visitor submits the public contact form; a marketer imports a messy CSV."""

import pytest

from intake.models import CaptureForm, CsvImport, FormSubmission
from intake.services import capture_form_ensure_demo
from leads.models import Lead
from tests.conftest import CHROMIUM
from tests.factories import marketer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

MESSY_CSV = (
    "E-mail Address;First Name;Surname;Company Name;Employees;Newsletter\n"
    "ada@engines.example;Ada;Lovelace;Analytical Engines;12;yes\n"
    "grace@compilers.example;Grace;Hopper;Compilers Inc;many;no\n"
    "not-an-address;Alan;Turing;Bletchley;4;yes\n"
    "katherine@orbital.example;Katherine;Johnson;Orbital;;maybe\n"
    "ADA@engines.example;;;Analytical Engines Ltd;;\n"
)


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(15_000)
        yield context.new_page()
        context.close()
        browser.close()


def _sign_in(page, client, live_server, user) -> None:
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def test_visitor_submits_the_contact_form(page, live_server, artifacts_dir):
    form = capture_form_ensure_demo()
    CaptureForm.objects.filter(pk=form.pk).update(min_fill_seconds=0)  # the time trap has its own tests

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
    lead = Lead.objects.get(email="visitor@example.com")
    assert (lead.first_name, lead.company, lead.email_opt_in) == ("Vera", "Visit GmbH", True)
    assert lead.first_touch_utm == {"utm_source": "newsletter", "utm_campaign": "autumn"}
    assert FormSubmission.objects.filter(lead=lead).count() == 1


def test_marketer_imports_a_messy_csv_and_sees_which_rows_failed(page, live_server, client, artifacts_dir, tmp_path):
    _sign_in(page, client, live_server, marketer())
    upload = tmp_path / "trade-fair.csv"
    upload.write_text(MESSY_CSV, encoding="utf-8")

    page.goto(f"{live_server.url}/leads/import/")
    page.get_by_label("CSV file").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and map columns").click()

    assert page.locator("#col_0").input_value() == "email"
    assert page.locator("#col_2").input_value() == "last_name"
    assert page.locator("#col_4").input_value() == "company_size"
    page.locator("#col_5").select_option("email_opt_in")
    page.get_by_role("button", name="Preview").click()

    preview = page.locator("#import-preview")
    assert "company_size: 'many' is not a whole number" in preview.inner_text()
    assert "email: 'not-an-address' is not a valid e-mail address" in preview.inner_text()
    page.screenshot(path=str(artifacts_dir / "intake-import-preview.png"), full_page=True)
    page.get_by_role("button", name="Import 5 rows").click()

    page.locator("#import-counts").wait_for()
    assert page.locator("#import-status").inner_text().startswith("Done")
    rejects = page.locator("#import-rejects tbody tr").all_inner_texts()
    assert rejects == [
        "3\tcompany_size: 'many' is not a whole number",
        "4\temail: 'not-an-address' is not a valid e-mail address",
        "5\temail_opt_in: 'maybe' is not yes or no",
    ]
    page.screenshot(path=str(artifacts_dir / "intake-import-result.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download them as CSV").click()
    assert download.value.suggested_filename == f"rejects-{CsvImport.objects.get().pk}.csv"

    ada = Lead.objects.get(email="ada@engines.example")
    assert (ada.first_name, ada.company, ada.company_size, ada.email_opt_in) == (
        "Ada", "Analytical Engines Ltd", 12, True,
    )  # fmt: skip
    assert Lead.objects.count() == 1
