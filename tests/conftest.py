import io
import itertools
import os
import secrets
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.core.files.storage import storages
from django.core.management import call_command
from django.core.management.base import CommandError

from messages_app import bodies, roles
from messages_app.storage import DurableFileSystemStorage

# The real S3-compatible server (moto over HTTP), for the tests that run on both storages.
pytest_plugins = ["tests.s3_server"]

# live_server runs beside sync Playwright, which Django would otherwise take for async code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

STORAGE_BACKENDS = ("local", "s3")


_BACKEND_OF_TEST = pytest.StashKey[dict[str, str]]()


def pytest_generate_tests(metafunc):
    """Run tests marked both_storages once per body storage backend: ids show [local] or [s3]."""
    marker = metafunc.definition.get_closest_marker("both_storages")
    if marker is None or metafunc.definition.get_closest_marker("local_storage_only"):
        return
    metafunc.parametrize("body_storage", STORAGE_BACKENDS, indirect=True)


def pytest_collection_modifyitems(config, items):
    config.stash[_BACKEND_OF_TEST] = {
        item.nodeid: item.callspec.params["body_storage"]
        for item in items
        if "body_storage" in getattr(getattr(item, "callspec", None), "params", {})
    }


def pytest_terminal_summary(terminalreporter, config):
    """Count the tests run per storage backend, so a quiet CI log still shows both ran."""
    backend_of = config.stash.get(_BACKEND_OF_TEST, {})
    if not backend_of:
        return
    tally = {backend: Counter() for backend in STORAGE_BACKENDS}
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            backend = backend_of.get(getattr(report, "nodeid", ""))
            if backend:
                tally[backend][outcome] += 1
    terminalreporter.write_sep("-", "tests run on each body storage backend")
    for backend, counts in tally.items():
        terminalreporter.write_line(f"{backend}: " + (", ".join(f"{n} {o}" for o, n in counts.items()) or "none"))


@dataclass(frozen=True)
class BodyStore:
    """The body storage a test runs on, seen from the outside: what is stored, and under which key."""

    backend: str  # "local" or "s3"
    media: Path  # the local storage's folder (the migration target or source when on S3)
    config: dict  # the STORAGES entry

    def stored_keys(self) -> set[str]:
        """Return every key stored under the body prefix, temporary files included."""
        return {listed.key for listed in bodies.body_listing()}

    def read(self, key: str) -> bytes:
        return bodies.body_read_bytes(key)

    def remove(self, key: str) -> None:
        """Delete a file behind the file handler's back (no cache involved), as damage would."""
        storages["messages"].delete(key)

    def overwrite(self, key: str, data: bytes) -> None:
        """Replace a file's bytes behind the file handler's back, as a damaged disk would."""
        bodies.body_copy(key, data, to=storages["messages"])

    def path(self, key: str) -> Path:
        """Return a key's local path; only for tests about the local disk."""
        assert self.backend == "local", "a local path on the S3 backend"
        return self.media / key


_cache_namespaces = itertools.count(1)
_RUN = secrets.token_hex(4)


@pytest.fixture(autouse=True)
def fresh_grants():
    """Forget the grants this process kept: each test's database rolls back what the last one granted."""
    from messages_app import permissions

    permissions.forget()


@pytest.fixture(autouse=True)
def cache_namespace(settings):
    """Give every test a cache of its own by key prefix, without flushing a shared Redis.

    cache.clear() on Redis is FLUSHDB: it would wipe every other run's keys (and a second
    test run or the board itself may share that Redis).
    """
    prefix = f"test-{_RUN}-{os.getpid()}-{next(_cache_namespaces)}"
    settings.CACHES = {alias: {**config, "KEY_PREFIX": prefix} for alias, config in settings.CACHES.items()}
    yield prefix
    used = caches["default"]
    if isinstance(used, RedisCache):
        # Remove this test's keys only (sessions, bodies), so runs leave no litter behind.
        client = used._cache.get_client(None, write=True)
        doomed = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if doomed:
            client.delete(*doomed)


