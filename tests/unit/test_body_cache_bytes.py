"""The per-process body cache is bounded in bytes, not entries (issue 11, "Memory").

With Django's local-memory cache, 200 anonymous reads of old 256 KiB revisions grew a worker
by 107 MiB: the cache counted entries (5,000 of them). Bodies now go to a BoundedTextCache within
MESSAGEBOARD_BODY_CACHE_BYTES; with a shared cache (Redis) nothing of them stays in the process.
"""

import gc
import runpy
import sys
import threading
import tracemalloc
from pathlib import Path

import pytest

from messages_app import bodies, editing, history_selectors
from messages_app.models import Revision
from messages_app.textcache import BoundedTextCache

pytestmark = pytest.mark.django_db

KIB = 1024
MIB = 1024 * KIB
LOCAL_MEMORY = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIES": 5000}}
}
SETTINGS_FILE = Path(__file__).resolve().parents[2] / "messageboard" / "settings.py"


@pytest.fixture
def local_memory_cache(settings, cache_namespace):
    """The embedded default's cache (local memory), also where CI sets REDIS_URL."""
    settings.CACHES = {"default": {**LOCAL_MEMORY["default"], "KEY_PREFIX": cache_namespace}}


def cost(key: str, text: str) -> int:
    return sys.getsizeof(text) + sys.getsizeof(key) + BoundedTextCache.ENTRY_OVERHEAD


def test_the_cache_drops_the_least_recently_read_bodies_to_stay_within_its_budget():
    texts = {f"k{n}": chr(ord("a") + n) * 10 * KIB for n in range(5)}
    budget = sum(cost(key, text) for key, text in list(texts.items())[:3])
    kept = BoundedTextCache(budget)
    for key in ("k0", "k1", "k2"):
        kept.set(key, texts[key])
    assert kept.bytes == budget and len(kept) == 3
    assert kept.get("k0") == texts["k0"]  # read: now the most recent
    kept.set("k3", texts["k3"])
    assert kept.get("k1") is None  # the least recently read went
    assert [kept.get(key) is not None for key in ("k0", "k2", "k3")] == [True, True, True]
    assert kept.bytes <= budget


def test_a_body_larger_than_the_budget_is_never_kept_and_replaces_nothing():
    kept = BoundedTextCache(64 * KIB)
    kept.set("small", "s" * KIB)
    kept.set("huge", "h" * 65 * KIB)
    assert kept.get("huge") is None
    assert kept.get("small") == "s" * KIB
    assert kept.bytes == cost("small", "s" * KIB)


def test_bodies_count_by_the_memory_their_text_takes_not_by_their_utf8_size():
    # One emoji makes Python store every character in 4 bytes: 4 times the UTF-8 size.
    text = "x" * (64 * KIB) + "☕\U0001f600"
    kept = BoundedTextCache(16 * MIB)
    kept.set("wide", text)
    assert kept.bytes >= 4 * len(text) > 3 * len(text.encode())


def test_setting_a_key_again_and_deleting_it_keep_the_accounting_exact():
    kept = BoundedTextCache(MIB)
    kept.set("k", "a" * KIB)
    kept.set("k", "b" * (2 * KIB))
    assert kept.get("k") == "b" * (2 * KIB)
    assert kept.bytes == cost("k", "b" * (2 * KIB)) and len(kept) == 1
    kept.delete("k")
    kept.delete("never there")
    assert kept.bytes == 0 and len(kept) == 0
    kept.set("k", "c")
    kept.clear()
    assert kept.bytes == 0 and kept.get("k") is None


def test_threads_reading_and_writing_at_once_never_break_the_budget_or_the_accounting():
    budget = 256 * KIB
    kept = BoundedTextCache(budget)
    failures = []

    def work(worker: int) -> None:
        try:
            for n in range(400):
                key = f"w{worker}-{n % 37}"
                if kept.get(key) is None:
                    kept.set(key, str(worker) * (KIB * (1 + n % 9)))
                if n % 50 == 0:
                    kept.delete(key)
        except Exception as error:  # reported below: an exception in a thread fails nothing by itself
            failures.append(error)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert kept.bytes <= budget
    assert kept.bytes == sum(entry[1] for entry in kept._entries.values())


