"""The queue for a lease: waiters get it in the order they came, each kept a while; one who left is skipped."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from messages_app import editing, leases
from messages_app.errors import LeaseHeld, LeaseReserved
from messages_app.models import EditLease, LeaseWaiter

pytestmark = pytest.mark.django_db


@pytest.fixture
def carol(make_user):
    return make_user("carol")


@pytest.fixture
def dave(make_user):
    return make_user("dave")


def wait_on_the_edit_page(message, user) -> None:
    """What the edit page does for someone kept waiting: the lease is held, so they join the line."""
    with pytest.raises(LeaseHeld):
        editing.message_edit_open(message_id=message.pk, user=user)


def release(message, grant) -> None:
    holder = get_user_model().objects.get(username=grant.holder)
    editing.message_lease_release(message_id=message.pk, user=holder, token=grant.token)


def state(message, user) -> leases.QueueState:
    return editing.message_lease_wait(message_id=message.pk, user=user)


def test_waiters_get_the_lease_in_the_order_they_came_and_others_are_told_their_place(
    make_message, alice, bob, carol, dave
):
    message = make_message()
    alices = leases.lease_acquire(message_id=message.pk, user=alice)
    wait_on_the_edit_page(message, bob)
    wait_on_the_edit_page(message, carol)
    assert (state(message, bob).place, state(message, carol).place) == (1, 2)
    assert state(message, bob).holder.holder == "alice"

    release(message, alices)
    # Bob came first: his turn; the lease is kept for him, from Carol and from a newcomer alike.
    bobs_turn = state(message, bob)
    assert (bobs_turn.turn_of, bobs_turn.holder) == ("bob", None)
    assert timedelta(seconds=25) < bobs_turn.turn_until - timezone.now() <= timedelta(seconds=30)
    assert (state(message, carol).turn_of, state(message, carol).place) == ("bob", 2)
    for other in (carol, dave):
        with pytest.raises(LeaseReserved) as refused:
            leases.lease_acquire(message_id=message.pk, user=other)
        assert refused.value.holder == "bob"
        assert "It is bob's turn to edit this message" in refused.value.detail
    assert not EditLease.objects.filter(message=message, expires_at__gt=timezone.now()).exists()

    bobs = editing.message_edit_open(message_id=message.pk, user=bob).lease
    # Holding the lease, Bob is in line no more; Carol is next.
    assert not LeaseWaiter.objects.filter(message=message, user=bob).exists()
    assert state(message, carol).place == 1
    release(message, bobs)
    assert state(message, carol).turn_of == "carol"
    assert editing.message_edit_open(message_id=message.pk, user=carol).lease.holder == "carol"


def test_a_turn_not_taken_in_time_passes_to_the_next_waiter(make_message, alice, bob, carol, settings):
    settings.MESSAGEBOARD_QUEUE_RESERVE_SECONDS = 30
    message = make_message()
    alices = leases.lease_acquire(message_id=message.pk, user=alice)
    wait_on_the_edit_page(message, bob)
    wait_on_the_edit_page(message, carol)
    release(message, alices)
    assert state(message, carol).turn_of == "bob"
    LeaseWaiter.objects.filter(user=bob).update(turn_at=timezone.now() - timedelta(seconds=31))
    assert state(message, carol).turn_of == "carol"
    assert leases.lease_acquire(message_id=message.pk, user=carol).holder == "carol"
    # Bob, back too late, is behind everyone who still waits: here, nobody; he is told who holds it.
    assert state(message, bob).place is None
    with pytest.raises(LeaseHeld):
        leases.lease_acquire(message_id=message.pk, user=bob)


def test_a_waiter_who_left_is_skipped(make_message, alice, bob, carol, settings):
    settings.MESSAGEBOARD_QUEUE_STALE_SECONDS = 20
    message = make_message()
    alices = leases.lease_acquire(message_id=message.pk, user=alice)
    wait_on_the_edit_page(message, bob)
    wait_on_the_edit_page(message, carol)
    # Bob closed the page: it stopped asking.
    LeaseWaiter.objects.filter(user=bob).update(seen_at=timezone.now() - timedelta(seconds=21))
    assert state(message, carol).place == 1
    release(message, alices)
    assert state(message, carol).turn_of == "carol"
    assert leases.lease_acquire(message_id=message.pk, user=carol).holder == "carol"


def test_a_waiter_who_left_without_a_word_holds_the_others_up_for_one_reservation_at_most(
    make_message, alice, bob, carol, settings
):
    message = make_message()
    alices = leases.lease_acquire(message_id=message.pk, user=alice)
    wait_on_the_edit_page(message, bob)
    wait_on_the_edit_page(message, carol)
    release(message, alices)
    # Carol finds the lease free first: that starts Bob's turn (his page may be gone), not later.
    with pytest.raises(LeaseReserved) as refused:
        leases.lease_acquire(message_id=message.pk, user=carol)
    assert timedelta(seconds=25) < refused.value.expires_at - timezone.now() <= timedelta(seconds=30)


def test_joining_again_keeps_ones_place_and_coming_back_after_leaving_queues_at_the_back(
    make_message, alice, bob, carol, settings
):
    message = make_message()
    leases.lease_acquire(message_id=message.pk, user=alice)
    wait_on_the_edit_page(message, bob)
    wait_on_the_edit_page(message, carol)
    wait_on_the_edit_page(message, bob)  # reloaded his page
    assert state(message, bob).place == 1
    LeaseWaiter.objects.filter(user=bob).update(
        seen_at=timezone.now() - timedelta(seconds=settings.MESSAGEBOARD_QUEUE_STALE_SECONDS + 1)
    )
    wait_on_the_edit_page(message, bob)
    assert (state(message, carol).place, state(message, bob).place) == (1, 2)


def test_the_holders_own_second_tab_is_never_held_back_by_the_line(make_message, alice, bob):
    message = make_message()
    first = leases.lease_acquire(message_id=message.pk, user=alice)
    wait_on_the_edit_page(message, bob)
    second = leases.lease_acquire(message_id=message.pk, user=alice)
    assert second.token != first.token


def test_a_holder_whose_lease_lapsed_waits_behind_those_who_waited(make_message, alice, bob):
    message = make_message()
    leases.lease_acquire(message_id=message.pk, user=alice)
    wait_on_the_edit_page(message, bob)
    EditLease.objects.filter(message=message).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(LeaseReserved):
        leases.lease_acquire(message_id=message.pk, user=alice)
    assert leases.lease_acquire(message_id=message.pk, user=bob).holder == "bob"


def test_with_nobody_waiting_a_free_lease_is_anyones(make_message, alice, bob):
    message = make_message()
    release(message, leases.lease_acquire(message_id=message.pk, user=alice))
    assert state(message, bob) == leases.QueueState(holder=None, place=None, turn_of=None, turn_until=None)
    assert leases.lease_acquire(message_id=message.pk, user=bob).holder == "bob"


def test_clear_expired_leases_removes_the_places_of_those_who_stopped_waiting_and_keeps_the_rest(
    make_message, alice, bob, carol, settings, capsys
):
    from django.core.management import call_command

    message = make_message()
    leases.lease_acquire(message_id=message.pk, user=alice)
    wait_on_the_edit_page(message, bob)
    wait_on_the_edit_page(message, carol)
    LeaseWaiter.objects.filter(user=bob).update(
        seen_at=timezone.now() - timedelta(seconds=settings.MESSAGEBOARD_QUEUE_STALE_SECONDS + 1)
    )
    call_command("clear_expired_leases")
    assert "and 1 place in line nobody waits in any more." in capsys.readouterr().out
    assert list(LeaseWaiter.objects.values_list("user__username", flat=True)) == ["carol"]
