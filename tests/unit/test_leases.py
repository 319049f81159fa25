from datetime import timedelta

import pytest
from django.utils import timezone

from messages_app import editing, leases, permissions, protocol_sql, services
from messages_app.errors import LeaseHeld, LeaseLost
from messages_app.models import EditLease, LeaseEvent

pytestmark = pytest.mark.django_db


def expire_leases(**filters) -> None:
    """Move leases into the past, as if their TTL had run out."""
    EditLease.objects.filter(**filters).update(expires_at=timezone.now() - timedelta(seconds=5))


def close_to(moment, expected, *, seconds: float = 5) -> bool:
    return abs((moment - expected).total_seconds()) < seconds


def test_acquire_when_free_grants_a_new_token_expiring_after_the_ttl(make_message, alice, settings):
    settings.MESSAGEBOARD_LEASE_SECONDS = 120
    message = make_message()
    grant = leases.lease_acquire(message_id=message.pk, user=alice)
    assert grant.holder == "alice"
    assert len(grant.token) == 32  # 128 random bits, hex
    assert grant.ttl_seconds == 120
    assert close_to(grant.expires_at, timezone.now() + timedelta(seconds=120))
    row = EditLease.objects.get(message=message)
    assert (row.holder_id, row.token) == (alice.pk, grant.token)
    assert abs((row.expires_at - grant.expires_at).total_seconds()) < 0.001
    assert close_to(row.expires_at - row.acquired_at, timedelta(seconds=120), seconds=0.01)


def test_second_user_is_told_who_holds_the_lease_and_until_when(make_message, alice, bob):
    message = make_message()
    grant = leases.lease_acquire(message_id=message.pk, user=alice)
    with pytest.raises(LeaseHeld) as held:
        leases.lease_acquire(message_id=message.pk, user=bob)
    assert held.value.holder == "alice"
    assert abs((held.value.expires_at - grant.expires_at).total_seconds()) < 0.001
    assert str(held.value).startswith("alice is editing this message until ")
    assert EditLease.objects.get(message=message).token == grant.token


def test_same_user_acquiring_again_gets_a_new_token_and_the_old_one_dies(make_message, alice):
    message = make_message()
    old = leases.lease_acquire(message_id=message.pk, user=alice)
    new = leases.lease_acquire(message_id=message.pk, user=alice)
    assert new.token != old.token
    assert EditLease.objects.filter(message=message).count() == 1
    with pytest.raises(LeaseLost):
        leases.lease_renew(message_id=message.pk, user=alice, token=old.token)
    with pytest.raises(LeaseLost):
        leases.lease_release(message_id=message.pk, user=alice, token=old.token)
    with pytest.raises(LeaseLost):
        editing.message_edit_save(
            message_id=message.pk, user=alice, base_version=1, lease_token=old.token, subject=None, body="x"
        )
    leases.lease_renew(message_id=message.pk, user=alice, token=new.token)
    leases.lease_release(message_id=message.pk, user=alice, token=new.token)


def test_expired_lease_can_be_taken_by_another_user(make_message, alice, bob):
    message = make_message()
    first = leases.lease_acquire(message_id=message.pk, user=alice)
    expire_leases(message=message)
    second = leases.lease_acquire(message_id=message.pk, user=bob)
    assert second.holder == "bob"
    assert leases.lease_current(message_id=message.pk).holder == "bob"
    with pytest.raises(LeaseLost):
        leases.lease_renew(message_id=message.pk, user=alice, token=first.token)


def test_lease_one_millisecond_from_expiry_is_still_held(make_message, alice, bob):
    message = make_message()
    leases.lease_acquire(message_id=message.pk, user=alice)
    EditLease.objects.update(expires_at=timezone.now() + timedelta(seconds=2))
    with pytest.raises(LeaseHeld):
        leases.lease_acquire(message_id=message.pk, user=bob)


def test_expiry_is_decided_by_the_database_clock_not_the_app_clock(make_message, alice, bob, monkeypatch):
    message = make_message()
    leases.lease_acquire(message_id=message.pk, user=alice)
    real_now = timezone.now()
    # An app server whose clock runs an hour fast must neither see alice's lease as
    # expired nor hand out expiries from its own clock.
    monkeypatch.setattr(timezone, "now", lambda: real_now + timedelta(hours=1))
    with pytest.raises(LeaseHeld):
        leases.lease_acquire(message_id=message.pk, user=bob)
    assert leases.lease_current(message_id=message.pk).holder == "alice"
    grant = leases.lease_acquire(message_id=message.pk, user=alice)
    assert close_to(grant.expires_at, real_now + timedelta(seconds=leases.lease_ttl_seconds()))


