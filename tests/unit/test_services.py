import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from messages_app import bodies, editing, history_selectors, leases, selectors, services
from messages_app.errors import (
    BODY_EMPTY,
    NOT_TEXT,
    NUL_NOT_ALLOWED,
    SUBJECT_EMPTY,
    SUBJECT_TOO_LONG,
    BodyTooLarge,
    InvalidInput,
    LeaseHeld,
    LeaseLost,
    MessageGone,
    MessageNotFound,
    NotAllowed,
    VersionConflict,
)
from messages_app.models import EditLease, Message, Revision

# Every use case runs on local disk and on S3: the services never know which one it is.
pytestmark = [pytest.mark.django_db, pytest.mark.both_storages]


def snapshot(message_id: int, body_files) -> tuple:
    """Everything a refused request must leave as it was."""
    row = Message.objects.values("subject", "version", "body_key", "size", "sha256", "updated_at", "deleted_at").get(
        pk=message_id
    )
    revisions = list(Revision.objects.filter(message_id=message_id).values_list("version", "body_key", "sha256"))
    return row, revisions, body_files()


def save(message, user, *, token=None, base_version=1, subject=None, body="Edited.", **extra):
    return editing.message_edit_save(
        message_id=message.pk,
        user=user,
        base_version=base_version,
        lease_token=token,
        subject=subject,
        body=body,
        **extra,
    )


def acquire(message, user) -> str:
    return editing.message_lease_acquire(message_id=message.pk, user=user).token


# Creating


