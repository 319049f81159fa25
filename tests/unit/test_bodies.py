import hashlib
import os
import re

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages

from messages_app import bodies, storage

KEY_PATTERN = re.compile(r"^messages/([0-9a-f]{2})/(\d+)-(\d{8})-([0-9a-f]+)\.txt$")
# The file handler's contract, proven on local disk and on S3 (moto over HTTP). Tests about
# the local disk itself (temporary files, fsync, refusing to overwrite) are left unmarked.
both_storages = pytest.mark.both_storages


class ChunksFailMidway(ContentFile):
    """Content whose second chunk never arrives, like a client that hangs up mid-upload."""

    def chunks(self, chunk_size=None):
        yield b"x" * 65536
        raise OSError("the connection dropped")


def temp_files(root) -> list[str]:
    return [name for _dirpath, _dirnames, filenames in os.walk(root) for name in filenames if name.startswith(".tmp-")]


def test_key_is_sharded_one_level_by_a_hash_of_the_message_id():
    key = bodies.body_key(42, 7)
    match = KEY_PATTERN.match(key)
    assert match is not None, key
    assert match.group(1) == hashlib.sha256(b"42").hexdigest()[:2]
    assert match.group(2) == "42"
    assert match.group(3) == "00000007"


def test_keys_of_different_ids_spread_over_shards():
    shards = {bodies.body_key(message_id, 1).split("/")[1] for message_id in range(1, 200)}
    assert len(shards) > 50


def test_every_call_gives_a_new_key_for_the_same_version():
    keys = {bodies.body_key(5, 3) for _ in range(200)}
    assert len(keys) == 200


@both_storages
def test_save_writes_the_bytes_at_the_key_and_records_size_and_sha256(body_storage):
    data = "Grüße\nzweite Zeile\n".encode()
    stored = bodies.body_save(message_id=9, version=2, data=data)
    assert KEY_PATTERN.match(stored.key)
    assert stored.key.split("/")[-1].startswith("9-00000002-")
    assert body_storage.stored_keys() == {stored.key}
    assert body_storage.read(stored.key) == data
    assert stored.size == 21  # bytes, not the 19 characters
    assert stored.sha256 == hashlib.sha256(data).hexdigest()


@both_storages
def test_two_saves_of_the_same_version_go_to_two_keys(body_files):
    first = bodies.body_save(message_id=1, version=2, data=b"one")
    second = bodies.body_save(message_id=1, version=2, data=b"two")
    assert first.key != second.key
    assert body_files() == {first.key, second.key}


def test_durable_write_leaves_no_temporary_file(body_storage):
    for version in range(1, 6):
        bodies.body_save(message_id=3, version=version, data=b"body %d" % version)
    assert temp_files(body_storage.media) == []
    assert len(body_storage.stored_keys()) == 5


