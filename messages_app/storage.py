"""The storages that hold message bodies: Django's own, made durable or cheaper per request.

Each overrides only Storage's documented hooks (``_save``, ``_open``, ``delete``), so the file
handler (bodies.py) calls nothing but ``save``, ``open``, ``delete``, ``exists``, ``listing`` and
``probe`` (is it reachable, for /readyz), whatever the backend. Both also list their files in
byte order of name (``listing``), which verify_storage and migrate_storage merge with the
database's keys sorted the same way.
"""

import contextlib
import contextvars
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.core.files.base import File
from django.core.files.storage import FileSystemStorage
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

# Bulk commands turn the per-file fsync off and sync the file system once (bodies.batched_durability).
SYNC_EACH_WRITE = contextvars.ContextVar("sync_each_write", default=True)


@dataclass(frozen=True, slots=True)
class ListedBody:
    key: str  # the file's name in its storage
    size: int
    modified_at: float  # seconds since the epoch


class DurableFileSystemStorage(FileSystemStorage):
    """A local storage whose writes are atomic and survive a crash once save() returns."""

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        # Keys are unique by construction, so the usual exists()-then-rename dance only
        # costs a stat; _save still refuses to replace a file.
        return name

    def _save(self, name: str, content) -> str:
        return self._write(name, content.chunks(), replace=False)

    def probe(self) -> None:
        """Raise OSError unless the storage's folder is there (or can be made) and writable (/readyz)."""
        # A new board has no folder until its first post makes it: made here, as that post would.
        os.makedirs(self.location, exist_ok=True)
        if not os.access(self.location, os.W_OK | os.X_OK):
            raise PermissionError("the body folder is not writable")

    def listing(self, prefix: str) -> Iterator[ListedBody]:
        """Yield every file under ``prefix`` in byte order of its name, one at a time."""
        yield from _walk_sorted(self.path(prefix), prefix)

    def _write(self, name: str, chunks: Iterable[bytes], *, replace: bool) -> str:
        full_path = self.path(name)
        directory = os.path.dirname(full_path)
        sync = SYNC_EACH_WRITE.get()
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


def _walk_sorted(path: str, name: str) -> Iterator[ListedBody]:
    try:
        # A directory's names all continue with "/": sorting it by name alone would put "ab/…"
        # before "ab-x", which byte order of the full name puts after it.
        entries = sorted(
            os.scandir(path),
            key=lambda entry: entry.name.encode() + (b"/" if entry.is_dir(follow_symlinks=False) else b""),
        )
    except FileNotFoundError:
        return
    for entry in entries:
        entry_name = f"{name}/{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            yield from _walk_sorted(entry.path, entry_name)
        else:
            stat = entry.stat(follow_symlinks=False)
            yield ListedBody(entry_name, stat.st_size, stat.st_mtime)


# A key no body has: a store that answers "not found" for it is up.
PROBE_KEY = "health/probe"
PROBE_CONFIG = Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1, "mode": "standard"})


class BodyS3Storage(S3Storage):
    """django-storages' S3 storage with one request per body written or read.

    S3Storage's ``_save`` goes through boto3's managed transfer (tens of milliseconds of thread
    set-up for a body of a few KiB) and its files ask for the object's metadata (a HEAD) before
    reading it. Bodies are small and immutable: one PutObject, one GetObject.
    """

    def _save(self, name: str, content) -> str:
        cleaned = clean_name(name)
        content.seek(0)
        self.connection.meta.client.put_object(
            Bucket=self.bucket_name,
            Key=self._normalize_name(cleaned),
            Body=content.read(),
            ContentType="text/plain; charset=utf-8",
        )
        return cleaned

    def _open(self, name: str, mode: str = "rb") -> "S3ObjectFile":
        if "w" in mode or "a" in mode or "+" in mode:
            raise ValueError("bodies are never rewritten: open them for reading only")
        return S3ObjectFile(self, name)

    def delete(self, name: str) -> None:
        # Like a local disk's refusal, an object store's becomes an OSError for the callers.
        try:
            super().delete(name)
        except (BotoCoreError, ClientError) as error:
            raise OSError(f"the storage could not delete {name}: {error}") from error

    def probe(self) -> None:
        """Ask the store one cheap question (/readyz); raise OSError unless it answers in time.

        With a client of its own, one attempt and second-long timeouts: the bodies' client
        retries for many seconds, longer than a load balancer waits.
        """
        if self._probe_client is None:
            # From the storage's own settings (django-storages' documented options).
            session = boto3.session.Session(
                aws_access_key_id=self.access_key,
                aws_secret_access_key=self.secret_key,
                aws_session_token=self.security_token,
            )
            self._probe_client = session.client(
                "s3",
                region_name=self.region_name,
                endpoint_url=self.endpoint_url,
                use_ssl=self.use_ssl,
                verify=self.verify,
                config=self.client_config.merge(PROBE_CONFIG),
            )
        try:
            self._probe_client.head_object(Bucket=self.bucket_name, Key=PROBE_KEY)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code not in {"404", "NoSuchKey", "NotFound"}:
                raise OSError(f"the object store refused: {code}") from None
        except BotoCoreError as error:
            raise OSError(f"the object store did not answer: {type(error).__name__}") from None

    _probe_client = None

    def listing(self, prefix: str) -> Iterator[ListedBody]:
        """Yield every object under ``prefix`` in byte order of key (S3 lists in that order)."""
        paginator = self.connection.meta.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket_name, Prefix=prefix + "/"):
            for entry in page.get("Contents", ()):
                yield ListedBody(entry["Key"], entry["Size"], entry["LastModified"].timestamp())


class S3ObjectFile(File):
    """An object of the body bucket, read with one GET per read(): whole, or the range after a seek().

    Opening asks nothing; a missing object raises FileNotFoundError on the read, and any other
    refusal of the store an OSError, as a local file would. A packed version is a seek() and a
    read(length): one ranged GET, not the whole pack.
    """

    def __init__(self, storage: BodyS3Storage, name: str) -> None:
        super().__init__(None, name)
        self.mode = "rb"
        self._storage = storage
        self._position = 0

    def _request(self, operation: str, **extra):
        client = self._storage.connection.meta.client
        key = self._storage._normalize_name(clean_name(self.name))
        try:
            return getattr(client, operation)(Bucket=self._storage.bucket_name, Key=key, **extra)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in {"NoSuchKey", "404", "NotFound"}:
                raise FileNotFoundError(self.name) from None
            if code == "InvalidRange":
                return None  # a position at or past the end: a local file reads nothing there
            raise OSError(f"the storage refused to read {self.name}: {error}") from error
        except BotoCoreError as error:
            raise OSError(f"the storage could not be reached to read {self.name}: {error}") from error

    @cached_property
    def size(self) -> int:
        return self._request("head_object")["ContentLength"]

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_CUR:
            offset += self._position
        elif whence == os.SEEK_END:
            offset += self.size
        elif whence != os.SEEK_SET:
            raise ValueError(f"unknown whence {whence}")
        if offset < 0:
            raise ValueError("a position before the start of the object")
        self._position = offset
        return offset

    def tell(self) -> int:
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        if size == 0:
            return b""
        whole = size is None or size < 0
        if whole and self._position == 0:
            ranged = {}
        else:
            last = "" if whole else str(self._position + size - 1)
            ranged = {"Range": f"bytes={self._position}-{last}"}
        response = self._request("get_object", **ranged)
        if response is None:
            return b""
        with response["Body"] as stored:
            data = stored.read()
        self._position += len(data)
        return data

    @property
    def closed(self) -> bool:
        return False

    def close(self) -> None:
        pass
