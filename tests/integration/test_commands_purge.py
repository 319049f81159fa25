"""purge_deleted: messages soft-deleted long enough ago go for good, with revisions and files."""

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from botocore.config import Config
from django.core.files.storage import FileSystemStorage, storages
from django.utils import timezone

from messages_app import bodies, services
from messages_app.models import EditLease, Message, Revision

pytestmark = [pytest.mark.django_db, pytest.mark.both_storages]


def deleted_days_ago(message: Message, days: float) -> None:
    services.message_delete(message_id=message.pk, user=message.author)
    Message.objects.filter(pk=message.pk).update(deleted_at=timezone.now() - timedelta(days=days))


@pytest.fixture
def aged_board(board, make_message, bob):
    """board[0] (3 versions) deleted 40 days ago, board[1] 10 days ago, board[2] never; a 4th 31 days ago."""
    fourth = make_message(subject="fourth", body="four")
    deleted_days_ago(board[0], 40)
    deleted_days_ago(board[1], 10)
    deleted_days_ago(fourth, 31)
    # A lease row left on a deleted message must not keep it (or fail the purge).
    EditLease.objects.create(
        message=fourth, holder=bob, token="t" * 32, acquired_at=timezone.now(), expires_at=timezone.now()
    )
    return {"old": [board[0], fourth], "young": board[1], "live": board[2]}


def keys_of(*messages: Message) -> set[str]:
    return set(Revision.objects.filter(message__in=messages).values_list("body_key", flat=True))


def test_purge_removes_only_messages_deleted_before_the_cutoff_with_revisions_and_files(
    aged_board, body_storage, run_command
):
    doomed_keys = keys_of(*aged_board["old"])
    kept_keys = keys_of(aged_board["young"], aged_board["live"])
    assert len(doomed_keys) == 4
    result = run_command("purge_deleted", "--older-than", "30d")
    assert result.code == 0, result
    assert "Removed 2 messages, 4 revisions and 4 files." in result.out
    assert set(Message.objects.values_list("pk", flat=True)) == {aged_board["young"].pk, aged_board["live"].pk}
    assert not Revision.objects.filter(message_id__in=[m.pk for m in aged_board["old"]]).exists()
    assert not EditLease.objects.exists()
    assert body_storage.stored_keys() == kept_keys
    assert run_command("verify_storage", "--orphan-grace", "0").code == 0


def test_files_the_storage_refuses_to_delete_are_counted_and_the_exit_status_says_so(
    aged_board, body_storage, run_command, settings, monkeypatch, tmp_path
):
    storage = storages["messages"]
    if isinstance(storage, FileSystemStorage):
        # Where the bodies' folder was, a file: every delete under it fails in the OS.
        moved = tmp_path / "moved-away"
        Path(storage.location, bodies.KEY_PREFIX).rename(moved)
        Path(storage.location, bodies.KEY_PREFIX).write_text("not a folder")
    else:
        # An object store that stopped answering: nothing listens on port 9 (discard).
        monkeypatch.setattr(storage, "endpoint_url", "http://127.0.0.1:9")
        monkeypatch.setattr(storage, "client_config", Config(retries={"max_attempts": 1}, connect_timeout=1))
        monkeypatch.setattr(storage, "_connections", threading.local())
    try:
        result = run_command("purge_deleted", "--older-than", "30d")
    finally:
        if isinstance(storage, FileSystemStorage):
            Path(storage.location, bodies.KEY_PREFIX).unlink()
            moved.rename(Path(storage.location, bodies.KEY_PREFIX))
    assert result.code == 1
    assert "Removed 2 messages, 4 revisions and 0 files." in result.out
    assert "4 files could not be deleted; verify_storage --delete-orphans removes them." in result.err
    assert set(Message.objects.values_list("pk", flat=True)) == {aged_board["young"].pk, aged_board["live"].pk}


def test_a_longer_age_keeps_more(aged_board, run_command):
    result = run_command("purge_deleted", "--older-than", "5w")
    assert result.code == 0
    assert "Removed 1 messages, 3 revisions and 3 files." in result.out
    assert Message.objects.count() == 3


def test_a_restored_message_is_never_purged(aged_board, run_command):
    first = aged_board["old"][0]
    services.message_restore(message_id=first.pk, user=first.author)
    assert run_command("purge_deleted", "--older-than", "30d").code == 0
    assert Message.objects.filter(pk=first.pk).exists()
    assert Revision.objects.filter(message=first).count() == 3


def test_dry_run_says_what_would_go_and_removes_nothing(aged_board, body_storage, run_command):
    files = body_storage.stored_keys()
    rows = (Message.objects.count(), Revision.objects.count(), EditLease.objects.count())
    result = run_command("purge_deleted", "--older-than", "30d", "--dry-run")
    assert result.code == 0
    assert "Would remove 2 messages, 4 revisions and 4 files." in result.out
    assert body_storage.stored_keys() == files
    assert (Message.objects.count(), Revision.objects.count(), EditLease.objects.count()) == rows


def test_nothing_old_enough_removes_nothing(board, run_command):
    deleted_days_ago(board[0], 1)
    result = run_command("purge_deleted", "--older-than", "30d")
    assert result.code == 0
    assert "Removed 0 messages, 0 revisions and 0 files." in result.out
    assert Message.objects.count() == 3


# The arguments' checks never reach storage: they run once.
@pytest.mark.local_storage_only
@pytest.mark.parametrize("age", ["30", "30 days", "thirty", "-5d", "30x", "1.5d", "", "d30"])
def test_a_malformed_age_is_a_clear_error(db, run_command, age):
    result = run_command("purge_deleted", f"--older-than={age}")
    assert result.code == 1
    assert f"--older-than must look like 30d, 12h, 90m, 45s or 2w, not {age!r}." in result.err


@pytest.mark.local_storage_only
def test_an_age_beyond_the_calendar_is_a_clear_error(db, run_command):
    result = run_command("purge_deleted", "--older-than", "9999999999d")
    assert result.code == 1
    assert "--older-than 9999999999d reaches back before the calendar" in result.err


@pytest.mark.local_storage_only
def test_older_than_is_required(db, run_command):
    result = run_command("purge_deleted")
    assert result.code == 1
    assert "--older-than" in result.err
