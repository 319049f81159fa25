"""Lease events: one row per lease transition, written in the transition's own transaction."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone

from messages_app import editing, history_selectors, leases, protocol_sql, services
from messages_app.errors import LEASE_EVENTS_NOT_ALLOWED, PROTECTED, LeaseHeld, LeaseLost, NotAllowed
from messages_app.models import EditLease, LeaseEvent

pytestmark = pytest.mark.django_db


def events(message) -> list[tuple]:
    """The message's events oldest first, as (event, user, by)."""
    rows = LeaseEvent.objects.filter(message=message).order_by("id")
    return list(rows.values_list("event", "user__username", "by__username"))


def expire_leases(**filters) -> None:
    EditLease.objects.filter(**filters).update(expires_at=timezone.now() - timedelta(seconds=5))


def test_taking_a_free_lease_records_acquired(make_message, alice):
    message = make_message()
    editing.message_lease_acquire(message_id=message.pk, user=alice)
    assert events(message) == [("acquired", "alice", None)]


def test_the_holder_taking_it_again_records_one_replaced_row_not_also_acquired(make_message, alice):
    message = make_message()
    editing.message_lease_acquire(message_id=message.pk, user=alice)
    editing.message_lease_acquire(message_id=message.pk, user=alice)
    assert events(message) == [("acquired", "alice", None), ("replaced", "alice", None)]


def test_the_holder_taking_back_its_own_lapsed_lease_is_replaced_too(make_message, alice):
    message = make_message()
    editing.message_lease_acquire(message_id=message.pk, user=alice)
    expire_leases(message=message)
    editing.message_lease_acquire(message_id=message.pk, user=alice)
    assert events(message) == [("acquired", "alice", None), ("replaced", "alice", None)]


def test_taking_someone_elses_expired_lease_records_expired_for_them_then_acquired(make_message, alice, bob):
    message = make_message()
    editing.message_lease_acquire(message_id=message.pk, user=alice)
    expire_leases(message=message)
    editing.message_lease_acquire(message_id=message.pk, user=bob)
    assert events(message) == [("acquired", "alice", None), ("expired", "alice", None), ("acquired", "bob", None)]
    expired, acquired = LeaseEvent.objects.filter(message=message).order_by("id")[1:]
    # Recorded when found: both rows are the grant's moment.
    assert expired.at == acquired.at


def test_a_refused_acquire_records_nothing(make_message, alice, bob):
    message = make_message()
    editing.message_lease_acquire(message_id=message.pk, user=alice)
    with pytest.raises(LeaseHeld):
        editing.message_lease_acquire(message_id=message.pk, user=bob)
    assert events(message) == [("acquired", "alice", None)]


def test_renewals_are_not_events(make_message, alice):
    message = make_message()
    grant = editing.message_lease_acquire(message_id=message.pk, user=alice)
    for _ in range(3):
        editing.message_lease_renew(message_id=message.pk, user=alice, token=grant.token)
    assert events(message) == [("acquired", "alice", None)]


def test_release_records_released(make_message, alice):
    message = make_message()
    grant = editing.message_lease_acquire(message_id=message.pk, user=alice)
    editing.message_lease_release(message_id=message.pk, user=alice, token=grant.token)
    assert events(message) == [("acquired", "alice", None), ("released", "alice", None)]


def test_a_release_with_a_dead_token_records_nothing(make_message, alice):
    message = make_message()
    old = editing.message_lease_acquire(message_id=message.pk, user=alice)
    editing.message_lease_acquire(message_id=message.pk, user=alice)
    with pytest.raises(LeaseLost):
        editing.message_lease_release(message_id=message.pk, user=alice, token=old.token)
    assert events(message) == [("acquired", "alice", None), ("replaced", "alice", None)]


def test_a_moderator_break_records_broken_with_the_moderator(make_message, alice, mia):
    message = make_message()
    editing.message_lease_acquire(message_id=message.pk, user=alice)
    editing.message_lease_release(message_id=message.pk, user=mia, token=None)
    assert events(message) == [("acquired", "alice", None), ("broken", "alice", "mia")]
    assert not EditLease.objects.filter(message=message).exists()


def test_breaking_when_nobody_holds_the_lease_records_nothing(make_message, alice, mia):
    message = make_message()
    assert editing.message_lease_break(message_id=message.pk, user=mia) is False
    editing.message_lease_acquire(message_id=message.pk, user=alice)
    expire_leases(message=message)
    # An expired row is nobody's lease: removing it is not a break.
    assert editing.message_lease_break(message_id=message.pk, user=mia) is False
    assert events(message) == [("acquired", "alice", None)]


def test_saving_from_the_edit_page_releases_the_lease_and_records_it(make_message, alice):
    message = make_message()
    grant = editing.message_lease_acquire(message_id=message.pk, user=alice)
    editing.message_edit_save(
        message_id=message.pk,
        user=alice,
        base_version=1,
        lease_token=grant.token,
        subject=None,
        body="Edited.",
        release_lease=True,
    )
    assert events(message) == [("acquired", "alice", None), ("released", "alice", None)]


