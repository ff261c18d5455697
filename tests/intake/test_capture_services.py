import pytest
from django.core.exceptions import ValidationError

from intake.models import CaptureForm
from intake.services import capture_form_ensure_demo, capture_form_save
from leads.models import CustomFieldDefinition

pytestmark = pytest.mark.django_db


def test_ensure_demo_is_idempotent_and_keeps_the_contact_form():
    first = capture_form_ensure_demo()
    second = capture_form_ensure_demo()

    assert first.pk == second.pk
    assert CaptureForm.objects.filter(slug="contact").count() == 1
    assert [f["key"] for f in first.fields] == ["email", "first_name", "last_name", "company", "email_opt_in"]


def test_ensure_demo_recreates_a_deleted_contact_form():
    CaptureForm.objects.all().delete()

    form = capture_form_ensure_demo()

    assert form.slug == "contact"
    assert form.source.name == "Website"


def test_form_definition_must_use_known_fields_and_ask_for_email():
    CustomFieldDefinition.objects.create(key="plan", label="Plan", field_type="choice", choices=["free", "pro"])
    form = CaptureForm(slug="x", name="X", fields=[{"key": "password"}, {"key": "attributes.nope"}])

    with pytest.raises(ValidationError) as exc:
        capture_form_save(form=form)

    assert exc.value.message_dict["fields"] == [
        "field 1: 'password' is not a lead field a form may set",
        "field 2: 'nope' is not a defined custom field",
        "a form must ask for the e-mail address (key 'email')",
    ]
    assert not CaptureForm.objects.filter(slug="x").exists()
    ok = capture_form_save(form=CaptureForm(slug="y", name="Y", fields=[{"key": "email"}, {"key": "attributes.plan"}]))
    assert ok.pk is not None
