"""Every way to sign in or write is rate-limited end to end (issue 11, "Rate limits").

Each test turns the limits on (the ``rate_limits`` fixture), often with small figures so it
stays short, and checks what a refused person or script gets: 429, a Retry-After header, a
page or JSON that says why, nothing changed, and no password hashed for a locked-out sign-in.
"""

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from messages_app import services
from messages_app.models import Message, Revision, Token
from tests.support.api import ApiClient, api_for, assert_error

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
ATTACKER = "203.0.113.9"
NEIGHBOUR = "198.51.100.7"


def sign_in(entry: str, username: str, password: str, address: str = ATTACKER):
    client = Client(REMOTE_ADDR=address)
    if entry == "api":
        return client.post(
            "/api/auth/token", json.dumps({"username": username, "password": password}), content_type="application/json"
        )
    path = "/accounts/login/" if entry == "page" else "/admin/login/"
    return client.post(path, {"username": username, "password": password})


def failed(response, entry: str) -> bool:
    return response.status_code == (401 if entry == "api" else 200)


def assert_refused(response, entry: str) -> None:
    assert response.status_code == 429, response.content[:300]
    assert int(response["Retry-After"]) > 0
    if entry == "api":
        assert_error(response, 429, "rate_limited")
    else:
        assert "Too many failed sign-ins" in response.content.decode()


ENTRIES = ["page", "admin", "api"]


@pytest.mark.parametrize("entry", ENTRIES)
def test_a_username_is_locked_out_after_five_failures_before_any_password_is_hashed(
    entry, rate_limits, alice, mia, password_hashes
):
    user = mia if entry == "admin" else alice  # the admin signs in staff only
    for _ in range(5):
        assert failed(sign_in(entry, user.username, "wrong guess"), entry)
    hashed = password_hashes()
    assert_refused(sign_in(entry, user.username, "another guess"), entry)
    # Even the right password waits: the lockout is on the name, not on the guess.
    assert_refused(sign_in(entry, user.username, PASSWORD), entry)
    assert password_hashes() == hashed
    # The same name from another address, and the owner of the account there, are not locked out.
    assert sign_in(entry, user.username, PASSWORD, address=NEIGHBOUR).status_code in {201, 302}


@pytest.mark.parametrize("entry", ENTRIES)
def test_an_address_trying_many_usernames_is_stopped_unknown_ones_included(entry, rate_limits, alice, password_hashes):
    rate_limits.MESSAGEBOARD_RATE_SIGNIN_IP = "4/15minute"
    for n in range(4):
        assert failed(sign_in(entry, f"nobody{n}", "guess"), entry)
    hashed = password_hashes()
    assert_refused(sign_in(entry, "nobody-new", "guess"), entry)
    assert_refused(sign_in(entry, "alice", PASSWORD), entry)
    assert password_hashes() == hashed
    assert sign_in(entry, "alice", PASSWORD, address=NEIGHBOUR).status_code in {200, 201, 302}


def test_a_successful_sign_in_uses_up_nothing(rate_limits, alice):
    for _ in range(8):
        assert sign_in("page", "alice", PASSWORD).status_code == 302


def test_sign_ups_from_one_address_are_limited_and_a_refused_one_makes_no_account(rate_limits):
    rate_limits.MESSAGEBOARD_RATE_SIGNUPS = "2/hour"

    def sign_up(name: str, address: str = ATTACKER):
        return Client(REMOTE_ADDR=address).post(
            "/accounts/signup/", {"username": name, "password1": PASSWORD, "password2": PASSWORD}
        )

    assert sign_up("first").status_code == 302
    assert sign_up("second").status_code == 302
    refused = sign_up("third")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "Too many new accounts from your address" in refused.content.decode()
    assert not get_user_model().objects.filter(username="third").exists()
    assert sign_up("third", address=NEIGHBOUR).status_code == 302


def test_token_requests_from_one_address_are_limited(rate_limits, alice):
    rate_limits.MESSAGEBOARD_RATE_TOKENS = "2/hour"
    assert sign_in("api", "alice", PASSWORD).status_code == 201
    assert sign_in("api", "alice", PASSWORD).status_code == 201
    refused = sign_in("api", "alice", PASSWORD)
    assert_error(refused, 429, "rate_limited")
    assert int(refused["Retry-After"]) > 0
    assert Token.objects.filter(user=alice).count() == 2


