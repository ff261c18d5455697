import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import DuplicateLeadError, TransitionNotAllowed
from leads.models import Activity, CustomFieldDefinition, Lead, Stage, StageChange
from leads.services import activity_log, lead_assign, lead_create, lead_transition, lead_update
from tests.factories import LeadFactory, manager, rep

pytestmark = pytest.mark.django_db


def test_lead_create_normalises_email_and_records_the_first_stage():
    owner = rep()

    lead = lead_create(email="  Ada@Example.COM ", first_name="Ada", actor=owner)

    assert lead.email == "ada@example.com"
    assert lead.owner == owner
    assert lead.stage == Stage.RAW
    assert list(lead.stage_changes.values_list("from_stage", "to_stage")) == [("", "raw")]


def test_duplicate_email_is_refused_case_insensitively_and_names_the_existing_lead():
    existing = lead_create(email="ada@example.com")

    with pytest.raises(DuplicateLeadError) as caught:
        lead_create(email="ADA@example.com", first_name="Other")

    assert caught.value.lead_id == existing.id
    assert Lead.objects.count() == 1


def test_database_refuses_a_case_variant_email_even_without_the_service():
    LeadFactory(email="bob@example.com")

    with pytest.raises(IntegrityError), transaction.atomic():
        LeadFactory(email="BOB@example.com")


def test_lead_create_reports_bad_fields_and_writes_nothing():
    with pytest.raises(ValidationError) as caught:
        lead_create(email="not-an-email", company_size=-3)

    assert set(caught.value.message_dict) == {"email", "company_size"}
    assert Lead.objects.count() == 0
    assert StageChange.objects.count() == 0


def test_custom_attributes_are_validated_against_definitions():
    CustomFieldDefinition.objects.create(key="seats", label="Seats", field_type="number")
    CustomFieldDefinition.objects.create(key="plan", label="Plan", field_type="choice", choices=["basic", "pro"])

    lead = lead_create(email="a@example.com", attributes={"seats": "12", "plan": "pro"})
    assert lead.attributes == {"seats": 12, "plan": "pro"}

    with pytest.raises(ValidationError) as caught:
        lead_update(lead=lead, attributes={"plan": "gold", "colour": "red"})
    messages = caught.value.message_dict["attributes"]
    assert any("Plan must be one of" in m for m in messages)
    assert any("'colour' is not a defined custom field" in m for m in messages)
    lead.refresh_from_db()
    assert lead.attributes == {"seats": 12, "plan": "pro"}


def test_bad_attributes_and_bad_fields_are_reported_together():
    CustomFieldDefinition.objects.create(key="seats", label="Seats", field_type="number")
    lead = lead_create(email="a@example.com", website="acme.example", attributes={"seats": 3})

    with pytest.raises(ValidationError) as created:
        lead_create(email="not-an-email", website="no web address", attributes={"seats": "many"}, utm="google")
    with pytest.raises(ValidationError) as updated:
        lead_update(lead=lead, website="no web address", email_opt_in=True, attributes={"seats": "many"})

    assert created.value.message_dict == {
        "attributes": ["Seats must be a number"],
        "utm": ["must be an object of UTM parameters"],
        "email": ["Enter a valid email address."],
        "website": ["Enter a web address such as acme.example or https://acme.example."],
    }
    assert updated.value.message_dict == {
        "attributes": ["Seats must be a number"],
        "website": ["Enter a web address such as acme.example or https://acme.example."],
    }
    # the instance the caller holds is left as it was, too
    assert (lead.website, lead.attributes, lead.email_opt_in, lead.consent_at) == (
        "acme.example",
        {"seats": 3},
        False,
        None,
    )
    lead.refresh_from_db()
    assert (lead.website, lead.attributes, lead.email_opt_in) == ("acme.example", {"seats": 3}, False)
    assert Lead.objects.count() == 1


def test_lead_update_refuses_system_fields():
    lead = lead_create(email="a@example.com")

    with pytest.raises(ValidationError) as caught:
        lead_update(lead=lead, score=99, stage="won")

    assert set(caught.value.message_dict) == {"score", "stage"}
    lead.refresh_from_db()
    assert (lead.score, lead.stage) == (0, "raw")


