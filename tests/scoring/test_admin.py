import pytest
from django.contrib.auth.models import Group

from scoring import services
from scoring.models import RescoreRun, ScoringModel
from tests.factories import LeadFactory, manager, marketer, rep

pytestmark = pytest.mark.django_db


def test_marketers_edit_the_scoring_model_and_reps_log_events():
    marketer_group = Group.objects.get(name="Marketer")
    rep_group = Group.objects.get(name="Sales rep")

    assert {"change_scoringmodel", "add_fitrule", "change_engagementrule", "change_stagerule"} <= set(
        marketer_group.permissions.values_list("codename", flat=True)
    )
    assert {"view_eventtype", "add_engagementevent"} <= set(rep_group.permissions.values_list("codename", flat=True))
    assert rep().has_perm("scoring.add_engagementevent")
    assert manager().has_perm("scoring.view_eventtype")
    assert not rep().has_perm("scoring.change_scoringmodel")


def test_the_admin_shows_why_a_draft_cannot_be_published(client):
    client.force_login(marketer())
    draft = services.model_copy_as_draft(model=services.active_model())
    draft.fit_rules.create(name="Shoe size", attribute="shoe_size", operator="gte", value=42, points=10)

    page = client.get(f"/admin/scoring/scoringmodel/{draft.pk}/publish/")
    refused = client.post(f"/admin/scoring/scoringmodel/{draft.pk}/publish/")

    assert page.status_code == 200
    assert "This model cannot be published yet" in page.text
    assert "Fit rule &#x27;Shoe size&#x27;: &#x27;shoe_size&#x27; is not a lead field" in page.text
    assert refused.status_code == 200
    draft.refresh_from_db()
    assert draft.status == "draft"
    assert not RescoreRun.objects.exists()


def test_the_admin_previews_then_publishes_and_shows_the_rescore_progress(client):
    client.force_login(marketer())
    LeadFactory()
    draft = services.model_copy_as_draft(model=services.active_model())

    preview = client.get(f"/admin/scoring/scoringmodel/{draft.pk}/publish/")
    published = client.post(f"/admin/scoring/scoringmodel/{draft.pk}/publish/")

    assert "Leads whose temperature changes" in preview.text
    run = RescoreRun.objects.get()
    assert published.status_code == 302
    assert published.url == f"/admin/scoring/rescorerun/{run.pk}/change/"
    draft.refresh_from_db()
    assert draft.status == "published"
    assert ScoringModel.objects.get(version=1).status == "retired"
    progress = client.get(published.url)
    assert progress.status_code == 200
    # the re-score starts after commit (a worker's job); until then the run shows where it stands
    assert "0% (0 of 1 leads)" in progress.text


def test_a_published_version_is_frozen_in_the_admin(client):
    client.force_login(marketer())
    active = services.active_model()

    response = client.post(f"/admin/scoring/scoringmodel/{active.pk}/change/", {"name": "Changed"})

    active.refresh_from_db()
    assert response.status_code in (200, 403)
    assert active.name == "Default model"