def test_posts_are_limited_per_user_on_the_page_which_keeps_the_text(rate_limits, alice_client, alice):
    rate_limits.MESSAGEBOARD_RATE_POSTS = "2/minute"
    for n in range(2):
        assert alice_client.post("/messages/new/", {"subject": f"Post {n}", "body": "Hello."}).status_code == 302
    refused = alice_client.post("/messages/new/", {"subject": "Third", "body": "Words I typed."})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    html = refused.content.decode()
    assert "posting messages faster than this board allows" in html
    assert "Words I typed." in html
    assert Message.objects.count() == 2


def test_posts_are_limited_per_user_in_the_api(rate_limits, alice, bob):
    rate_limits.MESSAGEBOARD_RATE_POSTS = "2/minute"
    alice_api = api_for(alice)
    for _ in range(2):
        alice_api.create()
    refused = alice_api.post("/api/messages", {"subject": "Third", "body": "x"})
    assert_error(refused, 429, "rate_limited")
    assert int(refused["Retry-After"]) > 0
    assert Message.objects.count() == 2
    api_for(bob).create()  # another user has a count of their own


def test_saves_are_limited_per_user_and_a_refused_one_writes_nothing(rate_limits, alice, alice_api: ApiClient):
    rate_limits.MESSAGEBOARD_RATE_SAVES = "2/minute"
    message = alice_api.create()
    for version in (1, 2):
        response = alice_api.put(
            f"/api/messages/{message['id']}", {"body": f"Edit {version}"}, headers={"If-Match": f'"{version}"'}
        )
        assert response.status_code == 200
    refused = alice_api.put(f"/api/messages/{message['id']}", {"body": "Edit 3"}, headers={"If-Match": '"3"'})
    assert_error(refused, 429, "rate_limited")
    assert int(refused["Retry-After"]) > 0
    assert Revision.objects.filter(message_id=message["id"]).count() == 3


def test_lease_requests_are_limited_per_user_but_a_missing_message_is_still_404(rate_limits, alice, alice_api):
    rate_limits.MESSAGEBOARD_RATE_LEASES = "2/minute"
    message = alice_api.create()
    for _ in range(2):
        assert alice_api.post(f"/api/messages/{message['id']}/lease").status_code == 201
    refused = alice_api.post(f"/api/messages/{message['id']}/lease")
    assert_error(refused, 429, "rate_limited")
    assert int(refused["Retry-After"]) > 0
    # The order of checks: no such message comes before the limit.
    assert_error(alice_api.post("/api/messages/999999/lease"), 404, "not_found")


def test_the_edit_page_refused_for_too_many_lease_requests_says_when_to_come_back(rate_limits, alice_client, alice):
    rate_limits.MESSAGEBOARD_RATE_LEASES = "1/minute"
    message = services.message_create(author=alice, subject="Limits", body="Text.")
    assert alice_client.get(f"/messages/{message.pk}/edit/").status_code == 200
    refused = alice_client.get(f"/messages/{message.pk}/edit/")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "opening messages for editing faster than this board allows" in refused.content.decode()


def test_moderators_cleaning_up_are_not_limited(rate_limits, mia):
    rate_limits.MESSAGEBOARD_RATE_POSTS = "1/minute"
    mia_api = api_for(mia)
    for _ in range(3):
        mia_api.create()
    assert Message.objects.filter(author=mia).count() == 3


def test_wrong_old_passwords_on_the_password_page_count_as_failed_sign_ins(rate_limits, alice, password_hashes):
    # A stolen session must not turn the password page into an unlimited password oracle.
    client = Client(REMOTE_ADDR=ATTACKER)
    client.force_login(alice)

    def change(old: str):
        new = "a brand new passphrase"
        return client.post("/accounts/password/", {"old_password": old, "new_password1": new, "new_password2": new})

    for n in range(5):
        assert change(f"guess {n}").status_code == 200
    hashed = password_hashes()
    refused = change(PASSWORD)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "Too many failed sign-ins" in refused.content.decode()
    assert password_hashes() == hashed
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)
    # The same lockout holds at the sign-in page.
    assert_refused(sign_in("page", "alice", PASSWORD), "page")
