"""pack_revisions: old versions move into packs, and every one stays readable byte for byte everywhere."""

import hashlib
import json
import re
from datetime import timedelta

import pytest
from django.core.files.storage import storages
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from messages_app import bodies, editing, history_selectors, packs, selectors, services, storage_counters
from messages_app.models import Message, Pack, Revision

pytestmark = [pytest.mark.django_db, pytest.mark.both_storages]

LONG = "".join(f"Line {n}: the board keeps every version of every message.\n" for n in range(60))


def edit(message_id, user, body, subject=None):
    version = Message.objects.get(pk=message_id).version
    return editing.message_edit_save(
        message_id=message_id, user=user, base_version=version, lease_token=None, subject=subject, body=body
    )


def revert(message_id, user, version):
    current = Message.objects.get(pk=message_id).version
    return editing.message_revert(
        message_id=message_id, user=user, version=version, base_version=current, lease_token=None
    )


@pytest.fixture
def histories(make_message, alice, bob):
    """Three messages with real histories: edits, a subject-only edit, a revert, a body cut to one byte."""
    first = make_message(subject="Plans", body=LONG)
    for n in range(6):
        edit(first.pk, bob if n % 2 else alice, LONG.replace(f"Line {n * 7}:", f"Line {n * 7} (edited {n}):"))
    edit(first.pk, alice, history_body(first.pk, 7), subject="Plans, renamed")
    revert(first.pk, bob, 2)
    second = make_message(subject="Unicode", body="naïve café ☕\r\nold mac\rline\n")
    edit(second.pk, bob, "naïve café ☕ 🎉\r\nold mac\rline\n")
    edit(second.pk, alice, "x")
    edit(second.pk, bob, "back again\n")
    lone = make_message(subject="One version only", body="never edited\n")
    return [first.pk, second.pk, lone.pk]


def history_body(message_id: int, version: int) -> str:
    return history_selectors.revision_body(history_selectors.revision_get(message_id=message_id, version=version))


def every_version() -> dict[tuple[int, int], str]:
    """Every version's text, read cold through the file handler (no cached text)."""
    texts = {}
    for message_id, version, key in Revision.objects.values_list("message_id", "version", "body_key"):
        bodies.body_uncache(key)
        texts[message_id, version] = history_body(message_id, version)
    return texts


def pack_all(run_command, *args):
    result = run_command("pack_revisions", "--older-than", "0s", *args)
    assert result.code == 0, result
    return result


def current_keys() -> set[str]:
    return set(Message.objects.values_list("body_key", flat=True))


def pack_keys() -> set[str]:
    return {listed.key for listed in bodies.pack_listing()}


def test_packing_keeps_every_version_byte_for_byte_and_leaves_one_file_per_message(
    histories, body_storage, run_command
):
    before = every_version()
    assert len(before) == 9 + 4 + 1

    result = pack_all(run_command)

    assert "Packed 11 versions" in result.out
    assert body_storage.stored_keys() == current_keys()
    assert len(pack_keys()) == 1
    assert every_version() == before
    packed = Revision.objects.filter(pack__isnull=False)
    assert packed.count() == 11
    assert not packed.filter(message__version=F("version")).exists()
    assert run_command("verify_storage", "--orphan-grace", "0").code == 0


def test_a_pack_s_versions_are_pointed_at_it_in_one_statement(histories, run_command):
    # One statement, not one per version: PostgreSQL's storage-counter trigger runs per statement.
    with CaptureQueriesContext(connection) as queries:
        pack_all(run_command)

    pointer_update = re.compile(r'UPDATE "?messages_app_revision"? SET pack_id')
    pointing = [query["sql"] for query in queries if pointer_update.match(query["sql"])]
    assert len(pointing) == 1, pointing
    assert Revision.objects.filter(pack__isnull=False).count() == 11
    assert storage_counters.storage_counted() == storage_counters.storage_used()


