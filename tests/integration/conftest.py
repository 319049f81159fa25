"""Fixtures shared by the integration tests."""

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher

from messages_app import editing
from messages_app.models import Message


@pytest.fixture
def board(make_message, alice, bob):
    """Three messages: #1 at version 3, #2 at version 1, #3 at version 2 (by bob)."""
    first = make_message(subject="first", body="one")
    for version, text in ((1, "one, edited"), (2, "one, edited twice")):
        editing.message_edit_save(
            message_id=first.pk, user=alice, base_version=version, lease_token=None, subject=None, body=text
        )
    second = make_message(subject="second", body="two")
    third = make_message(subject="third", body="three")
    editing.message_edit_save(
        message_id=third.pk, user=bob, base_version=1, lease_token=None, subject=None, body="three, by bob"
    )
    return [Message.objects.get(pk=m.pk) for m in (first, second, third)]


# The API's clients, for the contract's tests and the moderation API's.
@pytest.fixture
def anon():
    from tests.support.api import ApiClient

    return ApiClient()


@pytest.fixture
def alice_api(alice):
    from tests.support.api import api_for

    return api_for(alice)


@pytest.fixture
def bob_api(bob):
    from tests.support.api import api_for

    return api_for(bob)


class CountingHasher(MD5PasswordHasher):
    """Django's MD5 hasher (the suite's cheap one), counting every hash it computes."""

    hashes = 0

    def encode(self, password, salt):
        CountingHasher.hashes += 1
        return super().encode(password, salt)


@pytest.fixture
def password_hashes(settings):
    """Count the password hashes computed from now on (sign-ins of unknown users included); return a reader."""
    settings.PASSWORD_HASHERS = ["tests.integration.conftest.CountingHasher"]
    start = CountingHasher.hashes
    return lambda: CountingHasher.hashes - start
