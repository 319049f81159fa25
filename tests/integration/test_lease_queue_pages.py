"""The queue on the edit page and in the API: places, "your turn", and the 423 a newcomer gets meanwhile."""

import pytest
from django.test import Client
from django.utils import timezone

from messages_app import editing, protocol_sql, services
from messages_app.errors import LeaseHeld
from messages_app.models import LeaseWaiter
from tests.support.api import api_for, assert_error

pytestmark = pytest.mark.django_db


def html(response) -> str:
    return response.content.decode()


@pytest.fixture
def carol_client(make_user):
    client = Client()
    client.force_login(make_user("carol"))
    return client


def test_people_kept_waiting_are_told_their_place_and_the_first_one_their_turn(
    alice, bob_client, carol_client, make_message
):
    message = make_message()
    grant = editing.message_lease_acquire(message_id=message.pk, user=alice)
    bob_page = html(bob_client.get(f"/messages/{message.pk}/edit/"))
    assert "<strong>alice</strong> is editing this message" in bob_page
    assert "You are next in line." in bob_page
    assert "opens the editor when your turn comes" in bob_page
    assert 'data-queue-place="2"' in html(carol_client.get(f"/messages/{message.pk}/edit/"))

    editing.message_lease_release(message_id=message.pk, user=alice, token=grant.token)
    bob_status = html(bob_client.get(f"/messages/{message.pk}/lease/"))
    assert 'data-lease-state="your-turn"' in bob_status
    assert "It's your turn: the message is kept for you until" in bob_status
    carol_status = html(carol_client.get(f"/messages/{message.pk}/lease/"))
    assert 'data-lease-state="waiting"' in carol_status
    assert "It is <strong>bob</strong>'s turn to edit this message" in carol_status
    # Bob is first in line until he takes the lease.
    assert "You are number 2 in line." in carol_status

    # Carol trying the editor meanwhile waits on: the message is kept for Bob.
    assert "It is <strong>bob</strong>'s turn" in html(carol_client.get(f"/messages/{message.pk}/edit/"))
    bob_editor = html(bob_client.get(f"/messages/{message.pk}/edit/"))
    assert 'data-lease-state="holding"' in bob_editor


def test_an_api_client_finds_the_lease_kept_for_a_waiters_turn(alice, bob_client, make_user, make_message):
    message = make_message()
    grant = editing.message_lease_acquire(message_id=message.pk, user=alice)
    bob_client.get(f"/messages/{message.pk}/edit/")
    editing.message_lease_release(message_id=message.pk, user=alice, token=grant.token)
    refused = api_for(make_user("dave")).post(f"/api/messages/{message.pk}/lease")
    body = assert_error(refused, 423, "locked")
    assert body["lease"]["holder"] == "bob"
    assert "It is bob's turn to edit this message" in body["detail"]


def test_asking_about_the_lease_never_puts_anyone_in_line(alice, bob_client, make_message):
    message = make_message()
    editing.message_lease_acquire(message_id=message.pk, user=alice)
    for _ in range(3):
        assert 'data-lease-state="waiting"' in html(bob_client.get(f"/messages/{message.pk}/lease/"))
    assert 'data-lease-state="waiting"' in html(Client().get(f"/messages/{message.pk}/lease/"))
    assert not LeaseWaiter.objects.exists()
    # Only opening the editor (counted against the lease rate limit) does.
    bob_client.get(f"/messages/{message.pk}/edit/")
    assert LeaseWaiter.objects.count() == 1


def test_the_lease_status_of_a_missing_or_deleted_message_is_404_or_410(alice, bob_client, make_message):
    assert bob_client.get("/messages/999999/lease/").status_code == 404
    message = make_message(author=alice)
    services.message_delete(message_id=message.pk, user=alice)
    assert bob_client.get(f"/messages/{message.pk}/lease/").status_code == 410


