"""The file handler: the only code that touches the storage holding message bodies."""

import contextlib
import contextvars
import hashlib
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages

from messages_app.textcache import BoundedTextCache, TextCache

KEY_PREFIX = "messages"
CACHE_PREFIX = "body:"
_SYNC_EACH_WRITE = contextvars.ContextVar("sync_each_write", default=True)
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
    return f"{KEY_PREFIX}/{shard[:2]}/{shard[2:4]}/{message_id}-{version:08d}-{secrets.token_hex(6)}.txt"


def body_encode(text: str) -> bytes:
    """Encode a body as UTF-8, raising UnicodeEncodeError for text that is not valid Unicode."""
    return text.encode("utf-8")


def body_save(*, message_id: int, version: int, data: bytes, text: str | None = None) -> StoredBody:
    """Write a body to a new key and return where it went with its size and checksum."""
    key = body_key(message_id, version)
    storage = messages_storage()
    if isinstance(storage, DurableFileSystemStorage):
        storage.save_new(key, data)
    elif isinstance(storage, FileSystemStorage):
        saved_name = storage.save(key, ContentFile(data))
        if saved_name != key:
            storage.delete(saved_name)
            raise FileExistsError(f"storage renamed {key!r} to {saved_name!r}")
    else:
        _s3_put(storage, key, data)
    if text is not None:
        _cache_set(key, text)
    return StoredBody(key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest())


def body_read_bytes(key: str, storage: Storage | None = None) -> bytes:
    """Return a body's raw bytes from storage, bypassing the cache."""
    storage = storage or messages_storage()
    if isinstance(storage, FileSystemStorage):
        with storage.open(key, "rb") as stored:
            return stored.read()
    # S3: one GET. Storage.open() would first ask for the object's metadata (a HEAD).
    client = storage.connection.meta.client
    try:
        response = client.get_object(Bucket=storage.bucket_name, Key=storage._normalize_name(key))
    except client.exceptions.NoSuchKey:
        raise FileNotFoundError(key) from None
    with response["Body"] as stored:
        return stored.read()


def body_read(key: str) -> str:
    """Return a body's text, from the cache when it is there."""
    text = body_cached(key)
    if text is None:
        text = body_read_bytes(key).decode("utf-8")
        _cache_set(key, text)
    return text


def body_cached(key: str) -> str | None:
    """Return a body's cached text, or None when a read would go to storage."""
    return BODY_TEXTS.get(key)


def body_uncache(key: str) -> None:
    """Drop a body's cached text, so that the next read comes from storage."""
    BODY_TEXTS.delete(key)


def _cache_set(key: str, text: str) -> None:
    BODY_TEXTS.set(key, text)


# Bodies are immutable by key, so a cached text is never stale.
BODY_TEXTS = TextCache(prefix=CACHE_PREFIX, budget_setting="MESSAGEBOARD_BODY_CACHE_BYTES", timeout=CACHE_SECONDS)


def process_body_cache() -> BoundedTextCache | None:
    """Return this process's body cache, or None when bodies go to a shared cache (Redis)."""
    return BODY_TEXTS.local()


def body_delete(key: str) -> None:
    """Delete a body's file; a key that is already gone is not an error.

    Raises OSError when the storage refuses, whichever backend it is.
    """
    body_uncache(key)
    try:
        messages_storage().delete(key)
    except _REMOTE_STORAGE_ERRORS as error:
        raise OSError(f"the storage could not delete {key}: {error}") from error


try:
    from botocore.exceptions import BotoCoreError, ClientError

    _REMOTE_STORAGE_ERRORS: tuple[type[Exception], ...] = (BotoCoreError, ClientError)
except ImportError:  # an install without S3 support
    _REMOTE_STORAGE_ERRORS = ()


