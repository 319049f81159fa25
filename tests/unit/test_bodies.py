import hashlib
import os
import re

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import storages

from messages_app import bodies

KEY_PATTERN = re.compile(r"^messages/([0-9a-f]{2})/([0-9a-f]{2})/(\d+)-(\d{8})-([0-9a-f]+)\.txt$")


class ChunksFailMidway(ContentFile):
    """Content whose second chunk never arrives, like a client that hangs up mid-upload."""

    def chunks(self, chunk_size=None):
        yield b"x" * 65536
        raise OSError("the connection dropped")


def temp_files(root) -> list[str]:
    return [name for _dirpath, _dirnames, filenames in os.walk(root) for name in filenames if name.startswith(".tmp-")]


def test_key_is_sharded_by_a_hash_of_the_message_id():
    key = bodies.body_key(42, 7)
    match = KEY_PATTERN.match(key)
    assert match is not None, key
    shard = hashlib.sha256(b"42").hexdigest()
    assert match.group(1) == shard[:2]
    assert match.group(2) == shard[2:4]
    assert match.group(3) == "42"
    assert match.group(4) == "00000007"


def test_keys_of_different_ids_spread_over_shards():
    shards = {bodies.body_key(message_id, 1).split("/")[1] for message_id in range(1, 200)}
    assert len(shards) > 50


def test_every_call_gives_a_new_key_for_the_same_version():
    keys = {bodies.body_key(5, 3) for _ in range(200)}
    assert len(keys) == 200


def test_save_writes_the_bytes_at_the_key_and_records_size_and_sha256(body_storage):
    data = "Grüße\nzweite Zeile\n".encode()
    stored = bodies.body_save(message_id=9, version=2, data=data)
    assert KEY_PATTERN.match(stored.key)
    assert stored.key.split("/")[-1].startswith("9-00000002-")
    assert (body_storage / stored.key).read_bytes() == data
    assert stored.size == 21  # bytes, not the 19 characters
    assert stored.sha256 == hashlib.sha256(data).hexdigest()


def test_two_saves_of_the_same_version_go_to_two_keys(body_files):
    first = bodies.body_save(message_id=1, version=2, data=b"one")
    second = bodies.body_save(message_id=1, version=2, data=b"two")
    assert first.key != second.key
    assert body_files() == {first.key, second.key}


def test_durable_write_leaves_no_temporary_file(body_storage):
    for version in range(1, 6):
        bodies.body_save(message_id=3, version=version, data=b"body %d" % version)
    assert temp_files(body_storage) == []


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
    assert (body_storage / stored.key).read_bytes() == b"original"


def test_write_failing_midway_leaves_no_key_and_no_temporary_file(body_storage, body_files):
    key = bodies.body_key(6, 1)
    with pytest.raises(OSError, match="connection dropped"):
        storages["messages"].save(key, ChunksFailMidway(b"ignored"))
    assert not storages["messages"].exists(key)
    assert body_files() == set()
    assert temp_files(body_storage) == []


def test_body_save_failing_midway_caches_nothing_and_leaves_no_file(monkeypatch, body_files):
    keys = []
    real_body_key = bodies.body_key

    def recording_body_key(message_id, version):
        keys.append(real_body_key(message_id, version))
        return keys[-1]

    monkeypatch.setattr(bodies, "ContentFile", ChunksFailMidway)
    monkeypatch.setattr(bodies, "body_key", recording_body_key)
    with pytest.raises(OSError):
        bodies.body_save(message_id=6, version=1, data=b"text", text="text")
    assert len(keys) == 1
    assert body_files() == set()
    assert cache.get(bodies.CACHE_PREFIX + keys[0]) is None


def test_first_read_opens_storage_and_second_is_served_from_cache(opened_bodies):
    stored = bodies.body_save(message_id=7, version=1, data="héllo".encode())
    assert bodies.body_read(stored.key) == "héllo"
    assert opened_bodies == [stored.key]
    assert bodies.body_read(stored.key) == "héllo"
    assert opened_bodies == [stored.key]


def test_save_with_text_fills_the_cache_so_no_read_opens_storage(opened_bodies):
    stored = bodies.body_save(message_id=7, version=1, data=b"hello", text="hello")
    assert bodies.body_read(stored.key) == "hello"
    assert opened_bodies == []


def test_read_bytes_bypasses_the_cache(opened_bodies):
    stored = bodies.body_save(message_id=7, version=1, data=b"hello", text="hello")
    assert bodies.body_read_bytes(stored.key) == b"hello"
    assert opened_bodies == [stored.key]


def test_delete_removes_the_file_and_its_cached_text(body_storage):
    stored = bodies.body_save(message_id=8, version=1, data=b"bye", text="bye")
    assert bodies.body_read(stored.key) == "bye"
    bodies.body_delete(stored.key)
    assert not (body_storage / stored.key).exists()
    with pytest.raises(FileNotFoundError):
        bodies.body_read(stored.key)


def test_deleting_a_missing_key_is_not_an_error():
    bodies.body_delete(bodies.body_key(8, 1))


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
        "messages": {"BACKEND": "messages_app.bodies.DurableFileSystemStorage", "OPTIONS": {"location": str(other)}},
    }
    stored = bodies.body_save(message_id=11, version=1, data=b"moved")
    assert (other / stored.key).read_bytes() == b"moved"
