import json
import time
from unittest import mock

import pytest
from django.core import signing
from django.urls import reverse

from intake.capture import HONEYPOT_FIELD, TOKEN_FIELD
from intake.models import CaptureForm, FormSubmission
from leads.models import Lead
from scoring.models import EngagementEvent
from tests.factories import CampaignFactory, LeadFactory, LeadSourceFactory
from web.intake_views import TOKEN_SALT

pytestmark = pytest.mark.django_db


def _token(seconds_ago: float = 10, slug: str = "contact") -> str:
    """A render token of the form ``slug``, as if the form had been shown ``seconds_ago``."""
    form_id = CaptureForm.objects.get(slug=slug).pk
    return signing.dumps({"t": time.time() - seconds_ago, "f": form_id}, salt=TOKEN_SALT, compress=False)


def _post(client, slug="contact", **values):
    data = {TOKEN_FIELD: _token(slug=slug), **values}
    return client.post(reverse("capture_form", args=[slug]), data)


def _post_json(client, body, slug="contact", **extra):
    return client.post(
        reverse("capture_form", args=[slug]), data=json.dumps(body), content_type="application/json", **extra
    )


def test_contact_form_exists_on_a_fresh_install_and_renders(client):
    response = client.get("/f/contact/")

    assert response.status_code == 200
    html = response.content.decode()
    for name in ("email", "first_name", "last_name", "company", "email_opt_in", HONEYPOT_FIELD, TOKEN_FIELD):
        assert f'name="{name}"' in html
    assert "Yes, send me news and offers by e-mail" in html
    assert response["X-Frame-Options"] == "DENY"


def test_embed_view_may_be_framed_and_has_no_navigation(client):
    response = client.get("/f/contact/embed/")

    assert response.status_code == 200
    assert "X-Frame-Options" not in response
    assert "<nav" not in response.content.decode()


def test_unknown_or_inactive_form_is_not_found(client):
    CaptureForm.objects.filter(slug="contact").update(is_active=False)

    assert client.get("/f/contact/").status_code == 404
    assert client.get("/f/nope/").status_code == 404


def test_submission_creates_a_lead_with_attribution_and_a_form_event(client):
    source = LeadSourceFactory(name="Paid search")
    campaign = CampaignFactory(name="Spring")
    CaptureForm.objects.filter(slug="contact").update(source=source, campaign=campaign)

    response = _post(
        client,
        email="  Ada@Example.COM ",
        first_name="Ada",
        last_name="Lovelace",
        company="Analytical Engines",
        email_opt_in="1",
        utm_source="google",
        utm_campaign="spring",
        gclid="abc123",
        referrer="https://search.example/?q=crm",
    )

    assert response.status_code == 200
    assert "Thank you!" in response.content.decode()
    lead = Lead.objects.get()
    assert (lead.email, lead.first_name, lead.last_name, lead.company) == (
        "ada@example.com", "Ada", "Lovelace", "Analytical Engines",
    )  # fmt: skip
    assert lead.source == source
    assert lead.campaign == campaign
    assert lead.email_opt_in is True
    assert lead.consent_at is not None
    expected = {
        "utm_source": "google",
        "utm_campaign": "spring",
        "gclid": "abc123",
        "referrer": "https://search.example/?q=crm",
    }
    assert lead.first_touch_utm == expected
    assert lead.last_touch_utm == expected
    event = EngagementEvent.objects.get(lead=lead)
    assert event.event_type.key == "form_submission"
    assert event.properties == {
        "form": "contact", "form_name": "Contact us", "utm_source": "google", "utm_campaign": "spring",
    }  # fmt: skip
    submission = FormSubmission.objects.get()
    assert (submission.lead, submission.created_lead) == (lead, True)


def test_known_email_updates_the_lead_keeps_first_touch_and_logs_an_event(client):
    lead = LeadFactory(email="ada@example.com", first_name="Ada", company="Old Co", phone="123")
    Lead.objects.filter(pk=lead.pk).update(first_touch_utm={"utm_source": "newsletter"})

    response = _post(client, email="ADA@example.com", first_name="", company="New Co", utm_source="linkedin")

    assert response.status_code == 200
    assert Lead.objects.count() == 1
    lead.refresh_from_db()
    assert lead.first_name == "Ada"  # a blank answer does not erase
    assert lead.company == "New Co"
    assert lead.phone == "123"
    assert lead.first_touch_utm == {"utm_source": "newsletter"}
    assert lead.last_touch_utm == {"utm_source": "linkedin"}
    assert lead.email_opt_in is False  # an unticked box never withdraws or grants consent
    assert EngagementEvent.objects.filter(lead=lead, event_type__key="form_submission").count() == 1
    assert FormSubmission.objects.get().created_lead is False


