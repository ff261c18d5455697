import pytest
from django.urls import reverse

from leads.models import CustomFieldDefinition, Lead
from tests.factories import LeadSourceFactory

pytestmark = pytest.mark.django_db


def test_create_form_renders_with_labels_and_csrf(team, login):
    body = login(team["me"]).get(reverse("lead_create")).content.decode()

    assert "csrfmiddlewaretoken" in body
    for label in ['for="id_email"', 'for="id_first_name"', 'for="id_company"', 'for="id_source"', 'for="id_need"']:
        assert label in body
    assert 'name="owner"' not in body  # a rep's new lead is theirs


def test_rep_creates_a_lead_they_own(team, login):
    source = LeadSourceFactory(name="Webinar")

    response = login(team["me"]).post(
        reverse("lead_create"),
        {
            "email": "New.Person@Example.org",
            "first_name": "New",
            "last_name": "Person",
            "company": "Acme",
            "company_size": "120",
            "source": str(source.pk),
            "email_opt_in": "on",
        },
    )

    lead = Lead.objects.get(email="new.person@example.org")
    assert response.status_code == 302
    assert response["Location"] == reverse("lead_detail", args=[lead.pk])
    assert (lead.owner, lead.company_size, lead.source, lead.email_opt_in) == (team["me"], 120, source, True)
    assert lead.stage_changes.count() == 1


def test_manager_creates_a_lead_for_a_rep(team, login):
    login(team["manager"]).post(
        reverse("lead_create"), {"email": "assigned@example.org", "owner": str(team["other"].pk)}
    )

    assert Lead.objects.get(email="assigned@example.org").owner == team["other"]


def test_duplicate_email_links_to_the_existing_lead_and_creates_nothing(team, login):
    existing = team["pool"]
    before = Lead.objects.count()

    response = login(team["me"]).post(reverse("lead_create"), {"email": existing.email.upper(), "first_name": "Again"})

    body = response.content.decode()
    assert response.status_code == 200
    assert response.context["form"].errors["email"] == ["A lead with this e-mail already exists."]
    assert f'href="{reverse("lead_detail", args=[existing.pk])}"' in body
    assert Lead.objects.count() == before


def test_a_duplicate_of_another_rep_s_lead_is_named_without_a_dead_link(team, login):
    existing = team["theirs"]

    response = login(team["me"]).post(reverse("lead_create"), {"email": existing.email, "first_name": "Again"})

    body = response.content.decode()
    assert "It belongs to another rep: ask a manager if this person should be yours." in body
    assert f'href="{reverse("lead_detail", args=[existing.pk])}"' not in body  # it would answer 404


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": ""}, "email"),
        ({"email": "ok@example.org", "company_size": "-5"}, "company_size"),
        ({"email": "ok@example.org", "annual_revenue": "lots"}, "annual_revenue"),
        ({"email": "ok@example.org", "timezone": "Mars/Olympus"}, "timezone"),
    ],
)
def test_bad_input_re_renders_with_field_errors_and_writes_nothing(team, login, data, field):
    before = Lead.objects.count()

    response = login(team["me"]).post(reverse("lead_create"), data)

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert 'class="invalid-feedback' in response.content.decode()
    assert Lead.objects.count() == before


def test_custom_attributes_are_validated_and_saved(team, login):
    CustomFieldDefinition.objects.create(key="seats", label="Seats", field_type="number")
    CustomFieldDefinition.objects.create(key="plan", label="Plan", field_type="choice", choices=["basic", "pro"])
    client = login(team["me"])

    bad = client.post(reverse("lead_create"), {"email": "a@example.org", "attr__seats": "many", "attr__plan": "pro"})
    assert "attr__seats" in bad.context["form"].errors
    assert not Lead.objects.filter(email="a@example.org").exists()

    client.post(reverse("lead_create"), {"email": "a@example.org", "attr__seats": "25", "attr__plan": "pro"})
    assert Lead.objects.get(email="a@example.org").attributes == {"seats": 25, "plan": "pro"}


def test_required_custom_attribute_is_refused_when_missing(team, login):
    CustomFieldDefinition.objects.create(key="region", label="Region", field_type="text", required=True)

    response = login(team["me"]).post(reverse("lead_create"), {"email": "b@example.org"})

    assert "attr__region" in response.context["form"].errors
    assert not Lead.objects.filter(email="b@example.org").exists()


