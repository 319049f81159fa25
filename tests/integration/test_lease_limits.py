"""Leases cannot be hogged: a cap per user, a longest hold, a cooldown after a moderator's break,
and protection ending members' leases. Services, pages and the API."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from messages_app import editing, leases, services
from messages_app.errors import LEASE_MAX_HOLD, LeaseCooldown, LeaseLost, NotAllowed, TooManyLeases
from messages_app.models import EditLease, LeaseEvent, Message
from tests.support.api import assert_error

pytestmark = pytest.mark.django_db


def acquire(message, user):
    return editing.message_lease_acquire(message_id=message.pk, user=user)


@pytest.fixture
def six_messages(make_message):
    return [make_message(subject=f"Draft {number}") for number in range(6)]


# At most MESSAGEBOARD_MAX_LEASES_PER_USER leases at once


def test_a_user_holding_five_leases_is_refused_a_sixth_with_the_messages_they_hold(six_messages, bob):
    for message in six_messages[:5]:
        acquire(message, bob)
    with pytest.raises(TooManyLeases) as refused:
        acquire(six_messages[5], bob)
    assert [message_id for message_id, _subject in refused.value.held] == [m.pk for m in six_messages[:5]]
    assert not EditLease.objects.filter(message=six_messages[5]).exists()


def test_taking_again_a_lease_already_held_does_not_count_against_the_cap(six_messages, bob):
    for message in six_messages[:5]:
        acquire(message, bob)
    grant = acquire(six_messages[0], bob)
    assert EditLease.objects.get(message=six_messages[0]).token == grant.token


def test_expired_and_released_leases_free_room_under_the_cap(six_messages, bob):
    grants = [acquire(message, bob) for message in six_messages[:5]]
    EditLease.objects.filter(message=six_messages[0]).update(expires_at=timezone.now() - timedelta(seconds=1))
    acquire(six_messages[5], bob)
    editing.message_lease_release(message_id=six_messages[1].pk, user=bob, token=grants[1].token)
    acquire(six_messages[0], bob)


def test_the_cap_is_per_user(six_messages, alice, bob):
    for message in six_messages[:5]:
        acquire(message, bob)
    acquire(six_messages[5], alice)


def test_a_cap_of_zero_turns_it_off(six_messages, bob, settings):
    settings.MESSAGEBOARD_MAX_LEASES_PER_USER = 0
    for message in six_messages:
        acquire(message, bob)
    assert EditLease.objects.filter(holder=bob).count() == 6


def test_the_api_answers_429_too_many_leases(six_messages, bob_api):
    for message in six_messages[:5]:
        assert bob_api.post(f"/api/messages/{message.pk}/lease").status_code == 201
    data = assert_error(bob_api.post(f"/api/messages/{six_messages[5].pk}/lease"), 429, "too_many_leases")
    assert data["held"] == [m.pk for m in six_messages[:5]]


def test_the_edit_page_says_which_messages_the_user_holds(six_messages, bob, bob_client):
    for message in six_messages[:5]:
        acquire(message, bob)
    response = bob_client.get(f"/messages/{six_messages[5].pk}/edit/")
    assert response.status_code == 429
    page = response.content.decode()
    assert "the most one person may edit at once" in page
    for message in six_messages[:5]:
        assert f'href="/messages/{message.pk}/edit/">{message.subject}</a>' in page
    assert 'name="lease_token"' not in page


# Renewed only up to MESSAGEBOARD_LEASE_MAX_HOLD_SECONDS since taken or since the holder's last save


def _taken_ago(message, seconds: int) -> None:
    EditLease.objects.filter(message=message).update(acquired_at=timezone.now() - timedelta(seconds=seconds))


def test_a_lease_held_longer_than_the_longest_hold_is_not_renewed(make_message, bob, settings):
    message = make_message()
    grant = acquire(message, bob)
    _taken_ago(message, settings.MESSAGEBOARD_LEASE_MAX_HOLD_SECONDS + 5)
    with pytest.raises(LeaseLost) as lost:
        editing.message_lease_renew(message_id=message.pk, user=bob, token=grant.token)
    assert str(lost.value) == LEASE_MAX_HOLD


def test_a_lease_within_the_longest_hold_renews(make_message, bob, settings):
    message = make_message()
    grant = acquire(message, bob)
    _taken_ago(message, settings.MESSAGEBOARD_LEASE_MAX_HOLD_SECONDS - 60)
    renewed = editing.message_lease_renew(message_id=message.pk, user=bob, token=grant.token)
    assert renewed.token == grant.token


def test_the_holders_save_restarts_the_longest_hold(make_message, bob, settings):
    message = make_message()
    grant = acquire(message, bob)
    editing.message_edit_save(
        message_id=message.pk, user=bob, base_version=1, lease_token=grant.token, subject=None, body="Saved."
    )
    _taken_ago(message, settings.MESSAGEBOARD_LEASE_MAX_HOLD_SECONDS + 5)
    editing.message_lease_renew(message_id=message.pk, user=bob, token=grant.token)


def test_someone_elses_save_does_not_restart_the_holders_hold(make_message, alice, bob, settings):
    message = make_message()
    editing.message_edit_save(
        message_id=message.pk, user=alice, base_version=1, lease_token=None, subject=None, body="Alice's."
    )
    grant = acquire(message, bob)
    _taken_ago(message, settings.MESSAGEBOARD_LEASE_MAX_HOLD_SECONDS + 5)
    with pytest.raises(LeaseLost):
        editing.message_lease_renew(message_id=message.pk, user=bob, token=grant.token)


def test_the_api_renewal_past_the_longest_hold_is_409_lease_lost(make_message, bob, bob_api, settings):
    message = make_message()
    token = bob_api.post(f"/api/messages/{message.pk}/lease").json()["token"]
    _taken_ago(message, settings.MESSAGEBOARD_LEASE_MAX_HOLD_SECONDS + 5)
    response = bob_api.put(f"/api/messages/{message.pk}/lease", headers={"Lease-Token": token})
    assert_error(response, 409, "lease_lost")


def test_the_edit_page_heartbeat_past_the_longest_hold_offers_to_take_the_lease_again(
    make_message, bob, bob_client, settings
):
    message = make_message()
    page = bob_client.get(f"/messages/{message.pk}/edit/").content.decode()
    token = re.search(r'name="lease_token" value="([0-9a-f]+)"', page)[1]
    _taken_ago(message, settings.MESSAGEBOARD_LEASE_MAX_HOLD_SECONDS + 5)
    status = bob_client.post(f"/messages/{message.pk}/lease/renew/", {"lease_token": token}).content.decode()
    assert 'data-lease-state="lost"' in status
    assert "longest time one lease may be held" in status
    assert 'form="edit-form" name="intent" value="resume"' in status
    # Taking it again (the button) brings the typed text back in a fresh form.
    response = bob_client.post(
        f"/messages/{message.pk}/edit/",
        {"intent": "resume", "subject": "Hello", "body": "Typed over the hour.", "base_version": 1},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Typed over the hour." in page
    assert re.search(r'name="lease_token" value="([0-9a-f]+)"', page)[1] != token


# No taking back a lease a moderator broke, for MESSAGEBOARD_BREAK_COOLDOWN_SECONDS


def test_a_user_whose_lease_a_moderator_broke_cannot_take_it_back_during_the_cooldown(make_message, bob, mia, settings):
    message = make_message()
    acquire(message, bob)
    editing.message_lease_break(message_id=message.pk, user=mia)
    with pytest.raises(LeaseCooldown) as refused:
        acquire(message, bob)
    assert 0 < refused.value.retry_after <= settings.MESSAGEBOARD_BREAK_COOLDOWN_SECONDS
    assert not EditLease.objects.filter(message=message).exists()


def test_the_cooldown_binds_only_that_user_on_that_message(make_message, alice, bob, mia):
    message, other = make_message(), make_message(subject="Other")
    acquire(message, bob)
    editing.message_lease_break(message_id=message.pk, user=mia)
    acquire(other, bob)
    acquire(message, alice)


def test_after_the_cooldown_the_user_may_take_the_lease_again(make_message, bob, mia, settings):
    message = make_message()
    acquire(message, bob)
    editing.message_lease_break(message_id=message.pk, user=mia)
    past = timezone.now() - timedelta(seconds=settings.MESSAGEBOARD_BREAK_COOLDOWN_SECONDS + 1)
    LeaseEvent.objects.filter(message=message, event=LeaseEvent.Kind.BROKEN).update(at=past)
    acquire(message, bob)


def test_a_cooldown_of_zero_turns_it_off(make_message, bob, mia, settings):
    settings.MESSAGEBOARD_BREAK_COOLDOWN_SECONDS = 0
    message = make_message()
    acquire(message, bob)
    editing.message_lease_break(message_id=message.pk, user=mia)
    acquire(message, bob)


def test_the_api_answers_403_lease_cooldown_with_retry_after(make_message, bob, bob_api, mia):
    message = make_message()
    bob_api.post(f"/api/messages/{message.pk}/lease")
    editing.message_lease_break(message_id=message.pk, user=mia)
    response = bob_api.post(f"/api/messages/{message.pk}/lease")
    assert_error(response, 403, "lease_cooldown")
    assert int(response["Retry-After"]) > 0


# Protecting ends members' leases


def test_protecting_ends_a_members_lease_recorded_as_broken_by_the_moderator(make_message, bob, mia):
    message = make_message()
    grant = acquire(message, bob)
    services.message_protect(message_id=message.pk, user=mia)
    assert leases.lease_current(message_id=message.pk) is None
    event = LeaseEvent.objects.filter(message=message).latest("id")
    assert (event.event, event.user, event.by) == (LeaseEvent.Kind.BROKEN, bob, mia)
    # Refused for the protection first (permission comes before the lease), writing nothing.
    with pytest.raises(NotAllowed):
        editing.message_edit_save(
            message_id=message.pk, user=bob, base_version=1, lease_token=grant.token, subject=None, body="Mine."
        )
    # The mia, no longer kept out, edits the message.
    own = acquire(message, mia)
    editing.message_edit_save(
        message_id=message.pk, user=mia, base_version=1, lease_token=own.token, subject=None, body="Frozen."
    )
    assert Message.objects.get(pk=message.pk).version == 2


def test_protecting_keeps_a_moderators_lease(make_message, make_moderator, mia):
    moderator = make_moderator("mod")
    message = make_message()
    grant = acquire(message, mia)
    services.message_protect(message_id=message.pk, user=moderator)
    assert EditLease.objects.get(message=message).token == grant.token
