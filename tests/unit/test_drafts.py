"""Drafts (messages_app.drafts): a user's unsaved text of a message, kept as a file beside the bodies.

The rules: the newest sequence number wins and a refused write leaves no file; a draft outlives
leases and other people's saves, and ends with its writer's save or discard; a user keeps at most
MESSAGEBOARD_MAX_DRAFTS_PER_USER; checks run in the API's order. Every test runs on local disk
and on S3, listing the storage under ``drafts/`` to see which files are left.
"""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from messages_app import bodies, drafts, editing, services
from messages_app.drafts import SEQ_MAX
from messages_app.errors import (
    DRAFT_BASE_INVALID,
    DRAFT_SEQ_INVALID,
    BodyTooLarge,
    DraftNotFound,
    DraftOutOfSequence,
    InvalidInput,
    MessageGone,
    MessageNotFound,
    NotAllowed,
    TooManyDrafts,
    VersionConflict,
)
from messages_app.models import Draft, EditLease, Message

pytestmark = [pytest.mark.django_db, pytest.mark.both_storages]

MISSING_ID = 999_999


def draft_files() -> set[str]:
    """Every file stored under the drafts prefix (temporary files included)."""
    return {listed.key for listed in bodies.draft_listing()}


def put(message, user, *, seq: int, body: str = "My draft.", base_version: int = 1, subject: str | None = None):
    return drafts.draft_put(
        message_id=message.pk if hasattr(message, "pk") else message,
        user=user,
        subject=subject,
        body=body,
        base_version=base_version,
        seq=seq,
    )


def save(message, user, *, base_version: int = 1, body: str = "Saved text.", token=None, **extra):
    return editing.message_edit_save(
        message_id=message.pk,
        user=user,
        base_version=base_version,
        lease_token=token,
        subject=None,
        body=body,
        **extra,
    )


def text_of(message, user) -> str | None:
    found = drafts.draft_find(message_id=message.pk, user=user)
    return None if found is None else found.body


def expire_leases() -> None:
    EditLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))


# Where the text lives


