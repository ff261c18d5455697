import pytest
from django.urls import reverse

from tests.factories import LeadFactory, rep

pytestmark = pytest.mark.django_db


def test_another_reps_lead_answers_a_friendly_404_without_internals(client):
    me = rep()
    theirs = LeadFactory(owner=rep())
    client.force_login(me)

    response = client.get(reverse("lead_detail", args=[theirs.pk]))

    body = response.content.decode()
    assert response.status_code == 404
    assert "Nothing here" in body
    assert theirs.email not in body and "urlpatterns" not in body.lower()
