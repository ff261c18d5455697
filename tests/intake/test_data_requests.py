import json

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from intake import csv_import
from intake.models import CaptureForm, CsvImport, FormSubmission, MergeRecord, WebhookDelivery, WebhookEndpoint
from intake.services import lead_erase
from leads.models import Activity, Lead, StageChange
from leads.services import activity_log
from scoring.models import EngagementEvent
from scoring.services import event_log
from tests.factories import LeadFactory, LeadSourceFactory, manager, marketer, rep

pytestmark = pytest.mark.django_db

EMAIL = "jane.doe@example.com"


def _tables_mentioning(text: str) -> list[str]:
    """Every table whose rows mention ``text`` anywhere, read column by column as text."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            columns = [c.name for c in connection.introspection.get_table_description(cursor, table)]
            quoted = connection.ops.quote_name
            condition = " OR ".join(f"LOWER(CAST({quoted(c)} AS TEXT)) LIKE %s" for c in columns)
            cursor.execute(f"SELECT COUNT(*) FROM {quoted(table)} WHERE {condition}", [f"%{text}%"] * len(columns))  # noqa: S608
            if cursor.fetchone()[0]:
                found.append(table)
    return found


def _lead_with_a_history():
    source = LeadSourceFactory(name="Webinar")
    lead = LeadFactory(
        email=EMAIL, first_name="Jane", last_name="Doe", phone="+44 20 1234", company="Doe Ltd", source=source,
        stage="mql",
    )  # fmt: skip
    Lead.objects.filter(pk=lead.pk).update(
        first_touch_utm={"referrer": f"https://x.example/?who={EMAIL}"}, attributes={"note": EMAIL}
    )
    activity_log(lead=lead, kind="email", subject=f"Wrote to {EMAIL}", body="Hello Jane")
    event_log(event_type="email_open", lead=lead, properties={"to": EMAIL})
    FormSubmission.objects.create(
        form=CaptureForm.objects.get(slug="contact"),
        lead=lead,
        submitted_at=timezone.now(),
        tracking={"referrer": f"mailto:{EMAIL}"},
    )
    endpoint = WebhookEndpoint.objects.create(name="CRM", url="https://hooks.example/x", secret="s", events=[])
    WebhookDelivery.objects.create(
        endpoint=endpoint, event="lead.created", origin="t:1", lead_id=lead.pk, payload={"email": EMAIL},
        created_at=timezone.now(),
    )  # fmt: skip
    item = csv_import.csv_import_create(user=marketer(), filename="x.csv", raw=f"email,phone\n{EMAIL},=bad\n".encode())
    csv_import.csv_import_set_mapping(csv_import=item, mapping={"email": "email", "phone": "company_size"})
    csv_import.csv_import_start(csv_import=item)
    csv_import.csv_import_run(import_id=item.pk)
    other = LeadFactory(email="jane@doe.example", first_name="Jane")
    MergeRecord.objects.create(
        survivor=lead, merged_lead_id=999, merged_snapshot={"email": "old@doe.example", "note": EMAIL},
        merged_at=timezone.now(),
    )  # fmt: skip
    return lead, other


def test_export_contains_everything_about_the_lead(client):
    lead, _ = _lead_with_a_history()
    client.force_login(manager())

    response = client.get(reverse("lead_data_json", args=[lead.pk]))

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="lead-{lead.pk}.json"'
    data = json.loads(response.content)
    assert data["lead"]["email"] == EMAIL
    assert data["lead"]["source"] == "Webinar"
    assert [a["subject"] for a in data["activities"]] == [f"Wrote to {EMAIL}"]
    assert [c["to_stage"] for c in data["stage_changes"]] == []  # factory leads carry no history
    assert [e["properties"] for e in data["engagement_events"]] == [{"to": EMAIL}]
    assert len(data["form_submissions"]) == 1
    # As a person reads it: linked records by name, and every row's own times.
    event = data["engagement_events"][0]
    assert isinstance(event["event_type"], str) and not event["event_type"].isdigit()
    assert event["occurred_at"] and "created_at" not in event
    assert data["activities"][0]["created_at"] is not None
    assert isinstance(data["form_submissions"][0]["form"], str)

    page = client.get(reverse("lead_detail", args=[lead.pk])).content.decode()
    assert reverse("lead_data_json", args=[lead.pk]) in page


def test_export_respects_reach_and_permission(client):
    owner = rep()
    lead = LeadFactory(owner=owner)
    client.force_login(owner)
    assert client.get(reverse("lead_data_json", args=[lead.pk])).status_code == 403
    assert 'id="data-requests"' not in client.get(reverse("lead_detail", args=[lead.pk])).content.decode()
    client.force_login(marketer())
    assert client.get(reverse("lead_data_json", args=[lead.pk])).status_code == 200
    assert client.get(reverse("lead_data_json", args=[999999])).status_code == 404


def test_erase_leaves_no_copy_of_the_address_and_keeps_anonymous_counts():
    lead, other = _lead_with_a_history()
    assert "leads_lead" in _tables_mentioning(EMAIL)

    result = lead_erase(lead=lead, actor=manager())

    assert _tables_mentioning(EMAIL) == []
    assert _tables_mentioning("jane doe") == []
    lead.refresh_from_db()
    assert lead.email == f"erased-{lead.pk}@erased.invalid"
    assert (lead.first_name, lead.last_name, lead.phone, lead.company) == ("", "", "", "")
    assert (lead.stage, lead.source.name) == ("mql", "Webinar")  # reports still count it
    assert (lead.unsubscribed, lead.do_not_call, lead.email_opt_in) == (True, True, False)
    assert EngagementEvent.objects.filter(lead=lead).count() == 1
    assert Activity.objects.filter(lead=lead, subject="Personal data erased on request").count() == 1
    assert result.lead_id == lead.pk
    other.refresh_from_db()
    assert other.first_name == "Jane"  # nobody else is touched


def test_erase_page_needs_the_typed_confirmation(client):
    lead = LeadFactory(email=EMAIL)
    client.force_login(manager())

    refused = client.post(reverse("lead_erase", args=[lead.pk]), {"confirm": "yes"})
    lead.refresh_from_db()
    assert refused.status_code == 400
    assert lead.email == EMAIL

    done = client.post(reverse("lead_erase", args=[lead.pk]), {"confirm": "ERASE"})
    lead.refresh_from_db()
    assert done.status_code == 302
    assert done["Location"] == reverse("lead_detail", args=[lead.pk])
    assert lead.email == f"erased-{lead.pk}@erased.invalid"


def test_only_managers_may_erase(client):
    lead = LeadFactory(email=EMAIL)
    client.force_login(marketer())

    assert client.post(reverse("lead_erase", args=[lead.pk]), {"confirm": "ERASE"}).status_code == 403
    lead.refresh_from_db()
    assert lead.email == EMAIL
    assert StageChange.objects.count() == 0
    assert CsvImport.objects.count() == 0


def test_durations_in_the_export_are_iso_8601():
    import datetime

    from intake.selectors import _plain

    assert _plain(datetime.timedelta(days=36)) == "P36DT00H00M00S"


def test_an_erased_lead_leaves_the_working_lists_and_cannot_be_worked(client):
    seller = rep()
    lead = LeadFactory(email=EMAIL, owner=seller, temperature="hot", score=80)
    task = activity_log(
        lead=lead,
        actor=seller,
        kind="task",
        subject="Call Jane back",
        due_at=timezone.now() + timezone.timedelta(hours=1),
    )
    client.force_login(seller)
    assert EMAIL in client.get("/leads/?temperature=hot").content.decode()

    lead_erase(lead=lead, actor=manager())

    task.refresh_from_db()
    assert task.done  # nobody is to call an erased person back
    listing = client.get("/leads/?temperature=hot").content.decode()
    home = client.get("/").content.decode()
    assert f"erased-{lead.pk}@" not in listing and f"erased-{lead.pk}@" not in home
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert f"Erased lead #{lead.pk}" in page
    assert "personal data was erased on request" in page
    assert 'id="activity-panel"' not in page and f'href="/leads/{lead.pk}/edit/"' not in page
    # Reports still count it.
    assert Lead.objects.filter(pk=lead.pk, temperature="hot").exists()


def test_export_includes_what_merged_leads_held_and_says_what_it_is(client):
    from intake.services import lead_merge

    keep = LeadFactory(email=EMAIL)
    old = LeadFactory(email="jane.old@example.com", first_name="Janet")
    lead_merge(survivor=keep, other=old)
    client.force_login(manager(username="dpo"))

    data = json.loads(client.get(reverse("lead_data_json", args=[keep.pk])).content)

    assert data["export"]["about"] == f"Everything LeadCRM stores about lead #{keep.pk}, for a data request."
    assert data["export"]["generated_by"] == "dpo" and data["export"]["generated_at"]
    (merged,) = data["merged_leads"]
    assert merged["merged_snapshot"]["email"] == "jane.old@example.com"
    assert merged["merged_snapshot"]["first_name"] == "Janet"


def test_nothing_writes_to_an_erased_lead_again(client):
    from tests.api.clients import token_client

    seller = rep()
    lead = LeadFactory(email=EMAIL, first_name="Jane", owner=seller)
    lead_erase(lead=lead, actor=manager())
    lead.refresh_from_db()
    erased = lead.email
    before = (lead.score, lead.temperature, lead.stage, lead.first_name)
    refused = ["This lead's personal data was erased: it can no longer be changed or worked."]
    api = token_client(manager(username="boss"))

    # The API: edit, move, events by id (one and in a list) and by the erased address.
    changed = api.patch(f"/api/v1/leads/{lead.pk}/", {"first_name": "Back"}, format="json")
    assert (changed.status_code, changed.json()) == (409, {"detail": refused[0]})
    moved = api.post(f"/api/v1/leads/{lead.pk}/transition/", {"stage": "mql"}, format="json")
    assert (moved.status_code, moved.json()) == (409, {"detail": refused[0]})
    one = api.post("/api/v1/events/", {"lead_id": lead.pk, "type": "pricing_page_view"}, format="json")
    assert (one.status_code, one.json()) == (409, {"detail": refused[0]})
    listed = api.post(
        "/api/v1/events/",
        [{"lead_id": lead.pk, "type": "email_open"}, {"email": erased, "type": "email_open"}],
        format="json",
    )
    assert listed.status_code == 207
    reserved = ["Addresses at erased.invalid stand for erased leads and cannot be used."]
    assert listed.json() == [{"errors": {"lead_id": refused}}, {"errors": {"email": reserved}}]

    # The page offers no event to log, and a posted one is refused.
    client.force_login(seller)
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Log an event" not in page
    posted = client.post(reverse("lead_event_create", args=[lead.pk]), {"event_type": "demo_request"}, follow=True)
    assert f"{refused[0]} Nothing was saved." in [str(message) for message in posted.context["messages"]]

    lead.refresh_from_db()
    assert (lead.score, lead.temperature, lead.stage, lead.first_name) == before
    assert not EngagementEvent.objects.filter(lead=lead).exclude(event_type__key="form_submission").exists()


def test_forms_of_a_page_opened_before_the_erasure_say_so_and_erasing_again_works(client):
    seller = rep()
    lead = LeadFactory(email=EMAIL, first_name="Jane", owner=seller)
    client.force_login(seller)
    assert client.get(f"/leads/{lead.pk}/").status_code == 200  # the page is open in a tab...
    lead_erase(lead=lead, actor=manager())  # ...when a manager erases the lead
    said = "This lead&#x27;s personal data was erased: it can no longer be changed or worked. Nothing was saved."

    posts = [
        (reverse("lead_transition", args=[lead.pk]), {"to_stage": "mql"}),
        (reverse("lead_activity_create", args=[lead.pk]), {"kind": "note", "body": "Called"}),
        (reverse("lead_assign", args=[lead.pk]), {"owner": ""}),
        (reverse("lead_event_create", args=[lead.pk]), {"event_type": "demo_request"}),
        (reverse("lead_edit", args=[lead.pk]), {"first_name": "Back", "email": "back@example.com"}),
    ]
    for url, data in posts:
        response = client.post(url, data, follow=True)
        assert response.redirect_chain == [(f"/leads/{lead.pk}/", 302)], url
        assert said in response.content.decode(), url
    assert client.get(reverse("lead_edit", args=[lead.pk])).status_code == 302

    lead.refresh_from_db()
    assert (lead.first_name, lead.stage) == ("", "raw")
    # Erasing once more (to be sure) works and is noted.
    client.force_login(manager(username="dpo"))
    again = client.post(reverse("lead_erase", args=[lead.pk]), {"confirm": "ERASE"})
    assert again.status_code == 302
    assert Activity.objects.filter(lead=lead, subject="Personal data erased on request (again)").exists()


def test_nobody_uses_an_address_of_the_kind_erased_leads_have():
    from tests.api.clients import token_client

    lead = LeadFactory(email=EMAIL)
    lead_erase(lead=lead, actor=manager())
    lead.refresh_from_db()
    erased = lead.email
    reserved = "Addresses at erased.invalid stand for erased leads and cannot be used."
    api = token_client(manager(username="boss"))

    created = api.post("/api/v1/leads/", {"email": "erased-999@erased.invalid"}, format="json")
    assert (created.status_code, created.json()) == (400, {"email": [reserved]})
    other = LeadFactory(email="someone@example.com")
    changed = api.patch(f"/api/v1/leads/{other.pk}/", {"email": "ERASED-998@erased.invalid"}, format="json")
    assert (changed.status_code, changed.json()) == (400, {"email": [reserved]})
    event = api.post("/api/v1/events/", {"email": "erased-997@erased.invalid", "type": "email_open"}, format="json")
    assert (event.status_code, event.json()) == (400, {"email": [reserved]})

    # A CSV import refuses the rows, and the erased lead stays as it was.
    raw = f"email,first_name,company\n{erased},Tina,Back Again Inc\nnew@example.com,Nia,New Co\n".encode()
    job = csv_import.csv_import_create(user=marketer(), filename="back.csv", raw=raw)
    mapping = {"email": "email", "first_name": "first_name", "company": "company"}
    csv_import.csv_import_set_mapping(csv_import=job, mapping=mapping)
    csv_import.csv_import_start(csv_import=job)
    job = csv_import.csv_import_run(import_id=job.pk)
    assert (job.created_count, job.updated_count, job.rejected_count) == (1, 0, 1)
    assert "stand for erased leads and cannot be used" in job.rejects.get().reason
    lead.refresh_from_db()
    assert (lead.first_name, lead.company) == ("", "")
    assert not Lead.objects.filter(email__in=["erased-999@erased.invalid", "erased-997@erased.invalid"]).exists()


def test_a_visitor_cannot_send_a_form_with_an_erased_leads_address():
    from django.core.exceptions import ValidationError

    from intake.services import capture_form_ensure_demo, capture_form_submit

    lead = LeadFactory(email=EMAIL)
    lead_erase(lead=lead, actor=manager())
    lead.refresh_from_db()

    with pytest.raises(ValidationError) as refused:
        capture_form_submit(form=capture_form_ensure_demo(), values={"email": lead.email, "first_name": "Tina"})

    # Told plainly, not in staff words.
    assert refused.value.message_dict == {"email": ["Enter a valid e-mail address."]}
    lead.refresh_from_db()
    assert lead.first_name == ""


def test_any_change_to_an_erased_lead_through_the_api_hears_of_the_erasure_first():
    from tests.api.clients import token_client

    lead = LeadFactory(email=EMAIL)
    lead_erase(lead=lead, actor=manager())
    api = token_client(manager(username="boss"))
    said = {"detail": "This lead's personal data was erased: it can no longer be changed or worked."}

    for body in ({}, {"first_name": "Zombie", "score": 5}):
        response = api.patch(f"/api/v1/leads/{lead.pk}/", body, format="json")
        assert (response.status_code, response.json()) == (409, said), body
