"""purge_deleted against a restore on another connection, at every point of the purge.

The purge lists the messages deleted before the cut-off, then removes their rows and files. A
restore may land anywhere in between. Whatever the order, there are two acceptable outcomes:
the restore won (the row, every revision and every file stay, and the page answers 200), or
the purge won (no row, no revision, no file, and the restore did not report success). Never a
row without its files, whose page answers 500, and never a restore that reported success
followed by the message vanishing.

How the interleaving is forced: the purge runs with a wrapper on its connection (Django's
``connection.execute_wrapper``) that, after the purge's k-th statement, starts the restore on
another connection and waits until the restore has committed or is blocked on a lock the purge
holds (PostgreSQL's ``pg_blocking_pids`` says so; SQLite cannot tell, so the wait there is a
fixed half second). Then the purge goes on. k runs from 1 until the purge finishes in fewer
statements, so every statement boundary is tried. The second test holds a restore's
transaction open while the purge runs, so the purge meets the restore's row lock.

Why this fails on the old purge (PostgreSQL): it read the revisions' keys, then deleted rows
with later statements, each on a fresh snapshot, and deleted the files by the keys read first.
A restore committed after the keys were read kept its row and lost its files. And a purge that
met a restore under way deleted the row by id once the restore committed: the restore had
answered success. SQLite's single writer kept the old purge right there; the test runs on both.
"""

import hashlib
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from messages_app import bodies, editing, services
from messages_app.errors import MessageGone, MessageNotFound
from messages_app.models import Message, Revision
from messages_app.operations import message_purge_deleted

pytestmark = pytest.mark.django_db(transaction=True)

AGE = timedelta(days=30)
BODIES = ("first version\n", "second version\n")
# SQLite cannot say whether a connection waits for a lock; a restore not done by then is.
SQLITE_WAIT_SECONDS = 0.5
GIVE_UP_SECONDS = 20


def deleted_long_ago(author) -> Message:
    """Post a message in two versions, delete it, and date the deletion before the purge's cut-off."""
    message = services.message_create(author=author, subject="to be purged, or not", body=BODIES[0])
    editing.message_edit_save(
        message_id=message.pk, user=author, base_version=1, lease_token=None, subject=None, body=BODIES[1]
    )
    services.message_delete(message_id=message.pk, user=author)
    Message.objects.filter(pk=message.pk).update(deleted_at=timezone.now() - AGE - timedelta(days=10))
    return Message.objects.select_related("author").get(pk=message.pk)


def backend_pid() -> int | None:
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def is_blocked(pid: int | None) -> bool:
    """Whether the PostgreSQL backend pid waits for a lock another transaction holds."""
    if pid is None:
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT cardinality(pg_blocking_pids(%s))", [pid])
        return cursor.fetchone()[0] > 0


def wait_until_done_or_blocked(thread: threading.Thread, pid: int | None) -> None:
    deadline = time.monotonic() + (GIVE_UP_SECONDS if connection.vendor == "postgresql" else SQLITE_WAIT_SECONDS)
    while thread.is_alive() and not is_blocked(pid):
        if time.monotonic() > deadline:
            assert connection.vendor != "postgresql", "the other connection neither finished nor waited for a lock"
            return
        thread.join(0.005)


class Restorer:
    """The message's restore by its author, on a connection of its own (a thread of its own)."""

    def __init__(self, message: Message, *, hold: threading.Event | None = None) -> None:
        self.message = message
        self.hold = hold
        self.outcome: object = None
        self.pid: int | None = None
        self.started = threading.Event()
        self.restored = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def start(self) -> "Restorer":
        self.thread.start()
        assert self.started.wait(GIVE_UP_SECONDS)
        return self

    def _run(self) -> None:
        try:
            self.pid = backend_pid()
            self.started.set()
            if self.hold is None:
                self.outcome = self._restore()
            else:
                # The restore's transaction stays open until the test lets it commit.
                with transaction.atomic():
                    self.outcome = self._restore()
                    self.restored.set()
                    assert self.hold.wait(GIVE_UP_SECONDS)
        except BaseException as error:
            self.outcome = error
        finally:
            self.started.set()
            self.restored.set()
            connections.close_all()

    def _restore(self) -> object:
        try:
            return services.message_restore(message_id=self.message.pk, user=self.message.author)
        except (MessageNotFound, MessageGone) as refused:
            return type(refused).__name__

    def join(self) -> object:
        self.thread.join(GIVE_UP_SECONDS)
        assert not self.thread.is_alive(), "the restore never finished"
        assert not isinstance(self.outcome, BaseException), self.outcome
        return self.outcome


