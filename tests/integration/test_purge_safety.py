"""purge_deleted deletes files only once the rows' deletion has committed.

A crash between the two leaves orphan files, which verify_storage finds and removes; it never
leaves a row whose file is gone (that message's page would answer 500).
"""

import threading
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone

from messages_app import bodies, editing, services
from messages_app.models import Message, Revision
from messages_app.operations import message_purge_deleted, storage_delete_orphans, storage_verify

AGE = timedelta(days=30)


@pytest.fixture
def purgeable(make_message, alice):
    """Two messages (one in two versions) deleted long before the purge's cut-off; return them."""
    first = make_message(subject="first", body="one")
    editing.message_edit_save(
        message_id=first.pk, user=alice, base_version=1, lease_token=None, subject=None, body="one, edited"
    )
    second = make_message(subject="second", body="two")
    for message in (first, second):
        services.message_delete(message_id=message.pk, user=alice)
    Message.objects.update(deleted_at=timezone.now() - AGE - timedelta(days=1))
    return [first, second]


def keys_of(messages) -> set[str]:
    return set(Revision.objects.filter(message__in=messages).values_list("body_key", flat=True))


@pytest.mark.django_db
def test_a_purge_inside_a_transaction_is_refused_before_it_deletes_anything(purgeable, body_files):
    files = body_files()
    # Its files would go before the outer transaction commits, and a rollback would then
    # leave rows without files.
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        message_purge_deleted(older_than=AGE)
    assert Message.objects.count() == 2
    assert body_files() == files


@pytest.mark.django_db
def test_a_purge_interrupted_before_the_files_leaves_orphans_that_verify_storage_removes(
    purgeable, body_files, monkeypatch
):
    keys = keys_of(purgeable)

    def crash(key: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(bodies, "body_delete", crash)
    with pytest.raises(KeyboardInterrupt):
        message_purge_deleted(older_than=AGE)
    monkeypatch.undo()
    assert not Message.objects.exists() and not Revision.objects.exists()
    assert body_files() == keys
    report = storage_verify(orphan_grace_seconds=0)
    assert report.count("missing") == 0 and report.count("current") == 0
    assert {finding.key for finding in report.findings if finding.kind == "orphan"} == keys
    assert storage_delete_orphans(report) == len(keys)
    assert body_files() == set()


@pytest.mark.django_db(transaction=True)
def test_each_file_goes_only_after_another_connection_sees_its_row_gone(purgeable, body_files, monkeypatch):
    keys = keys_of(purgeable)
    owner = dict(Revision.objects.values_list("body_key", "message_id"))
    delete = bodies.body_delete
    seen: dict[str, bool] = {}

    def look_then_delete(key: str) -> None:
        def look() -> None:
            try:
                seen[key] = Message.objects.filter(pk=owner[key]).exists()
            finally:
                connections.close_all()

        other = threading.Thread(target=look)
        other.start()
        other.join()
        delete(key)

    monkeypatch.setattr(bodies, "body_delete", look_then_delete)
    report = message_purge_deleted(older_than=AGE)
    assert (report.messages, report.revisions, report.files) == (2, 3, 3)
    assert seen == dict.fromkeys(keys, False)
    assert body_files() == set()
