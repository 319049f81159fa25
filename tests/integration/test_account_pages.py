"""The account page (API tokens) and changing a password, on the site and in the admin (issue 11)."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import Client

from messages_app import tokens
from messages_app.models import Token
from tests.support.api import ApiClient

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase 2"


def html(response) -> str:
    return response.content.decode()


def can_write(key: str) -> bool:
    response = ApiClient(key).post("/api/messages", {"subject": "s", "body": "b"})
    assert response.status_code in {201, 401}, response.content
    return response.status_code == 201


def signed_in(username: str, password: str = PASSWORD, **client_options) -> Client:
    """Return a client signed in by password, as a browser is (its session holds the password's hash)."""
    client = Client(**client_options)
    assert client.login(username=username, password=password)
    return client


def is_signed_in(client: Client) -> bool:
    response = client.get("/accounts/")
    assert response.status_code in {200, 302}
    return response.status_code == 200


def csrf_of(page) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html(page))[1]


# The account page ------------------------------------------------------------------------------


def test_the_header_links_a_signed_in_user_to_their_account(alice_client, client):
    assert '<a class="who" href="/accounts/"' in html(alice_client.get("/messages/"))


def test_the_header_has_no_account_link_for_visitors(client):
    assert 'href="/accounts/"' not in html(client.get("/messages/"))


def test_the_account_page_needs_sign_in(client):
    response = client.get("/accounts/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/accounts/")


def test_the_account_page_lists_live_tokens_with_their_dates_but_no_secret(alice, bob, alice_client):
    used, used_key = tokens.token_create(user=alice)
    unused, unused_key = tokens.token_create(user=alice, expires_in_days=7)
    revoked, revoked_key = tokens.token_create(user=alice)
    tokens.token_revoke(key=revoked_key)
    bobs, bobs_key = tokens.token_create(user=bob)
    assert can_write(used_key)
    used.refresh_from_db()

    page = html(alice_client.get("/accounts/"))
    assert f"<code>{used.prefix}…</code>" in page
    assert f"<code>{unused.prefix}…</code>" in page
    assert revoked.prefix not in page and bobs.prefix not in page
    for key in (used_key, unused_key, revoked_key, bobs_key):
        assert key not in page
    for token in (used, unused):
        assert f'datetime="{token.created_at.isoformat()}"' in page
        assert f'datetime="{token.expires_at.isoformat()}"' in page
        assert f'action="/accounts/tokens/{token.pk}/revoke/"' in page
    assert f'datetime="{used.last_used_at.isoformat()}"' in page
    assert "<td>never</td>" in page  # the unused token's last use
    assert 'href="/accounts/password/"' in page


def test_the_account_page_says_when_there_is_no_token(alice_client):
    assert "You have no API tokens." in html(alice_client.get("/accounts/"))


def test_the_revoke_button_posts_with_csrf_and_ends_the_token(alice):
    token, key = tokens.token_create(user=alice)
    _kept, kept_key = tokens.token_create(user=alice)
    browser = signed_in("alice", enforce_csrf_checks=True)
    page = browser.get("/accounts/")
    response = browser.post(f"/accounts/tokens/{token.pk}/revoke/", {"csrfmiddlewaretoken": csrf_of(page)}, follow=True)
    assert response.redirect_chain == [("/accounts/", 302)]
    assert "The token is revoked: it no longer signs in." in html(response)
    assert f"<code>{token.prefix}…</code>" not in html(response)
    assert not can_write(key)
    assert can_write(kept_key)


def test_revoking_without_the_csrf_token_is_refused(alice):
    token, key = tokens.token_create(user=alice)
    browser = signed_in("alice", enforce_csrf_checks=True)
    assert browser.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 403
    assert can_write(key)


def test_revoking_is_a_post_only(alice, alice_client):
    token, key = tokens.token_create(user=alice)
    assert alice_client.get(f"/accounts/tokens/{token.pk}/revoke/").status_code == 405
    assert can_write(key)


@pytest.mark.parametrize("token_id", ["bobs", "999999", str(2**63)])
def test_revoking_a_token_that_is_not_yours_is_404(alice_client, bob, token_id):
    bobs, bobs_key = tokens.token_create(user=bob)
    token_id = str(bobs.pk) if token_id == "bobs" else token_id
    response = alice_client.post(f"/accounts/tokens/{token_id}/revoke/")
    assert response.status_code == 404
    assert "You have no such API token." in html(response)
    assert can_write(bobs_key)