def test_every_page_and_call_that_reads_an_old_version_reads_it_from_the_pack(histories, client, alice, run_command):
    first = histories[0]
    before = every_version()
    pack_all(run_command)
    for key in Revision.objects.values_list("body_key", flat=True):
        bodies.body_uncache(key)
    client.force_login(alice)

    page = client.get(reverse("messages_app:revision-detail", args=[first, 3]))
    assert page.status_code == 200
    assert "Line 7 (edited 1):" in page.content.decode()
    diff = client.get(reverse("messages_app:message-diff", args=[first, 2, 3]))
    assert diff.status_code == 200
    assert "Line 7 (edited 1):" in diff.content.decode()
    api = client.get(f"/api/messages/{first}/revisions/4")
    assert api.status_code == 200
    assert api.json()["body"] == before[first, 4]
    assert hashlib.sha256(api.json()["body"].encode()).hexdigest() == api.json()["sha256"]

    saved = revert(first, alice, 1)
    assert history_body(first, saved.version) == before[first, 1]


def test_a_save_after_packing_writes_its_own_file_and_the_next_run_packs_the_version_it_replaced(
    histories, alice, body_storage, run_command
):
    second = histories[1]
    pack_all(run_command)
    edit(second, alice, "after packing\n")
    assert history_body(second, 5) == "after packing\n"
    assert Revision.objects.get(message_id=second, version=4).pack_id is None

    result = pack_all(run_command)

    assert "Packed 1 versions" in result.out
    assert len(pack_keys()) == 2
    assert Revision.objects.get(message_id=second, version=4).pack_id is not None
    assert body_storage.stored_keys() == current_keys()
    bodies.body_uncache(Revision.objects.get(message_id=second, version=4).body_key)
    assert history_body(second, 4) == "back again\n"


def test_a_second_run_with_nothing_new_writes_nothing(histories, run_command):
    pack_all(run_command)
    packs_before = pack_keys()
    result = pack_all(run_command)
    assert "Packed 0 versions" in result.out
    assert pack_keys() == packs_before


def test_versions_younger_than_older_than_stay_in_their_files(histories, run_command):
    first = histories[0]
    Revision.objects.filter(message_id=first, version__lte=3).update(created_at=timezone.now() - timedelta(days=2))
    result = run_command("pack_revisions", "--older-than", "1d")
    assert result.code == 0, result
    # Version 3 was saved two days ago but replaced just now: it stays in its file a day more.
    assert set(Revision.objects.filter(pack__isnull=False).values_list("message_id", "version")) == {
        (first, 1),
        (first, 2),
    }


def test_a_reader_holding_the_message_from_before_a_save_reads_its_version_once_packed(histories, alice, run_command):
    second = histories[1]
    held = selectors.message_get(message_id=second)
    expected = selectors.message_body(held)
    edit(second, alice, "a newer version\n")
    pack_all(run_command)
    assert Revision.objects.get(message_id=second, version=held.version).pack_id is not None
    bodies.body_uncache(held.body_key)
    assert selectors.message_body(held) == expected


def test_purging_one_message_gets_its_pack_rewritten_without_its_versions_at_the_next_run(
    histories, alice, run_command
):
    first = histories[0]
    pack_all(run_command)
    services.message_delete(message_id=first, user=alice)
    Message.objects.filter(pk=first).update(deleted_at=timezone.now() - timedelta(days=60))
    assert run_command("purge_deleted", "--older-than", "30d").code == 0
    result = pack_all(run_command)
    assert "retired 1 packs" in result.out
    pack = Pack.objects.get()
    # Only the live versions were written into the new pack: the purged text is gone from disk.
    assert pack.versions == Revision.objects.filter(pack=pack).count() == 3


