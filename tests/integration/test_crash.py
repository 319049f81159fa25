"""The database step of a save fails after the body file was written.

The failure is a real one raised by the database itself: a trigger aborts the statement, as a
full disk, a lost connection or a constraint would. Readers must still get the old version,
and the file written for the failed save must not stay behind: the save deletes it, since the
rolled-back row never pointed at it. (A process killed at that moment cannot clean up; that
leaves an orphan for verify_storage, see test_save_killed.py.)
"""

import threading

import pytest
from django.db import DatabaseError, NotSupportedError, connection

from messages_app import editing, selectors, services
from messages_app.models import Message, Revision

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.both_storages]

CRASH = "simulated failure in the database step"
TRIGGERS = {
    # (table, event) pairs that fail: publishing the row, and recording the revision.
    "update-message": (Message._meta.db_table, "UPDATE"),
    "insert-revision": (Revision._meta.db_table, "INSERT"),
}


class FailingStatements:
    """Database triggers that make one kind of statement fail, and their removal."""

    def __init__(self) -> None:
        self.installed: list[tuple[str, str]] = []

    def install(self, step: str) -> None:
        table, event = TRIGGERS[step]
        name = f"crash_{table}_{event.lower()}"
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute(
                    f"CREATE TRIGGER {name} BEFORE {event} ON {table} BEGIN SELECT RAISE(ABORT, '{CRASH}'); END"
                )
            elif connection.vendor == "postgresql":
                cursor.execute(
                    f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                    f"$$ BEGIN RAISE EXCEPTION '{CRASH}'; END $$"
                )
                cursor.execute(
                    f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"
                )
            else:
                raise NotSupportedError(f"the board supports SQLite and PostgreSQL, not {connection.vendor}")
        self.installed.append((name, table))

    def remove_all(self) -> None:
        with connection.cursor() as cursor:
            for name, table in self.installed:
                if connection.vendor == "sqlite":
                    cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
                else:
                    cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
                    cursor.execute(f"DROP FUNCTION IF EXISTS {name}()")
        self.installed.clear()


@pytest.fixture
def failing_statements():
    triggers = FailingStatements()
    yield triggers
    # Triggers outlive the flush between transactional tests: drop them explicitly.
    triggers.remove_all()


@pytest.fixture
def written_bodies(monkeypatch, body_files):
    """Record every body file a save writes, checking it is on disk before the DB step."""
    written = []
    real_body_save = services.bodies.body_save

    def body_save(**kwargs):
        stored = real_body_save(**kwargs)
        assert stored.key in body_files()
        written.append(stored.key)
        return stored

    monkeypatch.setattr(services.bodies, "body_save", body_save)
    return written


def read_in_another_connection(message_id: int) -> tuple[int, str, list[int]]:
    """Read as another app server would: a fresh connection, and no shared cache."""
    result = {}

    def read() -> None:
        try:
            message = selectors.message_get(message_id=message_id)
            result["seen"] = (
                message.version,
                selectors.message_body(message),
                list(Revision.objects.filter(message_id=message_id).values_list("version", flat=True)),
            )
        finally:
            connection.close()

    reader = threading.Thread(target=read)
    reader.start()
    reader.join()
    return result["seen"]


@pytest.mark.parametrize("step", TRIGGERS)
def test_failed_db_step_of_a_save_leaves_readers_the_old_version_and_no_new_file(
    make_message, alice, client, body_files, failing_statements, written_bodies, step
):
    message = make_message(body="the old version\n")
    files_before = body_files()
    written_bodies.clear()
    failing_statements.install(step)
    with pytest.raises(DatabaseError, match=CRASH):
        editing.message_edit_save(
            message_id=message.pk,
            user=alice,
            base_version=1,
            lease_token=None,
            subject="never published",
            body="the version that never was",
        )
    assert len(written_bodies) == 1  # the file was written, then the database step failed

    current = selectors.message_get(message_id=message.pk)
    assert (current.version, current.subject, current.sha256) == (1, "Hello", message.sha256)
    assert selectors.message_body(current) == "the old version\n"
    assert list(Revision.objects.filter(message=message).values_list("version", flat=True)) == [1]
    assert read_in_another_connection(message.pk) == (1, "the old version\n", [1])
    page = client.get(f"/messages/{message.pk}/").content.decode()
    assert "the old version" in page
    assert "version 1" in page
    assert body_files() == files_before  # the failed save's file was deleted, not orphaned


def test_a_save_after_a_failed_one_publishes_normally(make_message, alice, failing_statements, body_files):
    message = make_message(body="v1")
    failing_statements.install("insert-revision")
    with pytest.raises(DatabaseError):
        editing.message_edit_save(
            message_id=message.pk, user=alice, base_version=1, lease_token=None, subject=None, body="lost"
        )
    failing_statements.remove_all()
    saved = editing.message_edit_save(
        message_id=message.pk, user=alice, base_version=1, lease_token=None, subject=None, body="v2"
    )
    assert saved.version == 2
    assert selectors.message_body(selectors.message_get(message_id=message.pk)) == "v2"
    assert len(body_files()) == 2


def test_failed_db_step_of_a_new_post_leaves_no_message_and_no_file(
    alice, failing_statements, written_bodies, body_files
):
    failing_statements.install("insert-revision")
    with pytest.raises(DatabaseError, match=CRASH):
        services.message_create(author=alice, subject="never", body="never posted")
    assert len(written_bodies) == 1
    assert not Message.objects.exists()
    assert body_files() == set()