def test_durable_write_syncs_the_file_and_its_directory(monkeypatch):
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.path.isdir(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(bodies.os, "fsync", recording_fsync)
    bodies.body_save(message_id=3, version=1, data=b"body")
    assert False in synced, "the file itself was not synced"
    assert True in synced, "the directory holding the new name was not synced"


def test_storage_refuses_to_overwrite_an_existing_key(body_storage):
    stored = bodies.body_save(message_id=4, version=1, data=b"original")
    with pytest.raises(FileExistsError):
        storages["messages"].save(stored.key, ContentFile(b"replacement"))
    assert body_storage.path(stored.key).read_bytes() == b"original"


def test_write_failing_midway_leaves_no_key_and_no_temporary_file(body_storage, body_files):
    key = bodies.body_key(6, 1)
    with pytest.raises(OSError, match="connection dropped"):
        storages["messages"].save(key, ChunksFailMidway(b"ignored"))
    assert not storages["messages"].exists(key)
    assert body_files() == set()
    assert temp_files(body_storage.media) == []


def test_body_save_failing_midway_caches_nothing_and_leaves_no_file(monkeypatch, body_files):
    keys = []
    real_body_key = bodies.body_key

    def recording_body_key(message_id, version):
        keys.append(real_body_key(message_id, version))
        return keys[-1]

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    # The data is in the temporary file; making it durable fails.
    monkeypatch.setattr(bodies.os, "fsync", disk_full)
    monkeypatch.setattr(bodies, "body_key", recording_body_key)
    with pytest.raises(OSError):
        bodies.body_save(message_id=6, version=1, data=b"text", text="text")
    assert len(keys) == 1
    assert body_files() == set()
    assert bodies.body_cached(keys[0]) is None


@both_storages
def test_first_read_opens_storage_and_second_is_served_from_cache(opened_bodies):
    stored = bodies.body_save(message_id=7, version=1, data="héllo".encode())
    assert bodies.body_read(stored.key) == "héllo"
    assert opened_bodies == [stored.key]
    assert bodies.body_read(stored.key) == "héllo"
    assert opened_bodies == [stored.key]


@both_storages
def test_save_with_text_fills_the_cache_so_no_read_opens_storage(opened_bodies):
    stored = bodies.body_save(message_id=7, version=1, data=b"hello", text="hello")
    assert bodies.body_read(stored.key) == "hello"
    assert opened_bodies == []


@both_storages
def test_read_bytes_bypasses_the_cache(opened_bodies):
    stored = bodies.body_save(message_id=7, version=1, data=b"hello", text="hello")
    assert bodies.body_read_bytes(stored.key) == b"hello"
    assert opened_bodies == [stored.key]


@both_storages
def test_delete_removes_the_file_and_its_cached_text(body_storage):
    stored = bodies.body_save(message_id=8, version=1, data=b"bye", text="bye")
    assert bodies.body_read(stored.key) == "bye"
    bodies.body_delete(stored.key)
    assert body_storage.stored_keys() == set()
    assert not bodies.messages_storage().exists(stored.key)
    with pytest.raises(FileNotFoundError):
        bodies.body_read(stored.key)


@both_storages
def test_deleting_a_missing_key_is_not_an_error():
    bodies.body_delete(bodies.body_key(8, 1))


@both_storages
def test_reading_a_missing_key_raises_file_not_found():
    key = bodies.body_key(10, 1)
    with pytest.raises(FileNotFoundError):
        bodies.body_read(key)
    with pytest.raises(FileNotFoundError):
        bodies.body_read_bytes(key)


def test_storage_is_looked_up_when_called_so_settings_can_switch_it(settings, tmp_path):
    other = tmp_path / "elsewhere"
    settings.STORAGES = {
        **settings.STORAGES,
        "messages": {"BACKEND": "messages_app.storage.DurableFileSystemStorage", "OPTIONS": {"location": str(other)}},
    }
    stored = bodies.body_save(message_id=11, version=1, data=b"moved")
    assert (other / stored.key).read_bytes() == b"moved"


@both_storages
def test_listing_yields_every_body_in_byte_order_of_key_with_its_size(body_storage):
    stored = [bodies.body_save(message_id=n, version=1, data=b"x" * n) for n in (1, 2, 3, 10, 11, 250, 1000)]
    listed = list(bodies.body_listing())
    assert [entry.key for entry in listed] == sorted((s.key for s in stored), key=str.encode)
    assert {entry.key: entry.size for entry in listed} == {s.key: s.size for s in stored}
    assert all(entry.modified_at > 0 for entry in listed)


@both_storages
def test_listing_an_empty_storage_yields_nothing(body_storage):
    assert list(bodies.body_listing()) == []


def test_local_listing_orders_a_directory_by_full_key_not_by_name(body_storage):
    # "ab" sorts before "ab-x" by name, but the key "…/ab/…" sorts after "…/ab-x": a walk that
    # sorted names only would break the merge verify_storage makes with the database's order.
    for key in ("messages/ab/c.txt", "messages/ab-x.txt", "messages/ab.txt", "messages/a/z.txt"):
        storages["messages"].save(key, ContentFile(b"1"))
    keys = [entry.key for entry in bodies.body_listing()]
    assert keys == sorted(keys, key=str.encode)
    assert len(keys) == 4


@both_storages
def test_exists_tells_a_stored_key_from_a_missing_one(body_storage):
    stored = bodies.body_save(message_id=12, version=1, data=b"here")
    assert bodies.messages_storage().exists(stored.key)
    assert not bodies.messages_storage().exists(bodies.body_key(12, 1))


@both_storages
def test_copy_writes_the_same_key_into_the_other_storage_replacing_what_is_there(other_backend):
    other = bodies.storage_for(other_backend)
    stored = bodies.body_save(message_id=13, version=1, data=b"original")
    bodies.body_copy(stored.key, b"damaged", to=other)
    bodies.body_copy(stored.key, b"original", to=other)
    assert bodies.body_read_bytes(stored.key, other) == b"original"
    assert [entry.key for entry in bodies.body_listing(other)] == [stored.key]


def test_storage_for_builds_a_configured_backend_and_refuses_an_unconfigured_one(body_storage):
    local = bodies.storage_for("local")
    assert isinstance(local, storage.DurableFileSystemStorage)
    assert local.location == str(body_storage.media)
    with pytest.raises(ValueError, match="'s3' body storage is not configured"):
        bodies.storage_for("s3")


@pytest.mark.both_storages
def test_storage_for_the_backend_in_use_reads_what_the_board_wrote(body_storage):
    stored = bodies.body_save(message_id=14, version=1, data=b"same place")
    assert bodies.body_read_bytes(stored.key, bodies.storage_for(body_storage.backend)) == b"same place"


def test_s3_bodies_are_stored_as_utf8_text(settings, s3_endpoint, s3_storage):
    from tests.s3_server import BUCKET, s3_client

    settings.STORAGES = {**settings.STORAGES, "messages": s3_storage}
    stored = bodies.body_save(message_id=15, version=1, data="ünïcode".encode())
    head = s3_client(s3_endpoint).head_object(Bucket=BUCKET, Key=stored.key)
    assert head["ContentType"] == "text/plain; charset=utf-8"
    assert head["ContentLength"] == stored.size


def test_a_write_failing_midway_leaves_no_file_under_the_key(body_storage):
    key = bodies.body_key(16, 1)
    with pytest.raises(OSError, match="connection dropped"):
        storages["messages"].save(key, ChunksFailMidway(b"ignored"))
    assert not body_storage.path(key).exists()
    assert temp_files(body_storage.media) == []


def test_copying_over_a_bad_copy_leaves_the_good_one(body_storage):
    stored = bodies.body_save(message_id=16, version=1, data=b"a damaged copy")
    bodies.body_copy(stored.key, b"the good copy", to=storages["messages"])
    assert body_storage.path(stored.key).read_bytes() == b"the good copy"
    assert temp_files(body_storage.media) == []


def test_write_failing_at_fsync_leaves_no_key_and_no_temporary_file(body_storage, monkeypatch):
    def failing_fsync(fd):
        raise OSError("the disk is full")

    monkeypatch.setattr(bodies.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk is full"):
        bodies.body_save(message_id=17, version=1, data=b"never durable")
    assert temp_files(body_storage.media) == []
    assert body_storage.stored_keys() == set()


def test_batched_durability_skips_each_fsync_and_syncs_once_at_the_end(body_storage, monkeypatch):
    fsyncs, syncs = [], []
    monkeypatch.setattr(bodies.os, "fsync", fsyncs.append)
    monkeypatch.setattr(bodies.os, "sync", lambda: syncs.append(True))
    with bodies.batched_durability():
        for version in range(1, 4):
            bodies.body_save(message_id=18, version=version, data=b"bulk")
        assert syncs == []
    assert fsyncs == []
    assert syncs == [True]
    bodies.body_save(message_id=18, version=4, data=b"single")
    assert fsyncs, "writes after the batch must be synced one by one again"


def test_batched_durability_syncs_what_was_written_even_when_the_batch_fails(body_storage, monkeypatch):
    syncs = []
    monkeypatch.setattr(bodies.os, "sync", lambda: syncs.append(True))
    with pytest.raises(RuntimeError), bodies.batched_durability():
        bodies.body_save(message_id=19, version=1, data=b"written before the failure")
        raise RuntimeError("the batch failed")
    assert syncs == [True]


@both_storages
def test_an_opened_body_tells_its_size_and_reads_a_range_from_either_end(body_storage):
    stored = bodies.body_save(message_id=1, version=1, data=b"0123456789")
    with storages["messages"].open(stored.key, "rb") as opened:
        assert opened.size == 10
        opened.seek(-3, os.SEEK_END)
        assert opened.read() == b"789"
        opened.seek(2)
        assert opened.read(3) == b"234"
        assert opened.tell() == 5
        opened.seek(20)
        assert opened.read(5) == b""


@both_storages
def test_reading_a_missing_body_is_file_not_found_on_every_storage(body_storage):
    with pytest.raises(FileNotFoundError), storages["messages"].open("messages/00/1-00000001-none.txt") as opened:
        opened.read()
