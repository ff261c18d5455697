import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.models import Activity, Campaign, CustomFieldDefinition, Lead, LeadSource, Stage, StageChange
from tests.factories import (
    ActivityFactory,
    CampaignFactory,
    LeadFactory,
    StageChangeFactory,
    manager,
    marketer,
    rep,
)

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "/admin/leads/lead/",
    "/admin/leads/leadsource/",
    "/admin/leads/campaign/",
    "/admin/leads/customfielddefinition/",
    "/admin/leads/activity/",
    "/admin/leads/stagechange/",
]


def _fill(count: int) -> None:
    owner = rep()
    campaign = CampaignFactory()
    for _ in range(count):
        lead = LeadFactory(owner=owner, source=campaign.source, campaign=campaign)
        ActivityFactory(lead=lead, actor=owner)
        StageChangeFactory(lead=lead, actor=owner)


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


@pytest.mark.parametrize("url", CHANGELISTS)
def test_changelists_load_for_a_marketer_with_a_bounded_query_count(client, url):
    client.force_login(marketer())
    _fill(5)
    few = _queries(client, url)

    _fill(40)
    many = _queries(client, url)

    assert many == few
    assert many <= 15


def test_lead_changelist_shows_the_useful_columns(client):
    client.force_login(marketer())
    LeadFactory(first_name="Ada", last_name="Lovelace", email="ada@example.com", company="Analytical", score=77)

    response = client.get("/admin/leads/lead/", {"q": "lovelace"})

    content = response.content.decode()
    assert "Ada Lovelace" in content
    assert "ada@example.com" in content
    assert "Analytical" in content
    assert ">77<" in content


def test_lead_page_shows_history_inlines_read_only(client):
    client.force_login(marketer())
    lead = LeadFactory()
    StageChangeFactory(lead=lead, from_stage=Stage.RAW, to_stage=Stage.MQL, reason="Scored 55")
    ActivityFactory(lead=lead, kind=Activity.Kind.CALL, body="Talked budgets")

    response = client.get(f"/admin/leads/lead/{lead.pk}/change/")

    content = response.content.decode()
    assert response.status_code == 200
    assert "Scored 55" in content
    assert "Talked budgets" in content
    assert 'name="stage_changes-0-reason"' not in content
    assert 'name="stage"' not in content


def _lead_form(**overrides):
    data = {
        "email": "new@example.com",
        "first_name": "New",
        "last_name": "Lead",
        "phone": "",
        "title": "",
        "owner": "",
        "company": "",
        "website": "",
        "company_size": "",
        "industry": "",
        "country": "",
        "city": "",
        "annual_revenue": "",
        "attributes": "{}",
        "source": "",
        "campaign": "",
        "budget": "",
        "authority": "",
        "need": "",
        "timeline": "",
        "timezone": "",
        "stage_changes-TOTAL_FORMS": "0",
        "stage_changes-INITIAL_FORMS": "0",
        "activities-TOTAL_FORMS": "0",
        "activities-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_adding_a_lead_in_the_admin_goes_through_the_service(client):
    client.force_login(marketer())

    response = client.post("/admin/leads/lead/add/", _lead_form(email="  New@Example.COM "))

    assert response.status_code == 302
    lead = Lead.objects.get()
    assert lead.email == "new@example.com"
    assert list(StageChange.objects.filter(lead=lead).values_list("from_stage", "to_stage", "transition")) == [
        ("", "raw", "create")
    ]


def test_a_duplicate_email_in_the_admin_is_a_form_error_and_writes_nothing(client):
    client.force_login(marketer())
    LeadFactory(email="taken@example.com")

    response = client.post("/admin/leads/lead/add/", _lead_form(email="TAKEN@example.com"))

    assert response.status_code == 200
    assert Lead.objects.count() == 1
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["email"]


def test_custom_attributes_are_validated_against_their_definitions(client):
    client.force_login(marketer())
    CustomFieldDefinition.objects.create(key="seats", label="Seats", field_type="number")
    lead = LeadFactory(email="ada@example.com")

    response = client.post(
        f"/admin/leads/lead/{lead.pk}/change/",
        _lead_form(email="ada@example.com", first_name=lead.first_name, attributes='{"seats": "many"}'),
    )

    assert response.status_code == 200
    assert "attributes" in response.context["adminform"].form.errors
    lead.refresh_from_db()
    assert lead.attributes == {}


def test_a_manager_changes_a_lead_and_its_owner_in_the_admin(client):
    client.force_login(manager(is_staff=True))
    lead = LeadFactory(email="ada@example.com", company="Old Co")
    new_owner = rep()

    response = client.post(
        f"/admin/leads/lead/{lead.pk}/change/",
        _lead_form(email="ada@example.com", first_name="Ada", company="New Co", owner=str(new_owner.pk)),
    )

    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.first_name, lead.company, lead.owner) == ("Ada", "New Co", new_owner)