def test_missing_and_bad_fields_are_reported_and_nothing_is_written(client):
    response = _post(client, email="not-an-address", first_name="x" * 6000)

    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a valid e-mail address." in html
    assert "Use at most 5000 characters." in html
    assert 'value="not-an-address"' in html  # what the person typed is kept
    assert Lead.objects.count() == 0
    assert FormSubmission.objects.count() == 0
    assert EngagementEvent.objects.count() == 0


def test_every_bad_field_is_reported_at_once(client):
    response = _post(client, email="not-an-address", first_name="x" * 3000)

    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a valid e-mail address." in html
    assert "Ensure this value has at most 100 characters (it has 3000)." in html  # not on the next try
    assert Lead.objects.count() == 0


def test_filled_honeypot_pretends_success_and_creates_nothing(client):
    response = _post(client, email="bot@example.com", **{HONEYPOT_FIELD: "555-1234"})

    assert response.status_code == 200
    assert "Thank you!" in response.content.decode()
    assert Lead.objects.count() == 0
    assert FormSubmission.objects.count() == 0


def test_too_fast_submission_is_refused_by_the_time_trap(client):
    response = client.post("/f/contact/", {TOKEN_FIELD: _token(seconds_ago=0.5), "email": "fast@example.com"})

    assert response.status_code == 400
    assert "quicker than a person can type" in response.content.decode()
    assert Lead.objects.count() == 0


def test_a_too_fast_submission_also_says_what_is_wrong_in_its_fields(client):
    response = client.post("/f/contact/", {TOKEN_FIELD: _token(seconds_ago=0.5), "email": "not-an-email"})

    html = response.content.decode()
    assert response.status_code == 400
    assert "quicker than a person can type" in html
    assert "Enter a valid e-mail address." in html
    answer = _post_json(client, {TOKEN_FIELD: _token(seconds_ago=0.5), "email": "not-an-email"}).json()
    assert answer["errors"]["email"] == ["Enter a valid e-mail address."]
    assert TOKEN_FIELD in answer["errors"]
    assert Lead.objects.count() == 0


def test_missing_forged_or_expired_token_is_refused_saying_which(client):
    missing = _post_json(client, {"email": "a@example.com"})
    forged = signing.dumps({"t": time.time() - 60}, salt="something else")
    wrong = _post_json(client, {"email": "a@example.com", TOKEN_FIELD: forged})
    with mock.patch("time.time", return_value=time.time() - 25 * 3600):  # given out 25 hours ago
        stale = _token()
    expired = _post_json(client, {"email": "a@example.com", TOKEN_FIELD: stale})

    assert [answer.status_code for answer in (missing, wrong, expired)] == [400, 400, 400]
    assert "form_token) is missing" in missing.json()["detail"]
    assert "is not one this form gave out" in wrong.json()["detail"]
    assert expired.json()["detail"] == "The form expired. Please submit it again."
    assert client.post("/f/contact/", {"email": "a@example.com"}).status_code == 400  # the page too
    assert Lead.objects.count() == 0


def test_rate_limit_per_address_answers_429(client, settings):
    settings.INTAKE_RATE_LIMIT = (2, 60)

    codes = [_post(client, email=f"p{i}@example.com").status_code for i in range(3)]

    assert codes == [200, 200, 429]
    assert Lead.objects.count() == 2


def test_oversized_body_answers_413(client, settings):
    settings.INTAKE_MAX_BODY_BYTES = 1000

    response = _post(client, email="big@example.com", need="x" * 2000)

    assert response.status_code == 413
    assert Lead.objects.count() == 0


def test_json_definition_then_json_post(client):
    definition = client.get("/f/contact/?format=json").json()
    assert [f["name"] for f in definition["fields"]] == ["email", "first_name", "last_name", "company", "email_opt_in"]
    assert definition["fields"][0]["required"] is True

    response = _post_json(
        client, {"email": "json@example.com", "first_name": "Jay", TOKEN_FIELD: _token(), "utm": {"utm_medium": "cpc"}}
    )

    assert response.status_code == 201
    assert response.json()["ok"] is True
    assert response["Access-Control-Allow-Origin"] == "*"
    lead = Lead.objects.get()
    assert (lead.email, lead.first_name, lead.first_touch_utm) == ("json@example.com", "Jay", {"utm_medium": "cpc"})