def test_lead_update_to_an_existing_email_is_refused_and_keeps_the_lead():
    lead_create(email="taken@example.com")
    lead = lead_create(email="mine@example.com")

    with pytest.raises(DuplicateLeadError):
        lead_update(lead=lead, email="Taken@example.com")

    lead.refresh_from_db()
    assert lead.email == "mine@example.com"


def test_transition_forward_records_who_why_and_time_in_previous_stage():
    actor = rep()
    entered = timezone.now() - datetime.timedelta(days=3)
    lead = lead_create(email="a@example.com", now=entered)

    change = lead_transition(lead=lead, to_stage=Stage.MQL, actor=actor)

    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    assert change.actor == actor
    assert change.transition == "advance"
    assert change.time_in_previous_stage >= datetime.timedelta(days=3)


def test_lost_needs_a_reason_and_nothing_changes_without_one():
    lead = lead_create(email="a@example.com")

    with pytest.raises(ValidationError) as caught:
        lead_transition(lead=lead, to_stage=Stage.LOST, actor=rep())

    assert "lost_reason" in caught.value.message_dict
    lead.refresh_from_db()
    assert lead.stage == Stage.RAW
    assert lead.stage_changes.count() == 1


def test_backward_move_is_refused_with_the_reason():
    lead = lead_create(email="a@example.com", stage=Stage.SQL)

    with pytest.raises(TransitionNotAllowed) as caught:
        lead_transition(lead=lead, to_stage=Stage.MQL, actor=rep())

    assert "recycle" in caught.value.message_dict["stage"][0]
    lead.refresh_from_db()
    assert lead.stage == Stage.SQL


def test_rules_only_move_forward():
    lead = lead_create(email="a@example.com", stage=Stage.MQL)

    with pytest.raises(TransitionNotAllowed):
        lead_transition(lead=lead, to_stage=Stage.RAW, rule="MQL rule v1", reason="cooled")

    change = lead_transition(lead=lead, to_stage=Stage.SQL, rule="SQL rule v1")
    assert (change.rule, change.actor) == ("SQL rule v1", None)


def test_lost_lead_can_be_recycled_or_reopened_to_the_stage_it_was_lost_from():
    actor = rep()
    lead = lead_create(email="a@example.com", stage=Stage.SQL)
    lead_transition(lead=lead, to_stage=Stage.LOST, lost_reason="no_budget", actor=actor)

    with pytest.raises(TransitionNotAllowed):
        lead_transition(lead=lead, to_stage=Stage.MQL, reason="back", actor=actor)

    change = lead_transition(lead=lead, to_stage=Stage.SQL, reason="Budget freed up", actor=actor)
    assert change.transition == "reopen"
    lead.refresh_from_db()
    assert (lead.stage, lead.lost_reason) == (Stage.SQL, "")


def test_first_touch_is_set_by_the_first_call_only():
    lead = lead_create(email="a@example.com")
    first = timezone.now() - datetime.timedelta(hours=2)

    activity_log(lead=lead, kind=Activity.Kind.NOTE, body="Looked them up", actor=rep())
    lead.refresh_from_db()
    assert lead.first_touched_at is None

    activity_log(lead=lead, kind=Activity.Kind.CALL, body="Left a voicemail", occurred_at=first)
    activity_log(lead=lead, kind=Activity.Kind.EMAIL, body="Follow-up")
    lead.refresh_from_db()
    assert lead.first_touched_at == first


def test_task_needs_a_due_date_and_bad_activity_writes_nothing():
    lead = lead_create(email="a@example.com")

    with pytest.raises(ValidationError) as caught:
        activity_log(lead=lead, kind=Activity.Kind.TASK, body="Call back")

    assert "due_at" in caught.value.message_dict
    assert Activity.objects.count() == 0


