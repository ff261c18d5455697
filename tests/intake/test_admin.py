"""The capture-form admin: who gets a form's leads."""

import re

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


def _rows(*rows, extra_blank=True) -> dict:
    """The field editor's rows as the browser posts them: (key, label, required[, delete])."""
    data: dict = {}
    posted = [*rows, ("", "", False)] if extra_blank else list(rows)
    for index, (key, label, required, *delete) in enumerate(posted):
        data[f"fields-{index}-key"] = key
        data[f"fields-{index}-label"] = label
        if required:
            data[f"fields-{index}-required"] = "on"
        if delete and delete[0]:
            data[f"fields-{index}-delete"] = "on"
    data["fields-count"] = str(len(posted))
    return data


def test_a_marketer_edits_a_forms_fields_as_rows_without_typing_json(client):
    from leads.models import CustomFieldDefinition

    CustomFieldDefinition.objects.create(key="plan", label="Plan", field_type="choice", choices=["Starter", "Pro"])
    client.force_login(marketer())
    form = capture_form_ensure_demo()

    page = client.get(f"/admin/intake/captureform/{form.pk}/change/").content.decode()
    # Each field a row: what it asks for, chosen by name (custom fields too), with its label.
    assert '<option value="title">Job title</option>' in page
    assert '<option value="attributes.plan">Plan</option>' in page
    assert 'name="fields-0-label" id="id_fields-0-label" value="Work e-mail"' in page
    assert 'name="fields" ' not in page and '<textarea name="fields"' not in page  # no JSON to type

    data = _rows(
        ("attributes.plan", "Which plan?", True),
        ("email", "Work e-mail", True),
        ("company", "", False),  # a blank label: the field's own name
        ("phone", "Phone", False, "delete"),
    )
    response = _post(client, form, **data)

    assert response.status_code == 302
    form.refresh_from_db()
    assert form.fields == [
        {"key": "attributes.plan", "label": "Which plan?", "required": True},
        {"key": "email", "label": "Work e-mail", "required": True},
        {"key": "company", "required": False},
    ]
    public = client.get(f"/f/{form.slug}/").content.decode()
    assert public.index("Which plan?") < public.index("Work e-mail") < public.index(">Company<")


def test_bad_field_rows_are_refused_with_the_reason_and_kept_on_the_page(client):
    client.force_login(marketer())
    form = capture_form_ensure_demo()
    before = form.fields

    response = _post(client, form, **_rows(("company", "Company", False), ("attributes.gone", "Old field", False)))

    assert response.status_code == 200
    page = response.content.decode()
    assert "a form must ask for the e-mail address" in page
    assert "field 2 (Old field): &#x27;gone&#x27; is not a defined custom field" in page
    # What was entered stays on the page, the unknown field too, to be fixed or deleted.
    assert '<option value="attributes.gone" selected>attributes.gone (unknown)</option>' in page
    assert 'value="Old field"' in page
    form.refresh_from_db()
    assert form.fields == before


def test_a_row_marked_for_deletion_stays_on_the_page_when_the_save_fails_for_another_reason(client):
    client.force_login(marketer())
    form = capture_form_ensure_demo()
    before = form.fields

    data = _rows(
        ("email", "Work e-mail", True, "delete"),
        ("first_name", "First name", False),
        ("first_name", "Your name", False),
    )
    page = _post(client, form, **data).content.decode()

    # Rows are numbered as on the page, the deleted one counted, and named by their label.
    assert "field 3 (Your name): &#x27;first_name&#x27; is asked for twice" in page
    assert "a form must ask for the e-mail address" in page
    # The e-mail row is still there, its box ticked, to be unticked.
    assert 'value="Work e-mail"' in page
    assert 'name="fields-0-delete" id="id_fields-0-delete" checked' in page
    form.refresh_from_db()
    assert form.fields == before


def test_a_live_form_keeps_working_when_a_custom_field_it_asks_for_is_deleted(client):
    from leads.models import CustomFieldDefinition, Lead

    plan = CustomFieldDefinition.objects.create(key="go_live", label="Go-live date", field_type="date")
    form = capture_form_ensure_demo()
    CaptureForm.objects.filter(pk=form.pk).update(
        min_fill_seconds=0,
        fields=[
            {"key": "email", "label": "Work e-mail", "required": True},
            {"key": "attributes.go_live", "label": "When do you go live?"},
        ],
    )
    plan.delete()

    page = client.get(f"/f/{form.slug}/")
    assert page.status_code == 200
    assert "Work e-mail" in page.text and "When do you go live?" not in page.text
    token = re.search(r'name="form_token" value="([^"]+)"', page.text)[1]
    sent = client.post(f"/f/{form.slug}/", {"email": "still@example.com", "form_token": token})
    assert sent.status_code in (200, 302)
    assert Lead.objects.filter(email="still@example.com").exists()

    # The marketer sees why the question is gone, and what to do.
    client.force_login(marketer())
    admin_page = client.get(f"/admin/intake/captureform/{form.pk}/change/").text
    assert "The form leaves out what no custom field holds any more: attributes.go_live." in admin_page


def test_a_question_with_a_label_but_nothing_chosen_to_ask_for_is_refused_not_dropped(client):
    client.force_login(marketer())
    form = capture_form_ensure_demo()
    before = form.fields

    data = _rows(("email", "Work e-mail", True), ("", "How did you hear about us?", True))
    page = _post(client, form, **data).content.decode()

    assert "field 2 (How did you hear about us?): choose what it asks for" in page
    assert 'value="How did you hear about us?"' in page
    assert "Not known" not in page
    form.refresh_from_db()
    assert form.fields == before
