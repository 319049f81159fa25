"""The file handler: the only code that touches the storage holding message bodies."""

import contextlib
import hashlib
import logging
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages

from messages_app import metrics, packs
from messages_app.storage import SYNC_EACH_WRITE, ListedBody
from messages_app.textcache import TextCache

logger = logging.getLogger(__name__)

KEY_PREFIX = "messages"
CACHE_PREFIX = "body:"
# Bodies are immutable by key, so a cached body never goes stale; the timeout only bounds memory.
CACHE_SECONDS = 7 * 24 * 3600


def messages_storage() -> Storage:
    """Return the storage configured under the ``messages`` alias."""
    return storages["messages"]


def storage_probe() -> None:
    """Raise OSError unless the body storage answers (/readyz): its folder, or its bucket."""
    messages_storage().probe()


@dataclass(frozen=True, slots=True)
class StoredBody:
    key: str
    size: int
    sha256: str


def _shard(message_id: int) -> str:
    # One level of 256 directories: a message's files stay together, and a directory costs
    # blocks in proportion to its files. Two levels (65,536 directories) cost a 4 KiB block
    # per message on a small board, as much as its bodies. Keys made under two levels stay
    # valid: every key is read from its row, never rebuilt.
    return hashlib.sha256(str(message_id).encode()).hexdigest()[:2]


def body_key(message_id: int, version: int) -> str:
    """Return a new, never used key for a version of a message's body."""
    # The random part keeps a crashed save's leftover from colliding with a later save.
    return f"{KEY_PREFIX}/{_shard(message_id)}/{message_id}-{version:08d}-{secrets.token_hex(6)}.txt"


def body_save(*, message_id: int, version: int, data: bytes, text: str | None = None) -> StoredBody:
    """Write a body to a new key and return where it went with its size and checksum."""
    stored = _save_exactly(messages_storage(), body_key(message_id, version), data)
    if text is not None:
        _cache_set(stored.key, text)
    return stored


def _save_exactly(storage: Storage, key: str, data: bytes) -> StoredBody:
    """Write data under exactly ``key``: a storage that renames instead of refusing would hide a collision."""
    try:
        saved = storage.save(key, ContentFile(data))
    except OSError:
        metrics.STORAGE_ERRORS.labels("write").inc()
        raise
    if saved != key:
        storage.delete(saved)
        raise FileExistsError(f"storage renamed {key!r} to {saved!r}")
    return StoredBody(key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest())


def body_read_bytes(key: str, storage: Storage | None = None) -> bytes:
    """Return a body's raw bytes from storage, bypassing the cache."""
    with (storage or messages_storage()).open(key, "rb") as stored:
        return stored.read()


def body_read(key: str) -> str:
    """Return the text of the file at ``key``, from the cache when it is there (version_read for any version)."""
    return version_read(VersionLocation(key=key, sha256=""))


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


@dataclass(frozen=True, slots=True)
class VersionLocation:
    """Where a version's text is: its own file at ``key``, or a range of the pack at ``pack_key``."""

    key: str
    sha256: str
    pack_key: str | None = None
    pack_offset: int = 0
    pack_length: int = 0


def version_read(location: VersionLocation) -> str:
    """Return a version's text, from the cache when it is there, wherever the version is stored."""
    text = body_cached(location.key)
    if text is None:
        metrics.BODY_CACHE.labels("miss").inc()
        try:
            text = version_read_bytes(location).decode("utf-8")
        except OSError:
            metrics.STORAGE_ERRORS.labels("read").inc()
            raise
        _cache_set(location.key, text)
    else:
        metrics.BODY_CACHE.labels("hit").inc()
    return text


def version_read_bytes(location: VersionLocation, storage: Storage | None = None) -> bytes:
    """Return a version's raw bytes from storage, bypassing the cache.

    A packed version is one ranged read (one seek and read on disk, one ranged GET on S3) and
    is checked against its sha256. Raises FileNotFoundError when the file or pack is gone (a
    caller holding an old row may find the version moved: read the row again) and
    PackDamaged when the range does not decode to the recorded checksum.
    """
    if location.pack_key is None:
        return body_read_bytes(location.key, storage)
    with (storage or messages_storage()).open(location.pack_key, "rb") as pack:
        pack.seek(location.pack_offset)
        data = pack.read(location.pack_length)
    if len(data) != location.pack_length:
        raise packs.PackDamaged(f"{location.pack_key} ends before the range of {location.key}")
    text = packs.version_decode(data)
    if hashlib.sha256(text).hexdigest() != location.sha256:
        raise packs.PackDamaged(f"{location.key} in {location.pack_key} does not match its sha256")
    return text


