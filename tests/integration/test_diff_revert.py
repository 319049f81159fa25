"""History for everyone: compare two versions, and restore an old one as a new version."""

import re

import pytest

from messages_app import editing, history_selectors, selectors, services
from messages_app.errors import (
    PROTECTED,
    AlreadyCurrent,
    LeaseHeld,
    LeaseLost,
    MessageGone,
    NotAllowed,
    RevisionNotFound,
    VersionConflict,
)
from messages_app.models import Message, Revision

pytestmark = pytest.mark.django_db

V1 = "Dear all,\nthe party is on Friday.\nBring cake.\nSee you!"
V2 = "Dear all,\nthe party is on Saturday.\nBring cake.\nBring <b>drinks</b> & ice.\nSee you!"


@pytest.fixture
def edited(make_message, alice, bob):
    """A message at version 3: alice wrote 1 and 3, bob wrote 2."""
    message = make_message(subject="Party", body=V1)
    save(message, bob, base_version=1, subject="Party!", body=V2)
    save(message, alice, base_version=2, body=V2 + "\nP.S. Garden.")
    return message


def save(message, user, *, base_version, body, subject=None, token=None):
    return editing.message_edit_save(
        message_id=message.pk, user=user, base_version=base_version, lease_token=token, subject=subject, body=body
    )


def revert(message, user, version, *, base_version=3, token=None):
    return editing.message_revert(
        message_id=message.pk, user=user, version=version, base_version=base_version, lease_token=token
    )


def state(message) -> tuple:
    row = Message.objects.values("version", "subject", "body_key", "sha256", "updated_by").get(pk=message.pk)
    return row, Revision.objects.filter(message=message).count()


# The revert service


@pytest.mark.both_storages
def test_revert_copies_the_old_version_forward_as_a_new_version_by_the_reverter(edited, alice, bob, body_files):
    saved = revert(edited, bob, 1)
    assert saved.version == 4
    message = Message.objects.get(pk=edited.pk)
    assert (message.version, message.subject, message.updated_by) == (4, "Party", bob)
    assert selectors.message_body(selectors.message_get(message_id=edited.pk)) == V1
    # History is never rewritten: versions 1 to 3 are as they were, and 4 has a file of its own.
    revisions = list(Revision.objects.filter(message=edited).order_by("version"))
    assert [(r.version, r.subject, r.author.username) for r in revisions] == [
        (1, "Party", "alice"),
        (2, "Party!", "bob"),
        (3, "Party!", "alice"),
        (4, "Party", "bob"),
    ]
    assert revisions[3].sha256 == revisions[0].sha256
    assert revisions[3].body_key != revisions[0].body_key
    assert revisions[3].body_key in body_files()


def test_reverting_to_the_current_version_is_refused_and_changes_nothing(edited, bob, body_files):
    before, files = state(edited), body_files()
    with pytest.raises(AlreadyCurrent):
        revert(edited, bob, 3)
    assert state(edited) == before
    assert body_files() == files


def test_revert_follows_the_edit_rules(edited, alice, bob, carol_user):
    before = state(edited)
    with pytest.raises(VersionConflict):
        revert(edited, bob, 1, base_version=2)
    with pytest.raises(RevisionNotFound):
        revert(edited, bob, 9)
    grant = editing.message_lease_acquire(message_id=edited.pk, user=carol_user)
    with pytest.raises(LeaseHeld):
        revert(edited, bob, 1)
    with pytest.raises(LeaseLost):
        revert(edited, bob, 1, token=grant.token)  # carol's token is not bob's lease
    assert state(edited) == before
    # With the holder's own lease the revert goes through, and the lease stays held.
    assert revert(edited, carol_user, 1, token=grant.token).version == 4
    assert selectors.message_lease(message_id=edited.pk).holder == "carol"


def test_a_protected_message_is_reverted_by_moderators_only(edited, bob, mia):
    services.message_protect(message_id=edited.pk, user=mia)
    with pytest.raises(NotAllowed) as refused:
        revert(edited, bob, 1)
    assert str(refused.value) == PROTECTED
    assert revert(edited, mia, 1).version == 4


def test_a_deleted_message_is_not_reverted(edited, alice, bob):
    services.message_delete(message_id=edited.pk, user=alice)
    with pytest.raises(MessageGone):
        revert(edited, bob, 1)