def test_a_save_that_keeps_the_lease_records_nothing(make_message, alice):
    message = make_message()
    grant = editing.message_lease_acquire(message_id=message.pk, user=alice)
    editing.message_edit_save(
        message_id=message.pk, user=alice, base_version=1, lease_token=grant.token, subject=None, body="Edited."
    )
    assert events(message) == [("acquired", "alice", None)]


def test_deleting_a_message_under_ones_own_lease_records_it_released(make_message, alice):
    message = make_message()
    editing.message_lease_acquire(message_id=message.pk, user=alice)
    services.message_delete(message_id=message.pk, user=alice)
    assert events(message) == [("acquired", "alice", None), ("released", "alice", None)]


def test_deleting_a_message_with_a_lapsed_lease_records_nothing_more(make_message, alice, bob):
    message = make_message()
    editing.message_lease_acquire(message_id=message.pk, user=bob)
    expire_leases(message=message)
    services.message_delete(message_id=message.pk, user=alice)
    assert events(message) == [("acquired", "bob", None)]


def test_a_members_lease_on_a_protected_message_is_refused_and_not_recorded(make_message, alice, bob, mia):
    message = make_message()
    services.message_protect(message_id=message.pk, user=mia)
    with pytest.raises(NotAllowed) as refused:
        editing.message_lease_acquire(message_id=message.pk, user=bob)
    assert str(refused.value) == PROTECTED
    # Even while a moderator holds it: the member hears "protected", not who is editing.
    editing.message_lease_acquire(message_id=message.pk, user=mia)
    with pytest.raises(NotAllowed):
        editing.message_lease_acquire(message_id=message.pk, user=alice)
    assert events(message) == [("acquired", "mia", None)]


def test_an_event_that_cannot_be_written_leaves_the_lease_untaken(make_message, alice, monkeypatch):
    message = make_message()
    monkeypatch.setattr(protocol_sql, "EVENTS", "no_such_table")  # the event's INSERT fails
    # (The savepoint keeps the test's own transaction usable after the error on PostgreSQL.)
    with pytest.raises(DatabaseError), transaction.atomic():
        editing.message_lease_acquire(message_id=message.pk, user=alice)
    # Same transaction (one statement on PostgreSQL): no lease without its event.
    assert not EditLease.objects.filter(message=message).exists()


@pytest.mark.parametrize("transition", ["release", "break"])
def test_a_lease_whose_event_cannot_be_written_stays_held(make_message, alice, mia, monkeypatch, transition):
    message = make_message()
    grant = editing.message_lease_acquire(message_id=message.pk, user=alice)
    monkeypatch.setattr(protocol_sql, "EVENTS", "no_such_table")
    with pytest.raises(DatabaseError), transaction.atomic():
        if transition == "release":
            editing.message_lease_release(message_id=message.pk, user=alice, token=grant.token)
        else:
            editing.message_lease_break(message_id=message.pk, user=mia)
    assert EditLease.objects.get(message=message).token == grant.token


def test_event_times_are_the_databases_clock(make_message, alice):
    message = make_message()
    before = timezone.now()
    editing.message_lease_acquire(message_id=message.pk, user=alice)
    event = LeaseEvent.objects.get(message=message)
    assert abs((event.at - before).total_seconds()) < 5
    assert event.at == EditLease.objects.get(message=message).acquired_at


def test_lease_events_read_newest_first_by_moderators_only(make_message, alice, bob, mia):
    message = make_message()
    grant = editing.message_lease_acquire(message_id=message.pk, user=alice)
    editing.message_lease_acquire(message_id=message.pk, user=alice)
    expire_leases(message=message)
    editing.message_lease_acquire(message_id=message.pk, user=bob)
    editing.message_lease_break(message_id=message.pk, user=mia)
    grant = editing.message_lease_acquire(message_id=message.pk, user=alice)
    editing.message_lease_release(message_id=message.pk, user=alice, token=grant.token)

    page = history_selectors.lease_event_list(message_id=message.pk, viewer=mia)
    assert [(e.event, e.user_name, e.by_name) for e in page.items] == [
        ("released", "alice", None),
        ("acquired", "alice", None),
        ("broken", "bob", "mia"),
        ("acquired", "bob", None),
        ("expired", "alice", None),
        ("replaced", "alice", None),
        ("acquired", "alice", None),
    ]
    assert page.next_before is None
    first = history_selectors.lease_event_list(message_id=message.pk, viewer=mia, limit=3)
    rest = history_selectors.lease_event_list(message_id=message.pk, viewer=mia, before=first.next_before, limit=10)
    assert [e.pk for e in first.items + rest.items] == [e.pk for e in page.items]
    with pytest.raises(NotAllowed) as refused:
        history_selectors.lease_event_list(message_id=message.pk, viewer=alice)
    assert str(refused.value) == LEASE_EVENTS_NOT_ALLOWED


def test_the_statement_reports_whom_it_replaced_without_a_read(make_message, alice, bob):
    message = make_message()
    leases.lease_acquire(message_id=message.pk, user=alice)
    assert EditLease.objects.get(message=message).previous_holder_id is None
    expire_leases(message=message)
    leases.lease_acquire(message_id=message.pk, user=bob)
    row = EditLease.objects.get(message=message)
    assert (row.holder_id, row.previous_holder_id) == (bob.pk, alice.pk)
