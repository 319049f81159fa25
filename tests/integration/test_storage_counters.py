"""Storage used: the counters the database keeps (migration 0016) against the tables and the files on disk.

After every write path, the counters must equal a count from the tables (storage_counted) and
the files really found by walking the local body storage (allowed here, never in the product).
"""

import json
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, connections, transaction
from django.db.models import F
from django.utils import timezone

from messages_app import dashboard, drafts, editing, services
from messages_app.errors import VersionConflict
from messages_app.models import Draft, Message, Pack, Revision, StorageCounter
from messages_app.storage_counters import StorageUsed, storage_counted, storage_recount, storage_used
from tests.support.migrations import migrated_back_to

pytestmark = pytest.mark.django_db

LONG = "".join(f"Line {n}: every version of every message is a file until it is packed.\n" for n in range(40))


def on_disk(media: Path) -> StorageUsed:
    """Every file under the local body storage: versions, packs and drafts alike."""
    files = [path for path in media.rglob("*") if path.is_file()] if media.exists() else []
    return StorageUsed(len(files), sum(path.stat().st_size for path in files))


@pytest.fixture
def agree(body_storage):
    """Assert the counters, the tables and the disk say the same; return that figure."""

    def check() -> StorageUsed:
        used = storage_used()
        assert used == storage_counted() == on_disk(body_storage.media)
        return used

    return check


def edit(message_id: int, user, body: str, subject: str | None = None, **extra):
    version = Message.objects.get(pk=message_id).version
    return editing.message_edit_save(
        message_id=message_id, user=user, base_version=version, lease_token=None, subject=subject, body=body, **extra
    )


def put_draft(message_id: int, user, body: str, seq: int) -> None:
    drafts.draft_put(message_id=message_id, user=user, subject=None, body=body, base_version=1, seq=seq)


def grown(before: StorageUsed, after: StorageUsed) -> StorageUsed:
    return StorageUsed(after.files - before.files, after.bytes - before.bytes)


# Each write path ---------------------------------------------------------------------------


def test_a_post_counts_its_first_version_file(make_message, agree):
    before = agree()
    make_message(body="Four")
    assert grown(before, agree()) == (1, 4)


def test_an_edit_save_counts_the_new_version_and_keeps_the_old_one(make_message, alice, agree):
    message = make_message(body="First")
    before = agree()
    edit(message.pk, alice, "Second, longer")
    assert grown(before, agree()) == (1, len("Second, longer"))


def test_a_revert_counts_the_copy_it_writes(make_message, alice, agree):
    message = make_message(body="Original text")
    edit(message.pk, alice, "Changed")
    before = agree()
    editing.message_revert(message_id=message.pk, user=alice, version=1, base_version=2, lease_token=None)
    assert grown(before, agree()) == (1, len("Original text"))


def test_a_subject_only_save_counts_its_new_version_file(make_message, alice, agree):
    message = make_message(body="Same body")
    before = agree()
    edit(message.pk, alice, "Same body", subject="Renamed")
    assert grown(before, agree()) == (1, len("Same body"))


def test_changing_a_revisions_subject_in_the_database_moves_nothing(make_message, alice, agree):
    message = make_message(body="Body")
    edit(message.pk, alice, "Body, edited")
    before = agree()
    assert Revision.objects.filter(message=message).update(subject="Renamed by hand") == 2
    assert agree() == before


def test_a_refused_save_moves_nothing(make_message, alice, agree):
    message = make_message(body="Body")
    before = agree()
    with pytest.raises(VersionConflict):
        editing.message_edit_save(
            message_id=message.pk, user=alice, base_version=0, lease_token=None, subject=None, body="stale"
        )
    assert agree() == before


def test_a_rolled_back_transaction_moves_nothing(make_message, alice, agree):
    message = make_message(body="Body")
    before = agree()
    with pytest.raises(RuntimeError), transaction.atomic():
        Revision.objects.filter(message=message).delete()
        Draft.objects.create(
            user=alice,
            message=message,
            subject="s",
            body_key="drafts/xx/never.txt",
            size=9,
            sha256="0" * 64,
            base_version=1,
            seq=1,
            updated_at=timezone.now(),
        )
        assert grown(before, storage_used()) == (0, 9 - len("Body"))
        raise RuntimeError("roll back")
    assert agree() == before


