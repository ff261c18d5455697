import pytest
from django.test import override_settings
from django.urls import reverse

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_login_page_has_labelled_fields(client):
    body = client.get(reverse("login")).content.decode()

    assert 'for="id_username"' in body and 'for="id_password"' in body
    assert "csrfmiddlewaretoken" in body


def test_signing_in_lands_on_home(team, client):
    response = client.post(reverse("login"), {"username": "maya", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_wrong_password_shows_an_error(team, client):
    response = client.post(reverse("login"), {"username": "maya", "password": "wrong"})

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


@override_settings(AXES_FAILURE_LIMIT=3)
def test_repeated_failures_lock_out_with_the_lockout_page(team, client):
    for _ in range(3):
        response = client.post(reverse("login"), {"username": "maya", "password": "wrong"})

    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.content.decode()
    locked = client.post(reverse("login"), {"username": "maya", "password": PASSWORD})
    assert locked.status_code == 429


def test_navbar_has_role_links_and_a_logout_form(team, login):
    rep_body = login(team["me"]).get(reverse("home")).content.decode()
    assert f'action="{reverse("logout")}"' in rep_body
    assert 'method="post" action="/accounts/logout/"' in rep_body
    assert reverse("password_change") in rep_body
    assert reverse("admin:index") not in rep_body

    staff_body = login(team["marketer"]).get(reverse("home")).content.decode()
    assert reverse("admin:index") in staff_body


def test_logout_is_a_post(team, login):
    client = login(team["me"])

    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 302


def test_password_change(team, login):
    client = login(team["me"])
    assert client.get(reverse("password_change")).status_code == 200

    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "a-much-better-pass-42", "new_password2": "a-much-better-pass-42"},
    )

    assert response["Location"] == reverse("password_change_done")
    team["me"].refresh_from_db()
    assert team["me"].check_password("a-much-better-pass-42")
    assert "Password changed" in client.get(reverse("password_change_done")).content.decode()
