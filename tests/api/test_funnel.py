import pytest

from leads.models import Stage
from leads.services import lead_create, lead_transition
from tests.api.clients import token_client
from tests.factories import LeadSourceFactory, manager, rep

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/funnel/"


def test_the_funnel_answers_counts_and_rates_in_the_contract_shape():
    boss = manager()
    web = LeadSourceFactory(name="Web")
    won = lead_create(email="a@example.com", actor=boss, source=web)
    for stage in (Stage.PQL, Stage.SQL, Stage.WON):
        lead_transition(lead=won, to_stage=stage, actor=boss)
    lead_create(email="b@example.com", actor=boss)

    response = token_client(boss).get(URL, {"start": "2000-01-01", "end": "2999-12-31", "group_by": "source"})

    assert response.status_code == 200
    assert response.json() == {
        "start": "2000-01-01",
        "end": "2999-12-31",
        "group_by": "source",
        "stages": ["raw", "mql", "pql", "sql", "won", "lost"],
        "rows": [
            {
                "group": "Web",
                "counts": {"raw": 1, "mql": 1, "pql": 1, "sql": 1, "won": 1, "lost": 0},
                "rates": {"raw_mql": 1.0, "mql_sql": 1.0, "sql_won": 1.0, "raw_pql": 1.0, "raw_won": 1.0},
            },
            {
                "group": None,
                "counts": {"raw": 1, "mql": 0, "pql": 0, "sql": 0, "won": 0, "lost": 0},
                "rates": {"raw_mql": 0.0, "mql_sql": None, "sql_won": None, "raw_pql": 0.0, "raw_won": 0.0},
            },
        ],
    }


def test_without_group_by_there_is_one_row_with_a_null_group():
    body = token_client(rep()).get(URL).json()

    assert (body["start"], body["end"], body["group_by"]) == (None, None, None)
    assert [row["group"] for row in body["rows"]] == [None]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"group_by": "colour"}, "group_by"),
        ({"start": "yesterday"}, "start"),
        ({"start": "2026-03-02", "end": "2026-03-01"}, "end"),
    ],
)
def test_bad_funnel_parameters_answer_400(params, field):
    response = token_client(manager()).get(URL, params)

    assert (response.status_code, list(response.json())) == (400, [field])
