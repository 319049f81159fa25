"""The file handler: the only code that touches the storage holding message bodies."""

import contextlib
import hashlib
import os
import secrets
from dataclasses import dataclass

from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages

CACHE_PREFIX = "body:"
# Bodies are immutable by key, so a cached body never goes stale; the timeout only bounds memory.
CACHE_SECONDS = 7 * 24 * 3600


def messages_storage() -> Storage:
    """Return the storage configured under the ``messages`` alias."""
    return storages["messages"]


@dataclass(frozen=True, slots=True)
class StoredBody:
    key: str
    size: int
    sha256: str


def body_key(message_id: int, version: int) -> str:
    """Return a new, never used key for a version of a message's body."""
    shard = hashlib.sha256(str(message_id).encode()).hexdigest()
    # The random part keeps a crashed save's leftover from colliding with a later save.
    return f"messages/{shard[:2]}/{shard[2:4]}/{message_id}-{version:08d}-{secrets.token_hex(6)}.txt"


def body_encode(text: str) -> bytes:
    """Encode a body as UTF-8, raising UnicodeEncodeError for text that is not valid Unicode."""
    return text.encode("utf-8")


def body_save(*, message_id: int, version: int, data: bytes, text: str | None = None) -> StoredBody:
    """Write a body to a new key and return where it went with its size and checksum."""
    key = body_key(message_id, version)
    storage = messages_storage()
    saved_name = storage.save(key, ContentFile(data))
    if saved_name != key:
        storage.delete(saved_name)
        raise FileExistsError(f"storage renamed {key!r} to {saved_name!r}")
    if text is not None:
        cache.set(CACHE_PREFIX + key, text, CACHE_SECONDS)
    return StoredBody(key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest())


def body_read_bytes(key: str) -> bytes:
    """Return a body's raw bytes from storage, bypassing the cache."""
    storage = messages_storage()
    try:
        with storage.open(key, "rb") as stored:
            return stored.read()
    except FileNotFoundError:
        raise
    except OSError as error:
        # Backends word a missing key differently; callers only need to know it is not there.
        if not storage.exists(key):
            raise FileNotFoundError(key) from error
        raise


def body_read(key: str) -> str:
    """Return a body's text, from the cache when it is there."""
    cache_key = CACHE_PREFIX + key
    text = cache.get(cache_key)
    if text is None:
        text = body_read_bytes(key).decode("utf-8")
        cache.set(cache_key, text, CACHE_SECONDS)
    return text


def body_delete(key: str) -> None:
    """Delete a body's file; a key that is already gone is not an error."""
    cache.delete(CACHE_PREFIX + key)
    messages_storage().delete(key)


class DurableFileSystemStorage(FileSystemStorage):
    """A local storage whose writes are atomic and survive a crash once save() returns."""

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        # Keys are unique by construction, so the usual exists()-then-rename dance only
        # costs a stat; _save still refuses to replace a file.
        return name

    def _save(self, name: str, content) -> str:
        full_path = self.path(name)
        directory = os.path.dirname(full_path)
        self._make_durable_directories(directory)
        if os.path.lexists(full_path):
            raise FileExistsError(full_path)
        temp_path = os.path.join(directory, f".tmp-{secrets.token_hex(8)}")
        fd = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644 & ~_UMASK)
        try:
            with os.fdopen(fd, "wb") as temp_file:
                for chunk in content.chunks():
                    temp_file.write(chunk)
                temp_file.flush()
                os.fsync(temp_file.fileno())
            # Publish only complete, synced data: readers see the whole file or none.
            os.replace(temp_path, full_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_path)
            raise
        _fsync_directory(directory)
        return name

    def _make_durable_directories(self, directory: str) -> None:
        missing = []
        current = directory
        while not os.path.isdir(current):
            missing.append(current)
            current = os.path.dirname(current)
        for path in reversed(missing):
            try:
                os.mkdir(path)
            except FileExistsError:
                continue
            # A new directory is only durable once its parent's entry is synced.
            _fsync_directory(os.path.dirname(path))


def _fsync_directory(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: os.umask() sets the mask to read it, which would race other threads.
_UMASK = _read_umask()
