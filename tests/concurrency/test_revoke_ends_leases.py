"""Permissions revoked while a lease is held end that lease, whenever the revoke lands.

The interleavings are forced on whichever database the suite runs on: the revoke lands while
the lease is merely held, between a save's checks and its publishing statement, and between a
grant's permission check and the grant itself.
"""

import pytest

from messages_app import boards, editing, leases, protocol_sql
from messages_app.errors import LeaseLost, MessageNotFound, NotAllowed
from messages_app.models import EditLease, LeaseEvent, Message

pytestmark = pytest.mark.django_db


def test_a_revoke_ends_the_lease_and_the_holder_keeps_a_draft_not_a_save(world):
    message = world.messages["private"]
    eve = world.people["editor"]
    grant = editing.message_lease_acquire(message_id=message.pk, user=eve)
    boards.board_grant(slug="private", audience="team", level="read")
    assert not EditLease.objects.filter(message_id=message.pk).exists()
    assert LeaseEvent.objects.filter(message_id=message.pk, user=eve, event="broken", by=None).exists()
    with pytest.raises(LeaseLost, match="may no longer edit"):
        editing.message_lease_renew(message_id=message.pk, user=eve, token=grant.token)
    with pytest.raises(NotAllowed):
        editing.message_edit_save(
            message_id=message.pk, user=eve, base_version=1, lease_token=grant.token, subject=None, body="Too late."
        )
    assert Message.objects.get(pk=message.pk).version == 1


def test_leaving_the_group_ends_the_lease_too(world):
    from django.contrib.auth.models import Group

    message = world.messages["private"]
    eve = world.people["editor"]
    editing.message_lease_acquire(message_id=message.pk, user=eve)
    eve.groups.remove(Group.objects.get(name="team"))
    assert not EditLease.objects.filter(message_id=message.pk).exists()


def test_a_revoke_between_the_saves_checks_and_its_publish_refuses_the_save(world, monkeypatch):
    message = world.messages["private"]
    eve = world.people["editor"]
    grant = editing.message_lease_acquire(message_id=message.pk, user=eve)
    publish = protocol_sql.save_publish
    revoked: list[bool] = []

    def revoke_then_publish(**kwargs):
        if not revoked:
            revoked.append(True)
            boards.board_revoke(slug="private", audience="team")
        return publish(**kwargs)

    monkeypatch.setattr(protocol_sql, "save_publish", revoke_then_publish)
    with pytest.raises(MessageNotFound):  # eve may not even read the board now
        editing.message_edit_save(
            message_id=message.pk, user=eve, base_version=1, lease_token=grant.token, subject=None, body="Mid-save."
        )
    assert Message.objects.get(pk=message.pk).version == 1
    assert not EditLease.objects.filter(message_id=message.pk).exists()


def test_a_revoke_between_the_grants_check_and_the_grant_gives_the_lease_back(world, monkeypatch):
    message = world.messages["private"]
    eve = world.people["editor"]
    acquire = leases.lease_acquire

    def revoke_then_grant(**kwargs):
        boards.board_grant(slug="private", audience="team", level="read")
        return acquire(**kwargs)

    monkeypatch.setattr(leases, "lease_acquire", revoke_then_grant)
    with pytest.raises(NotAllowed):
        editing.message_lease_acquire(message_id=message.pk, user=eve)
    assert not EditLease.objects.filter(message_id=message.pk).exists()
