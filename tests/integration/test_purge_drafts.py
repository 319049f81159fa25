"""purge_drafts: drafts and the tombstones of saved or discarded ones, untouched for a while, go with their files."""

from datetime import timedelta

import pytest
from django.utils import timezone

from messages_app import bodies, drafts, editing
from messages_app.models import Draft

pytestmark = [pytest.mark.django_db, pytest.mark.both_storages]


def draft_files() -> set[str]:
    return {listed.key for listed in bodies.draft_listing()}


def put(message, user, *, seq: int = 1, body: str = "Draft text.", base_version: int = 1) -> Draft:
    drafts.draft_put(message_id=message.pk, user=user, subject=None, body=body, base_version=base_version, seq=seq)
    return Draft.objects.get(message=message, user=user)


def aged(draft: Draft, days: float) -> Draft:
    Draft.objects.filter(pk=draft.pk).update(updated_at=timezone.now() - timedelta(days=days))
    return Draft.objects.get(pk=draft.pk)


@pytest.fixture
def aged_drafts(make_message, alice, bob):
    """An old draft and an old tombstone (40 days), a recent draft and a recent tombstone (10 days)."""
    old_live = aged(put(make_message(), alice, body="abandoned"), 40)
    saved = make_message()
    put(saved, alice)
    editing.message_edit_save(
        message_id=saved.pk, user=alice, base_version=1, lease_token=None, subject=None, body="saved", draft_seq=5
    )
    old_tombstone = aged(Draft.objects.get(message=saved), 40)
    recent_live = aged(put(make_message(), bob, body="still wanted"), 10)
    discarded = make_message()
    put(discarded, bob)
    drafts.draft_discard(message_id=discarded.pk, user=bob)
    recent_tombstone = aged(Draft.objects.get(message=discarded), 10)
    assert old_tombstone.consumed_at is not None and recent_tombstone.consumed_at is not None
    assert draft_files() == {old_live.body_key, recent_live.body_key}
    return {"old": [old_live, old_tombstone], "recent": [recent_live, recent_tombstone]}


def test_purge_removes_old_drafts_and_tombstones_with_their_files_and_keeps_recent_ones(
    aged_drafts, run_command, body_storage
):
    result = run_command("purge_drafts", "--older-than", "30d")
    assert result.code == 0, result
    assert "Removed 2 drafts (1 with text, each a file)." in result.out
    assert set(Draft.objects.values_list("pk", flat=True)) == {draft.pk for draft in aged_drafts["recent"]}
    recent_live = aged_drafts["recent"][0]
    assert draft_files() == {recent_live.body_key}
    assert body_storage.read(recent_live.body_key) == b"still wanted"


def test_a_shorter_age_removes_the_recent_ones_too(aged_drafts, run_command):
    result = run_command("purge_drafts", "--older-than", "1w")
    assert result.code == 0, result
    assert "Removed 4 drafts (2 with text, each a file)." in result.out
    assert not Draft.objects.exists()
    assert draft_files() == set()


def test_a_dry_run_says_what_would_go_and_removes_nothing(aged_drafts, run_command):
    rows_before = set(Draft.objects.values_list("pk", "seq", "body_key", "updated_at", "consumed_at"))
    files_before = draft_files()
    result = run_command("purge_drafts", "--older-than", "30d", "--dry-run")
    assert result.code == 0, result
    assert "Would remove 2 drafts (1 with text, each a file)." in result.out
    assert set(Draft.objects.values_list("pk", "seq", "body_key", "updated_at", "consumed_at")) == rows_before
    assert draft_files() == files_before


def test_a_purged_tombstone_no_longer_refuses_a_low_seq_and_the_user_can_start_over(aged_drafts, run_command, alice):
    old_tombstone = aged_drafts["old"][1]
    run_command("purge_drafts", "--older-than", "30d")
    kept = drafts.draft_put(
        message_id=old_tombstone.message_id, user=alice, subject=None, body="fresh", base_version=2, seq=1
    )
    assert kept.body == "fresh"


def test_a_draft_written_again_during_the_purge_stays_with_its_new_file(make_message, alice):
    first, second = make_message(), make_message()
    first_pk = aged(put(first, alice, body="first"), 40).pk
    aged(put(second, alice, body="second"), 40)
    purge = drafts.drafts_purge(older_than=timezone.now() - timedelta(days=30))
    assert next(purge).pk == first_pk
    # The user comes back to the second draft after the purge read its batch.
    put(second, alice, seq=2, body="came back to it")
    rest = list(purge)
    assert rest == []
    assert not Draft.objects.filter(message=first).exists()
    survivor = Draft.objects.get(message=second)
    assert bodies.draft_read(survivor.body_key) == "came back to it"
    assert draft_files() == {survivor.body_key}


@pytest.mark.local_storage_only
@pytest.mark.parametrize("age", ["30", "thirty days", "30x", "-3d", "3.5d", ""])
def test_a_bad_older_than_exits_non_zero_with_a_clear_message_and_removes_nothing(
    make_message, alice, run_command, age
):
    aged(put(make_message(), alice), 400)
    result = run_command("purge_drafts", f"--older-than={age}")
    assert result.code != 0
    assert "--older-than must look like 30d, 12h, 90m, 45s or 2w" in result.err
    assert Draft.objects.count() == 1
    assert len(draft_files()) == 1


@pytest.mark.local_storage_only
def test_an_age_reaching_before_year_one_exits_non_zero_with_a_clear_message(run_command):
    result = run_command("purge_drafts", "--older-than", "99999999d")
    assert result.code != 0
    assert "reaches back before the calendar" in result.err


@pytest.mark.local_storage_only
def test_older_than_is_required(run_command):
    result = run_command("purge_drafts")
    assert result.code != 0
    assert "--older-than" in result.err


@pytest.mark.local_storage_only
def test_old_draft_files_no_draft_points_at_are_removed_and_fresh_ones_kept(make_message, alice, settings):
    import os

    from django.core.management import call_command

    message = make_message()
    kept = put(message, alice)
    # An interrupted write: the file is durable, but its row never pointed at it.
    old_orphan = bodies.draft_save(message_id=message.pk, user_id=alice.pk, data=b"lost on the way").key
    fresh_orphan = bodies.draft_save(message_id=message.pk, user_id=alice.pk, data=b"being written now").key
    forty_days_ago = (timezone.now() - timedelta(days=40)).timestamp()
    for key in (old_orphan, kept.body_key):
        os.utime(bodies.messages_storage().path(key), (forty_days_ago, forty_days_ago))

    call_command("purge_drafts", "--older-than", "30d", verbosity=0)

    files = draft_files()
    assert old_orphan not in files
    assert fresh_orphan in files
    # A file its draft points at stays, however old (the draft itself is recent).
    assert kept.body_key in files