def test_json_bad_input(client):
    assert _post_json(client, {"email": "x@example.com"}).status_code == 400  # no token
    malformed = client.post("/f/contact/", data="{nope", content_type="application/json")
    assert malformed.status_code == 400
    assert malformed.json() == {"detail": "The body is not valid JSON."}
    not_object = _post_json(client, ["email"])
    assert not_object.status_code == 400
    wrong_type = _post_json(client, {"email": {"a": 1}, TOKEN_FIELD: _token()})
    assert wrong_type.status_code == 400
    assert wrong_type.json()["errors"] == {"email": ["Must be a single value."]}
    assert Lead.objects.count() == 0


def test_redirect_after_submission_when_the_form_says_so(client):
    CaptureForm.objects.filter(slug="contact").update(redirect_url="https://example.com/thanks")

    response = _post(client, email="r@example.com")

    assert response.status_code == 302
    assert response["Location"] == "https://example.com/thanks"


def test_an_embedded_form_asks_its_page_to_follow_the_redirect(client):
    # A frame cannot move the page around it: the thank-you in the frame hands the address to
    # the page's script and offers a link that opens it in the whole window.
    CaptureForm.objects.filter(slug="contact").update(redirect_url="https://example.com/thanks")

    response = client.post(
        reverse("capture_form_embed", args=["contact"]), {TOKEN_FIELD: _token(), "email": "e@example.com"}
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert '<a href="https://example.com/thanks" target="_top" data-leadcrm-redirect>Continue</a>' in html
    assert Lead.objects.filter(email="e@example.com").exists()


def test_an_embedded_form_keeps_the_host_page_and_referrer_its_script_passes(client):
    page = client.get(
        reverse("capture_form_embed", args=["contact"]),
        {
            "utm_source": "ads",
            "referrer": "https://search.example/",
            "landing_page": "https://acme.example/pricing?x=1",
        },
        HTTP_REFERER="https://acme.example/",  # all a browser tells a frame on another site
    )

    html = page.content.decode()
    assert 'name="referrer" value="https://search.example/"' in html
    assert 'name="landing_page" value="https://acme.example/pricing?x=1"' in html
    assert 'name="utm_source" value="ads"' in html


def test_utm_on_the_page_url_travels_with_the_submission(client):
    page = client.get("/f/contact/?utm_source=twitter&fbclid=FB1", HTTP_REFERER="https://blog.example/post")
    html = page.content.decode()
    assert 'name="utm_source" value="twitter"' in html
    assert 'name="fbclid" value="FB1"' in html
    assert 'name="referrer" value="https://blog.example/post"' in html


def test_a_browser_s_preflight_before_a_json_post_is_answered_for_any_site(client):
    # A script on the company's site posting JSON makes the browser ask first (CORS preflight),
    # without ?format=json and without a body.
    response = client.options(
        "/f/contact/",
        HTTP_ORIGIN="https://www.acme.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )

    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert response["Access-Control-Allow-Headers"] == "Content-Type"


def test_a_token_of_another_form_is_refused(client):
    other = CaptureForm.objects.create(name="Other", slug="other", fields=[{"key": "email", "label": "E-mail"}])

    answer = _post_json(client, {"email": "cross@example.com", TOKEN_FIELD: _token(slug=other.slug)})

    assert answer.status_code == 400
    assert "is not one this form gave out" in answer.json()["detail"]
    assert Lead.objects.count() == 0


def test_a_quick_person_is_not_refused_twice(client):
    CaptureForm.objects.filter(slug="contact").update(min_fill_seconds=3)
    first_token = _token(seconds_ago=2)

    refused = client.post("/f/contact/", {TOKEN_FIELD: first_token, "email": "quick@example.com"})

    # The form comes back with the token it was first shown with, so its clock keeps running:
    # sent again a second later, it goes through.
    assert refused.status_code == 400
    assert f'name="{TOKEN_FIELD}" value="{first_token}"' in refused.content.decode()
    with mock.patch("time.time", return_value=time.time() + 1.5):
        again = client.post("/f/contact/", {TOKEN_FIELD: first_token, "email": "quick@example.com"})
    assert again.status_code == 200
    assert Lead.objects.filter(email="quick@example.com").exists()


def test_a_switched_off_form_says_so_in_a_frame_a_page_and_json(client):
    CaptureForm.objects.filter(slug="contact").update(is_active=False)

    embedded = client.get(reverse("capture_form_embed", args=["contact"]))
    page = client.get("/f/contact/")
    as_json = client.get("/f/contact/?format=json")

    assert (embedded.status_code, page.status_code, as_json.status_code) == (404, 404, 404)
    assert "This form is not accepting submissions." in embedded.content.decode()
    assert "X-Frame-Options" not in embedded  # the website around the frame shows the message
    assert "This form is not accepting submissions." in page.content.decode()
    assert as_json.json() == {"detail": "This form is not accepting submissions."}
    assert as_json["Access-Control-Allow-Origin"] == "*"


def test_tracking_at_the_top_level_and_in_a_utm_object_are_both_kept(client):
    response = _post_json(
        client,
        {
            "email": "both@example.com",
            TOKEN_FIELD: _token(),
            "utm": {"utm_source": "linkedin"},
            "fbclid": "FB-9",
            "referrer": "https://r.example/",
        },
    )

    assert response.status_code == 201
    assert Lead.objects.get().first_touch_utm == {
        "utm_source": "linkedin", "fbclid": "FB-9", "referrer": "https://r.example/",
    }  # fmt: skip


def test_a_script_gets_a_select_s_choices_and_may_post_attributes_as_the_api_does(client):
    from leads.models import CustomFieldDefinition

    CustomFieldDefinition.objects.create(key="plan", label="Plan", field_type="choice", choices=["Starter", "Pro"])
    form = CaptureForm.objects.create(
        name="Plans", slug="plans", min_fill_seconds=0,
        fields=[{"key": "email", "label": "E-mail"}, {"key": "attributes.plan", "label": "Plan", "required": True}],
    )  # fmt: skip

    definition = client.get("/f/plans/?format=json").json()
    bad = _post_json(
        client,
        {"email": "p@example.com", TOKEN_FIELD: _token(slug=form.slug), "attributes__plan": "Gold"},
        slug="plans",
    )
    nested = _post_json(
        client,
        {"email": "p@example.com", TOKEN_FIELD: _token(slug=form.slug), "attributes": {"plan": "Pro"}},
        slug="plans",
    )

    assert definition["fields"][1] == {
        "name": "attributes__plan", "label": "Plan", "type": "select", "required": True, "choices": ["Starter", "Pro"],
    }  # fmt: skip
    # Errors are named as the definition names the field.
    assert bad.status_code == 400 and list(bad.json()["errors"]) == ["attributes__plan"]
    assert nested.status_code == 201
    assert Lead.objects.get().attributes == {"plan": "Pro"}


def test_a_rate_limited_person_keeps_their_answers_and_learns_how_long_to_wait(client, settings):
    settings.INTAKE_RATE_LIMIT = (1, 60)
    _post(client, email="first@example.com")

    page = _post(client, email="second@example.com", first_name="Sam")
    answer = _post_json(client, {"email": "third@example.com", TOKEN_FIELD: _token()})

    assert page.status_code == 429
    html = page.content.decode()
    assert "Too many submissions from your address. Please wait" in html
    assert 'value="second@example.com"' in html and 'value="Sam"' in html
    assert 1 <= int(page["Retry-After"]) <= 60
    assert answer.status_code == 429 and 1 <= int(answer["Retry-After"]) <= 60
    assert list(Lead.objects.values_list("email", flat=True)) == ["first@example.com"]


def test_link_checkers_may_ask_for_a_form_with_head(client):
    assert client.head(reverse("capture_form_embed", args=["contact"])).status_code == 200


def test_the_lead_s_timeline_names_the_form_and_campaign_of_each_submission(client):
    from tests.factories import manager

    CaptureForm.objects.create(name="E-book download", slug="ebook", fields=[{"key": "email", "label": "E-mail"}])
    _post(client, email="two@example.com", utm_source="google", utm_campaign="spring")
    _post(client, slug="ebook", email="two@example.com")
    lead = Lead.objects.get()

    client.force_login(manager())
    page = client.get(f"/leads/{lead.pk}/").content.decode()

    assert 'Contact us <span class="text-secondary">· google / spring</span>' in page
    assert "E-book download</p>" in page


def test_a_submission_keeps_the_words_the_person_consented_to(client):
    CaptureForm.objects.filter(slug="contact").update(consent_text="Send me the monthly product news.")
    _post(client, email="yes@example.com", email_opt_in="1")
    CaptureForm.objects.filter(slug="contact").update(consent_text="Send me offers from partners too.")  # edited later
    _post(client, email="no@example.com")

    kept = dict(FormSubmission.objects.values_list("lead__email", "consent_text"))

    assert kept == {"yes@example.com": "Send me the monthly product news.", "no@example.com": ""}
