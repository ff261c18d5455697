"""In a real browser: a visitor submits the public contact form; a marketer imports a messy CSV."""

import re
import threading

import pytest
from django.urls import reverse

from intake import csv_import
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


class _HostSite:
    """A company website on another origin than LeadCRM's, serving fixed pages."""

    def __init__(self, pages: dict[str, str]) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                body = pages.get(self.path.split("?")[0])
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write((body or "not here").encode())

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _embedded_form(slug: str, **fields) -> CaptureForm:
    return CaptureForm.objects.create(
        name=f"Embedded {slug}",
        slug=slug,
        title="Talk to sales",
        fields=[{"key": "email", "label": "Work e-mail", "required": True}, {"key": "company", "label": "Company"}],
        source=LeadSourceFactory(name=f"Website {slug}"),
        min_fill_seconds=0,
        **fields,
    )


WIDE_CSV = (
    "Email,First Name,Last Name,Company,Job Title,Phone,Website,Industry,Country,City,Employees,Revenue\n"
    "ok@example.com,Olga,Okafor,Okay Ltd,Buyer,+44 20 7946 0000,okay.example,Retail,UK,London,40,1200000\n"
    "wrong,Walt,Wong,Wrong & Co,Head of Procurement and Vendor Relations,+1 303 555 0100,wrong.example,Logistics,"
    "US,Denver,lots,a few\n"
)


def test_a_skipped_rows_reason_reads_on_a_line_of_its_own_however_many_columns(live_server, client, artifacts_dir):
    user = marketer()
    item = csv_import.csv_import_create(user=user, filename="wide.csv", raw=WIDE_CSV.encode())
    assert all(item.mapping.values())  # every column mapped: a wide preview
    cookies = _session_cookie(client, live_server, user)

    def look(page) -> dict:
        page.goto(f"{live_server.url}{reverse('import_preview', args=[item.pk])}")
        rows = page.locator("#import-preview tbody tr")
        reason = page.locator("#import-preview tr.import-reason div")
        seen = {
            "intro": page.locator("h1 + p").inner_text(),
            "rows": rows.count(),
            "skipped_row_height": rows.nth(1).bounding_box()["height"],
            "reason": reason.inner_text(),
            "reason_right": reason.bounding_box()["x"] + reason.bounding_box()["width"],
        }
        page.screenshot(path=str(artifacts_dir / "intake-import-preview-wide.png"), full_page=True)
        return seen

    seen = _in_browser(look, cookies)

    assert "a row with a problem is skipped, and why is written under it" in seen["intro"]
    assert seen["rows"] == 3  # line 2, line 3, and line 3's reason
    assert seen["reason"] == (
        "Why line 3 is skipped: Email: 'wrong' is not a valid e-mail address; "
        "Employees: 'lots' is not a whole number; Revenue: 'a few' is not an amount"
    )
    assert seen["skipped_row_height"] < 60  # its cells on a line or two, not a column of words
    assert seen["reason_right"] <= 1280  # read without scrolling sideways


def test_a_form_embedded_on_another_site_fits_its_frame_and_keeps_the_visit_s_attribution(live_server, artifacts_dir):
    from intake.admin import embed_snippet

    form = _embedded_form("embedded-demo")
    host = _HostSite({"/pricing": f"<!doctype html><h1>Pricing</h1>{embed_snippet(form, live_server.url)}"})
    landing = f"{host.url}/pricing?utm_source=ads&utm_campaign=winter&gclid=G-123"
    try:
        sizes = _in_browser(lambda page: _fill_embedded_form(page, landing, artifacts_dir))
    finally:
        host.close()

    # The frame follows the form: shorter than the snippet's 560 px at first, taller with errors,
    # and never less than what the form needs (no scrolling inside the frame).
    assert sizes["first"]["frame"] < 560
    assert sizes["with_errors"]["frame"] > sizes["first"]["frame"]
    for size in sizes.values():
        assert size["frame"] >= size["form"] >= size["frame"] - 2
    lead = Lead.objects.get(email="embedded@example.com")
    # The browser tells a framed form only the host's origin: the host page's script passes on
    # the visit's UTM parameters, click id, referrer and landing page.
    assert lead.first_touch_utm == {
        "utm_source": "ads",
        "utm_campaign": "winter",
        "gclid": "G-123",
        "referrer": "https://search.example/?q=crm",
        "landing_page": landing,
    }