def test_user_without_add_permission_is_refused(team, login, django_user_model):
    viewer = django_user_model.objects.create_user("viewer", password="x")  # no role, no permissions

    assert login(viewer).get(reverse("lead_create")).status_code == 403


# --- edit ----------------------------------------------------------------------------------


def test_edit_form_is_filled_in_and_saves(team, login):
    lead = team["mine"]
    client = login(team["me"])

    form = client.get(reverse("lead_edit", args=[lead.pk])).context["form"]
    assert form.initial["company"] == "Mine Co"

    response = client.post(
        reverse("lead_edit", args=[lead.pk]), {"email": lead.email, "first_name": "Renamed", "company": "New Co"}
    )

    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.first_name, lead.company) == ("Renamed", "New Co")


def test_edit_to_a_taken_email_is_refused_with_a_link(team, login):
    lead = team["mine"]
    other = team["pool"]

    response = login(team["me"]).post(reverse("lead_edit", args=[lead.pk]), {"email": other.email, "first_name": "X"})

    assert response.context["duplicate_lead_id"] == other.pk
    lead.refresh_from_db()
    assert lead.first_name == "Mine"
    assert lead.email != other.email


def test_editing_another_reps_lead_is_not_found(team, login):
    theirs = team["theirs"]

    response = login(team["me"]).post(reverse("lead_edit", args=[theirs.pk]), {"email": "x@example.org"})

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.email != "x@example.org"


def test_forms_refuse_posts_without_csrf_token(team, client):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(team["me"])

    response = strict.post(reverse("lead_create"), {"email": "csrf@example.org"})

    assert response.status_code == 403
    assert not Lead.objects.filter(email="csrf@example.org").exists()


def test_markup_in_a_field_is_kept_as_text(team, login):
    login(team["me"]).post(
        reverse("lead_create"), {"email": "m@example.org", "first_name": "<script>alert(1)</script>"}
    )

    lead = Lead.objects.get(email="m@example.org")
    body = login(team["me"]).get(reverse("lead_detail", args=[lead.pk])).content.decode()
    assert lead.first_name == "<script>alert(1)</script>"
    assert "<script>alert(1)</script>" not in body


def test_a_likely_duplicate_is_shown_before_creating_and_created_only_when_asked_again(team, login):
    mine = team["mine"]
    mine.email, mine.phone = "mine.lead@minecorp.example", "+49 30 1234567"
    mine.save()
    client = login(team["me"])
    before = Lead.objects.count()

    for data, reason in [
        ({"email": "Mine.Lead+events@minecorp.example"}, "same mailbox"),
        ({"email": "ml@elsewhere.example", "phone": "030 123 4567"}, "same phone"),
        ({"email": "m.lead@minecorp.example", "first_name": "mine", "last_name": "LEAD"}, "same name and company"),
    ]:
        response = client.post(reverse("lead_create"), data)
        body = response.content.decode()
        assert response.status_code == 200
        assert response.context["likely_duplicates"] == [(mine, reason)]
        assert f'href="{reverse("lead_detail", args=[mine.pk])}"' in body
        assert 'name="create_anyway"' in body
        assert Lead.objects.count() == before

    response = client.post(reverse("lead_create"), {"email": "Mine.Lead+events@minecorp.example", "create_anyway": "1"})

    created = Lead.objects.get(email="mine.lead+events@minecorp.example")
    assert response["Location"] == reverse("lead_detail", args=[created.pk])


def test_a_lead_out_of_reach_is_never_offered_as_a_duplicate(team, login):
    theirs = team["theirs"]  # another rep's lead
    theirs.email = "theirs@theirsco.example"
    theirs.save()

    response = login(team["me"]).post(reverse("lead_create"), {"email": "theirs+x@theirsco.example"})

    assert response.status_code == 302
    assert Lead.objects.filter(email="theirs+x@theirsco.example").exists()


def test_the_new_lead_page_says_who_will_own_the_lead(client):
    from tests.factories import manager, marketer, rep

    said = {}
    for role, user in (("rep", rep()), ("manager", manager()), ("marketer", marketer())):
        client.force_login(user)
        said[role] = client.get(reverse("lead_create")).content.decode()

    assert "A lead you create is yours." in said["rep"]
    assert "Choose its owner, or leave it in the unassigned pool." in said["manager"]
    assert "waits in the unassigned pool" in said["marketer"]
