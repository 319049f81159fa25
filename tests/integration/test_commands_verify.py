"""verify_storage: the database and body storage compared, on local disk and on S3."""

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from messages_app import bodies, operations
from messages_app.models import Message, Revision

pytestmark = [pytest.mark.django_db, pytest.mark.both_storages]

ROOT = Path(__file__).resolve().parents[2]
GRACE_0 = ("--orphan-grace", "0")


def revision_key(message: Message, version: int) -> str:
    return Revision.objects.get(message=message, version=version).body_key


def orphan(message_id: int = 999) -> str:
    """Write a file no revision points to, as a save killed before its commit leaves."""
    return bodies.body_save(message_id=message_id, version=1, data=b"never published").key


def test_a_clean_board_verifies_and_exits_0(board, run_command):
    result = run_command("verify_storage", *GRACE_0)
    assert result.code == 0, result
    assert "Checked 6 revisions and 6 files: 0 missing, 0 orphans, 0 checksum mismatches" in result.out
    assert "Storage and database agree." in result.out


def test_an_empty_board_verifies(db, run_command):
    result = run_command("verify_storage")
    assert result.code == 0
    assert "Checked 0 revisions and 0 files" in result.out


def test_a_missing_file_is_reported_and_exits_1(board, body_storage, run_command):
    lost = revision_key(board[0], 2)
    body_storage.remove(lost)
    result = run_command("verify_storage", *GRACE_0)
    assert result.code == 1
    assert f"missing   {lost}: no file for this revision" in result.out
    assert "1 missing, 0 orphans, 0 checksum mismatches, 0 messages off their revision" in result.out
    assert "Storage and database disagree" in result.err


def test_a_missing_current_file_is_reported_too(board, body_storage, run_command):
    body_storage.remove(board[1].body_key)
    result = run_command("verify_storage", "--quick", *GRACE_0)
    assert result.code == 1
    assert f"missing   {board[1].body_key}:" in result.out


def test_an_orphan_is_reported_once_older_than_the_grace_period(board, run_command):
    key = orphan()
    result = run_command("verify_storage", *GRACE_0)
    assert result.code == 1
    assert f"orphan    {key}: no revision points to this file" in result.out
    assert "0 missing, 1 orphans" in result.out


def test_a_file_younger_than_the_grace_period_may_be_a_save_in_flight_and_is_no_orphan(board, run_command):
    key = orphan()
    result = run_command("verify_storage", "--orphan-grace", "3600")
    assert result.code == 0, result
    assert key not in result.out
    assert "0 orphans" in result.out
    assert "(1 files younger than the grace period skipped)" in result.out


def test_default_grace_is_an_hour(board, run_command):
    orphan()
    result = run_command("verify_storage")
    assert result.code == 0
    assert operations.ORPHAN_GRACE_SECONDS == 3600
    assert "1 files younger than the grace period skipped" in result.out


@pytest.mark.local_storage_only
def test_an_old_orphan_is_reported_with_the_default_grace_and_a_young_one_is_not(board, body_storage, run_command):
    # Only a local file's age can be set; an S3 object's LastModified is the server's.
    old, young = orphan(998), orphan(999)
    two_hours_ago = time.time() - 7200
    os.utime(body_storage.path(old), (two_hours_ago, two_hours_ago))
    result = run_command("verify_storage")
    assert result.code == 1
    assert f"orphan    {old}:" in result.out
    assert young not in result.out
    assert "1 orphans" in result.out
    assert "(1 files younger than the grace period skipped)" in result.out


def test_a_size_mismatch_is_reported(board, body_storage, run_command):
    key = revision_key(board[0], 1)
    body_storage.overwrite(key, b"one plus more")
    result = run_command("verify_storage", *GRACE_0)
    assert result.code == 1
    assert f"size      {key}: file has 13 bytes, the revision says 3" in result.out
    assert "0 missing, 0 orphans, 1 checksum mismatches" in result.out


def test_a_sha256_mismatch_of_the_same_size_is_reported(board, body_storage, run_command):
    key = board[2].body_key
    body_storage.overwrite(key, b"THREE, BY BOB")
    actual = hashlib.sha256(b"THREE, BY BOB").hexdigest()
    result = run_command("verify_storage", *GRACE_0)
    assert result.code == 1
    assert f"checksum  {key}: sha256 {actual} differs from the recorded {board[2].sha256}" in result.out
    assert "1 checksum mismatches" in result.out


def test_quick_compares_sizes_only(board, body_storage, run_command):
    same_size, other_size = board[2].body_key, revision_key(board[0], 1)
    body_storage.overwrite(same_size, b"THREE, BY BOB")
    body_storage.overwrite(other_size, b"longer than before")
    result = run_command("verify_storage", "--quick", *GRACE_0)
    assert result.code == 1
    assert f"size      {other_size}:" in result.out
    assert same_size not in result.out


def test_a_message_pointing_off_its_current_revision_is_reported(board, run_command):
    first = board[0]
    Message.objects.filter(pk=first.pk).update(body_key=revision_key(first, 1))
    result = run_command("verify_storage", *GRACE_0)
    assert result.code == 1
    assert f"message {first.pk} points at no revision 3 with this file" in result.out
    assert "1 messages off their revision" in result.out