def test_create_makes_version_1_with_one_revision_and_a_matching_file(alice, body_storage, body_files):
    message = services.message_create(author=alice, subject="Hi", body="Line one\nLine two")
    message.refresh_from_db()
    data = b"Line one\nLine two"
    assert (message.version, message.subject, message.author, message.updated_by) == (1, "Hi", alice, alice)
    assert message.deleted_at is None
    assert (message.size, message.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    revision = Revision.objects.get(message=message)
    assert (revision.version, revision.subject, revision.author) == (1, "Hi", alice)
    assert (revision.body_key, revision.sha256, revision.size) == (message.body_key, message.sha256, message.size)
    assert body_files() == {message.body_key}
    assert body_storage.read(message.body_key) == data
    assert message.body_key.split("/")[-1].startswith(f"{message.pk}-00000001-")


def test_subject_of_exactly_200_characters_is_accepted(alice):
    message = services.message_create(author=alice, subject="s" * 200, body="b")
    assert Message.objects.get(pk=message.pk).subject == "s" * 200


def test_body_of_exactly_the_byte_limit_is_accepted(alice, settings):
    settings.MESSAGEBOARD_MAX_BODY_BYTES = 100
    message = services.message_create(author=alice, subject="s", body="b" * 100)
    assert message.size == 100


TOO_LARGE = "The body is larger than the limit of 100 bytes."
INVALID_INPUTS = [
    pytest.param({"subject": ""}, InvalidInput, SUBJECT_EMPTY, "subject", id="empty-subject"),
    pytest.param({"subject": " \t\n "}, InvalidInput, SUBJECT_EMPTY, "subject", id="blank-subject"),
    pytest.param({"subject": "s" * 201}, InvalidInput, SUBJECT_TOO_LONG, "subject", id="subject-201-chars"),
    pytest.param(
        {"subject": "a\x00b"}, InvalidInput, NUL_NOT_ALLOWED.format(field="subject"), "subject", id="nul-subject"
    ),
    pytest.param(
        {"subject": "a\ud800"}, InvalidInput, NOT_TEXT.format(field="subject"), "subject", id="surrogate-subj"
    ),
    pytest.param({"body": ""}, InvalidInput, BODY_EMPTY, "body", id="empty-body"),
    pytest.param({"body": "  \n\r\n "}, InvalidInput, BODY_EMPTY, "body", id="blank-body"),
    pytest.param({"body": "a\x00b"}, InvalidInput, NUL_NOT_ALLOWED.format(field="body"), "body", id="nul-body"),
    pytest.param({"body": "\ud800"}, InvalidInput, NOT_TEXT.format(field="body"), "body", id="surrogate-body"),
    pytest.param({"body": "b" * 101}, BodyTooLarge, TOO_LARGE, "body", id="body-101-bytes"),
    # The limit counts UTF-8 bytes: 51 characters of two bytes each are 102 bytes.
    pytest.param({"body": "é" * 51}, BodyTooLarge, None, "body", id="big-in-bytes-not-characters"),
]


@pytest.mark.parametrize(("change", "error", "text", "field"), INVALID_INPUTS)
def test_create_refuses_bad_input_and_writes_nothing(alice, settings, body_files, change, error, text, field):
    settings.MESSAGEBOARD_MAX_BODY_BYTES = 100
    with pytest.raises(error) as refused:
        services.message_create(author=alice, **{"subject": "Subject", "body": "Body", **change})
    assert refused.value.field == field
    if text is not None:
        assert str(refused.value) == text
    assert not Message.objects.exists()
    assert not Revision.objects.exists()
    assert body_files() == set()


@pytest.mark.parametrize(("change", "error", "text", "field"), INVALID_INPUTS)
def test_save_edit_refuses_bad_input_and_changes_nothing(
    make_message, alice, settings, body_files, change, error, text, field
):
    settings.MESSAGEBOARD_MAX_BODY_BYTES = 100
    message = make_message()
    token = acquire(message, alice)
    before = snapshot(message.pk, body_files)
    with pytest.raises(error) as refused:
        save(message, alice, token=token, **{"subject": "Subject", "body": "Body", **change})
    assert refused.value.field == field
    if text is not None:
        assert str(refused.value) == text
    assert snapshot(message.pk, body_files) == before
    assert EditLease.objects.get().token == token


# Saving an edit


def test_save_edit_publishes_the_next_version_at_a_new_key_and_keeps_the_old_file(
    make_message, alice, bob, body_storage, body_files
):
    message = make_message(body="one")
    token = acquire(message, bob)
    saved = save(message, bob, token=token, subject="New subject", body="two")
    assert (saved.version, saved.subject) == (2, "New subject")
    current = Message.objects.get(pk=message.pk)
    assert (current.version, current.subject, current.updated_by, current.author) == (2, "New subject", bob, alice)
    assert current.body_key != message.body_key
    assert current.body_key.split("/")[-1].startswith(f"{message.pk}-00000002-")
    assert (current.sha256, current.size) == (hashlib.sha256(b"two").hexdigest(), 3)
    assert (saved.sha256, saved.size) == (current.sha256, current.size)
    revisions = list(Revision.objects.filter(message=message).order_by("version"))
    assert [(r.version, r.author, r.subject) for r in revisions] == [(1, alice, "Hello"), (2, bob, "New subject")]
    assert revisions[1].body_key == current.body_key
    assert body_files() == {message.body_key, current.body_key}
    assert body_storage.read(message.body_key) == b"one"
    assert selectors.message_body(current) == "two"
    assert history_selectors.revision_body(revisions[0]) == "one"


def test_save_edit_without_release_keeps_the_lease_for_the_next_save(make_message, alice):
    message = make_message()
    token = acquire(message, alice)
    save(message, alice, token=token, body="v2")
    assert EditLease.objects.get().token == token
    assert save(message, alice, token=token, base_version=2, body="v3").version == 3


def test_save_edit_with_release_lease_frees_the_lease(make_message, alice, bob):
    message = make_message()
    token = acquire(message, alice)
    save(message, alice, token=token, release_lease=True)
    assert leases.lease_current(message_id=message.pk) is None
    assert acquire(message, bob)


def test_save_edit_with_no_subject_keeps_the_subject(make_message, alice):
    message = make_message(subject="Keep me")
    saved = save(message, alice, token=acquire(message, alice), subject=None, body="new body")
    assert saved.subject == "Keep me"
    assert Message.objects.get().subject == "Keep me"
    assert Revision.objects.get(version=2).subject == "Keep me"


def test_save_edit_against_a_stale_version_is_a_conflict_and_changes_nothing(make_message, alice, body_files):
    message = make_message()
    token = acquire(message, alice)
    save(message, alice, token=token, body="v2")
    before = snapshot(message.pk, body_files)
    with pytest.raises(VersionConflict) as refused:
        save(message, alice, token=token, base_version=1, body="based on v1")
    assert refused.value.current_version == 2
    assert "now at version 2" in str(refused.value)
    assert snapshot(message.pk, body_files) == before


@pytest.mark.parametrize("base_version", [10**30, -(10**30), 2**63])
def test_save_edit_against_a_version_beyond_any_integer_is_a_conflict_and_changes_nothing(
    make_message, alice, body_files, base_version
):
    message = make_message()
    token = acquire(message, alice)
    before = snapshot(message.pk, body_files)
    with pytest.raises(VersionConflict) as refused:
        save(message, alice, token=token, base_version=base_version, body="from nowhere")
    assert refused.value.current_version == 1
    assert snapshot(message.pk, body_files) == before


def test_save_edit_of_an_id_beyond_any_integer_is_not_found_and_writes_nothing(alice, body_files):
    with pytest.raises(MessageNotFound):
        editing.message_edit_save(
            message_id=10**30, user=alice, base_version=1, lease_token="t", subject=None, body="text"
        )
    assert body_files() == set()


def test_save_edit_with_a_dead_token_is_lease_lost_and_changes_nothing(make_message, alice, body_files):
    message = make_message()
    old_token = acquire(message, alice)
    acquire(message, alice)  # a second tab
    before = snapshot(message.pk, body_files)
    with pytest.raises(LeaseLost):
        save(message, alice, token=old_token)
    assert snapshot(message.pk, body_files) == before


def test_save_edit_with_another_users_token_is_lease_lost_and_changes_nothing(make_message, alice, bob, body_files):
    message = make_message()
    token = acquire(message, alice)
    before = snapshot(message.pk, body_files)
    with pytest.raises(LeaseLost):
        save(message, bob, token=token)
    with pytest.raises(LeaseLost):
        save(message, bob, token="f" * 32)
    assert snapshot(message.pk, body_files) == before
    assert leases.lease_current(message_id=message.pk).holder == "alice"


def test_save_edit_with_an_expired_lease_is_lease_lost(make_message, alice, body_files):
    message = make_message()
    token = acquire(message, alice)
    EditLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    before = snapshot(message.pk, body_files)
    with pytest.raises(LeaseLost):
        save(message, alice, token=token)
    assert snapshot(message.pk, body_files) == before


def test_lease_less_save_while_someone_holds_the_lease_is_refused_naming_them(make_message, alice, bob, body_files):
    message = make_message()
    acquire(message, alice)
    before = snapshot(message.pk, body_files)
    with pytest.raises(LeaseHeld) as held:
        save(message, bob, token=None)
    assert held.value.holder == "alice"
    assert snapshot(message.pk, body_files) == before


def test_lease_less_save_is_refused_even_for_the_lease_holder(make_message, alice):
    message = make_message()
    acquire(message, alice)
    with pytest.raises(LeaseHeld):
        save(message, alice, token=None)


def test_lease_less_save_succeeds_when_nobody_holds_a_lease(make_message, bob):
    message = make_message()
    assert save(message, bob, token=None, body="free edit").version == 2
    assert selectors.message_body(selectors.message_get(message_id=message.pk)) == "free edit"


def test_lease_less_save_succeeds_once_a_lease_has_expired(make_message, alice, bob):
    message = make_message()
    acquire(message, alice)
    EditLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert save(message, bob, token=None).version == 2


def test_saving_an_unknown_message_is_not_found_and_leaves_no_file(alice, body_files):
    with pytest.raises(MessageNotFound):
        editing.message_edit_save(message_id=999, user=alice, base_version=1, lease_token=None, subject=None, body="x")
    assert body_files() == set()


def test_saving_a_deleted_message_is_gone_and_leaves_no_new_file(make_message, alice, body_files):
    message = make_message()
    services.message_delete(message_id=message.pk, user=alice)
    before = snapshot(message.pk, body_files)
    with pytest.raises(MessageGone):
        save(message, alice, token=None)
    assert snapshot(message.pk, body_files) == before


def test_save_refused_at_commit_leaves_nothing_cached_for_its_key(make_message, alice, monkeypatch):
    message = make_message()
    token = acquire(message, alice)
    keys = []
    real_body_key = bodies.body_key

    def racing_body_key(message_id, version):
        key = real_body_key(message_id, version)
        keys.append(key)
        if len(keys) == 1:
            # Another edit lands after the cheap check, before this save publishes.
            save(message, alice, token=token, body="v2 from the other tab")
        return key

    monkeypatch.setattr(bodies, "body_key", racing_body_key)
    with pytest.raises(VersionConflict):
        save(message, alice, token=token, base_version=1, body="lost")
    assert len(keys) == 2
    assert bodies.body_cached(keys[0]) is None


def test_refused_save_never_writes_a_body(make_message, alice, bob, monkeypatch):
    message = make_message()
    token = acquire(message, alice)
    written = []
    monkeypatch.setattr(bodies, "body_save", lambda **kwargs: written.append(kwargs))
    with pytest.raises(LeaseLost):
        save(message, bob, token="bogus-token", body="x" * 200_000)
    with pytest.raises(LeaseHeld):
        save(message, bob, token=None, body="no lease named")
    with pytest.raises(VersionConflict):
        save(message, alice, token=token, base_version=7, body="stale")
    assert written == []


# Deleting and restoring


def test_author_soft_deletes_without_touching_the_file(make_message, alice, body_storage, body_files):
    message = make_message()
    files = body_files()
    services.message_delete(message_id=message.pk, user=alice)
    row = Message.objects.get(pk=message.pk)
    assert row.deleted_at is not None
    assert row.deleted_by == alice
    assert body_files() == files


def test_delete_reads_no_file(make_message, alice, body_storage, opened_bodies):
    message = make_message()
    # With the file gone and the cache empty, any read would raise FileNotFoundError.
    body_storage.remove(message.body_key)
    bodies.body_uncache(message.body_key)
    services.message_delete(message_id=message.pk, user=alice)
    assert opened_bodies == []
    assert Message.objects.get(pk=message.pk).deleted_at is not None


def test_only_the_author_may_delete(make_message, bob):
    message = make_message()
    with pytest.raises(NotAllowed):
        services.message_delete(message_id=message.pk, user=bob)
    assert Message.objects.visible().filter(pk=message.pk).exists()


def test_a_moderator_may_delete_any_message(make_message, mia):
    message = make_message()
    services.message_delete(message_id=message.pk, user=mia)
    assert Message.objects.get(pk=message.pk).deleted_by == mia


def test_delete_is_refused_while_someone_else_holds_the_lease(make_message, alice, bob):
    message = make_message()
    acquire(message, bob)
    with pytest.raises(LeaseHeld) as held:
        services.message_delete(message_id=message.pk, user=alice)
    assert held.value.holder == "bob"
    assert Message.objects.visible().filter(pk=message.pk).exists()
    assert leases.lease_current(message_id=message.pk).holder == "bob"


def test_author_holding_the_lease_may_delete_and_the_lease_goes_with_it(make_message, alice):
    message = make_message()
    acquire(message, alice)
    services.message_delete(message_id=message.pk, user=alice)
    assert not EditLease.objects.exists()


def test_delete_against_a_stale_version_is_a_conflict(make_message, alice):
    message = make_message()
    save(message, alice, token=None)
    with pytest.raises(VersionConflict):
        services.message_delete(message_id=message.pk, user=alice, base_version=1)
    assert Message.objects.visible().filter(pk=message.pk).exists()


def test_deleting_unknown_or_deleted_messages_is_refused(make_message, alice):
    with pytest.raises(MessageNotFound):
        services.message_delete(message_id=999, user=alice)
    message = make_message()
    services.message_delete(message_id=message.pk, user=alice)
    with pytest.raises(MessageGone):
        services.message_delete(message_id=message.pk, user=alice)


def test_deleted_message_is_gone_for_reading_editing_and_leasing(make_message, alice):
    message = make_message()
    token = acquire(message, alice)
    services.message_delete(message_id=message.pk, user=alice)
    with pytest.raises(MessageGone):
        selectors.message_get(message_id=message.pk)
    with pytest.raises(MessageGone):
        save(message, alice, token=token)
    with pytest.raises(MessageGone):
        editing.message_lease_acquire(message_id=message.pk, user=alice)
    with pytest.raises(MessageGone):
        editing.message_lease_renew(message_id=message.pk, user=alice, token=token)
    with pytest.raises(MessageGone):
        history_selectors.revision_list(message_id=message.pk)
    with pytest.raises(MessageGone):
        history_selectors.revision_get(message_id=message.pk, version=1)
    assert not EditLease.objects.exists()


def test_author_restores_a_deleted_message_as_it_was(make_message, alice):
    message = make_message(body="still here")
    services.message_delete(message_id=message.pk, user=alice)
    services.message_restore(message_id=message.pk, user=alice)
    restored = selectors.message_get(message_id=message.pk)
    assert restored.deleted_at is None
    assert Message.objects.get(pk=message.pk).deleted_by_id is None
    assert selectors.message_body(restored) == "still here"
    assert acquire(message, alice)


def test_only_the_author_or_a_moderator_may_restore(make_message, alice, bob, mia):
    message = make_message()
    services.message_delete(message_id=message.pk, user=alice)
    with pytest.raises(NotAllowed):
        services.message_restore(message_id=message.pk, user=bob)
    assert Message.objects.get(pk=message.pk).deleted_at is not None
    services.message_restore(message_id=message.pk, user=mia)
    assert Message.objects.get(pk=message.pk).deleted_at is None


def test_restoring_an_unknown_message_is_not_found(alice):
    with pytest.raises(MessageNotFound):
        services.message_restore(message_id=999, user=alice)


# Lease use cases


def test_releasing_without_a_token_breaks_the_lease_for_moderators_only(make_message, alice, bob, mia):
    message = make_message()
    acquire(message, alice)
    with pytest.raises(NotAllowed):
        editing.message_lease_release(message_id=message.pk, user=bob, token=None)
    assert leases.lease_current(message_id=message.pk).holder == "alice"
    editing.message_lease_release(message_id=message.pk, user=mia, token=None)
    assert leases.lease_current(message_id=message.pk) is None


def test_lease_use_cases_on_an_unknown_message_are_not_found(alice):
    with pytest.raises(MessageNotFound):
        editing.message_lease_acquire(message_id=999, user=alice)
    with pytest.raises(MessageNotFound):
        editing.message_lease_renew(message_id=999, user=alice, token="x")
    with pytest.raises(MessageNotFound):
        editing.message_lease_release(message_id=999, user=alice, token="x")