@pytest.fixture(autouse=True)
def body_storage(request, settings, tmp_path, cache_namespace) -> BodyStore:
    """Give every test its own empty body storage: local by default, or S3 when parametrized.

    ``pytest.mark.both_storages`` parametrizes this fixture indirectly with "local" and "s3".
    """
    backend = getattr(request, "param", "local")
    media = tmp_path / "media"
    local = {"BACKEND": "messages_app.storage.DurableFileSystemStorage", "OPTIONS": {"location": str(media)}}
    settings.MEDIA_ROOT = str(media)
    configured = {"local": local}
    if backend == "s3":
        configured["s3"] = request.getfixturevalue("s3_storage")
    else:
        assert backend == "local", backend
    settings.MESSAGEBOARD_STORAGE = backend
    settings.MESSAGEBOARD_STORAGE_BACKENDS = configured
    settings.STORAGES = {**settings.STORAGES, "messages": configured[backend]}
    return BodyStore(backend=backend, media=media, config=configured[backend])


@pytest.fixture
def other_backend(request, settings, body_storage) -> str:
    """Configure the backend the test does not run on, as migrate_storage's target; return its name."""
    if body_storage.backend == "s3":
        return "local"
    settings.MESSAGEBOARD_STORAGE_BACKENDS = {
        **settings.MESSAGEBOARD_STORAGE_BACKENDS,
        "s3": request.getfixturevalue("s3_storage"),
    }
    return "s3"


@dataclass(frozen=True)
class CommandRun:
    code: int  # the exit status manage.py would give
    out: str
    err: str


@pytest.fixture
def run_command():
    """Return a function running a management command, returning its exit status and output."""

    def run(name: str, *args: str, verbosity: int = 1) -> CommandRun:
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command(name, *args, stdout=out, stderr=err, verbosity=verbosity)
        except CommandError as error:
            # manage.py prints the error on stderr and exits with its returncode.
            err.write(f"CommandError: {error}\n")
            return CommandRun(error.returncode, out.getvalue(), err.getvalue())
        return CommandRun(0, out.getvalue(), err.getvalue())

    return run


def database_url() -> str:
    """Return a DATABASE_URL for the test database, for a manage.py run in another process."""
    from django.db import connection

    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    user, host, port = settings_dict["USER"], settings_dict["HOST"] or "127.0.0.1", settings_dict["PORT"] or 5432
    return f"postgres://{user}@{host}:{port}/{settings_dict['NAME']}"


@pytest.fixture
def board_env(body_storage) -> dict[str, str]:
    """Return the environment a separate board process needs to use this test's database and storage.

    On S3 it is configured the way an operator would: MESSAGEBOARD_STORAGE=s3 and AWS_* variables.
    """
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "messageboard.settings",
        "DATABASE_URL": database_url(),
        "MEDIA_ROOT": str(body_storage.media),
        "MESSAGEBOARD_STORAGE": body_storage.backend,
    }
    # Its cache would have no per-test key prefix: left out, the process caches in its own memory.
    env.pop("REDIS_URL", None)
    if body_storage.backend == "s3":
        options = body_storage.config["OPTIONS"]
        env.update(
            AWS_STORAGE_BUCKET_NAME=options["bucket_name"],
            AWS_S3_ENDPOINT_URL=options["endpoint_url"],
            AWS_ACCESS_KEY_ID=options["access_key"],
            AWS_SECRET_ACCESS_KEY=options["secret_key"],
            AWS_S3_REGION_NAME=options["region_name"],
            AWS_S3_ADDRESSING_STYLE=options["addressing_style"],
        )
    return env


@pytest.fixture
def make_user(db):
    def make(username: str, password: str = "correct horse battery staple", **extra):
        return get_user_model().objects.create_user(username=username, password=password, **extra)

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def make_message(alice):
    from messages_app import services

    def make(subject: str = "Hello", body: str = "First version.\nSecond line.", author=None):
        return services.message_create(author=author or alice, subject=subject, body=body)

    return make


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(alice, bob):
    from django.test import Client

    other = Client()
    other.force_login(bob)
    return other


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture
def body_files(body_storage):
    """Return a function listing every key in the body storage (local or S3)."""
    return body_storage.stored_keys


