"""The capture-form admin: who gets a form's leads."""

import pytest

from intake.models import CaptureForm
from intake.services import capture_form_ensure_demo
from tests.factories import marketer, rep

pytestmark = pytest.mark.django_db


def _post(client, form: CaptureForm, **changes):
    data = {
        "name": form.name,
        "slug": form.slug,
        "is_active": "on",
        "title": form.title,
        "intro": form.intro,
        "submit_label": form.submit_label,
        "fields": '[{"key": "email", "label": "E-mail", "required": true}]',
        "consent_text": form.consent_text,
        "source": form.source_id or "",
        "campaign": "",
        "assignment": form.assignment,
        "owner": "",
        "thank_you_message": form.thank_you_message,
        "redirect_url": "",
        "min_fill_seconds": 3,
        **changes,
    }
    return client.post(f"/admin/intake/captureform/{form.pk}/change/", data)


def test_a_marketer_gives_a_forms_leads_to_one_rep(client):
    client.force_login(marketer())
    form = capture_form_ensure_demo()
    owner = rep()

    page = client.get(f"/admin/intake/captureform/{form.pk}/change/")
    assert page.status_code == 200
    assert "Assign new leads" in page.content.decode()

    response = _post(client, form, assignment=CaptureForm.Assignment.OWNER, owner=owner.pk)

    assert response.status_code == 302
    form.refresh_from_db()
    assert (form.assignment, form.owner) == (CaptureForm.Assignment.OWNER, owner)


def test_one_person_without_a_person_is_refused_and_nothing_changes(client):
    client.force_login(marketer())
    form = capture_form_ensure_demo()

    response = _post(client, form, assignment=CaptureForm.Assignment.OWNER)

    assert response.status_code == 200
    assert "Choose who gets the leads of this form." in response.content.decode()
    form.refresh_from_db()
    assert form.assignment == CaptureForm.Assignment.ROUND_ROBIN


def test_a_marketer_adds_a_webhook_endpoint_in_the_admin(client):
    from intake.models import WebhookEndpoint

    client.force_login(marketer())

    response = client.post(
        "/admin/intake/webhookendpoint/add/",
        {
            "name": "CRM sync",
            "url": "https://hooks.example.com/leadcrm",
            "secret": "a-long-shared-secret-0123456789",
            "events": ["lead.created", "lead.became_hot"],
            "is_active": "on",
        },
    )

    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.name, sorted(endpoint.events)) == ("CRM sync", ["lead.became_hot", "lead.created"])
    assert client.get(f"/admin/intake/webhookendpoint/{endpoint.pk}/delete/").status_code == 200


def test_the_embed_snippet_names_this_site_and_its_script(client):
    client.force_login(marketer())
    form = capture_form_ensure_demo()

    page = client.get(f"/admin/intake/captureform/{form.pk}/change/").content.decode()

    # Ready to paste: this site's address, not a placeholder, and the script's own file name
    # (a hashed name would change with the next deploy and break pasted snippets).
    assert "&lt;iframe src=&quot;http://testserver/f/contact/embed/&quot;" in page
    assert "&lt;script src=&quot;http://testserver/static/intake/embed.js&quot;&gt;&lt;/script&gt;" in page