def test_a_lease_freed_just_after_the_refusal_opens_the_editor_not_a_link_to_it(
    alice, bob_client, bob, make_message, monkeypatch
):
    message = make_message()
    grant = editing.message_lease_acquire(message_id=message.pk, user=alice)
    real_open = editing.message_edit_open
    calls = []

    def refused_then_released(**kwargs):
        calls.append(kwargs["user"])
        if len(calls) == 1:
            try:
                return real_open(**kwargs)  # refused: alice holds it
            finally:
                # Alice saves and lets go in the moment between the refusal and the page.
                editing.message_lease_release(message_id=message.pk, user=alice, token=grant.token)
        return real_open(**kwargs)

    monkeypatch.setattr(editing, "message_edit_open", refused_then_released)
    page = html(bob_client.get(f"/messages/{message.pk}/edit/"))

    assert len(calls) == 2
    assert 'data-lease-state="holding"' in page and 'name="lease_token"' in page
    assert editing.leases.lease_current(message_id=message.pk).holder == "bob"


def test_a_waiters_turn_never_starts_while_someone_holds_the_lease(alice, bob_client, bob, make_message):
    message = make_message()
    grant = editing.message_lease_acquire(message_id=message.pk, user=alice)
    bob_client.get(f"/messages/{message.pk}/edit/")
    # A page that looked a moment before alice's grant asks for the first waiter's turn now.
    protocol_sql.queue_start_turn(message_id=message.pk)
    assert LeaseWaiter.objects.get(user=bob).turn_at is None
    assert 'data-lease-state="waiting"' in html(bob_client.get(f"/messages/{message.pk}/lease/"))

    editing.message_lease_release(message_id=message.pk, user=alice, token=grant.token)
    protocol_sql.queue_start_turn(message_id=message.pk)
    assert LeaseWaiter.objects.get(user=bob).turn_at is not None


def test_the_edit_page_keeps_trying_while_its_look_says_the_editor_is_to_be_had(
    alice, bob_client, bob, make_message, monkeypatch
):
    message = make_message()
    real_open = editing.message_edit_open
    calls = []

    def refused_twice(**kwargs):
        # Each time another editor took the freed lease first, and let it go again at once.
        calls.append(kwargs["user"])
        if len(calls) <= 2:
            raise LeaseHeld("carol", timezone.now())
        return real_open(**kwargs)

    monkeypatch.setattr(editing, "message_edit_open", refused_twice)
    page = html(bob_client.get(f"/messages/{message.pk}/edit/"))

    assert len(calls) == 3
    assert 'data-lease-state="holding"' in page and 'name="lease_token"' in page


def test_the_edit_page_shows_the_look_that_refused_it_not_a_later_one(
    alice, bob_client, bob, make_message, monkeypatch
):
    message = make_message()
    grant = editing.message_lease_acquire(message_id=message.pk, user=alice)
    real_wait = editing.message_lease_wait
    looks = []

    def look_then_release(**kwargs):
        looks.append(kwargs["user"])
        try:
            return real_wait(**kwargs)
        finally:
            # Alice lets go just after bob's page looked: the page says what that look saw,
            # and bob's next poll finds his turn.
            editing.message_lease_release(message_id=message.pk, user=alice, token=grant.token)

    monkeypatch.setattr(editing, "message_lease_wait", look_then_release)
    page = html(bob_client.get(f"/messages/{message.pk}/edit/"))

    assert len(looks) == 1
    assert 'data-lease-state="waiting"' in page and "<strong>alice</strong> is editing this message" in page
    monkeypatch.setattr(editing, "message_lease_wait", real_wait)
    assert 'data-lease-state="your-turn"' in html(bob_client.get(f"/messages/{message.pk}/lease/"))


def test_a_lease_let_go_between_the_turn_and_the_look_still_shows_the_first_waiters_turn(
    alice, bob_client, make_message, monkeypatch
):
    message = make_message()
    grant = editing.message_lease_acquire(message_id=message.pk, user=alice)
    bob_client.get(f"/messages/{message.pk}/edit/")
    real_look = protocol_sql.queue_look
    looks = []

    def released_before_the_first_look(**kwargs):
        looks.append(1)
        if len(looks) == 1:
            # Alice saves and lets go just after the page tried to start a turn (she still held it).
            editing.message_lease_release(message_id=message.pk, user=alice, token=grant.token)
        return real_look(**kwargs)

    monkeypatch.setattr(protocol_sql, "queue_look", released_before_the_first_look)
    assert 'data-lease-state="your-turn"' in html(bob_client.get(f"/messages/{message.pk}/lease/"))