def test_a_repaired_size_moves_the_bytes_by_the_difference(make_message, body_storage):
    message = make_message(body="Twelve bytes")
    before = storage_used()
    # verify_storage --repair-checksums writes a revision's size as found on disk.
    Revision.objects.filter(message=message).update(size=F("size") + 30)
    assert grown(before, storage_used()) == (0, 30)
    assert storage_used() == storage_counted()


def test_a_soft_delete_moves_nothing_and_purge_deleted_uncounts_every_file(make_message, alice, agree, run_command):
    doomed = make_message(body="Going")
    edit(doomed.pk, alice, "Going, going")
    make_message(body="Staying")
    before = agree()
    services.message_delete(message_id=doomed.pk, user=alice)
    assert agree() == before
    Message.objects.filter(pk=doomed.pk).update(deleted_at=timezone.now() - timedelta(days=40))
    assert run_command("purge_deleted", "--older-than", "30d").code == 0
    assert grown(before, agree()) == (-2, -len("Going") - len("Going, going"))


def test_pack_revisions_counts_its_pack_and_uncounts_the_files_it_replaced(make_message, alice, agree, run_command):
    message = make_message(body=LONG)
    for n in range(4):
        edit(message.pk, alice, LONG.replace(f"Line {n}:", f"Line {n} (edited):"))
    before = agree()
    assert run_command("pack_revisions", "--older-than", "0s").code == 0
    (pack,) = Pack.objects.all()
    old = Revision.objects.filter(message=message, pack__isnull=False)
    assert old.count() == 4
    loose_bytes = sum(old.values_list("size", flat=True))
    assert grown(before, agree()) == (1 - 4, pack.size - loose_bytes)


def test_a_pack_retired_after_a_purge_is_uncounted(make_message, alice, agree, run_command):
    message = make_message(body=LONG)
    edit(message.pk, alice, LONG + "More.\n")
    make_message(body="Another")
    assert run_command("pack_revisions", "--older-than", "0s").code == 0
    assert Pack.objects.count() == 1
    services.message_delete(message_id=message.pk, user=alice)
    Message.objects.filter(pk=message.pk).update(deleted_at=timezone.now() - timedelta(days=40))
    assert run_command("purge_deleted", "--older-than", "30d").code == 0
    # The purged message's old version stays in the pack until the next run retires it.
    assert agree() == (2, Pack.objects.get().size + len("Another"))
    assert run_command("pack_revisions", "--older-than", "0s").code == 0
    assert not Pack.objects.exists()
    assert agree() == (1, len("Another"))


def test_a_draft_put_counts_its_file_and_a_replacement_only_the_new_bytes(make_message, alice, agree):
    message = make_message(body="Body")
    before = agree()
    put_draft(message.pk, alice, "A draft", seq=1)
    assert grown(before, agree()) == (1, len("A draft"))
    put_draft(message.pk, alice, "A longer draft", seq=2)
    assert grown(before, agree()) == (1, len("A longer draft"))


def test_a_discarded_draft_is_uncounted_and_one_written_again_counted_again(make_message, alice, agree):
    message = make_message(body="Body")
    before = agree()
    put_draft(message.pk, alice, "A draft", seq=1)
    assert drafts.draft_discard(message_id=message.pk, user=alice, seq=2)
    # The row stays (it keeps its number) and still names the key: only the file went.
    assert Draft.objects.get(message=message).body_key
    assert agree() == before
    put_draft(message.pk, alice, "Back again", seq=3)
    assert grown(before, agree()) == (1, len("Back again"))


def test_a_save_consuming_a_draft_swaps_the_draft_file_for_the_version_file(make_message, alice, agree):
    message = make_message(body="Body")
    put_draft(message.pk, alice, "Typed but not saved", seq=1)
    before = agree()
    edit(message.pk, alice, "Saved", draft_seq=5)
    assert Draft.objects.get(message=message).consumed_at is not None
    assert grown(before, agree()) == (0, len("Saved") - len("Typed but not saved"))


def test_a_textless_draft_row_a_save_leaves_is_not_a_file(make_message, alice, agree):
    message = make_message(body="Body")
    before = agree()
    # Saved from a page whose first heartbeat has not arrived: a row that only keeps the number.
    edit(message.pk, alice, "Saved", draft_seq=7)
    assert Draft.objects.get(message=message).body_key == ""
    assert grown(before, agree()) == (1, len("Saved"))