@pytest.fixture
def carol_user(make_user):
    return make_user("carol")


# The diff


def changes(message_id: int, old_version: int, new_version: int):
    return history_selectors.revision_changes(
        history_selectors.revision_diff(message_id=message_id, old_version=old_version, new_version=new_version)
    )


def test_diff_shows_removed_and_added_lines_with_unchanged_context(edited):
    diff = changes(edited.pk, 1, 2)
    lines = [(line.kind, line.text) for hunk in diff.hunks for line in hunk.lines]
    assert lines == [
        ("context", "Dear all,"),
        ("removed", "the party is on Friday."),
        ("added", "the party is on Saturday."),
        ("context", "Bring cake."),
        ("added", "Bring <b>drinks</b> & ice."),
        ("context", "See you!"),
    ]
    assert (diff.removed, diff.added) == (1, 2)
    assert not diff.identical


def test_diff_leaves_out_long_unchanged_stretches_and_counts_them(make_message, alice):
    old = "\n".join(f"line {n}" for n in range(1, 41))
    message = make_message(body=old)
    save(message, alice, base_version=1, body=old.replace("line 20", "line twenty"))
    diff = changes(message.pk, 1, 2)
    [hunk] = diff.hunks
    assert hunk.skipped_before == 16
    assert [line.text for line in hunk.lines if line.kind == "context"] == [
        "line 17",
        "line 18",
        "line 19",
        "line 21",
        "line 22",
        "line 23",
    ]
    assert diff.skipped_after == 17
    removed = next(line for line in hunk.lines if line.kind == "removed")
    added = next(line for line in hunk.lines if line.kind == "added")
    assert (removed.old_number, added.new_number) == (20, 20)


def test_diff_of_a_version_with_itself_is_identical(edited):
    assert changes(edited.pk, 2, 2).identical


# Pages


def test_history_lists_every_version_with_author_time_size_and_a_compare_form(client, edited):
    html = client.get(f"/messages/{edited.pk}/history/").content.decode()
    rows = re.findall(r"<tr>\s*<td class=\"num\"><a href=\"[^\"]+\">(\d+)</a>.*?</tr>", html, re.S)
    assert rows == ["3", "2", "1"]
    for revision in Revision.objects.filter(message=edited):
        assert f"{revision.size} B" in html
    assert "<td>bob</td>" in html and "<td>alice</td>" in html
    assert html.count('<time datetime="') >= 3
    assert f'action="/messages/{edited.pk}/diff/"' in html
    # The newest two are picked by default: "what changed last".
    assert re.search(r'name="a" value="2"[^>]*checked', html)
    assert re.search(r'name="b" value="3"[^>]*checked', html)
    assert f'href="/messages/{edited.pk}/diff/1/2/"' in html


def test_the_compare_form_leads_to_the_diff(client, edited):
    response = client.get(f"/messages/{edited.pk}/diff/", {"a": 1, "b": 3})
    assert response.status_code == 302
    assert response["Location"] == f"/messages/{edited.pk}/diff/1/3/"
    assert client.get(f"/messages/{edited.pk}/diff/", {"a": 1}).status_code == 400
    assert client.get(f"/messages/{edited.pk}/diff/", {"a": "x", "b": 2}).status_code == 400


