"""migrate_storage: local -> S3 and S3 -> local, verified, resumable, deleting nothing."""

import hashlib

import pytest

from messages_app import bodies
from messages_app.models import Revision

pytestmark = [pytest.mark.django_db, pytest.mark.both_storages]
# Each copying thread builds its own boto3 connection (~0.1 s); two are enough for six files.
# The first test runs with the default of eight.
JOBS = ("--jobs", "2")


def revision_keys() -> dict[str, str]:
    return dict(Revision.objects.values_list("body_key", "sha256"))


def stored(storage) -> dict[str, bytes]:
    """Every body in a storage, by key."""
    return {entry.key: bodies.body_read_bytes(entry.key, storage) for entry in bodies.body_listing(storage)}


def test_migrate_copies_every_version_verified_and_keeps_the_source(board, body_storage, other_backend, run_command):
    source = bodies.messages_storage()
    before = stored(source)
    result = run_command("migrate_storage", "--to", other_backend)
    assert result.code == 0, result
    assert "Copied 6 files, 0 already there, 0 failed." in result.out
    assert f"Now set MESSAGEBOARD_STORAGE={other_backend} and restart." in result.out
    copies = stored(bodies.storage_for(other_backend))
    assert {key: hashlib.sha256(data).hexdigest() for key, data in copies.items()} == revision_keys()
    assert copies == before
    assert stored(source) == before  # nothing deleted or changed at the source


def test_after_migrating_the_board_runs_on_the_other_storage(
    board, body_storage, other_backend, run_command, settings, client
):
    assert run_command("migrate_storage", "--to", other_backend, *JOBS).code == 0
    settings.MESSAGEBOARD_STORAGE = other_backend
    settings.STORAGES = {**settings.STORAGES, "messages": settings.MESSAGEBOARD_STORAGE_BACKENDS[other_backend]}
    assert bodies.messages_storage().__class__ is not type(bodies.storage_for(body_storage.backend))
    for key in revision_keys():
        bodies.body_uncache(key)
    result = run_command("verify_storage", "--orphan-grace", "0")
    assert result.code == 0, result
    assert "Checked 6 revisions and 6 files" in result.out
    page = client.get(f"/messages/{board[0].pk}/").content.decode()
    assert "one, edited twice" in page
    old = client.get(f"/messages/{board[0].pk}/history/1/").content.decode()
    assert "one" in old


def test_a_second_run_skips_everything_already_copied(board, other_backend, run_command):
    assert run_command("migrate_storage", "--to", other_backend, *JOBS).code == 0
    again = run_command("migrate_storage", "--to", other_backend, *JOBS)
    assert again.code == 0
    assert "Copied 0 files, 6 already there, 0 failed." in again.out


def test_a_fresh_migration_reads_each_copy_back_once_and_nothing_before_writing_it(
    board, other_backend, run_command, monkeypatch
):
    reads_at_target = []
    real_read = bodies.body_read_bytes

    def recording_read(key, storage=None):
        if storage is not None and storage is not bodies.messages_storage():
            reads_at_target.append(key)
        return real_read(key, storage)

    monkeypatch.setattr(bodies, "body_read_bytes", recording_read)
    assert run_command("migrate_storage", "--to", other_backend, *JOBS).code == 0
    # The target's listing says what is there: only the read-back after each write remains.
    assert sorted(reads_at_target) == sorted(revision_keys())


def test_a_damaged_copy_at_the_target_is_copied_again(board, other_backend, run_command):
    assert run_command("migrate_storage", "--to", other_backend, *JOBS).code == 0
    target = bodies.storage_for(other_backend)
    key = board[1].body_key
    bodies.body_copy(key, b"TWO", to=target)
    again = run_command("migrate_storage", "--to", other_backend, *JOBS)
    assert again.code == 0
    assert "Copied 1 files, 5 already there, 0 failed." in again.out
    assert bodies.body_read_bytes(key, target) == b"two"