def test_rep_may_claim_but_not_assign_to_others():
    me, other = rep(), rep()
    lead = lead_create(email="a@example.com")

    with pytest.raises(ValidationError):
        lead_assign(lead=lead, owner=other, actor=me)
    lead_assign(lead=lead, owner=me, actor=me)
    assert Lead.objects.get(pk=lead.pk).owner == me

    lead_assign(lead=lead, owner=other, actor=manager())
    assert Lead.objects.get(pk=lead.pk).owner == other


def test_overlong_notes_and_reasons_are_refused_and_nothing_is_written():
    lead = lead_create(email="a@example.com")

    with pytest.raises(ValidationError) as caught:
        activity_log(lead=lead, kind=Activity.Kind.CALL, body="x" * 10_001, actor=rep())
    assert "10,000 characters" in caught.value.message_dict["body"][0]

    with pytest.raises(ValidationError) as caught:
        lead_transition(lead=lead, to_stage=Stage.LOST, lost_reason="other", reason="y" * 2_001, actor=rep())
    assert "2,000 characters" in caught.value.message_dict["reason"][0]

    lead.refresh_from_db()
    assert (lead.stage, Activity.objects.count(), lead.stage_changes.count()) == (Stage.RAW, 0, 1)


@pytest.mark.parametrize("website", ["acme.example", "https://www.acme.example/about", "http://acme.example:8080"])
def test_a_website_may_be_a_domain_or_a_web_address(website):
    assert lead_create(email=f"w{len(website)}@example.com", website=website).website == website


@pytest.mark.parametrize("website", ["javascript:alert(1)", "data:text/html,hi", "not a site", "ftp://acme.example"])
def test_a_website_that_is_no_web_address_is_refused_and_nothing_changes(website):
    lead = LeadFactory(website="acme.example")

    with pytest.raises(ValidationError) as refused:
        lead_update(lead=lead, website=website)

    assert refused.value.message_dict == {
        "website": ["Enter a web address such as acme.example or https://acme.example."]
    }
    lead.refresh_from_db()
    assert lead.website == "acme.example"


def test_a_task_written_by_a_manager_is_the_owner_s_and_follows_the_lead_to_a_new_owner():
    from leads.selectors import tasks_for_user

    boss, first, second = manager(), rep(), rep()
    lead = LeadFactory(owner=first)
    due = timezone.now() + datetime.timedelta(minutes=30)
    task = activity_log(lead=lead, actor=boss, kind="task", subject="Send the quote", due_at=due)

    # On the owner's list, not the writer's.
    assert task.assignee == first
    assert task in tasks_for_user(user=first)["today"] + tasks_for_user(user=first)["overdue"]
    assert tasks_for_user(user=boss) == {"overdue": [], "today": []}

    lead_assign(lead=lead, owner=second, actor=boss)

    task.refresh_from_db()
    assert task.assignee == second
    assert task in tasks_for_user(user=second)["today"] + tasks_for_user(user=second)["overdue"]
    assert tasks_for_user(user=first) == {"overdue": [], "today": []}


def test_a_pool_lead_s_task_is_its_writer_s_until_someone_claims_the_lead():
    writer, claimer = rep(), rep()
    lead = LeadFactory(owner=None)
    task = activity_log(
        lead=lead, actor=writer, kind="task", subject="Call", due_at=timezone.now() + datetime.timedelta(hours=1)
    )
    assert task.assignee == writer

    lead_assign(lead=lead, owner=claimer, actor=claimer)

    task.refresh_from_db()
    assert task.assignee == claimer


@pytest.mark.parametrize(
    ("due", "message"),
    [
        (datetime.timedelta(days=-3), "This date is in the past: choose today or later."),
        (datetime.timedelta(days=3 * 365), "Choose a due date within the next two years."),
    ],
)
def test_a_task_due_long_ago_or_far_ahead_is_refused(due, message):
    lead = LeadFactory()

    with pytest.raises(ValidationError) as refused:
        activity_log(lead=lead, actor=rep(), kind="task", subject="Call", due_at=timezone.now() + due)

    assert refused.value.message_dict == {"due_at": [message]}
    assert not Activity.objects.exists()