def test_a_draft_is_a_file_under_drafts_on_the_message_storage_that_reads_back(make_message, alice, body_storage):
    message = make_message(subject="Topic")
    kept = put(message, alice, seq=1, body="Draft line one\nline two é")
    row = Draft.objects.get()
    data = "Draft line one\nline two é".encode()
    assert row.body_key.startswith("drafts/")
    assert f"/{message.pk}-u{alice.pk}-" in row.body_key
    assert draft_files() == {row.body_key}
    assert body_storage.read(row.body_key) == data
    assert bodies.draft_read(row.body_key) == "Draft line one\nline two é"
    assert (row.size, row.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert (kept.body, kept.seq, kept.base_version, kept.subject) == (data.decode(), 1, 1, "Topic")
    found = drafts.draft_get(message_id=message.pk, user=alice)
    assert (found.body, found.seq, found.base_version, found.subject) == (data.decode(), 1, 1, "Topic")


def test_a_draft_file_is_not_listed_among_message_bodies(make_message, alice, body_files):
    message = make_message()
    put(message, alice, seq=1)
    assert all(not key.startswith("drafts/") for key in body_files())
    assert Draft.objects.get().body_key not in body_files()


def test_a_draft_without_subject_keeps_the_one_it_had_and_a_new_one_takes_the_messages(make_message, alice):
    message = make_message(subject="Message subject")
    assert put(message, alice, seq=1).subject == "Message subject"
    assert put(message, alice, seq=2, subject="My subject").subject == "My subject"
    assert put(message, alice, seq=3).subject == "My subject"
    assert drafts.draft_get(message_id=message.pk, user=alice).subject == "My subject"


def test_each_user_has_a_draft_of_their_own_with_its_own_sequence(make_message, alice, bob):
    message = make_message()
    put(message, alice, seq=10, body="alice's text")
    put(message, bob, seq=1, body="bob's text")
    assert text_of(message, alice) == "alice's text"
    assert text_of(message, bob) == "bob's text"
    assert len(draft_files()) == 2


def test_nobody_reads_another_users_draft(make_message, alice, bob):
    message = make_message()
    put(message, alice, seq=1)
    with pytest.raises(DraftNotFound):
        drafts.draft_get(message_id=message.pk, user=bob)


def test_without_a_draft_draft_get_raises_draft_not_found(make_message, alice):
    message = make_message()
    with pytest.raises(DraftNotFound):
        drafts.draft_get(message_id=message.pk, user=alice)


# The sequence rule


def test_a_higher_seq_replaces_the_text_and_deletes_the_replaced_file(make_message, alice, body_storage):
    message = make_message()
    put(message, alice, seq=1, body="first")
    first_key = Draft.objects.get().body_key
    kept = put(message, alice, seq=5, body="second")
    row = Draft.objects.get()
    assert kept.seq == row.seq == 5
    assert row.body_key != first_key
    assert draft_files() == {row.body_key}
    assert body_storage.read(row.body_key) == b"second"


@pytest.mark.parametrize("late_seq", [5, 4, 1], ids=["equal", "one-lower", "much-lower"])
def test_a_write_with_an_equal_or_lower_seq_is_refused_naming_the_stored_seq_and_leaves_no_file(
    make_message, alice, body_storage, late_seq
):
    message = make_message()
    put(message, alice, seq=5, body="newest")
    before = Draft.objects.values().get()
    with pytest.raises(DraftOutOfSequence) as refused:
        put(message, alice, seq=late_seq, body="late")
    assert refused.value.stored_seq == 5
    assert Draft.objects.values().get() == before
    assert draft_files() == {before["body_key"]}
    assert body_storage.read(before["body_key"]) == b"newest"


def test_a_write_overtaken_after_its_file_is_written_is_refused_and_its_file_deleted(make_message, alice, monkeypatch):
    """The locked re-check: a newer write lands between the first look at the seq and the publish."""
    message = make_message()
    put(message, alice, seq=1, body="old")
    real_save = bodies.draft_save
    overtaken = []

    def save_then_get_overtaken(**kwargs):
        stored = real_save(**kwargs)
        if not overtaken:
            overtaken.append(True)
            put(message, alice, seq=9, body="newer, landed first")
        return stored

    monkeypatch.setattr(bodies, "draft_save", save_then_get_overtaken)
    with pytest.raises(DraftOutOfSequence) as refused:
        put(message, alice, seq=5, body="overtaken")
    assert refused.value.stored_seq == 9
    row = Draft.objects.get()
    assert (row.seq, bodies.draft_read(row.body_key)) == (9, "newer, landed first")
    assert draft_files() == {row.body_key}


def test_the_largest_seq_a_bigint_holds_is_accepted_and_stored_exactly(make_message, alice):
    message = make_message()
    put(message, alice, seq=SEQ_MAX)
    assert Draft.objects.get().seq == SEQ_MAX
    with pytest.raises(DraftOutOfSequence):
        put(message, alice, seq=SEQ_MAX)


# What keeps a draft, and what ends it


def test_a_draft_survives_its_writers_lease_expiring_and_someone_else_taking_it(make_message, alice, bob):
    message = make_message()
    editing.message_lease_acquire(message_id=message.pk, user=alice)
    put(message, alice, seq=1, body="typed under the lease")
    expire_leases()
    editing.message_lease_acquire(message_id=message.pk, user=bob)
    assert EditLease.objects.get().holder == bob
    assert text_of(message, alice) == "typed under the lease"
    assert draft_files() == {Draft.objects.get().body_key}


def test_a_draft_survives_a_moderator_breaking_the_lease(make_message, alice, mia):
    message = make_message()
    editing.message_lease_acquire(message_id=message.pk, user=alice)
    put(message, alice, seq=1, body="typed before the break")
    assert editing.message_lease_break(message_id=message.pk, user=mia) is True
    assert not EditLease.objects.exists()
    assert text_of(message, alice) == "typed before the break"
    assert draft_files() == {Draft.objects.get().body_key}


def test_a_draft_survives_someone_elses_save(make_message, alice, bob):
    message = make_message()
    put(message, alice, seq=1, body="alice's unsaved text")
    save(message, bob, body="bob's version two")
    assert Message.objects.get().version == 2
    row = Draft.objects.get()
    assert row.consumed_at is None
    assert text_of(message, alice) == "alice's unsaved text"
    assert draft_files() == {row.body_key}


def test_a_draft_survives_a_refused_save_of_its_writer(make_message, alice, bob):
    message = make_message()
    save(message, bob, body="bob's version two")
    put(message, alice, seq=1, body="alice's text", base_version=1)
    with pytest.raises(VersionConflict):
        save(message, alice, base_version=1, body="alice's text", draft_seq=2)
    assert text_of(message, alice) == "alice's text"
    assert Draft.objects.get().seq == 1


def test_its_writers_save_consumes_the_draft_deletes_its_file_and_keeps_a_tombstone_with_the_seq(make_message, alice):
    message = make_message()
    put(message, alice, seq=3, body="about to be saved")
    save(message, alice, body="about to be saved", draft_seq=7)
    row = Draft.objects.get()
    assert row.consumed_at is not None
    assert row.seq == 7
    assert draft_files() == set()
    assert drafts.draft_find(message_id=message.pk, user=alice) is None
    with pytest.raises(DraftNotFound):
        drafts.draft_get(message_id=message.pk, user=alice)


def test_a_save_with_a_draft_seq_below_the_stored_one_keeps_the_stored_seq(make_message, alice):
    message = make_message()
    put(message, alice, seq=9)
    save(message, alice, draft_seq=2)
    assert Draft.objects.get().seq == 9
    with pytest.raises(DraftOutOfSequence) as refused:
        put(message, alice, seq=9, base_version=2)
    assert refused.value.stored_seq == 9


@pytest.mark.parametrize("late_seq", [7, 5], ids=["equal", "lower"])
def test_a_heartbeat_sent_before_the_save_and_arriving_after_it_is_refused(make_message, alice, late_seq):
    message = make_message()
    put(message, alice, seq=3, body="typing")
    save(message, alice, body="typing, saved", draft_seq=7)
    with pytest.raises(DraftOutOfSequence) as refused:
        put(message, alice, seq=late_seq, body="typing", base_version=1)
    assert refused.value.stored_seq == 7
    assert drafts.draft_find(message_id=message.pk, user=alice) is None
    assert draft_files() == set()


def test_a_heartbeat_arriving_after_a_save_is_refused_even_when_no_draft_was_kept_before_the_save(make_message, alice):
    """The page's first heartbeat with text is still on its way when the save (draft_seq=1) lands."""
    message = make_message()
    save(message, alice, body="saved at once", draft_seq=1)
    with pytest.raises(DraftOutOfSequence):
        put(message, alice, seq=1, body="saved at once", base_version=1)
    assert drafts.draft_find(message_id=message.pk, user=alice) is None
    assert draft_files() == set()


def test_a_write_above_the_saves_draft_seq_starts_a_new_draft_on_the_tombstone(make_message, alice):
    message = make_message(subject="Topic")
    put(message, alice, seq=3, subject="Old draft subject")
    save(message, alice, draft_seq=7)
    kept = put(message, alice, seq=8, body="new text", base_version=2)
    row = Draft.objects.get()
    assert row.consumed_at is None
    assert (kept.seq, kept.base_version, kept.body) == (8, 2, "new text")
    # A revived draft without a subject takes the message's, not the consumed draft's.
    assert kept.subject == "Topic"
    assert draft_files() == {row.body_key}


def test_a_save_by_the_api_path_without_draft_seq_still_consumes_the_draft(make_message, alice):
    message = make_message()
    put(message, alice, seq=4)
    save(message, alice)
    assert drafts.draft_find(message_id=message.pk, user=alice) is None
    assert Draft.objects.get().seq == 4
    assert draft_files() == set()


def test_a_revert_does_not_consume_the_reverting_users_draft(make_message, alice):
    message = make_message(body="version one")
    save(message, alice, body="version two")
    Draft.objects.all().delete()
    put(message, alice, seq=1, body="my own unsaved text", base_version=2)
    editing.message_revert(message_id=message.pk, user=alice, version=1, base_version=2, lease_token=None)
    assert Message.objects.get().version == 3
    row = Draft.objects.get()
    assert row.consumed_at is None
    assert text_of(message, alice) == "my own unsaved text"
    assert draft_files() == {row.body_key}


def test_discard_deletes_the_file_keeps_a_tombstone_and_says_whether_there_was_a_draft(make_message, alice):
    message = make_message()
    put(message, alice, seq=2)
    assert drafts.draft_discard(message_id=message.pk, user=alice) is True
    row = Draft.objects.get()
    assert row.consumed_at is not None
    assert row.seq == 2
    assert draft_files() == set()
    assert drafts.draft_find(message_id=message.pk, user=alice) is None
    assert drafts.draft_discard(message_id=message.pk, user=alice) is False


def test_discard_with_a_seq_refuses_the_heartbeats_the_page_sent_before_it(make_message, alice):
    message = make_message()
    put(message, alice, seq=2)
    drafts.draft_discard(message_id=message.pk, user=alice, seq=6)
    with pytest.raises(DraftOutOfSequence) as refused:
        put(message, alice, seq=6)
    assert refused.value.stored_seq == 6
    assert put(message, alice, seq=7, body="typed after the discard").body == "typed after the discard"


def test_discard_leaves_other_users_drafts_alone(make_message, alice, bob):
    message = make_message()
    put(message, alice, seq=1, body="alice's")
    put(message, bob, seq=1, body="bob's")
    drafts.draft_discard(message_id=message.pk, user=alice)
    assert text_of(message, bob) == "bob's"
    assert draft_files() == {Draft.objects.get(user=bob).body_key}


def test_discard_on_a_missing_or_deleted_message_raises_not_found_or_gone(make_message, alice):
    message = make_message()
    with pytest.raises(MessageNotFound):
        drafts.draft_discard(message_id=MISSING_ID, user=alice)
    services.message_delete(message_id=message.pk, user=alice)
    with pytest.raises(MessageGone):
        drafts.draft_discard(message_id=message.pk, user=alice)


# The per-user cap


@pytest.fixture
def cap_of_two(settings):
    settings.MESSAGEBOARD_MAX_DRAFTS_PER_USER = 2


def test_a_user_at_the_cap_cannot_start_another_draft_and_no_file_is_written(cap_of_two, make_message, alice):
    first, second, third = make_message(), make_message(), make_message()
    put(first, alice, seq=1)
    put(second, alice, seq=1)
    before = draft_files()
    with pytest.raises(TooManyDrafts) as refused:
        put(third, alice, seq=1)
    assert refused.value.limit == 2
    assert not Draft.objects.filter(message=third).exists()
    assert draft_files() == before


def test_a_user_at_the_cap_may_still_rewrite_a_draft_they_have(cap_of_two, make_message, alice):
    first, second = make_message(), make_message()
    put(first, alice, seq=1)
    put(second, alice, seq=1)
    assert put(first, alice, seq=2, body="rewritten").body == "rewritten"


def test_a_saved_or_discarded_draft_no_longer_counts_towards_the_cap(cap_of_two, make_message, alice):
    first, second, third, fourth = (make_message() for _ in range(4))
    put(first, alice, seq=1)
    put(second, alice, seq=1)
    save(first, alice)
    drafts.draft_discard(message_id=second.pk, user=alice)
    put(third, alice, seq=1)
    put(fourth, alice, seq=1)
    assert Draft.objects.filter(consumed_at__isnull=True).count() == 2


def test_reviving_a_tombstone_counts_towards_the_cap(cap_of_two, make_message, alice):
    first, second, third = make_message(), make_message(), make_message()
    put(first, alice, seq=1)
    save(first, alice)
    put(second, alice, seq=1)
    put(third, alice, seq=1)
    with pytest.raises(TooManyDrafts):
        put(first, alice, seq=5, base_version=2)
    assert Draft.objects.get(message=first).consumed_at is not None


def test_other_users_drafts_do_not_count_towards_the_cap(cap_of_two, make_message, alice, bob):
    first, second, third = make_message(), make_message(), make_message()
    put(first, bob, seq=1)
    put(second, bob, seq=1)
    put(third, alice, seq=1)
    put(first, alice, seq=1)
    assert Draft.objects.filter(user=alice).count() == 2


def test_the_sequence_is_checked_before_the_cap(cap_of_two, make_message, alice):
    first, second, third = make_message(), make_message(), make_message()
    put(first, alice, seq=5)
    save(first, alice)
    put(second, alice, seq=1)
    put(third, alice, seq=1)
    with pytest.raises(DraftOutOfSequence):
        put(first, alice, seq=5, base_version=2)


# Validation


BAD_INPUTS = [
    pytest.param({"body": ""}, InvalidInput, "body", id="empty-body"),
    pytest.param({"body": " \n\t "}, InvalidInput, "body", id="blank-body"),
    pytest.param({"body": "a\x00b"}, InvalidInput, "body", id="nul-in-body"),
    pytest.param({"body": "\ud800"}, InvalidInput, "body", id="surrogate-body"),
    pytest.param({"body": "b" * 101}, BodyTooLarge, "body", id="body-101-bytes"),
    pytest.param({"body": "é" * 51}, BodyTooLarge, "body", id="body-102-bytes-in-51-chars"),
    pytest.param({"subject": ""}, InvalidInput, "subject", id="empty-subject"),
    pytest.param({"subject": "a\x00b"}, InvalidInput, "subject", id="nul-in-subject"),
    pytest.param({"subject": "s" * 201}, InvalidInput, "subject", id="subject-201-chars"),
    pytest.param({"seq": 0}, InvalidInput, "seq", id="seq-0"),
    pytest.param({"seq": -1}, InvalidInput, "seq", id="seq-negative"),
    pytest.param({"seq": SEQ_MAX + 1}, InvalidInput, "seq", id="seq-2-to-the-63"),
    pytest.param({"seq": True}, InvalidInput, "seq", id="seq-bool"),
    pytest.param({"seq": "3"}, InvalidInput, "seq", id="seq-str"),
    pytest.param({"seq": 2.0}, InvalidInput, "seq", id="seq-float"),
    pytest.param({"base_version": 0}, InvalidInput, "base_version", id="base-0"),
    pytest.param({"base_version": 3}, InvalidInput, "base_version", id="base-above-current"),
    pytest.param({"base_version": True}, InvalidInput, "base_version", id="base-bool"),
    pytest.param({"base_version": "1"}, InvalidInput, "base_version", id="base-str"),
]


@pytest.mark.parametrize(("change", "error", "field"), BAD_INPUTS)
def test_bad_input_is_refused_naming_its_field_and_writes_no_row_and_no_file(
    make_message, alice, settings, change, error, field
):
    settings.MESSAGEBOARD_MAX_BODY_BYTES = 100
    message = make_message()
    save(message, alice, body="version two")  # the message is at version 2
    arguments = {"subject": None, "body": "Fine.", "base_version": 2, "seq": 1, **change}
    with pytest.raises(error) as refused:
        drafts.draft_put(message_id=message.pk, user=alice, **arguments)
    assert refused.value.field == field
    assert not Draft.objects.exists()
    assert draft_files() == set()


def test_the_seq_and_base_version_errors_say_what_is_allowed(make_message, alice):
    message = make_message()
    with pytest.raises(InvalidInput) as bad_seq:
        put(message, alice, seq=0)
    assert str(bad_seq.value) == DRAFT_SEQ_INVALID
    with pytest.raises(InvalidInput) as bad_base:
        put(message, alice, seq=1, base_version=2)
    assert str(bad_base.value) == DRAFT_BASE_INVALID


def test_a_body_of_exactly_the_limit_and_an_older_base_version_are_accepted(make_message, alice, settings):
    settings.MESSAGEBOARD_MAX_BODY_BYTES = 100
    message = make_message()
    save(message, alice, body="version two")
    kept = put(message, alice, seq=1, body="b" * 100, base_version=1)
    assert (kept.base_version, len(kept.body)) == (1, 100)
    assert Draft.objects.get().size == 100


def test_bad_input_with_a_stale_seq_is_refused_as_bad_input_not_as_out_of_sequence(make_message, alice):
    message = make_message()
    put(message, alice, seq=5)
    with pytest.raises(InvalidInput) as refused:
        put(message, alice, seq=2, body="")
    assert not isinstance(refused.value, DraftOutOfSequence)
    assert refused.value.field == "body"


# Permission, and the order of checks


def test_a_member_may_not_keep_a_draft_of_a_protected_message(make_message, alice, mia):
    message = make_message()
    services.message_protect(message_id=message.pk, user=mia)
    with pytest.raises(NotAllowed):
        put(message, alice, seq=1)
    assert not Draft.objects.exists()
    assert draft_files() == set()


def test_a_moderator_may_keep_a_draft_of_a_protected_message(make_message, mia):
    message = make_message()
    services.message_protect(message_id=message.pk, user=mia)
    assert put(message, mia, seq=1, body="moderator's draft").body == "moderator's draft"
    assert drafts.draft_get(message_id=message.pk, user=mia).body == "moderator's draft"


def test_permission_is_checked_before_the_input(make_message, alice, mia):
    message = make_message()
    services.message_protect(message_id=message.pk, user=mia)
    with pytest.raises(NotAllowed):
        put(message, alice, seq=0, body="", base_version=99)


def test_a_missing_message_is_not_found_before_anything_else(alice):
    with pytest.raises(MessageNotFound):
        drafts.draft_put(message_id=MISSING_ID, user=alice, subject="", body="", base_version=0, seq=0)
    with pytest.raises(MessageNotFound):
        drafts.draft_get(message_id=MISSING_ID, user=alice)
    assert draft_files() == set()


def test_a_deleted_message_is_gone_before_permission_and_input(make_message, alice, mia):
    message = make_message()
    services.message_protect(message_id=message.pk, user=mia)
    services.message_delete(message_id=message.pk, user=mia)
    with pytest.raises(MessageGone):
        drafts.draft_put(message_id=message.pk, user=alice, subject="", body="", base_version=0, seq=0)
    assert draft_files() == set()


def test_a_draft_of_a_message_deleted_since_is_gone_not_returned(make_message, alice):
    message = make_message()
    put(message, alice, seq=1)
    services.message_delete(message_id=message.pk, user=alice)
    with pytest.raises(MessageGone):
        drafts.draft_get(message_id=message.pk, user=alice)


@pytest.mark.parametrize("state", ["live", "consumed", "none"])
def test_draft_find_answers_what_the_orm_query_it_replaces_does(make_message, alice, state):
    message = make_message()
    if state != "none":
        drafts.draft_put(message_id=message.pk, user=alice, subject="S", body="Text.", base_version=1, seq=7)
    if state == "consumed":
        drafts.draft_discard(message_id=message.pk, user=alice)
    by_orm = (
        Draft.objects.filter(user=alice, message=message, consumed_at__isnull=True)
        .values_list("subject", "base_version", "seq", "updated_at")
        .first()
    )
    found = drafts.draft_find(message_id=message.pk, user=alice)
    if by_orm is None:
        assert found is None
    else:
        assert (found.subject, found.base_version, found.seq, found.updated_at) == by_orm
        assert found.body == "Text."