def _fill_embedded_form(page, landing, artifacts_dir) -> dict:
    def sizes() -> dict:
        page.wait_for_timeout(300)  # the frame reports its height on a message
        frame_height = page.locator("iframe[data-leadcrm-form]").evaluate("frame => frame.clientHeight")
        form_height = form.locator("body").evaluate("body => Math.ceil(body.getBoundingClientRect().height)")
        return {"frame": frame_height, "form": form_height}

    page.goto(landing, referer="https://search.example/?q=crm")
    form = page.frame_locator("iframe[data-leadcrm-form]")
    form.get_by_label("Work e-mail").wait_for()
    measured = {"first": sizes()}
    form.get_by_label("Work e-mail").fill("not an address")
    form.get_by_role("button", name="Send").click()
    form.locator(".invalid-feedback").first.wait_for()
    measured["with_errors"] = sizes()
    page.screenshot(path=str(artifacts_dir / "intake-embedded-form-error.png"), full_page=True)
    form.get_by_label("Work e-mail").fill("embedded@example.com")
    form.get_by_label("Company").fill("Framed Ltd")
    form.get_by_role("button", name="Send").click()
    form.locator("#capture-thanks").wait_for()
    measured["thanks"] = sizes()
    page.screenshot(path=str(artifacts_dir / "intake-embedded-form-thanks.png"), full_page=True)
    return measured


def test_an_embedded_form_keeps_what_was_typed_and_the_attribution_when_the_page_s_script_comes_late(live_server):
    from intake.admin import embed_snippet

    form = _embedded_form("embedded-late")
    frame, script = embed_snippet(form, live_server.url).split("\n")
    script_src = re.search(r'src="([^"]+)"', script)[1]
    # A slow website: the snippet's script arrives after the form has loaded and the visitor has
    # started typing.
    late = (
        "<script>setTimeout(() => { const s = document.createElement('script'); "
        f"s.src = '{script_src}'; document.body.appendChild(s); }}, 1500)</script>"
    )
    host = _HostSite({"/demo": f"<!doctype html><h1>Book a demo</h1>{frame}{late}"})
    landing = f"{host.url}/demo?utm_source=newsletter&utm_medium=email"
    try:
        typed = _in_browser(lambda page: _type_before_the_script(page, landing))
    finally:
        host.close()

    assert typed == "late@example.com"
    lead = Lead.objects.get(email="late@example.com")
    assert lead.company == "Late Ltd"
    assert lead.first_touch_utm == {
        "utm_source": "newsletter",
        "utm_medium": "email",
        "referrer": "https://mail.example/",
        "landing_page": landing,
    }


def _type_before_the_script(page, landing) -> str:
    page.goto(landing, referer="https://mail.example/")
    form = page.frame_locator("iframe[data-leadcrm-form]")
    form.get_by_label("Work e-mail").fill("late@example.com")
    form.get_by_label("Company").fill("Late Ltd")
    assert page.locator("iframe[data-leadcrm-form]").evaluate("frame => frame.clientHeight") == 560
    # The script fits the frame once it runs; the form did not load again.
    page.wait_for_function("document.querySelector('iframe[data-leadcrm-form]').clientHeight < 560")
    typed = form.get_by_label("Work e-mail").input_value()
    form.get_by_role("button", name="Send").click()
    form.locator("#capture-thanks").wait_for()
    return typed


def test_an_embedded_form_with_a_redirect_moves_the_host_page(live_server):
    from intake.admin import embed_snippet

    pages = {"/thank-you": "<!doctype html><h1>Thanks!</h1>"}
    host = _HostSite(pages)
    form = _embedded_form("embedded-redirect", redirect_url=f"{host.url}/thank-you")
    pages["/contact"] = f"<!doctype html>{embed_snippet(form, live_server.url)}"
    try:
        final = _in_browser(lambda page: _submit_and_follow(page, f"{host.url}/contact"))
    finally:
        host.close()

    assert final == (f"{host.url}/thank-you", "Thanks!")
    assert Lead.objects.filter(email="redirected@example.com").exists()


