import os

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache

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
