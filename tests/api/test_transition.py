import pytest

from leads.models import Stage, StageChange
from leads.services import lead_create, lead_transition
from tests.api.clients import token_client
from tests.factories import manager, rep

pytestmark = pytest.mark.django_db


def url(lead_id: int) -> str:
    return f"/api/v1/leads/{lead_id}/transition/"


def test_a_rep_advances_their_lead_and_the_move_is_recorded():
    me = rep()
    lead = lead_create(email="a@example.com", actor=me)

    response = token_client(me).post(url(lead.id), {"stage": "mql"}, format="json")

    assert response.status_code == 200
    assert response.json()["stage"] == "mql"
    change = StageChange.objects.filter(lead=lead).order_by("-id").first()
    assert (change.from_stage, change.to_stage, change.transition, change.actor) == ("raw", "mql", "advance", me)


def test_a_move_the_lifecycle_refuses_answers_400_and_changes_nothing():
    me = rep()
    lead = lead_create(email="a@example.com", actor=me)
    lead_transition(lead=lead, to_stage=Stage.SQL, actor=me)

    response = token_client(me).post(url(lead.id), {"stage": "mql"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["stage"]
    lead.refresh_from_db()
    assert lead.stage == "sql"
    assert StageChange.objects.filter(lead=lead).count() == 2


def test_losing_needs_a_lost_reason():
    me = rep()
    lead = lead_create(email="a@example.com", actor=me)
    client = token_client(me)

    refused = client.post(url(lead.id), {"stage": "lost"}, format="json")
    lost = client.post(url(lead.id), {"stage": "lost", "lost_reason": "no_budget"}, format="json")

    assert (refused.status_code, list(refused.json())) == (400, ["lost_reason"])
    assert (lost.status_code, lost.json()["stage"], lost.json()["lost_reason"]) == (200, "lost", "no_budget")


def test_recycling_needs_a_reason():
    boss = manager()
    lead = lead_create(email="a@example.com", actor=boss)
    lead_transition(lead=lead, to_stage=Stage.MQL, actor=boss)
    client = token_client(boss)

    refused = client.post(url(lead.id), {"stage": "raw"}, format="json")
    recycled = client.post(url(lead.id), {"stage": "raw", "reason": "Went quiet"}, format="json")

    assert (refused.status_code, list(refused.json())) == (400, ["reason"])
    assert (recycled.status_code, recycled.json()["stage"]) == (200, "raw")


@pytest.mark.parametrize("body", [{"stage": "boiling"}, {}, {"stage": None}])
def test_a_bad_stage_answers_400(body):
    me = rep()
    lead = lead_create(email="a@example.com", actor=me)

    response = token_client(me).post(url(lead.id), body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["stage"]
    lead.refresh_from_db()
    assert lead.stage == "raw"


def test_an_unknown_field_answers_400_and_moves_nothing():
    me = rep()
    lead = lead_create(email="a@example.com", actor=me)

    response = token_client(me).post(url(lead.id), {"stage": "mql", "foo": 1}, format="json")

    assert (response.status_code, response.json()) == (400, {"foo": ["Unknown field."]})
    lead.refresh_from_db()
    assert lead.stage == "raw"


def test_an_unknown_field_and_a_bad_stage_are_named_together():
    me = rep()
    lead = lead_create(email="a@example.com", actor=me)

    response = token_client(me).post(url(lead.id), {"stage": "famous", "colour": "red"}, format="json")

    assert (response.status_code, response.json()) == (
        400,
        {"colour": ["Unknown field."], "stage": ['"famous" is not a valid choice.']},
    )
    lead.refresh_from_db()
    assert lead.stage == "raw"
