import pytest

from tests.factories import LeadFactory, manager, marketer, rep


@pytest.fixture
def team(db):
    """Two reps, a manager and a marketer, with one lead each for the reps and one in the pool."""
    me, other = rep(username="maya"), rep(username="jonas")
    return {
        "me": me,
        "other": other,
        "manager": manager(username="grace"),
        "marketer": marketer(username="leo"),
        "mine": LeadFactory(owner=me, first_name="Mine", last_name="Lead", company="Mine Co", score=40),
        "theirs": LeadFactory(owner=other, first_name="Theirs", last_name="Lead", company="Theirs Co", score=50),
        "pool": LeadFactory(owner=None, first_name="Pool", last_name="Lead", company="Pool Co", score=60),
    }


@pytest.fixture
def login(client):
    def _login(user):
        client.force_login(user)
        return client

    return _login
