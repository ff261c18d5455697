"""A lead created or edited through the pages, the API or the admin lands scored on fit."""

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

from leads.models import Lead
from scoring.models import ScoreChange
from scoring.services import lead_create_scored, lead_update_scored
from tests.factories import manager, marketer

pytestmark = pytest.mark.django_db


def test_lead_create_scored_scores_fit_in_the_same_call():
    lead = lead_create_scored(email="vp@corp.example", title="VP Sales", company_size=200)

    stored = Lead.objects.get(pk=lead.pk)
    assert stored.fit_score > 0
    assert stored.score > 0
    assert ScoreChange.objects.filter(lead_id=lead.pk).count() == 1


def test_lead_update_scored_rescores_when_fit_fields_change():
    lead = lead_create_scored(email="someone@corp.example", title="Analyst")
    before = Lead.objects.get(pk=lead.pk).fit_score

    lead_update_scored(lead=lead, title="VP Marketing")

    assert Lead.objects.get(pk=lead.pk).fit_score > before


def test_new_lead_page_lands_scored(client):
    user = manager()
    client.force_login(user)

    response = client.post(
        reverse("lead_create"), {"email": "dir@corp.example", "first_name": "Dee", "title": "Director of Sales"}
    )

    assert response.status_code == 302
    assert Lead.objects.get(email="dir@corp.example").fit_score > 0


def test_api_created_lead_lands_scored(client):
    token = Token.objects.create(user=marketer())

    response = client.post(
        "/api/v1/leads/",
        {"email": "vp@api.example", "title": "VP Engineering"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )

    assert response.status_code == 201, response.content
    assert response.json()["fit_score"] > 0
    assert response.json()["score"] > 0
