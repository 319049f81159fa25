"""Bodies are cached by their storage key: immutable keys, so a cached body is never stale.

The page tests run on local disk and on S3. The cache itself is Redis when REDIS_URL is set
(as in CI) and local memory otherwise; every test has a key prefix of its own (see
tests/conftest.py), so nothing here flushes a shared Redis.
"""

import os
import runpy
import uuid
from pathlib import Path

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from django.db import connection

from messageboard.cache import ReusingRedisCache
from messages_app import bodies, editing, selectors, services
from messages_app.models import Message

pytestmark = [pytest.mark.django_db, pytest.mark.both_storages]

SETTINGS_FILE = Path(__file__).resolve().parents[2] / "messageboard" / "settings.py"


def page(client, message) -> str:
    response = client.get(f"/messages/{message.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def forget(key: str) -> None:
    bodies.body_uncache(key)


def test_a_second_read_of_a_message_page_does_not_touch_storage(make_message, client, opened_bodies):
    message = make_message(body="Read me twice")
    forget(message.body_key)  # as on another app server, where the save did not fill the cache
    assert "Read me twice" in page(client, message)
    assert opened_bodies == [message.body_key]
    assert "Read me twice" in page(client, message)
    assert "Read me twice" in page(client, message)
    assert opened_bodies == [message.body_key]


def test_a_cached_body_renders_even_with_its_file_gone(make_message, client, body_storage):
    message = make_message(body="Still served")
    forget(message.body_key)
    assert "Still served" in page(client, message)
    body_storage.remove(message.body_key)
    assert message.body_key not in body_storage.stored_keys()
    assert "Still served" in page(client, message)
    assert client.get(f"/api/messages/{message.pk}/body").content == b"Still served"


def test_saving_fills_the_cache_so_the_first_read_touches_no_storage(alice, client, opened_bodies):
    message = services.message_create(author=alice, subject="Fresh", body="Cached on save")
    assert "Cached on save" in page(client, message)
    assert opened_bodies == []


def test_a_new_version_gets_a_new_key_so_readers_never_see_stale_text(make_message, alice, client):
    message = make_message(body="version one")
    assert "version one" in page(client, message)
    old_key = message.body_key
    editing.message_edit_save(
        message_id=message.pk, user=alice, base_version=1, lease_token=None, subject=None, body="version two"
    )
    current = Message.objects.get(pk=message.pk)
    assert current.body_key != old_key
    # The old text is still cached, under the old key only: it is still right for version 1.
    assert bodies.body_cached(old_key) == "version one"
    text = page(client, current)
    assert "version two" in text and "version one" not in text
    assert client.get(f"/api/messages/{message.pk}/body").content == b"version two"
    assert "version one" in client.get(f"/messages/{message.pk}/history/1/").content.decode()


def test_a_new_version_read_on_another_app_server_is_not_stale_either(make_message, alice, client, opened_bodies):
    message = make_message(body="version one")
    assert "version one" in page(client, message)
    editing.message_edit_save(
        message_id=message.pk, user=alice, base_version=1, lease_token=None, subject=None, body="version two"
    )
    current = Message.objects.get(pk=message.pk)
    forget(current.body_key)  # the server that saved it cached it; this one has not seen it
    assert "version two" in page(client, current)
    assert opened_bodies == [current.body_key]


def test_deleting_a_body_drops_its_cached_text(make_message, body_storage):
    message = make_message(body="going")
    key = message.body_key
    assert bodies.body_read(key) == "going"
    bodies.body_delete(key)
    assert bodies.body_cached(key) is None
    with pytest.raises(FileNotFoundError):
        bodies.body_read(key)


@pytest.mark.local_storage_only
def test_the_cache_in_use_is_redis_when_redis_url_is_set_and_local_memory_otherwise(settings, cache_namespace):
    """CI sets REDIS_URL, so there this proves a real Redis round trip; elsewhere, local memory."""
    used = caches["default"]
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        assert isinstance(used, RedisCache)
        assert settings.CACHES["default"]["LOCATION"] == redis_url
        assert cache.set("round-trip", {"text": "héllo ☕", "n": 1}, 30) is None
        assert cache.get("round-trip") == {"text": "héllo ☕", "n": 1}
        raw = used._cache.get_client(None)
        stored_under = cache.make_key("round-trip")
        assert stored_under.startswith(cache_namespace + ":")
        assert raw.exists(stored_under) == 1
        assert 0 < raw.ttl(stored_under) <= 30
        cache.delete("round-trip")
        assert raw.exists(stored_under) == 0
    else:
        assert isinstance(used, LocMemCache)
        cache.set("round-trip", "héllo", 30)
        assert cache.get("round-trip") == "héllo"


@pytest.mark.local_storage_only
def test_every_test_gets_its_own_cache_key_prefix(settings, cache_namespace):
    assert settings.CACHES["default"]["KEY_PREFIX"] == cache_namespace
    assert cache.make_key("x").startswith(cache_namespace + ":")


def settings_with(monkeypatch, **env) -> dict:
    for name in ("REDIS_URL", "MESSAGEBOARD_STORAGE", "AWS_STORAGE_BUCKET_NAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS_FILE))


@pytest.mark.local_storage_only
def test_settings_choose_redis_from_redis_url_and_local_memory_without_it(monkeypatch):
    with_redis = settings_with(monkeypatch, REDIS_URL="redis://cache.internal:6380/2")
    assert with_redis["CACHES"]["default"] == {
        "BACKEND": "messageboard.cache.ReusingRedisCache",
        "LOCATION": "redis://cache.internal:6380/2",
    }
    without = settings_with(monkeypatch)
    assert without["CACHES"]["default"]["BACKEND"] == "messageboard.cache.CountedLocMemCache"


@pytest.mark.local_storage_only
def test_settings_switch_bodies_to_s3_from_the_environment_alone(monkeypatch):
    configured = settings_with(
        monkeypatch,
        MESSAGEBOARD_STORAGE="s3",
        AWS_STORAGE_BUCKET_NAME="bodies",
        AWS_S3_ENDPOINT_URL="http://minio.internal:9000",
        AWS_S3_REGION_NAME="eu-west-1",
        AWS_S3_ADDRESSING_STYLE="path",
    )
    messages = configured["STORAGES"]["messages"]
    assert messages["BACKEND"] == "messages_app.storage.BodyS3Storage"
    assert messages["OPTIONS"]["bucket_name"] == "bodies"
    assert messages["OPTIONS"]["endpoint_url"] == "http://minio.internal:9000"
    assert messages["OPTIONS"]["region_name"] == "eu-west-1"
    assert messages["OPTIONS"]["addressing_style"] == "path"
    assert set(configured["MESSAGEBOARD_STORAGE_BACKENDS"]) == {"local", "s3"}
    local = settings_with(monkeypatch)
    assert local["STORAGES"]["messages"]["BACKEND"] == "messages_app.storage.DurableFileSystemStorage"
    assert set(local["MESSAGEBOARD_STORAGE_BACKENDS"]) == {"local"}


@pytest.mark.local_storage_only
def test_settings_refuse_s3_without_a_bucket(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="AWS_STORAGE_BUCKET_NAME must be set"):
        settings_with(monkeypatch, MESSAGEBOARD_STORAGE="s3")


def test_the_redis_cache_keeps_one_client_and_still_reads_and_writes(settings):
    # Django's own backend builds a client per call; ours keeps it (messageboard/cache.py).
    cache = ReusingRedisCache("redis://127.0.0.1:6379/0", {"KEY_PREFIX": f"reuse-{uuid.uuid4().hex}"})
    try:
        assert cache._cache.get_client() is cache._cache.get_client()
        assert cache._cache.get_client(write=True) is cache._cache.get_client(write=True)
        cache.set("greeting", "hello", 30)
        assert cache.get("greeting") == "hello"
        cache.set("greeting-count", 1, 30)
        assert cache.incr("greeting-count") == 2
        cache.delete("greeting")
        assert cache.get("greeting") is None
    finally:
        cache.delete("greeting-count")


@pytest.mark.local_storage_only
def test_postgresql_statements_are_bound_and_prepared_by_the_server_unless_turned_off(monkeypatch):
    # Planning the message page's joins cost more than running them: kept prepared per connection.
    url = "postgres://board@db.internal:5432/board"
    options = settings_with(monkeypatch, DATABASE_URL=url)["DATABASES"]["default"]["OPTIONS"]
    assert options["server_side_binding"] is True and options["prepare_threshold"] == 5
    # Behind PgBouncer's transaction mode a prepared statement may be on another connection.
    off = settings_with(monkeypatch, DATABASE_URL=url, MESSAGEBOARD_PG_PREPARED_STATEMENTS="false")
    assert "server_side_binding" not in off["DATABASES"]["default"].get("OPTIONS", {})
    sqlite = settings_with(monkeypatch, DATABASE_URL="sqlite:////tmp/board.sqlite3")
    assert "server_side_binding" not in sqlite["DATABASES"]["default"]["OPTIONS"]


def test_postgresql_keeps_the_message_query_prepared_and_sqlite_needs_no_option(make_message):
    message = make_message()
    for _ in range(6):
        selectors.message_get(message_id=message.pk)
    if connection.vendor != "postgresql":
        # Python's sqlite3 keeps its own cache of compiled statements per connection.
        assert "server_side_binding" not in connection.settings_dict["OPTIONS"]
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("FROM messages_app_message WHERE id = $1" in statement for statement in prepared)
