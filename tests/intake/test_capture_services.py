import datetime

import pytest
from django.core.exceptions import ValidationError

from intake.models import CaptureForm
from intake.services import capture_form_ensure_demo, capture_form_save, capture_form_submit
from leads.models import CustomFieldDefinition, Lead
from tests.factories import LeadFactory, manager, rep

pytestmark = pytest.mark.django_db


def test_ensure_demo_is_idempotent_and_keeps_the_contact_form():
    first = capture_form_ensure_demo()
    second = capture_form_ensure_demo()

    assert first.pk == second.pk
    assert CaptureForm.objects.filter(slug="contact").count() == 1
    assert [f["key"] for f in first.fields] == ["email", "first_name", "last_name", "company", "email_opt_in"]
    assert first.assignment == CaptureForm.Assignment.ROUND_ROBIN


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
        "field 1 (Password): 'password' is not a lead field a form may set",
        "field 2 (Nope): 'nope' is not a defined custom field",
        "a form must ask for the e-mail address",
    ]
    assert not CaptureForm.objects.filter(slug="x").exists()
    ok = capture_form_save(form=CaptureForm(slug="y", name="Y", fields=[{"key": "email"}, {"key": "attributes.plan"}]))
    assert ok.pk is not None


# --- who gets the leads a form brings in ----------------------------------------------------

NOW = datetime.datetime(2026, 11, 2, 10, 0, tzinfo=datetime.UTC)


def _submit(form: CaptureForm, email: str):
    return capture_form_submit(form=form, values={"email": email}, now=NOW)


def _form(**kwargs) -> CaptureForm:
    return capture_form_save(form=CaptureForm(slug="demo-day", name="Demo day", fields=[{"key": "email"}], **kwargs))


def test_a_form_leaves_its_leads_in_the_pool_unless_told_otherwise():
    result = _submit(_form(), "pool@acme.example")

    assert result.created and result.lead.owner is None


def test_a_form_can_give_every_new_lead_to_one_person():
    owner = manager()
    form = _form(assignment=CaptureForm.Assignment.OWNER, owner=owner)

    result = _submit(form, "one@acme.example")

    assert Lead.objects.get(pk=result.lead.pk).owner == owner
    assert result.lead.owner == owner


def test_round_robin_takes_turns_among_active_reps_only():
    first, second = rep(), rep()
    rep(is_active=False)
    manager()
    form = _form(assignment=CaptureForm.Assignment.ROUND_ROBIN)

    owners = [_submit(form, f"rr{i}@acme.example").lead.owner for i in range(5)]

    assert owners == [first, second, first, second, first]


def test_the_lead_page_says_which_form_gave_a_lead_to_whom(client):
    seller, other = rep(username="sam"), rep(username="ola")
    owned = LeadFactory(email="known@acme.example", owner=other)
    pooled = LeadFactory(email="pooled@acme.example", owner=None)
    form = _form(assignment=CaptureForm.Assignment.ROUND_ROBIN)

    new = _submit(form, "new@acme.example").lead
    _submit(form, "pooled@acme.example")
    _submit(form, "known@acme.example")

    client.force_login(manager())
    page = client.get(f"/leads/{new.pk}/").content.decode()
    assert f"Assigned to {_name(seller)}" in page
    assert "by the form “Demo day”, taking turns among the sales reps" in page
    pooled_page = client.get(f"/leads/{pooled.pk}/").content.decode()
    assert f"Assigned to {_name(other)}" in pooled_page and "by the form “Demo day”" in pooled_page
    # A known lead keeps its owner: nothing changed hands.
    assert "by the form" not in client.get(f"/leads/{owned.pk}/").content.decode()


def _name(user) -> str:
    return user.get_full_name() or user.get_username()


def test_round_robin_without_reps_leaves_leads_in_the_pool():
    form = _form(assignment=CaptureForm.Assignment.ROUND_ROBIN)

    assert _submit(form, "nobody@acme.example").lead.owner is None


def test_a_known_lead_keeps_its_owner_and_a_pool_lead_gets_one():
    owner, other = rep(), rep()
    owned = LeadFactory(email="owned@acme.example", owner=other)
    pooled = LeadFactory(email="pooled@acme.example", owner=None)
    form = _form(assignment=CaptureForm.Assignment.OWNER, owner=owner)

    _submit(form, "owned@acme.example")
    _submit(form, "pooled@acme.example")

    assert Lead.objects.get(pk=owned.pk).owner == other
    assert Lead.objects.get(pk=pooled.pk).owner == owner


def test_giving_leads_to_one_person_needs_an_active_person():
    with pytest.raises(ValidationError) as missing:
        _form(assignment=CaptureForm.Assignment.OWNER)
    with pytest.raises(ValidationError) as inactive:
        _form(assignment=CaptureForm.Assignment.OWNER, owner=rep(is_active=False))

    assert missing.value.message_dict == {"owner": ["Choose who gets the leads of this form."]}
    assert inactive.value.message_dict == {"owner": ["This user is not active."]}
    assert not CaptureForm.objects.filter(slug="demo-day").exists()


def test_an_unticked_yes_no_box_keeps_an_earlier_yes_and_a_sent_no_counts():
    CustomFieldDefinition.objects.create(key="trial", label="I want a trial", field_type="boolean")
    form = CaptureForm.objects.create(
        name="Webinar",
        slug="webinar",
        fields=[{"key": "email", "required": True}, {"key": "attributes.trial", "label": "I want a trial"}],
    )

    def send(**values):
        capture_form_submit(form=form, values={"email": "grace@example.org", **values}, now=NOW)
        return Lead.objects.get(email="grace@example.org").attributes.get("trial")

    assert send() is None  # a new lead who did not tick it: no answer
    assert send(attributes__trial="1") is True
    assert send() is True  # a browser sends nothing for an unticked box: nothing changes
    assert send(**{"attributes.trial": False}) is False  # a script that says no, says no