def _submit_and_follow(page, url) -> tuple[str, str]:
    page.goto(url)
    form = page.frame_locator("iframe[data-leadcrm-form]")
    form.get_by_label("Work e-mail").fill("redirected@example.com")
    form.get_by_role("button", name="Send").click()
    page.wait_for_url("**/thank-you")
    return page.url, page.locator("h1").inner_text()


def test_a_script_on_the_company_site_posts_a_form_as_json(live_server):
    # The company's own form markup and script: read the definition and a token, then post JSON
    # (the browser asks LeadCRM first, as it does for any JSON post to another site).
    form = _embedded_form("scripted")
    script = f"""<!doctype html><script>
      async function send() {{
        const url = "{live_server.url}/f/{form.slug}/";
        const definition = await (await fetch(url + "?format=json")).json();
        const body = {{email: "scripted@example.com", company: "Own Markup Ltd", utm_source: "site"}};
        body[definition.token_field] = definition.token;
        const answer = await fetch(url, {{method: "POST", headers: {{"Content-Type": "application/json"}},
                                          body: JSON.stringify(body)}});
        return [answer.status, (await answer.json()).message];
      }}
    </script>"""
    host = _HostSite({"/contact": script})
    try:
        answer = _in_browser(lambda page: (page.goto(f"{host.url}/contact"), page.evaluate("send()"))[1])
    finally:
        host.close()

    assert answer == [201, "Thank you! We will be in touch soon."]
    lead = Lead.objects.get(email="scripted@example.com")
    assert (lead.company, lead.first_touch_utm["utm_source"]) == ("Own Markup Ltd", "site")


def test_a_marketer_adds_a_question_to_a_form_and_moves_it_to_the_top(client, live_server, artifacts_dir):
    from leads.models import CustomFieldDefinition

    CustomFieldDefinition.objects.create(key="plan", label="Plan", field_type="choice", choices=["Starter", "Pro"])
    form = _embedded_form("demo-request")
    cookies = _session_cookie(client, live_server, marketer())

    labels = _in_browser(lambda page: _add_and_move_a_question(page, live_server, form, artifacts_dir), cookies)

    form.refresh_from_db()
    assert form.fields == [
        {"key": "attributes.plan", "label": "Which plan interests you?", "required": True},
        {"key": "email", "label": "Work e-mail", "required": True},
        {"key": "company", "label": "Company", "required": False},
    ]
    assert labels == ["Which plan interests you? *", "Work e-mail *", "Company"]


def _add_and_move_a_question(page, live_server, form, artifacts_dir) -> list[str]:
    page.goto(f"{live_server.url}/admin/intake/captureform/{form.pk}/change/")
    page.get_by_role("button", name="Add a field").click()
    rows = page.locator("tr[data-row]")
    position = rows.count() - 1  # e-mail, company, the blank row, the new one
    row = rows.nth(position)
    row.get_by_label("Asks for").select_option(label="Plan")
    row.get_by_label("Label on the form").fill("Which plan interests you?")
    row.get_by_label("Required").check()
    while position > 0:
        rows.nth(position).get_by_role("button", name="Move up").click()
        position -= 1
    assert rows.nth(0).get_by_label("Asks for").input_value() == "attributes.plan"
    assert rows.nth(0).get_by_role("button", name="Move up").is_disabled()
    page.locator("fieldset", has=page.locator("[data-form-fields]")).screenshot(
        path=str(artifacts_dir / "intake-form-fields.png")
    )
    page.get_by_role("button", name="Save and continue editing").click()
    assert "was changed successfully" in page.locator(".messagelist").inner_text()

    page.goto(f"{live_server.url}/f/{form.slug}/")
    return [label.strip() for label in page.locator("#capture-form label.form-label").all_inner_texts()]