class RestoreAfterStatement:
    """An execute wrapper: after the purge's k-th statement, restore the message on another connection."""

    def __init__(self, message: Message, k: int) -> None:
        self.message, self.k = message, k
        self.statements = 0
        self.restorer: Restorer | None = None
        self.polling = False

    def __call__(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if self.polling:
            return result
        self.statements += 1
        if self.statements == self.k:
            self.restorer = Restorer(self.message).start()
            self.polling = True
            try:
                wait_until_done_or_blocked(self.restorer.thread, self.restorer.pid)
            finally:
                self.polling = False
        return result


def assert_whole_or_gone(message: Message, keys: set[str], restored: object) -> str:
    """Check the message was either kept whole (restored) or purged whole; return which."""
    row = Message.objects.filter(pk=message.pk).first()
    stored = {listed.key for listed in bodies.body_listing()}
    if row is None:
        assert restored is not True, "the restore answered success, then the message was purged"
        assert not Revision.objects.filter(message_id=message.pk).exists()
        assert not keys & stored, "the purged message's files were left behind"
        return "purged"
    assert restored is True and row.deleted_at is None
    revisions = list(Revision.objects.filter(message=row).order_by("version").values_list("body_key", "sha256"))
    assert len(revisions) == len(BODIES)
    assert {key for key, _ in revisions} == keys
    assert keys <= stored, "a kept message lost files"
    for (key, sha256), text in zip(revisions, BODIES, strict=True):
        assert hashlib.sha256(bodies.body_read_bytes(key)).hexdigest() == sha256
        assert bodies.body_read_bytes(key) == text.encode()
    page = Client().get(reverse("messages_app:message-detail", args=[row.pk]))
    assert page.status_code == 200
    assert BODIES[-1].strip() in page.content.decode()
    return "kept"


def test_a_restore_at_any_point_of_the_purge_keeps_the_message_whole_or_loses_it_whole(alice):
    outcomes = []
    k = 0
    while True:
        k += 1
        assert k < 100, "the purge never finished"
        message = deleted_long_ago(alice)
        keys = set(Revision.objects.filter(message=message).values_list("body_key", flat=True))
        hook = RestoreAfterStatement(message, k)
        with connection.execute_wrapper(hook):
            message_purge_deleted(older_than=AGE)
        if hook.restorer is None:
            # The purge finished in fewer than k statements: every boundary was tried. This
            # message was purged without a restore.
            assert not Message.objects.filter(pk=message.pk).exists()
            break
        outcomes.append(assert_whole_or_gone(message, keys, hook.restorer.join()))
    # The purge's first statement lists the candidates, outside any transaction: a restore
    # committed right after it must win. Each outcome turned up somewhere along the purge.
    assert outcomes[0] == "kept"
    assert "purged" in outcomes


def test_a_purge_that_meets_a_restore_under_way_waits_for_it_and_keeps_the_message(alice):
    message = deleted_long_ago(alice)
    keys = set(Revision.objects.filter(message=message).values_list("body_key", flat=True))
    commit = threading.Event()
    restorer = Restorer(message, hold=commit).start()
    assert restorer.restored.wait(GIVE_UP_SECONDS)

    purge_pid: list[int | None] = []
    failures: list[BaseException] = []
    purge_ready = threading.Event()

    def purge() -> None:
        try:
            purge_pid.append(backend_pid())
            purge_ready.set()
            message_purge_deleted(older_than=AGE)
        except BaseException as error:
            failures.append(error)
        finally:
            purge_ready.set()
            connections.close_all()

    purger = threading.Thread(target=purge)
    purger.start()
    assert purge_ready.wait(GIVE_UP_SECONDS)
    wait_until_done_or_blocked(purger, purge_pid[0] if purge_pid else None)
    commit.set()
    purger.join(GIVE_UP_SECONDS)
    assert not purger.is_alive() and not failures, failures
    assert assert_whole_or_gone(message, keys, restorer.join()) == "kept"