def test_purge_drafts_uncounts_the_files_of_the_drafts_it_removes(make_message, alice, bob, agree, run_command):
    message = make_message(body="Body")
    put_draft(message.pk, alice, "Abandoned", seq=1)
    put_draft(message.pk, bob, "Discarded", seq=1)
    drafts.draft_discard(message_id=message.pk, user=bob, seq=2)
    before = agree()
    Draft.objects.update(updated_at=timezone.now() - timedelta(days=40))
    assert run_command("purge_drafts", "--older-than", "30d").code == 0
    assert not Draft.objects.exists()
    assert grown(before, agree()) == (-1, -len("Abandoned"))


def test_seed_messages_counts_every_version_it_writes(agree, run_command):
    assert run_command("seed_messages", "--count", "6", "--revisions", "3", "--users", "2").code == 0
    assert agree().files == 18


def test_import_messages_counts_every_version_it_writes(
    make_message, alice, body_storage, agree, run_command, tmp_path
):
    first = make_message(subject="Imported", body="One")
    edit(first.pk, alice, "One, then two")
    make_message(subject="Also imported", body=LONG)
    exported = tmp_path / "board.jsonl"
    assert run_command("export_messages", str(exported)).code == 0
    before = agree()
    Revision.objects.all().delete()
    Message.objects.all().delete()
    for key in body_storage.stored_keys():
        body_storage.remove(key)
    assert agree() == (0, 0)
    assert run_command("import_messages", str(exported)).code == 0
    assert agree() == before == (3, len("One") + len("One, then two") + len(LONG))


# Recount -----------------------------------------------------------------------------------


def test_recount_corrects_counters_damaged_by_hand_and_says_by_how_much(make_message, agree, run_command):
    make_message(body="Twelve bytes")
    make_message(body="Five!")
    right = agree()
    StorageCounter.objects.filter(shard=0).update(files=F("files") + 7, bytes=F("bytes") - 100)
    StorageCounter.objects.filter(shard__gt=3).delete()
    StorageCounter.objects.create(shard=99, files=-3, bytes=1)
    damaged = storage_used()
    assert damaged != right

    result = run_command("board_stats", "--recount")
    assert result.code == 0, result
    drift = StorageUsed(right.files - damaged.files, right.bytes - damaged.bytes)
    assert f"Storage used, counted from the tables: {right.files} files, {right.bytes} bytes" in result.out
    assert f"corrected by {drift.files:+,} files, {drift.bytes:+,} bytes" in result.out
    assert agree() == right
    assert list(StorageCounter.objects.order_by("shard").values_list("shard", flat=True)) == list(range(16))

    again = json.loads(run_command("board_stats", "--recount", "--json").out)
    assert again["drift"] == {"files": 0, "bytes": 0}
    assert again["after"] == again["before"] == {"files": right.files, "bytes": right.bytes}
    assert "The counters were right." in run_command("board_stats", "--recount").out


def test_counting_goes_on_after_a_recount(make_message, alice, agree):
    message = make_message(body="Body")
    storage_recount()
    edit(message.pk, alice, "Body, edited")
    put_draft(message.pk, alice, "Draft", seq=1)
    assert agree() == (3, len("Body") + len("Body, edited") + len("Draft"))


# What shows it -----------------------------------------------------------------------------


def test_the_dashboard_and_board_stats_show_the_storage_used(make_message, alice, mod_client, run_command, agree):
    message = make_message(body="x" * 3000)
    edit(message.pk, alice, "y" * 2000)
    used = agree()
    assert used == (2, 5000)
    assert dashboard.board_stats().storage == used

    html = mod_client.get("/admin/dashboard/").content.decode()
    assert "Storage used" in html and "2 files, 4.9 KiB (5,000 bytes)" in html

    assert "Storage used: 2 files, 4.9 KiB (5,000 bytes)" in run_command("board_stats").out
    assert json.loads(run_command("board_stats", "--json").out)["storage"] == {"files": 2, "bytes": 5000}


# The machinery ---------------------------------------------------------------------------


def test_every_table_with_files_has_its_counting_triggers():
    """A later migration that rebuilds one of these tables on SQLite (Django copies it to a new
    table) drops its triggers: this says so before the counters silently stop."""
    tables = {model._meta.db_table for model in (Revision, Pack, Draft)}
    if connection.vendor == "postgresql":
        sql = "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname LIKE %s"
    else:
        sql = "SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger' AND name LIKE %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, ["messages_app_storage_%"])
        found = cursor.fetchall()
    # PostgreSQL also counts again after a TRUNCATE, which fires no delete trigger.
    expected = {"insert", "update", "delete"} | ({"truncate"} if connection.vendor == "postgresql" else set())
    for table in tables:
        events = {name.rsplit("_", 1)[1] for on, name in found if on == table}
        assert events == expected, table