class DurableFileSystemStorage(FileSystemStorage):
    """A local storage whose writes are atomic and survive a crash once save() returns."""

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        # Keys are unique by construction, so the usual exists()-then-rename dance only
        # costs a stat; _save still refuses to replace a file.
        return name

    def _save(self, name: str, content) -> str:
        return self._write(name, content.chunks(), replace=False)

    def save_new(self, key: str, data: bytes) -> None:
        """Write a new file under a key made by body_key(), refusing to replace one.

        Storage.save() checks and rewrites the name three times over, for names that come
        from users; ours are made of digits and hex, and that checking cost a tenth of a save.
        """
        self._write(key, (data,), replace=False)

    def save_replacing(self, name: str, content) -> str:
        """Write a file under exactly this name, replacing one already there."""
        return self._write(self.generate_filename(name), content.chunks(), replace=True)

    def _write(self, name: str, chunks: Iterable[bytes], *, replace: bool) -> str:
        full_path = self.path(name)
        directory = os.path.dirname(full_path)
        sync = _SYNC_EACH_WRITE.get()
        self._make_durable_directories(directory, sync=sync)
        if not replace and os.path.lexists(full_path):
            raise FileExistsError(full_path)
        temp_path = os.path.join(directory, f".tmp-{secrets.token_hex(8)}")
        fd = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644 & ~_UMASK)
        try:
            with os.fdopen(fd, "wb") as temp_file:
                for chunk in chunks:
                    temp_file.write(chunk)
                temp_file.flush()
                if sync:
                    os.fsync(temp_file.fileno())
            # Publish only complete, synced data: readers see the whole file or none.
            os.replace(temp_path, full_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_path)
            raise
        if sync:
            _fsync_directory(directory)
        return name

    def _make_durable_directories(self, directory: str, *, sync: bool) -> None:
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
            if sync:
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


@dataclass(frozen=True, slots=True)
class ListedBody:
    key: str
    size: int
    modified_at: float  # seconds since the epoch


def body_listing(storage: Storage | None = None) -> Iterator[ListedBody]:
    """Yield every file under the body prefix in byte order of key, one at a time.

    Byte order lets a caller merge the listing with keys sorted the same way in the
    database, so neither side is ever held in memory whole.
    """
    storage = storage or messages_storage()
    if isinstance(storage, FileSystemStorage):
        yield from _walk_sorted(storage.path(KEY_PREFIX), KEY_PREFIX)
        return
    # S3-compatible stores list keys in UTF-8 byte order, a thousand a page.
    paginator = storage.connection.meta.client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=storage.bucket_name, Prefix=KEY_PREFIX + "/"):
        for entry in page.get("Contents", ()):
            yield ListedBody(entry["Key"], entry["Size"], entry["LastModified"].timestamp())


def _walk_sorted(path: str, key: str) -> Iterator[ListedBody]:
    try:
        # A directory's keys all continue with "/": sorting it by name alone would put "ab/…"
        # before "ab-x", which byte order of the full key puts after it.
        entries = sorted(
            os.scandir(path),
            key=lambda entry: entry.name.encode() + (b"/" if entry.is_dir(follow_symlinks=False) else b""),
        )
    except FileNotFoundError:
        return
    for entry in entries:
        entry_key = f"{key}/{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            yield from _walk_sorted(entry.path, entry_key)
        else:
            stat = entry.stat(follow_symlinks=False)
            yield ListedBody(entry_key, stat.st_size, stat.st_mtime)


def body_exists(key: str, storage: Storage | None = None) -> bool:
    """Return whether a body file exists."""
    return (storage or messages_storage()).exists(key)


def body_copy(key: str, data: bytes, *, to: Storage) -> None:
    """Write a body under the same key into another storage, replacing what is there."""
    if isinstance(to, DurableFileSystemStorage):
        to.save_replacing(key, ContentFile(data))
    else:
        _s3_put(to, key, data)


def _s3_put(storage: Storage, key: str, data: bytes) -> None:
    # One PutObject, atomic by itself. Storage.save() goes through boto3's managed transfer,
    # which costs tens of milliseconds of thread set-up per call for a body of a few KiB.
    storage.connection.meta.client.put_object(
        Bucket=storage.bucket_name,
        Key=storage._normalize_name(key),
        Body=data,
        ContentType="text/plain; charset=utf-8",
    )


def storage_for(backend_name: str) -> Storage:
    """Build the body storage that MESSAGEBOARD_STORAGE=<backend_name> would configure."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    config = settings.MESSAGEBOARD_STORAGE_BACKENDS.get(backend_name)
    if config is None:
        raise ValueError(f"the {backend_name!r} body storage is not configured")
    return import_string(config["BACKEND"])(**config.get("OPTIONS", {}))


@contextlib.contextmanager
def batched_durability() -> Iterator[None]:
    """Write local bodies without an fsync each, and make them all durable at the end.

    For bulk commands: one sync of the file system costs far less than one per file.
    """
    previous = _SYNC_EACH_WRITE.get()
    _SYNC_EACH_WRITE.set(False)
    try:
        yield
    finally:
        _SYNC_EACH_WRITE.set(previous)
        # Also when the batch fails: rows of the batches before it are committed already.
        os.sync()