class OpenCountingStorage(DurableFileSystemStorage):
    """The local body storage, recording every key it opens."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.opened: list[str] = []

    def _open(self, name, mode="rb"):
        self.opened.append(name)
        return super()._open(name, mode)


@pytest.fixture
def opened_bodies(settings, body_storage) -> list[str]:
    """Swap in a body storage that records the keys it reads (local or S3), and return that record."""
    counting = {"local": "tests.conftest.OpenCountingStorage", "s3": "tests.s3_server.GetCountingS3Storage"}
    settings.STORAGES = {
        **settings.STORAGES,
        "messages": {**body_storage.config, "BACKEND": counting[body_storage.backend]},
    }
    return storages["messages"].opened


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Hash test passwords cheaply: the default hasher costs most of a second per user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def insert_message_rows(author, count: int) -> list[int]:
    """Insert message rows straight into the database, newest id first in the answer.

    For pages and selectors that never open a body: the rows point at files that do not exist.
    """
    from django.utils import timezone

    from messages_app import boards, pagecache
    from messages_app.models import Message

    now = timezone.now()
    board = boards.default_board()
    Message.objects.bulk_create(
        Message(
            board=board,
            subject=f"Row {n:03d}",
            body_key=f"messages/00/00/missing-{n}.txt",
            size=1,
            sha256="0" * 64,
            author=author,
            updated_by=author,
            created_at=now,
            updated_at=now,
        )
        for n in range(count)
    )
    pagecache.list_changed()  # as the bulk commands do after loading rows
    return list(Message.objects.order_by("-id").values_list("id", flat=True))


@pytest.fixture
def many_messages(alice):
    """Make ``count`` message rows by alice without body files; return their ids, newest first."""
    return lambda count: insert_message_rows(alice, count)


@pytest.fixture
def world(make_user):
    """Boards open, private and staff-only, and a person at each level (tests/support/boards.py)."""
    from tests.support.boards import build_world

    return build_world(make_user)


@pytest.fixture
def make_moderator(make_user):
    """Return a function making a moderator as `make_moderator` does: the moderators group, and staff."""

    def make(username: str):
        user = make_user(username)
        roles.moderator_add(user=user)
        return user

    return make


@pytest.fixture
def mia(make_moderator):
    """The moderator of the tests."""
    return make_moderator("mia")


@pytest.fixture
def mod_client(mia):
    """A browser signed in as mia, a moderator."""
    from django.test import Client

    client = Client()
    client.force_login(mia)
    return client


@pytest.fixture(autouse=True)
def rate_limits_off(settings):
    """Run the suite without request rate limits: its tests post, save and sign in far faster than people.

    The limits' own tests turn them on with the ``rate_limits`` fixture; a test of some other
    rule (20 tokens per user, say) then need not budget its requests against them.
    """
    settings.MESSAGEBOARD_RATE_LIMITS = False


@pytest.fixture
def rate_limits(settings, rate_limits_off, cache_namespace):
    """Turn the request rate limits on, counting from zero in a key prefix of this test's own.

    On the Redis storage (REDIS_URL set) the test's keys are removed afterwards, never the
    whole database, which other runs and the board itself may share.
    """
    from messages_app import ratelimits

    settings.MESSAGEBOARD_RATE_LIMITS = True
    settings.MESSAGEBOARD_RATE_KEY_PREFIX = f"{cache_namespace}-limits"
    yield settings
    storage = ratelimits.limiter().storage
    if hasattr(storage, "get_connection"):
        client = storage.get_connection()
        doomed = list(client.scan_iter(match=f"{settings.MESSAGEBOARD_RATE_KEY_PREFIX}:*", count=1000))
        if doomed:
            client.delete(*doomed)
    ratelimits.reset()