def test_ttl_setting_is_read_at_each_acquire(make_message, alice, settings):
    message = make_message()
    settings.MESSAGEBOARD_LEASE_SECONDS = 7
    grant = leases.lease_acquire(message_id=message.pk, user=alice)
    assert grant.ttl_seconds == 7
    assert close_to(grant.expires_at, timezone.now() + timedelta(seconds=7), seconds=2)


def test_renew_keeps_the_token_and_extends_the_expiry(make_message, alice):
    message = make_message()
    grant = leases.lease_acquire(message_id=message.pk, user=alice)
    soon = timezone.now() + timedelta(seconds=3)
    EditLease.objects.update(expires_at=soon)
    renewed = leases.lease_renew(message_id=message.pk, user=alice, token=grant.token)
    assert renewed.token == grant.token
    assert renewed.expires_at > soon + timedelta(seconds=60)
    assert close_to(renewed.expires_at, timezone.now() + timedelta(seconds=leases.lease_ttl_seconds()))
    row = EditLease.objects.get(message=message)
    assert row.token == grant.token
    assert abs((row.expires_at - renewed.expires_at).total_seconds()) < 0.001


def test_renewing_an_expired_lease_is_refused(make_message, alice):
    message = make_message()
    grant = leases.lease_acquire(message_id=message.pk, user=alice)
    expire_leases()
    with pytest.raises(LeaseLost):
        leases.lease_renew(message_id=message.pk, user=alice, token=grant.token)
    assert leases.lease_current(message_id=message.pk) is None


def test_renewing_with_someone_elses_token_is_refused(make_message, alice, bob):
    message = make_message()
    grant = leases.lease_acquire(message_id=message.pk, user=alice)
    before = EditLease.objects.get().expires_at
    with pytest.raises(LeaseLost):
        leases.lease_renew(message_id=message.pk, user=bob, token=grant.token)
    assert EditLease.objects.get().expires_at == before


def test_release_frees_the_lease_for_others(make_message, alice, bob):
    message = make_message()
    grant = leases.lease_acquire(message_id=message.pk, user=alice)
    leases.lease_release(message_id=message.pk, user=alice, token=grant.token)
    assert leases.lease_current(message_id=message.pk) is None
    assert not EditLease.objects.exists()
    assert leases.lease_acquire(message_id=message.pk, user=bob).holder == "bob"


@pytest.mark.parametrize("token", ["", "0" * 32, "not-a-token"])
def test_release_with_a_wrong_token_is_lease_lost_and_keeps_the_lease(make_message, alice, token):
    message = make_message()
    grant = leases.lease_acquire(message_id=message.pk, user=alice)
    with pytest.raises(LeaseLost):
        leases.lease_release(message_id=message.pk, user=alice, token=token)
    assert EditLease.objects.get().token == grant.token


def test_release_by_another_user_with_the_holders_token_is_lease_lost(make_message, alice, bob):
    message = make_message()
    grant = leases.lease_acquire(message_id=message.pk, user=alice)
    with pytest.raises(LeaseLost):
        leases.lease_release(message_id=message.pk, user=bob, token=grant.token)
    assert leases.lease_current(message_id=message.pk).holder == "alice"


def test_releasing_an_expired_lease_is_lease_lost(make_message, alice):
    message = make_message()
    grant = leases.lease_acquire(message_id=message.pk, user=alice)
    expire_leases()
    with pytest.raises(LeaseLost):
        leases.lease_release(message_id=message.pk, user=alice, token=grant.token)


def test_break_removes_a_valid_lease_and_says_so(make_message, alice, bob):
    message = make_message()
    grant = leases.lease_acquire(message_id=message.pk, user=alice)
    assert leases.lease_break(message_id=message.pk) is True
    assert leases.lease_current(message_id=message.pk) is None
    with pytest.raises(LeaseLost):
        leases.lease_renew(message_id=message.pk, user=alice, token=grant.token)
    assert leases.lease_break(message_id=message.pk) is False
    assert leases.lease_acquire(message_id=message.pk, user=bob).holder == "bob"


def test_breaking_an_expired_lease_reports_no_valid_lease_broken(make_message, alice):
    message = make_message()
    leases.lease_acquire(message_id=message.pk, user=alice)
    expire_leases()
    assert leases.lease_break(message_id=message.pk) is False
    assert not EditLease.objects.exists()


def test_lease_current_names_the_holder_until_expiry_then_none(make_message, alice):
    message = make_message()
    assert leases.lease_current(message_id=message.pk) is None
    grant = leases.lease_acquire(message_id=message.pk, user=alice)
    current = leases.lease_current(message_id=message.pk)
    assert current.holder == "alice"
    assert abs((current.expires_at - grant.expires_at).total_seconds()) < 0.001
    expire_leases()
    assert leases.lease_current(message_id=message.pk) is None