def test_a_visitor_cannot_revoke(client, alice):
    token, key = tokens.token_create(user=alice)
    response = client.post(f"/accounts/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert can_write(key)


# Changing the password -------------------------------------------------------------------------


def change_password(client: Client, old: str = PASSWORD, new: str = NEW_PASSWORD):
    return client.post(
        "/accounts/password/",
        {"old_password": old, "new_password1": new, "new_password2": new},
        follow=True,
    )


def test_the_password_page_is_the_sites_not_the_admins(alice_client):
    page = alice_client.get("/accounts/password/")
    assert page.status_code == 200
    assert '<header class="site">' in html(page)
    assert 'name="old_password"' in html(page) and 'name="new_password2"' in html(page)
    assert "Django administration" not in html(page)


def test_the_password_page_needs_sign_in(client):
    response = client.get("/accounts/password/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_changing_the_password_ends_tokens_and_other_sessions_but_keeps_this_one(alice, bob):
    keys = [tokens.token_create(user=alice)[1] for _ in range(3)]
    _bobs, bobs_key = tokens.token_create(user=bob)
    here, elsewhere, bobs_browser = signed_in("alice"), signed_in("alice"), signed_in("bob")
    assert is_signed_in(elsewhere)

    response = change_password(here)
    assert response.redirect_chain == [("/accounts/password/done/", 302)]
    assert "Password changed" in html(response)

    assert is_signed_in(here)
    assert not is_signed_in(elsewhere)
    assert not any(can_write(key) for key in keys)
    assert Token.objects.live().filter(user=alice).count() == 0
    assert can_write(bobs_key)
    assert is_signed_in(bobs_browser)
    assert get_user_model().objects.get(pk=alice.pk).check_password(NEW_PASSWORD)
    assert signed_in("alice", NEW_PASSWORD)


def test_a_wrong_old_password_changes_nothing(alice):
    _token, key = tokens.token_create(user=alice)
    here, elsewhere = signed_in("alice"), signed_in("alice")
    response = change_password(here, old="not my password")
    assert response.status_code == 200
    assert "Your old password was entered incorrectly." in html(response)
    assert can_write(key)
    assert is_signed_in(elsewhere)
    assert get_user_model().objects.get(pk=alice.pk).check_password(PASSWORD)


def test_the_password_change_is_csrf_protected(alice):
    _token, key = tokens.token_create(user=alice)
    browser = signed_in("alice", enforce_csrf_checks=True)
    response = browser.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 403
    assert can_write(key)


# Passwords set in the admin --------------------------------------------------------------------


def test_a_superuser_setting_a_users_password_in_the_admin_ends_that_users_tokens(make_user, alice):
    make_user("root", is_staff=True, is_superuser=True)
    _token, key = tokens.token_create(user=alice)
    alices_browser = signed_in("alice")
    admin = signed_in("root")
    response = admin.post(
        f"/admin/auth/user/{alice.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 302, html(response)
    assert get_user_model().objects.get(pk=alice.pk).check_password(NEW_PASSWORD)
    assert not can_write(key)
    assert not is_signed_in(alices_browser)
    assert is_signed_in(admin)


def test_a_moderator_changing_their_own_password_in_the_admin_ends_their_tokens(mia):
    _token, key = tokens.token_create(user=mia)
    admin = signed_in("mia")
    page = admin.get("/admin/password_change/")
    assert page.status_code == 200
    assert "Messageboard moderation" in html(page)  # the admin's own page, in its own layout
    response = admin.post(
        "/admin/password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/password_change/done/"
    assert not can_write(key)
    assert is_signed_in(admin)


def test_a_password_set_any_other_way_ends_the_tokens_too(alice, bob):
    # A password reset, `manage.py changepassword` and scripts all call set_password() and save().
    _token, key = tokens.token_create(user=alice)
    _token, bob_key = tokens.token_create(user=bob)
    alice.set_password("a new passphrase for alice")
    alice.save()
    assert not can_write(key)
    assert can_write(bob_key)


def test_a_password_reset_through_djangos_form_ends_the_tokens(alice):
    from django.contrib.auth.forms import SetPasswordForm

    _token, key = tokens.token_create(user=alice)
    form = SetPasswordForm(
        alice, {"new_password1": "reset to this passphrase", "new_password2": "reset to this passphrase"}
    )
    assert form.is_valid(), form.errors
    form.save()
    assert not can_write(key)


class QuickPBKDF2Hasher(PBKDF2PasswordHasher):
    """A newer hasher than the suite's MD5, cheap enough for a test."""

    algorithm = "pbkdf2_quick"
    iterations = 2


def test_a_hash_upgraded_at_sign_in_ends_no_token(alice, settings):
    # Signing in with a hash of an older hasher re-hashes the same password and saves it.
    _token, key = tokens.token_create(user=alice)
    settings.PASSWORD_HASHERS = [
        "tests.integration.test_account_pages.QuickPBKDF2Hasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    assert alice.password.startswith("md5$")
    assert Client().login(username="alice", password="correct horse battery staple")
    alice.refresh_from_db()
    assert alice.password.startswith(QuickPBKDF2Hasher.algorithm)
    assert can_write(key)