@pytest.mark.django_db(transaction=True)
def test_emptying_a_table_at_once_keeps_the_counters_right(make_message, alice):
    message = make_message(body="Body")
    put_draft(message.pk, alice, "A draft", seq=1)
    postgresql = connection.vendor == "postgresql"
    # PostgreSQL's TRUNCATE fires no delete trigger: its own trigger counts again. SQLite has no
    # TRUNCATE; its DELETE without WHERE fires the delete triggers (no truncate shortcut with triggers).
    emptying = "TRUNCATE {}" if postgresql else "DELETE FROM {}"
    with connection.cursor() as cursor:
        cursor.execute(emptying.format(Draft._meta.db_table))
    assert storage_used() == storage_counted() == (1, len("Body"))
    if postgresql:
        # The counters' own table emptied (Django's flush between tests does it) counts again too.
        with connection.cursor() as cursor:
            cursor.execute(emptying.format(StorageCounter._meta.db_table))
        assert storage_used() == storage_counted() == (1, len("Body"))
        assert StorageCounter.objects.count() == StorageCounter.SHARDS


@pytest.mark.django_db(transaction=True)
def test_the_migration_counts_what_the_board_held_before_it(make_message, alice, agree, run_command):
    message = make_message(body=LONG)
    edit(message.pk, alice, LONG + "Two.\n")
    edit(message.pk, alice, LONG + "Three.\n")
    assert run_command("pack_revisions", "--older-than", "0s").code == 0
    put_draft(message.pk, alice, "A draft", seq=1)
    before, after = ("messages_app", "0015_revision_edited"), ("messages_app", "0016_storage_counters")
    with migrated_back_to(before) as executor:
        executor.migrate([after])
    assert agree() == (3, Pack.objects.get().size + len(LONG) + len("Three.\n") + len("A draft"))


# Beside concurrent writers -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_recounts_beside_concurrent_saves_find_no_drift_and_leave_the_counters_exact(make_message, alice, agree):
    messages = [make_message(subject=f"Busy {n}", body="Start\n").pk for n in range(3)]
    errors: list[BaseException] = []

    def editor(message_id: int) -> None:
        try:
            for n in range(12):
                edit(message_id, alice, f"Version {n}\n" * (n + 1))
                put_draft(message_id, alice, f"Draft {n}\n", seq=n + 1)
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=editor, args=(message_id,)) for message_id in messages]
    for thread in threads:
        thread.start()
    recounts = []
    while any(thread.is_alive() for thread in threads):
        recounts.append(storage_recount())
        time.sleep(0.01)
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(recounts) >= 2
    # Locked while it counts: no save's change can fall between what it read and what it wrote.
    assert [recount.drift for recount in recounts] == [(0, 0)] * len(recounts)
    assert agree() == (3 * 13 + 3, storage_counted().bytes)


@pytest.mark.django_db(transaction=True)
def test_a_save_beside_an_open_transaction_that_changed_files_of_many_messages_is_counted_once(
    make_message, alice, agree
):
    """The packer, a purge, a seed batch each touch many messages in one transaction. On PostgreSQL
    each holds one counter row until its commit, so a save beside it takes another and goes on;
    SQLite runs one writer at a time, so there the save waits for that transaction to end."""
    many = [make_message(subject=f"Touched {n}", body="Body").pk for n in range(StorageCounter.SHARDS + 1)]
    saved = make_message(subject="Saved beside", body="Body").pk
    before = agree()
    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    held_for = 1.0

    def long_transaction() -> None:
        try:
            with transaction.atomic():
                Revision.objects.filter(message_id__in=many).update(size=F("size") + 1)
                holding.set()
                release.wait(held_for)
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        except BaseException as error:
            errors.append(error)
        finally:
            holding.set()
            connections.close_all()

    thread = threading.Thread(target=long_transaction)
    thread.start()
    try:
        assert holding.wait(30)
        started = time.monotonic()
        edit(saved, alice, "Saved while the other transaction is open")
        waited = time.monotonic() - started
    finally:
        release.set()
        thread.join()
    assert not errors, errors
    if connection.vendor == "postgresql":
        assert waited < held_for / 2
    else:
        assert waited >= held_for / 2
    assert grown(before, agree()) == (1, len("Saved while the other transaction is open"))
