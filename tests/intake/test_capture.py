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


def _token(seconds_ago: float = 10) -> str:
    return signing.dumps({"t": time.time() - seconds_ago}, salt=TOKEN_SALT, compress=False)


def _post(client, slug="contact", **values):
    data = {TOKEN_FIELD: _token(), **values}
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
    assert event.properties == {"form": "contact", "utm_source": "google", "utm_campaign": "spring"}
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


def test_utm_on_the_page_url_travels_with_the_submission(client):
    page = client.get("/f/contact/?utm_source=twitter&fbclid=FB1", HTTP_REFERER="https://blog.example/post")
    html = page.content.decode()
    assert 'name="utm_source" value="twitter"' in html
    assert 'name="fbclid" value="FB1"' in html
    assert 'name="referrer" value="https://blog.example/post"' in html
