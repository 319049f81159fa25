"""Signing up, logging in and out."""

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def html(response) -> str:
    return response.content.decode()


def test_signup_creates_a_normal_user_and_logs_them_in(client):
    form = client.get("/accounts/signup/")
    assert form.status_code == 200
    assert 'name="username"' in html(form)
    response = client.post(
        "/accounts/signup/", {"username": "newcomer", "password1": PASSWORD, "password2": PASSWORD}, follow=True
    )
    assert response.redirect_chain == [("/messages/", 302)]
    assert "Welcome, newcomer!" in html(response)
    user = get_user_model().objects.get(username="newcomer")
    assert (user.is_staff, user.is_superuser, user.is_active) == (False, False, True)
    assert not user.user_permissions.exists()
    assert response.context["user"] == user
    assert client.get("/messages/new/").status_code == 200


def test_signup_with_mismatched_passwords_says_so_and_makes_no_user(client):
    response = client.post(
        "/accounts/signup/", {"username": "newcomer", "password1": PASSWORD, "password2": PASSWORD + "!"}
    )
    assert response.status_code == 200
    assert "The two password fields didn’t match." in html(response)
    assert not get_user_model().objects.filter(username="newcomer").exists()


def test_signup_of_a_taken_name_is_refused(client, alice):
    response = client.post("/accounts/signup/", {"username": "alice", "password1": PASSWORD, "password2": PASSWORD})
    assert "A user with that username already exists." in html(response)
    assert get_user_model().objects.filter(username="alice").count() == 1


def test_signed_in_user_visiting_signup_goes_to_the_list(alice_client):
    response = alice_client.get("/accounts/signup/")
    assert response.status_code == 302
    assert response["Location"] == "/messages/"


def test_login_then_back_to_the_page_asked_for(client, alice):
    form = client.get("/accounts/login/?next=/messages/new/")
    assert form.status_code == 200
    assert 'value="/messages/new/"' in html(form)
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD, "next": "/messages/new/"})
    assert response.status_code == 302
    assert response["Location"] == "/messages/new/"
    assert client.get("/messages/new/").status_code == 200


def test_login_with_a_wrong_password_says_so(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password." in html(response)
    assert client.get("/messages/new/").status_code == 302


def test_logout_ends_the_session(alice_client):
    assert "Log out" in html(alice_client.get("/messages/"))
    response = alice_client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/messages/"
    assert alice_client.get("/messages/new/").status_code == 302
    assert "Log in" in html(alice_client.get("/messages/"))
