import io

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from tests.factories import rep

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue().strip()


def test_create_api_token_creates_a_token_then_shows_the_same_one():
    user = rep(username="rita")

    first = run("rita")
    second = run("rita")

    assert first == second == Token.objects.get(user=user).key
    assert len(first) == 40


def test_the_printed_token_authenticates_api_calls(client):
    rep(username="rita")
    key = run("rita")

    response = client.get("/api/v1/leads/", HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code == 200


def test_rotate_replaces_the_token():
    user = rep(username="rita")
    old = run("rita")

    new = run("rita", "--rotate")

    assert new != old
    assert list(Token.objects.filter(user=user).values_list("key", flat=True)) == [new]


def test_unknown_or_inactive_users_are_refused():
    rep(username="gone", is_active=False)

    with pytest.raises(CommandError, match="No user named 'nobody'"):
        run("nobody")
    with pytest.raises(CommandError, match="not active"):
        run("gone")
    assert Token.objects.count() == 0
