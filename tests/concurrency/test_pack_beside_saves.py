"""pack_revisions beside a live board: saves, reverts and readers of old versions on other connections.

Editors save and revert in threads while packing runs round after round, and readers read old
versions through rows they hold across the moves. No save is refused or slowed into an error
by the packer, no reader gets an error or other text, and at the end every version of every
message reads back as it was saved, with storage and database agreeing.
"""

import threading
from datetime import timedelta

import pytest
from django.db import connections

from messages_app import bodies, editing, history_selectors, services
from messages_app.models import Message, Revision
from messages_app.operations.packing import revisions_pack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.both_storages]

MESSAGES = 3
SAVES_PER_EDITOR = 12


def text_of(message_id: int, version: int) -> str:
    return f"message {message_id}, version {version}\n" + "a line every version shares\n" * 20


def test_saves_reverts_and_readers_beside_packing_lose_nothing(alice, run_command):
    ids = [services.message_create(author=alice, subject="live", body=text_of(0, 1)).pk for _ in range(MESSAGES)]
    expected: dict[tuple[int, int], str] = {(message_id, 1): text_of(0, 1) for message_id in ids}
    errors: list[BaseException] = []
    lock = threading.Lock()
    editing_done = threading.Event()

    def editor(message_id: int) -> None:
        try:
            for round_number in range(SAVES_PER_EDITOR):
                version = Message.objects.get(pk=message_id).version
                if round_number % 4 == 3:
                    saved = editing.message_revert(
                        message_id=message_id, user=alice, version=1, base_version=version, lease_token=None
                    )
                    text = expected[message_id, 1]
                else:
                    text = text_of(message_id, version + 1)
                    saved = editing.message_edit_save(
                        message_id=message_id,
                        user=alice,
                        base_version=version,
                        lease_token=None,
                        subject=None,
                        body=text,
                    )
                with lock:
                    expected[message_id, saved.version] = text
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    def packer() -> None:
        try:
            while not editing_done.is_set():
                revisions_pack(older_than=timedelta(0), jobs=2, repack_below=0.99)
            revisions_pack(older_than=timedelta(0), jobs=2)
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    def reader() -> None:
        try:
            while not editing_done.is_set():
                for message_id in ids:
                    held = history_selectors.revision_get(message_id=message_id, version=1)
                    bodies.body_uncache(held.body_key)
                    assert history_selectors.revision_body(held) == expected[message_id, 1]
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    editors = [threading.Thread(target=editor, args=(message_id,)) for message_id in ids]
    others = [threading.Thread(target=packer), threading.Thread(target=reader)]
    for thread in editors + others:
        thread.start()
    for thread in editors:
        thread.join(timeout=120)
    editing_done.set()
    for thread in others:
        thread.join(timeout=120)

    assert not errors, errors
    assert len(expected) == MESSAGES * (SAVES_PER_EDITOR + 1)
    assert Revision.objects.filter(pack__isnull=False).count() == MESSAGES * SAVES_PER_EDITOR
    for (message_id, version), text in expected.items():
        revision = history_selectors.revision_get(message_id=message_id, version=version)
        bodies.body_uncache(revision.body_key)
        assert history_selectors.revision_body(revision) == text, (message_id, version)
    result = run_command("verify_storage", "--orphan-grace", "0")
    assert result.code == 0, result.out