def test_stage_history_cannot_be_added_or_changed_in_the_admin(client):
    client.force_login(marketer())
    change = StageChangeFactory()

    assert client.get("/admin/leads/stagechange/add/").status_code == 403
    response = client.get(f"/admin/leads/stagechange/{change.pk}/change/")
    assert response.status_code == 200
    assert 'name="reason"' not in response.content.decode()


def test_campaign_admin_saves_through_the_service_and_refuses_an_end_before_the_start(client):
    client.force_login(marketer())
    source = LeadSource.objects.create(name="Webinar")

    response = client.post(
        "/admin/leads/campaign/add/",
        {
            "name": "Autumn webinars",
            "source": source.pk,
            "utm_campaign": "autumn",
            "cost": "1200.00",
            "starts_on": "2026-10-01",
            "ends_on": "2026-09-01",
        },
    )

    assert response.status_code == 200
    assert Campaign.objects.count() == 0

    response = client.post(
        "/admin/leads/campaign/add/",
        {
            "name": "Autumn webinars",
            "source": source.pk,
            "utm_campaign": "autumn",
            "cost": "1200.00",
            "starts_on": "2026-10-01",
            "ends_on": "2026-11-01",
        },
    )
    assert response.status_code == 302
    assert Campaign.objects.get().cost == 1200


def test_a_choice_field_without_choices_is_refused(client):
    client.force_login(marketer())
    before = CustomFieldDefinition.objects.count()

    response = client.post(
        "/admin/leads/customfielddefinition/add/",
        {"key": "tier", "label": "Tier", "field_type": "choice", "choices": "[]", "help_text": ""},
    )

    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["choices"]
    assert CustomFieldDefinition.objects.count() == before
    assert not CustomFieldDefinition.objects.filter(key="tier").exists()


def test_a_rep_with_admin_access_sees_only_their_leads_and_the_pool(client):
    me = rep(is_staff=True)
    mine = LeadFactory(owner=me, email="mine@example.com")
    pool = LeadFactory(owner=None, email="pool@example.com")
    theirs = LeadFactory(owner=rep(), email="theirs@example.com")
    client.force_login(me)

    response = client.get("/admin/leads/lead/")

    shown = {lead.pk for lead in response.context["cl"].result_list}
    assert shown == {mine.pk, pool.pk}
    assert client.get(f"/admin/leads/lead/{theirs.pk}/change/").status_code == 302


def test_a_marketer_cannot_reassign_a_lead_in_the_admin(client):
    client.force_login(marketer())
    owner = rep()
    lead = LeadFactory(email="ada@example.com", owner=owner)

    response = client.post(
        f"/admin/leads/lead/{lead.pk}/change/",
        _lead_form(email="ada@example.com", first_name="Ada", owner=str(rep().pk)),
    )

    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.first_name, lead.owner) == ("Ada", owner)