def test_an_interrupted_run_resumes_where_it_stopped(board, other_backend, run_command, monkeypatch):
    real_body_copy = bodies.body_copy
    calls = []

    def body_copy_dropping_the_third(key, data, *, to):
        calls.append(key)
        if len(calls) == 3:
            raise ConnectionResetError("the connection dropped")
        real_body_copy(key, data, to=to)

    monkeypatch.setattr(bodies, "body_copy", body_copy_dropping_the_third)
    first = run_command("migrate_storage", "--to", other_backend, "--jobs", "1")
    assert first.code == 1
    assert "Copied 5 files, 0 already there, 1 failed." in first.out
    assert f"{calls[2]}: " in first.err and "the connection dropped" in first.err
    assert "run again" in first.err
    monkeypatch.setattr(bodies, "body_copy", real_body_copy)
    second = run_command("migrate_storage", "--to", other_backend, *JOBS)
    assert second.code == 0
    assert "Copied 1 files, 5 already there, 0 failed." in second.out
    assert set(stored(bodies.storage_for(other_backend))) == set(revision_keys())


def test_a_source_file_not_matching_its_sha256_is_reported_and_not_copied(
    board, body_storage, other_backend, run_command
):
    damaged = board[2].body_key
    body_storage.overwrite(damaged, b"THREE, BY BOB")
    result = run_command("migrate_storage", "--to", other_backend, *JOBS)
    assert result.code == 1
    assert f"{damaged}: the source file does not match its recorded sha256; not copied" in result.err
    assert "Copied 5 files, 0 already there, 1 failed." in result.out
    assert "Now set MESSAGEBOARD_STORAGE" not in result.out
    assert damaged not in stored(bodies.storage_for(other_backend))


def test_a_source_file_that_is_missing_is_reported(board, body_storage, other_backend, run_command):
    lost = board[1].body_key
    body_storage.remove(lost)
    result = run_command("migrate_storage", "--to", other_backend, *JOBS)
    assert result.code == 1
    assert f"{lost}: missing from the source" in result.err


def test_a_copy_that_does_not_read_back_is_reported(board, other_backend, run_command, monkeypatch):
    real_body_copy = bodies.body_copy
    monkeypatch.setattr(bodies, "body_copy", lambda key, data, *, to: real_body_copy(key, data[:-1], to=to))
    result = run_command("migrate_storage", "--to", other_backend, *JOBS)
    assert result.code == 1
    assert "the copy does not read back with the recorded sha256" in result.err
    assert "Copied 0 files, 0 already there, 6 failed." in result.out


def test_migrating_to_the_storage_in_use_is_refused(board, body_storage, run_command):
    result = run_command("migrate_storage", "--to", body_storage.backend)
    assert result.code == 1
    assert f"The board already uses {body_storage.backend!r} storage" in result.err


@pytest.mark.local_storage_only
def test_migrating_to_an_unconfigured_s3_is_refused(board, run_command, body_storage):
    result = run_command("migrate_storage", "--to", "s3")
    assert result.code == 1
    assert "S3 is not configured: set AWS_STORAGE_BUCKET_NAME" in result.err
    assert body_storage.stored_keys() == set(revision_keys())


def test_an_unknown_target_is_refused(db, run_command):
    result = run_command("migrate_storage", "--to", "ftp")
    assert result.code == 1
    assert "invalid choice: 'ftp'" in result.err


@pytest.mark.local_storage_only
def test_a_target_bucket_that_does_not_answer_stops_before_copying_anything(board, settings, run_command, s3_storage):
    missing = {**s3_storage, "OPTIONS": {**s3_storage["OPTIONS"], "bucket_name": "no-such-bucket"}}
    settings.MESSAGEBOARD_STORAGE_BACKENDS = {**settings.MESSAGEBOARD_STORAGE_BACKENDS, "s3": missing}
    result = run_command("migrate_storage", "--to", "s3", *JOBS)
    assert result.code == 1
    assert "Nothing was copied: the 's3' storage cannot be listed" in result.err
    assert "NoSuchBucket" in result.err
    assert "Copied" not in result.out


def test_an_empty_board_migrates_nothing(db, other_backend, run_command):
    result = run_command("migrate_storage", "--to", other_backend, *JOBS)
    assert result.code == 0
    assert "Copied 0 files, 0 already there, 0 failed." in result.out
