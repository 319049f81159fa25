import os

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache

from messages_app.bodies import DurableFileSystemStorage

# live_server runs beside sync Playwright, which Django would otherwise take for async code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def body_storage(settings, tmp_path):
    """Give every test its own empty local body storage and an empty cache."""
    media = tmp_path / "media"
    settings.MEDIA_ROOT = str(media)
    settings.STORAGES = {
        **settings.STORAGES,
        "messages": {
            "BACKEND": "messages_app.bodies.DurableFileSystemStorage",
            "OPTIONS": {"location": str(media)},
        },
    }
    cache.clear()
    yield media
    cache.clear()


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
def moderator(make_user):
    from django.contrib.auth.models import Permission

    user = make_user("mod")
    user.user_permissions.add(Permission.objects.get(codename="moderate_message"))
    return user


@pytest.fixture
def body_files(body_storage):
    """Return a function listing every file under the body storage, relative to its root."""

    def files() -> set[str]:
        return {path.relative_to(body_storage).as_posix() for path in body_storage.rglob("*") if path.is_file()}

    return files


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
    """Swap in a body storage that records opened keys, and return that record."""
    from django.core.files.storage import storages

    settings.STORAGES = {
        **settings.STORAGES,
        "messages": {"BACKEND": "tests.conftest.OpenCountingStorage", "OPTIONS": {"location": str(body_storage)}},
    }
    return storages["messages"].opened


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Hash test passwords cheaply: the default hasher costs most of a second per user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