def test_a_dry_run_says_what_would_be_packed_and_changes_nothing(histories, body_storage, run_command):
    files_before = body_storage.stored_keys()
    result = pack_all(run_command, "--dry-run")
    assert "Would pack 11 versions" in result.out
    assert body_storage.stored_keys() == files_before
    assert pack_keys() == set()
    assert not Revision.objects.filter(pack__isnull=False).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--jobs", "0"], "--jobs must be from 1 to 64."),
        (["--repack-below", "1.5"], "--repack-below must be from 0 to 1."),
        (["--older-than", "yesterday"], "--older-than must look like"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_packed(histories, run_command, args, message):
    result = run_command("pack_revisions", *args)
    assert result.code == 1
    assert message in result.err
    assert not Pack.objects.exists()


def test_a_reader_holding_a_row_from_before_packing_or_repacking_still_reads_its_version(histories, run_command):
    first = histories[0]
    expected = history_body(first, 3)
    held = history_selectors.revision_get(message_id=first, version=3)
    assert held.pack_id is None
    pack_all(run_command)
    bodies.body_uncache(held.body_key)
    # The file the held row names is gone: the reader finds the version in the pack.
    assert history_selectors.revision_body(held) == expected

    held = history_selectors.revision_get(message_id=first, version=3)
    Pack.objects.update(versions=1000)  # as if most of the pack had been purged: the next run rewrites it
    result = pack_all(run_command)
    assert "retired 1 packs" in result.out
    bodies.body_uncache(held.body_key)
    assert history_selectors.revision_body(held) == expected


def test_purging_most_messages_then_packing_rewrites_the_pack_and_retires_the_old_one(
    histories, alice, bob, run_command
):
    first, second, _ = histories
    kept = {version: history_body(second, version) for version in range(1, 5)}
    pack_all(run_command)
    old_pack = Pack.objects.get()
    services.message_delete(message_id=first, user=alice)
    Message.objects.filter(pk=first).update(deleted_at=timezone.now() - timedelta(days=60))
    assert run_command("purge_deleted", "--older-than", "30d").code == 0
    # The purged versions' bytes are still in the pack, which nobody reads from any more.
    assert pack_keys() == {old_pack.key}

    result = pack_all(run_command)

    assert "retired 1 packs" in result.out
    assert not Pack.objects.filter(pk=old_pack.pk).exists()
    new_pack = Pack.objects.get()
    assert pack_keys() == {new_pack.key}
    assert new_pack.size < old_pack.size
    for version, text in kept.items():
        bodies.body_uncache(Revision.objects.get(message_id=second, version=version).body_key)
        assert history_body(second, version) == text
    assert run_command("verify_storage", "--orphan-grace", "0").code == 0


def test_a_pack_whose_versions_were_all_purged_is_retired(histories, alice, run_command):
    pack_all(run_command)
    for message_id in histories:
        services.message_delete(message_id=message_id, user=alice)
    Message.objects.update(deleted_at=timezone.now() - timedelta(days=60))
    assert run_command("purge_deleted", "--older-than", "30d").code == 0
    result = pack_all(run_command)
    assert "retired 1 packs" in result.out
    assert not Pack.objects.exists()
    assert pack_keys() == set()


def export_lines(run_command, path) -> list[dict]:
    assert run_command("export_messages", str(path)).code == 0
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_an_export_after_packing_equals_the_export_before(histories, run_command, tmp_path):
    before = export_lines(run_command, tmp_path / "before.jsonl")
    pack_all(run_command)
    for key in Revision.objects.values_list("body_key", flat=True):
        bodies.body_uncache(key)
    assert export_lines(run_command, tmp_path / "after.jsonl") == before


def test_migrate_storage_copies_the_packs_and_the_board_reads_them_on_the_other_storage(
    histories, settings, other_backend, run_command
):
    before = every_version()
    pack_all(run_command)
    result = run_command("migrate_storage", "--to", other_backend)
    assert result.code == 0, result
    settings.MESSAGEBOARD_STORAGE = other_backend
    settings.STORAGES = {**settings.STORAGES, "messages": settings.MESSAGEBOARD_STORAGE_BACKENDS[other_backend]}
    assert pack_keys() == set(Pack.objects.values_list("key", flat=True))
    assert every_version() == before
    assert run_command("verify_storage", "--orphan-grace", "0").code == 0


def damage_truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def damage_flip(data: bytes) -> bytes:
    flipped = bytearray(data)
    flipped[len(flipped) * 2 // 3] ^= 0x01
    return bytes(flipped)


@pytest.mark.parametrize("damage", [damage_truncate, damage_flip], ids=["truncated", "flipped byte"])
def test_verify_storage_reports_a_damaged_pack_and_each_version_it_cannot_read(
    histories, body_storage, run_command, damage
):
    before = every_version()
    pack_all(run_command)
    key = Pack.objects.get().key
    body_storage.overwrite(key, damage(bodies.pack_read(key)))

    result = run_command("verify_storage", "--orphan-grace", "0")

    assert result.code == 1
    assert f"pack      {key}:" in result.out
    assert "packed    " in result.out
    assert re.search(r"Checked 1 packs: [12] damaged, [1-9]\d* packed versions unreadable", result.out)
    # Through the file handler a damaged version fails loudly, never reads as other text.
    failed = 0
    for (message_id, version), text in before.items():
        bodies.body_uncache(Revision.objects.get(message_id=message_id, version=version).body_key)
        try:
            assert history_body(message_id, version) == text
        except packs.PackDamaged:
            failed += 1
    assert failed >= 1


def test_verify_storage_reports_a_missing_pack_with_how_many_versions_it_held(histories, body_storage, run_command):
    pack_all(run_command)
    key = Pack.objects.get().key
    body_storage.remove(key)
    result = run_command("verify_storage", "--orphan-grace", "0")
    assert result.code == 1
    assert f"missing   {key}: the pack is missing: 11 versions cannot be read" in result.out


def test_verify_storage_finds_orphan_and_unused_packs_and_delete_orphans_removes_them(
    histories, body_storage, run_command
):
    orphan = bodies.pack_save(b"MBPACK1\nleft by a run killed before its commit")
    unused_file = bodies.pack_save(b"MBPACK1\n")
    Pack.objects.create(key=unused_file.key, size=unused_file.size, sha256=unused_file.sha256, versions=3)

    result = run_command("verify_storage", "--orphan-grace", "0")
    assert result.code == 1
    assert f"orphan    {orphan.key}: a pack no version points into" in result.out
    assert f"unused    {unused_file.key}: no version points into this pack" in result.out

    result = run_command("verify_storage", "--orphan-grace", "0", "--delete-orphans")
    assert "Retired 1 packs no version points into." in result.out
    assert pack_keys() == set()
    assert not Pack.objects.exists()
    assert run_command("verify_storage", "--orphan-grace", "0").code == 0


def test_a_young_pack_nobody_points_to_is_left_alone_as_a_run_in_flight(histories, run_command):
    young = bodies.pack_save(b"MBPACK1\n")
    result = run_command("verify_storage", "--delete-orphans")
    assert young.key in pack_keys()
    assert "younger than the grace period" in result.out


def test_reading_a_packed_version_is_one_read_of_its_range(histories, body_storage, run_command):
    first = histories[0]
    pack_all(run_command)
    revision = history_selectors.revision_get(message_id=first, version=5)
    bodies.body_uncache(revision.body_key)
    storage = storages["messages"]
    calls = []
    if body_storage.backend == "s3":
        client = storage.connection.meta.client
        client.meta.events.register("provide-client-params.s3.GetObject", lambda params, **_: calls.append(params))
        try:
            history_selectors.revision_body(revision)
        finally:
            client.meta.events.unregister("provide-client-params.s3.GetObject")
        assert len(calls) == 1
        assert calls[0]["Range"] == f"bytes={revision.pack_offset}-{revision.pack_offset + revision.pack_length - 1}"
    else:
        opened = []
        real_open = storage.open
        storage.open = lambda name, mode="rb": opened.append(name) or real_open(name, mode)
        try:
            history_selectors.revision_body(revision)
        finally:
            del storage.open
        assert opened == [revision.pack_key]