def test_every_kind_of_damage_is_reported_in_one_run(board, body_storage, run_command):
    body_storage.remove(revision_key(board[0], 1))
    key = orphan()
    body_storage.overwrite(board[1].body_key, b"TWO")
    Message.objects.filter(pk=board[2].pk).update(version=1)
    result = run_command("verify_storage", *GRACE_0)
    assert result.code == 1
    assert "Checked 6 revisions and 6 files: 1 missing, 1 orphans, 1 checksum mismatches" in result.out
    assert "1 messages off their revision" in result.out
    assert key in result.out


def test_delete_orphans_removes_exactly_the_orphans(board, body_storage, run_command):
    before = body_storage.stored_keys()
    orphans = {orphan(997), orphan(998), orphan(999)}
    result = run_command("verify_storage", "--delete-orphans", *GRACE_0)
    assert result.code == 0, result
    assert "Deleted 3 orphan files." in result.out
    assert body_storage.stored_keys() == before
    assert body_storage.stored_keys().isdisjoint(orphans)
    assert run_command("verify_storage", *GRACE_0).code == 0


def test_delete_orphans_leaves_young_files_alone(board, body_storage, run_command):
    key = orphan()
    result = run_command("verify_storage", "--delete-orphans")
    assert result.code == 0
    assert key in body_storage.stored_keys()


def test_delete_orphans_still_exits_1_for_damage_it_cannot_mend(board, body_storage, run_command):
    lost = board[1].body_key
    body_storage.remove(lost)
    key = orphan()
    result = run_command("verify_storage", "--delete-orphans", *GRACE_0)
    assert result.code == 1
    assert key not in body_storage.stored_keys()
    assert "1 missing" in result.out


def test_repair_checksums_records_the_files_actual_sha256_and_size(board, body_storage, run_command):
    current, old = board[2].body_key, revision_key(board[0], 1)
    body_storage.overwrite(current, b"THREE, BY BOB")
    body_storage.overwrite(old, b"one, but longer")
    result = run_command("verify_storage", "--repair-checksums", *GRACE_0)
    assert result.code == 0, result
    assert "Recorded actual checksums for 2 revisions." in result.out
    for key, data in ((current, b"THREE, BY BOB"), (old, b"one, but longer")):
        revision = Revision.objects.get(body_key=key)
        assert (revision.size, revision.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    message = Message.objects.get(pk=board[2].pk)
    assert (message.size, message.sha256) == (13, hashlib.sha256(b"THREE, BY BOB").hexdigest())
    untouched = Message.objects.get(pk=board[0].pk)
    assert (untouched.size, untouched.sha256) == (board[0].size, board[0].sha256)
    assert run_command("verify_storage", *GRACE_0).code == 0


def test_after_repair_readers_get_the_files_text_not_one_cached_before(board, body_storage, run_command):
    key = board[2].body_key
    assert bodies.body_read(key) == "three, by bob"  # cached since the save
    body_storage.overwrite(key, b"THREE, BY BOB")
    assert run_command("verify_storage", "--repair-checksums", *GRACE_0).code == 0
    assert bodies.body_read(key) == "THREE, BY BOB"


def test_after_repair_search_finds_the_files_text(board, body_storage, run_command):
    from messages_app import search

    key = board[2].body_key
    body_storage.overwrite(key, b"three, by bob, and a sandpiper")
    assert run_command("verify_storage", "--repair-checksums", *GRACE_0).code == 0

    hits = search.messages_search(viewer=board[2].author, query=search.query_parse("sandpiper")).items
    assert [hit.id for hit in hits] == [board[2].pk]
    assert run_command("reindex_search", "--verify").code == 0


def test_dry_run_reports_what_it_would_mend_and_changes_nothing(board, body_storage, run_command):
    key = orphan()
    damaged = board[1].body_key
    body_storage.overwrite(damaged, b"TWO")
    files = body_storage.stored_keys()
    rows = list(Revision.objects.order_by("id").values_list("body_key", "size", "sha256"))
    result = run_command("verify_storage", "--delete-orphans", "--repair-checksums", "--dry-run", *GRACE_0)
    assert result.code == 1
    assert "Would delete 1 orphan files." in result.out
    assert "Would record actual checksums for 1 revisions." in result.out
    assert body_storage.stored_keys() == files
    assert key in files
    assert list(Revision.objects.order_by("id").values_list("body_key", "size", "sha256")) == rows
    assert body_storage.read(damaged) == b"TWO"


def test_progress_goes_to_stderr_and_verbosity_0_silences_it(board, run_command):
    assert "revisions" in run_command("verify_storage").err
    assert run_command("verify_storage", verbosity=0).err == ""


@pytest.mark.django_db(transaction=True)
def test_manage_py_exits_1_on_damage_and_0_once_mended(board, board_env, run_command):
    """The real command line, configured by environment variables alone (MESSAGEBOARD_STORAGE=s3 + AWS_*)."""
    key = orphan()

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "verify_storage", "--orphan-grace", "0", *args],
            cwd=ROOT,
            env=board_env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    damaged = manage()
    assert damaged.returncode == 1, damaged.stderr
    assert f"orphan    {key}:" in damaged.stdout
    assert "Storage and database disagree" in damaged.stderr
    mended = manage("--delete-orphans")
    assert mended.returncode == 0, mended.stderr
    assert "Storage and database agree." in mended.stdout