def test_the_diff_page_marks_removed_and_added_lines_escaped(client, edited):
    response = client.get(f"/messages/{edited.pk}/diff/1/2/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<del class="line">the party is on Friday.</del>' in html
    assert '<ins class="line">the party is on Saturday.</ins>' in html
    assert '<ins class="line">Bring &lt;b&gt;drinks&lt;/b&gt; &amp; ice.</ins>' in html
    assert '<span class="line">Bring cake.</span>' in html
    assert "Subject: <del>Party</del>" in html and "<ins>Party!</ins>" in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html


def test_unknown_versions_are_404_and_a_deleted_message_410(client, edited, alice):
    assert client.get(f"/messages/{edited.pk}/diff/1/9/").status_code == 404
    assert client.get(f"/messages/{edited.pk}/diff/9/1/").status_code == 404
    assert client.get("/messages/999999/diff/1/2/").status_code == 404
    services.message_delete(message_id=edited.pk, user=alice)
    assert client.get(f"/messages/{edited.pk}/diff/1/2/").status_code == 410


def test_an_old_versions_page_offers_to_restore_it_and_the_current_one_does_not(client, bob_client, edited):
    old = bob_client.get(f"/messages/{edited.pk}/history/1/").content.decode()
    assert f'action="/messages/{edited.pk}/history/1/restore/"' in old
    assert 'name="base_version" value="3"' in old
    current = bob_client.get(f"/messages/{edited.pk}/history/3/").content.decode()
    assert "/restore/" not in current
    # Visitors are invited to sign in instead.
    assert "to restore this version" in client.get(f"/messages/{edited.pk}/history/1/").content.decode()


def test_restoring_from_the_page_makes_a_new_version(bob_client, edited, bob):
    response = bob_client.post(f"/messages/{edited.pk}/history/1/restore/", {"base_version": 3})
    assert response.status_code == 302
    assert response["Location"] == f"/messages/{edited.pk}/"
    message = Message.objects.get(pk=edited.pk)
    assert (message.version, message.subject, message.updated_by) == (4, "Party", bob)
    page = bob_client.get(response["Location"]).content.decode()
    assert "Version 1 is restored: it is now version 4." in page


@pytest.mark.parametrize("holder", ["alice", "bob"])
def test_restoring_from_the_page_is_refused_while_anyone_holds_the_lease(
    bob_client, edited, alice, bob, holder, body_files
):
    user = {"alice": alice, "bob": bob}[holder]
    editing.message_lease_acquire(message_id=edited.pk, user=user)
    before, files = state(edited), body_files()
    response = bob_client.post(f"/messages/{edited.pk}/history/1/restore/", {"base_version": 3})
    assert response.status_code == 409
    html = response.content.decode()
    assert "Version 1 was not restored" in html
    assert f"{holder} is editing this message until" in html
    assert "try again once the message is free" in html
    assert state(edited) == before
    assert body_files() == files


def test_restoring_from_a_stale_page_is_refused_with_the_new_version_named(bob_client, edited, alice):
    save(edited, alice, base_version=3, body="Version four.")
    response = bob_client.post(f"/messages/{edited.pk}/history/1/restore/", {"base_version": 3})
    assert response.status_code == 409
    assert "it is now at version 4" in response.content.decode()
    assert Message.objects.get(pk=edited.pk).version == 4


def test_restoring_a_protected_message_from_the_page_is_a_clear_refusal(bob_client, edited, mia):
    services.message_protect(message_id=edited.pk, user=mia)
    page = bob_client.get(f"/messages/{edited.pk}/history/1/").content.decode()
    assert "only a moderator can restore its versions" in page
    response = bob_client.post(f"/messages/{edited.pk}/history/1/restore/", {"base_version": 3})
    assert response.status_code == 403
    assert PROTECTED in response.content.decode()
    assert Message.objects.get(pk=edited.pk).version == 3


def test_restoring_the_current_version_or_without_a_version_is_400(bob_client, edited):
    response = bob_client.post(f"/messages/{edited.pk}/history/3/restore/", {"base_version": 3})
    assert response.status_code == 400
    assert AlreadyCurrent.message in response.content.decode()
    assert bob_client.post(f"/messages/{edited.pk}/history/1/restore/").status_code == 400
    assert Message.objects.get(pk=edited.pk).version == 3


def test_a_protected_message_shows_a_notice_and_refuses_a_members_edit(client, bob_client, edited, mia):
    services.message_protect(message_id=edited.pk, user=mia)
    assert "This message is protected" in client.get(f"/messages/{edited.pk}/").content.decode()
    response = bob_client.get(f"/messages/{edited.pk}/edit/")
    assert response.status_code == 403
    assert PROTECTED in response.content.decode()


def test_a_save_refused_because_the_message_was_protected_meanwhile_keeps_the_text(bob_client, edited, mia):
    page = bob_client.get(f"/messages/{edited.pk}/edit/").content.decode()
    token = re.search(r'name="lease_token" value="([0-9a-f]+)"', page)[1]
    services.message_protect(message_id=edited.pk, user=mia)
    response = bob_client.post(
        f"/messages/{edited.pk}/edit/",
        {"subject": "Mine", "body": "My careful words.", "base_version": 3, "lease_token": token},
    )
    assert response.status_code == 403
    html = response.content.decode()
    assert PROTECTED in html and "My careful words." in html
    assert Message.objects.get(pk=edited.pk).version == 3