def test_leases_of_different_messages_are_independent(make_message, alice, bob):
    first, second = make_message(), make_message()
    leases.lease_acquire(message_id=first.pk, user=alice)
    assert leases.lease_acquire(message_id=second.pk, user=bob).holder == "bob"
    assert leases.lease_current(message_id=first.pk).holder == "alice"


def test_acquire_on_a_missing_or_deleted_message_grants_nothing(make_message, alice):
    message = make_message()
    services.message_delete(message_id=message.pk, user=alice)
    assert leases.lease_acquire(message_id=message.pk, user=alice) is None
    assert leases.lease_acquire(message_id=message.pk + 1000, user=alice) is None
    assert not EditLease.objects.exists()


def test_clear_expired_deletes_only_expired_leases_and_records_them_as_expired(make_message, alice, bob):
    stale, live, other = make_message(), make_message(), make_message()
    leases.lease_acquire(message_id=stale.pk, user=alice)
    leases.lease_acquire(message_id=live.pk, user=alice)
    leases.lease_acquire(message_id=other.pk, user=bob)
    expire_leases(message__in=[stale, other])
    assert leases.lease_clear_expired(batch=1) == 2
    assert list(EditLease.objects.values_list("message_id", flat=True)) == [live.pk]
    expired = LeaseEvent.objects.filter(event=LeaseEvent.Kind.EXPIRED).order_by("message_id")
    assert [(event.message_id, event.user_id) for event in expired] == [(stale.pk, alice.pk), (other.pk, bob.pk)]
    assert leases.lease_clear_expired() == 0


def test_the_clear_expired_leases_command_says_how_many_went(make_message, alice, capsys):
    from django.core.management import call_command

    message = make_message()
    leases.lease_acquire(message_id=message.pk, user=alice)
    expire_leases(message=message)
    call_command("clear_expired_leases", "--dry-run")
    assert "1 expired lease would be cleared." in capsys.readouterr().out
    assert EditLease.objects.exists()
    call_command("clear_expired_leases")
    assert "Cleared 1 expired lease and 0 places in line nobody waits in any more." in capsys.readouterr().out
    assert not EditLease.objects.exists()


def _save_state_by_orm(message_id: int):
    """What protocol_sql.save_state reads, asked of the ORM: the query its written-out SQL replaces."""
    from django.db.models.functions import Now

    from messages_app.models import Message

    message = Message.objects.filter(pk=message_id).first()
    if message is None:
        return None
    lease = EditLease.objects.filter(message_id=message_id, expires_at__gt=Now()).first()
    return protocol_sql.SaveState(
        id=message.pk,
        version=message.version,
        deleted=message.deleted_at is not None,
        protected=message.protected,
        lease_holder_id=lease.holder_id if lease else None,
        lease_token=lease.token if lease else None,
        board_id=message.board_id,
        author_id=message.author_id,
        editors_restricted=message.editors_restricted,
        access_generation=permissions.access_generation(),
    )


def test_the_save_state_sql_says_what_the_orm_says_in_every_state(make_message, alice, bob, mia):
    free, held, lapsed, frozen, gone = (
        make_message(subject=name) for name in ("free", "held", "lapsed", "frozen", "gone")
    )
    leases.lease_acquire(message_id=held.pk, user=bob)
    leases.lease_acquire(message_id=lapsed.pk, user=bob)
    expire_leases(message_id=lapsed.pk)
    services.message_protect(message_id=frozen.pk, user=mia)
    editing.message_edit_save(
        message_id=frozen.pk, user=mia, base_version=1, lease_token=None, subject=None, body="Second."
    )
    services.message_delete(message_id=gone.pk, user=alice)
    for message_id in (free.pk, held.pk, lapsed.pk, frozen.pk, gone.pk, 999_999):
        assert protocol_sql.save_state(message_id=message_id) == _save_state_by_orm(message_id), message_id
    assert protocol_sql.save_state(message_id=held.pk).lease_holder_id == bob.pk
    assert protocol_sql.save_state(message_id=lapsed.pk).lease_holder_id is None
    assert protocol_sql.save_state(message_id=frozen.pk).version == 2


def test_a_lease_token_that_is_not_ascii_is_lease_lost_not_a_crash(make_message, alice):
    message = make_message()
    leases.lease_acquire(message_id=message.pk, user=alice)
    with pytest.raises(LeaseLost):
        editing.message_edit_save(
            message_id=message.pk, user=alice, base_version=1, lease_token="jeton-☕", subject=None, body="x"
        )