@pytest.fixture
def large_revisions(make_message, alice, settings):
    """Make a message with 300 versions of 256 KiB each; return their Revision rows, cache emptied."""
    size = settings.MESSAGEBOARD_MAX_BODY_BYTES
    message = make_message(body="0" * size)
    with bodies.batched_durability():
        for version in range(1, 300):
            editing.message_edit_save(
                message_id=message.pk,
                user=alice,
                base_version=version,
                lease_token=None,
                subject=None,
                body=f"{version:06d}" + "x" * (size - 6),
            )
    revisions = list(Revision.objects.filter(message=message).order_by("version"))
    for revision in revisions:
        bodies.body_uncache(revision.body_key)
    return revisions


def test_reading_many_distinct_large_revisions_keeps_the_process_within_the_budget(
    settings, local_memory_cache, large_revisions
):
    budget = 4 * MIB
    settings.MESSAGEBOARD_BODY_CACHE_BYTES = budget
    gc.collect()
    tracemalloc.start()
    try:
        before, _peak = tracemalloc.get_traced_memory()
        for revision in large_revisions:
            assert len(history_selectors.revision_body(revision)) == revision.size
        gc.collect()
        after, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    kept = bodies.BODY_TEXTS.local()
    assert kept is not None and kept.budget == budget
    assert 0 < kept.bytes <= budget
    # 300 bodies of 256 KiB are 75 MiB: kept by entries they stayed in memory whole.
    assert after - before < budget + 2 * MIB
    # The most recent reads are the ones kept, and they are served without storage.
    assert bodies.body_cached(large_revisions[-1].body_key) is not None
    assert bodies.body_cached(large_revisions[0].body_key) is None


def test_the_message_page_reads_of_old_revisions_stay_within_the_budget(
    settings, local_memory_cache, large_revisions, client
):
    settings.MESSAGEBOARD_BODY_CACHE_BYTES = 2 * MIB
    message_id = large_revisions[0].message_id
    for revision in large_revisions[:40]:
        assert client.get(f"/messages/{message_id}/history/{revision.version}/").status_code == 200
    kept = bodies.BODY_TEXTS.local()
    assert 0 < kept.bytes <= 2 * MIB
    assert len(kept) < 10


def test_a_body_is_cached_in_the_process_and_read_once_with_local_memory(
    local_memory_cache, make_message, opened_bodies
):
    message = make_message(body="Read me")
    key = message.body_key
    bodies.body_uncache(key)
    assert bodies.body_read(key) == "Read me"
    assert bodies.body_read(key) == "Read me"
    assert opened_bodies == [key]
    assert bodies.BODY_TEXTS.local().get(key) == "Read me"


def test_with_a_shared_cache_bodies_go_there_and_nothing_stays_in_the_process(
    settings, tmp_path, cache_namespace, make_message, opened_bodies
):
    # A cache outside the process, as Redis is (the file-based one needs no server).
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "cache"),
            "KEY_PREFIX": cache_namespace,
        }
    }
    message = make_message(body="Shared")
    key = message.body_key
    assert bodies.BODY_TEXTS.local() is None
    bodies.body_uncache(key)
    assert bodies.body_cached(key) is None
    assert bodies.body_read(key) == "Shared"
    assert bodies.body_read(key) == "Shared"
    assert opened_bodies == [key]
    from django.core.cache import caches

    assert caches["default"].get(bodies.CACHE_PREFIX + key) == "Shared"


def test_the_budget_defaults_to_64_mib_and_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("MESSAGEBOARD_BODY_CACHE_BYTES", raising=False)
    assert runpy.run_path(str(SETTINGS_FILE))["MESSAGEBOARD_BODY_CACHE_BYTES"] == 64 * MIB
    monkeypatch.setenv("MESSAGEBOARD_BODY_CACHE_BYTES", "1048576")
    assert runpy.run_path(str(SETTINGS_FILE))["MESSAGEBOARD_BODY_CACHE_BYTES"] == MIB