PACK_PREFIX = "packs"


def pack_save(data: bytes) -> StoredBody:
    """Write a pack durably under a new key (the rows point into it only once this returns)."""
    key = f"{PACK_PREFIX}/{time.strftime('%Y%m%d', time.gmtime())}-{secrets.token_hex(8)}.pack"
    return _save_exactly(messages_storage(), key, data)


def pack_read(key: str, storage: Storage | None = None) -> bytes:
    """Return a whole pack's bytes (verify_storage, repacking, migrate_storage)."""
    return body_read_bytes(key, storage)


def pack_delete(key: str) -> None:
    """Delete a retired pack's file; a key already gone is not an error. Raises OSError on refusal."""
    messages_storage().delete(key)


def pack_listing(storage: Storage | None = None) -> Iterator[ListedBody]:
    """Yield every pack file in byte order of key."""
    yield from (storage or messages_storage()).listing(PACK_PREFIX)


def body_delete(key: str) -> None:
    """Delete a body's file; a key that is already gone is not an error.

    Raises OSError when the storage refuses, whichever backend it is.
    """
    body_uncache(key)
    messages_storage().delete(key)


def body_delete_unpublished(key: str) -> None:
    """Delete the file of a save or post that did not publish it, logging (not raising) a refusal.

    The database never pointed at the file, so failing to delete it leaves only an orphan,
    which verify_storage finds.
    """
    try:
        body_delete(key)
    except Exception:
        logger.warning("could not delete unpublished body %s", key, exc_info=True)


def body_listing(storage: Storage | None = None) -> Iterator[ListedBody]:
    """Yield every file under the body prefix in byte order of key, one at a time.

    Byte order lets a caller merge the listing with keys sorted the same way in the
    database, so neither side is ever held in memory whole.
    """
    yield from (storage or messages_storage()).listing(KEY_PREFIX)


def body_copy(key: str, data: bytes, *, to: Storage) -> None:
    """Write a body under the same key into another storage, replacing what is there.

    The target is not the storage in use (migrate_storage copies to the one the board moves
    to), so nobody reads the key between its delete and its save.
    """
    to.delete(key)
    _save_exactly(to, key, data)


DRAFT_PREFIX = "drafts"


def draft_key(message_id: int, user_id: int) -> str:
    """Return a new, never used key for a user's draft of a message."""
    # A new key per write, as for versions: the row moves to it only once it is durable, and a
    # late or refused write can never overwrite the text the row points at.
    return f"{DRAFT_PREFIX}/{_shard(message_id)}/{message_id}-u{user_id}-{secrets.token_hex(8)}.txt"


def draft_save(*, message_id: int, user_id: int, data: bytes) -> StoredBody:
    """Write a draft's text to a new key beside the bodies (same storage, same durability)."""
    return _save_exactly(messages_storage(), draft_key(message_id, user_id), data)


def draft_read(key: str) -> str:
    """Return a draft's text. Drafts are read once per editor opened: not worth a cache entry."""
    return body_read_bytes(key).decode("utf-8")


def draft_delete(key: str) -> None:
    """Delete a draft's file, logging (not raising) a refusal: the row no longer points at it."""
    try:
        messages_storage().delete(key)
    except Exception:
        logger.warning("could not delete draft file %s", key, exc_info=True)


def draft_listing(storage: Storage | None = None) -> Iterator[ListedBody]:
    """Yield every draft file in byte order of key (purge_drafts removes old ones no row points at)."""
    yield from (storage or messages_storage()).listing(DRAFT_PREFIX)


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
    previous = SYNC_EACH_WRITE.get()
    SYNC_EACH_WRITE.set(False)
    try:
        yield
    finally:
        SYNC_EACH_WRITE.set(previous)
        # Also when the batch fails: rows of the batches before it are committed already.
        os.sync()
