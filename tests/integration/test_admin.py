"""The moderators' admin: list, search, filters, change page, actions, lease events, and scale."""

import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.utils import timezone

from messages_app import admin as board_admin
from messages_app import editing, services
from messages_app.errors import LeaseLost
from messages_app.models import EditLease, LeaseEvent, Message

pytestmark = pytest.mark.django_db

MESSAGES = "/admin/messages_app/message/"
EVENTS = "/admin/messages_app/leaseevent/"


@pytest.fixture
def staff_client(make_user) -> Client:
    """Staff, but not a moderator."""
    client = Client()
    client.force_login(make_user("stan", is_staff=True))
    return client


@pytest.fixture
def board(make_message, alice, bob, mia):
    """A plain message, one bob is editing, a deleted one and a protected one."""
    plain = make_message(subject="Garden party", body="Bring <b>cake</b> & <script>alert(1)</script>")
    editing.message_edit_save(
        message_id=plain.pk, user=bob, base_version=1, lease_token=None, subject=None, body="Version two."
    )
    leased = make_message(subject="Budget draft", author=bob)
    editing.message_lease_acquire(message_id=leased.pk, user=bob)
    deleted = make_message(subject="Old news")
    services.message_delete(message_id=deleted.pk, user=alice)
    protected = make_message(subject="House rules")
    services.message_protect(message_id=protected.pk, user=mia)
    return {"plain": plain, "leased": leased, "deleted": deleted, "protected": protected}


def listed_ids(response) -> list[int]:
    """The ids of the change list's rows, in order."""
    html = response.content.decode()
    return [int(found) for found in re.findall(r'name="_selected_action" value="(\d+)"', html)]


def act(client, action: str, *messages, **params):
    data = {"action": action, "_selected_action": [m.pk for m in messages], "index": 0}
    return client.post(MESSAGES + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""), data)


def flashes(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# Who gets in


def test_visitors_and_members_are_sent_to_the_admin_login(client, alice_client, board):
    for who in (client, alice_client):
        for url in ("/admin/", MESSAGES, f"{MESSAGES}{board['plain'].pk}/change/", EVENTS):
            response = who.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith("/admin/login/"), url


def test_staff_who_are_not_moderators_see_nothing_of_the_board(staff_client, board):
    assert b"messages_app" not in staff_client.get("/admin/").content
    assert staff_client.get(MESSAGES).status_code == 403
    assert staff_client.get(EVENTS).status_code == 403
    assert staff_client.get(f"{MESSAGES}{board['plain'].pk}/change/").status_code == 403


def test_a_member_cannot_run_an_action(alice_client, staff_client, board):
    for who in (alice_client, staff_client):
        response = act(who, "protect", board["plain"])
        assert response.status_code in (302, 403)
        if response.status_code == 302:
            assert response["Location"].startswith("/admin/login/")
    assert not Message.objects.get(pk=board["plain"].pk).protected
    assert not LogEntry.objects.exists()


# The list


def test_the_list_shows_every_column_newest_first(mod_client, board):
    response = mod_client.get(MESSAGES)
    assert response.status_code == 200
    assert listed_ids(response) == sorted((m.pk for m in board.values()), reverse=True)
    html = response.content.decode()
    columns = re.findall(r'<th scope="col" class="[^"]*column-([a-z_]+)', html)
    assert columns == [
        "id",
        "subject",
        "board",
        "author",
        "version",
        "updated_at",
        "lease_holder",
        "lease_expires",
        "is_deleted",
        "protected",
    ]
    row = html[html.index("Budget draft") :]
    row = row[: row.index("</tr>")]
    assert ">bob<" in row  # author and lease holder
    assert row.count("bob") == 2


def test_search_by_subject_author_username_or_id(mod_client, board):
    assert listed_ids(mod_client.get(MESSAGES, {"q": "garden"})) == [board["plain"].pk]
    assert listed_ids(mod_client.get(MESSAGES, {"q": "bob"})) == [board["leased"].pk]
    assert set(listed_ids(mod_client.get(MESSAGES, {"q": "alic"}))) == {
        board["plain"].pk,
        board["deleted"].pk,
        board["protected"].pk,
    }
    assert listed_ids(mod_client.get(MESSAGES, {"q": str(board["protected"].pk)})) == [board["protected"].pk]
    assert listed_ids(mod_client.get(MESSAGES, {"q": "nothing like it"})) == []


def test_filters_deleted_protected_and_leased_now(mod_client, board):
    everything = {m.pk for m in board.values()}
    assert listed_ids(mod_client.get(MESSAGES, {"deleted": "yes"})) == [board["deleted"].pk]
    assert set(listed_ids(mod_client.get(MESSAGES, {"deleted": "no"}))) == everything - {board["deleted"].pk}
    assert listed_ids(mod_client.get(MESSAGES, {"protected__exact": "1"})) == [board["protected"].pk]
    assert listed_ids(mod_client.get(MESSAGES, {"leased": "yes"})) == [board["leased"].pk]
    assert set(listed_ids(mod_client.get(MESSAGES, {"leased": "no"}))) == everything - {board["leased"].pk}
    # A lapsed lease is nobody's.
    EditLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert listed_ids(mod_client.get(MESSAGES, {"leased": "yes"})) == []


def test_the_list_never_counts_and_pages_by_fetching_one_row_more(mod_client, make_message, monkeypatch):
    monkeypatch.setattr(board_admin.MessageAdmin, "list_per_page", 2)
    ids = [make_message(subject=f"Message {n}").pk for n in range(5)]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        first = mod_client.get(MESSAGES)
    assert not [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert listed_ids(first) == ids[::-1][:2]
    assert "More than 2 messages" in first.content.decode()
    assert "?p=2" in first.content.decode()
    last = mod_client.get(MESSAGES, {"p": 3})
    assert listed_ids(last) == [ids[0]]
    assert "5 messages" in last.content.decode()
    assert mod_client.get(MESSAGES, {"p": 9}).status_code == 404  # past the end: no such page


def test_the_list_query_count_does_not_grow_with_the_number_of_messages(
    mod_client, make_message, bob, django_assert_max_num_queries, settings
):
    # One user holding a lease on every third message: the per-user lease limit would refuse it.
    settings.MESSAGEBOARD_MAX_LEASES_PER_USER = 0
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def leased_message(n):
        message = make_message(subject=f"Message {n}")
        if n % 3 == 0:
            editing.message_lease_acquire(message_id=message.pk, user=bob)
        return message

    pages = [{}, {"q": "message alice", "leased": "yes"}, {"deleted": "no", "protected__exact": "0"}]
    for n in range(3):
        leased_message(n)
    mod_client.get(MESSAGES)  # sessions and permissions warm up
    few = []
    for params in pages:
        with CaptureQueriesContext(connection) as queries:
            mod_client.get(MESSAGES, params)
        few.append(len(queries.captured_queries))
    for n in range(3, 250):
        leased_message(n)
    for params, count in zip(pages, few, strict=True):
        with django_assert_max_num_queries(count):
            response = mod_client.get(MESSAGES, params)
        assert listed_ids(response), params


# The change page


def test_the_change_page_shows_the_body_escaped_and_the_revisions_read_only(mod_client, board):
    message = board["plain"]
    editing.message_edit_save(
        message_id=message.pk,
        user=services.Message.objects.get(pk=message.pk).author,
        base_version=2,
        lease_token=None,
        subject=None,
        body="Bring <b>cake</b> & <script>alert(1)</script>",
    )
    response = mod_client.get(f"{MESSAGES}{message.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Bring &lt;b&gt;cake&lt;/b&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html
    # Every version, newest first, with its author; none of them editable.
    inline = html[html.index('id="revisions-group"') :]
    versions = re.findall(r'<td class="field-version">\s*<p>(\d+)</p>', inline)
    assert [int(v) for v in versions] == [3, 2, 1]
    assert re.findall(r'<td class="field-author_name">\s*<p>(\w+)</p>', inline) == ["alice", "bob", "alice"]
    for field in ("subject", "version", "sha256", "body_key", "size", "author", "updated_by", "deleted_at"):
        assert f'name="{field}"' not in html, field
    assert 'name="protected"' in html
    current = Message.objects.get(pk=message.pk)
    assert current.body_key in html and current.sha256 in html


def _change_form_data(client, message) -> dict:
    page = client.get(f"{MESSAGES}{message.pk}/change/")
    data = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.content.decode()):
        data[name] = value
    data["board"] = str(message.board_id)  # the board select, as the browser sends it
    return data


def test_the_change_form_saves_protected_through_the_service_and_nothing_else(mod_client, board):
    message = board["plain"]
    before = Message.objects.values("subject", "version", "body_key", "sha256", "size").get(pk=message.pk)
    data = _change_form_data(mod_client, message)
    data.update(protected="on", subject="Hacked", version="99", sha256="0" * 64, body="elsewhere.txt", size="1")
    response = mod_client.post(f"{MESSAGES}{message.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    after = Message.objects.get(pk=message.pk)
    assert after.protected
    assert Message.objects.values("subject", "version", "body_key", "sha256", "size").get(pk=message.pk) == before
    assert LogEntry.objects.filter(object_id=str(message.pk), change_message__contains="Protected").exists()
    data.pop("protected")
    mod_client.post(f"{MESSAGES}{message.pk}/change/", data)
    assert not Message.objects.get(pk=message.pk).protected


def test_a_member_cannot_post_the_change_form(alice_client, staff_client, board):
    for who in (alice_client, staff_client):
        response = who.post(f"{MESSAGES}{board['plain'].pk}/change/", {"protected": "on"})
        assert response.status_code in (302, 403)
    assert not Message.objects.get(pk=board["plain"].pk).protected


def test_no_adding_and_no_hard_deleting_in_the_admin(mod_client, board):
    assert mod_client.get(f"{MESSAGES}add/").status_code == 403
    assert mod_client.get(f"{MESSAGES}{board['plain'].pk}/delete/").status_code == 403
    assert "delete_selected" not in mod_client.get(MESSAGES).content.decode()


# Actions


def test_a_moderator_is_offered_these_actions_and_no_hard_delete(mod_client, board):
    html = mod_client.get(MESSAGES).content.decode()
    options = re.findall(r'<option value="([a-z_]+)"', html)
    assert options == ["break_lease", "protect", "unprotect", "soft_delete", "restore"]


def test_break_lease_breaks_it_records_a_lease_event_and_a_log_entry(mod_client, mia, board, bob, alice):
    leased = board["leased"]
    token = EditLease.objects.get(message=leased).token
    response = act(mod_client, "break_lease", leased, board["plain"])
    assert response.status_code == 302
    assert not EditLease.objects.filter(message=leased).exists()
    event = LeaseEvent.objects.filter(message=leased).latest("id")
    assert (event.event, event.user, event.by) == ("broken", bob, mia)
    assert LogEntry.objects.filter(object_id=str(leased.pk), user=mia, change_message="Broke the editing lease.")
    assert not LogEntry.objects.filter(object_id=str(board["plain"].pk)).exists()
    shown = flashes(mod_client.get(MESSAGES))
    assert any("Broke the lease of" in m and "Budget draft" in m for m in shown)
    assert any("Nobody was editing" in m and "Garden party" in m for m in shown)
    # The holder's next save is refused.
    with pytest.raises(LeaseLost):
        editing.message_edit_save(
            message_id=leased.pk, user=bob, base_version=1, lease_token=token, subject=None, body="Too late."
        )


def test_protect_and_unprotect(mod_client, mia, board):
    plain, deleted = board["plain"], board["deleted"]
    act(mod_client, "protect", plain, board["protected"], deleted)
    assert Message.objects.get(pk=plain.pk).protected
    assert not Message.objects.get(pk=deleted.pk).protected
    shown = flashes(mod_client.get(MESSAGES))
    assert any(m.startswith("Protected") and "Garden party" in m for m in shown)
    assert any("already protected" in m and "House rules" in m for m in shown)
    assert any("deleted" in m and "Old news" in m for m in shown)
    assert LogEntry.objects.filter(object_id=str(plain.pk), user=mia, change_message="Protected.").count() == 1
    assert not LogEntry.objects.filter(object_id=str(board["protected"].pk)).exists()

    act(mod_client, "unprotect", plain, board["protected"])
    assert not Message.objects.filter(protected=True).exists()
    assert LogEntry.objects.filter(change_message="Unprotected.").count() == 2


def test_soft_delete_deletes_and_skips_messages_someone_else_is_editing(mod_client, mia, board):
    plain, leased = board["plain"], board["leased"]
    response = act(mod_client, "soft_delete", plain, leased, board["deleted"])
    assert response.status_code == 302
    assert Message.objects.get(pk=plain.pk).deleted_at is not None
    assert Message.objects.get(pk=plain.pk).deleted_by == mia
    assert Message.objects.get(pk=leased.pk).deleted_at is None
    shown = flashes(mod_client.get(MESSAGES))
    assert any("Deleted" in m and "Garden party" in m for m in shown)
    skipped = [m for m in shown if m.startswith("Not deleted")]
    assert len(skipped) == 1
    assert "Budget draft" in skipped[0] and "bob is editing" in skipped[0] and "Break the lease first" in skipped[0]
    assert LogEntry.objects.filter(object_id=str(plain.pk), change_message="Soft-deleted.").exists()
    assert not LogEntry.objects.filter(object_id=str(leased.pk)).exists()


def test_restore_brings_back_deleted_messages(mod_client, mia, board):
    deleted = board["deleted"]
    act(mod_client, "restore", deleted, board["plain"])
    assert Message.objects.get(pk=deleted.pk).deleted_at is None
    shown = flashes(mod_client.get(MESSAGES))
    assert any("Restored" in m and "Old news" in m for m in shown)
    assert any("not deleted" in m and "Garden party" in m for m in shown)
    assert LogEntry.objects.filter(object_id=str(deleted.pk), user=mia, change_message="Restored.").exists()


# Lease events


@pytest.fixture
def history(make_message, alice, bob, mia):
    message = make_message(subject="Watched")
    editing.message_lease_acquire(message_id=message.pk, user=alice)
    editing.message_lease_acquire(message_id=message.pk, user=alice)
    EditLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    editing.message_lease_acquire(message_id=message.pk, user=bob)
    editing.message_lease_break(message_id=message.pk, user=mia)
    other = make_message(subject="Elsewhere")
    grant = editing.message_lease_acquire(message_id=other.pk, user=bob)
    editing.message_lease_release(message_id=other.pk, user=bob, token=grant.token)
    return message, other


def event_rows(response) -> list[str]:
    html = response.content.decode()
    return re.findall(r'<td class="field-event">([a-z]+)</td>', html)


def test_lease_events_list_newest_first_with_message_user_and_moderator(mod_client, history):
    response = mod_client.get(EVENTS)
    assert response.status_code == 200
    assert event_rows(response) == ["released", "acquired", "broken", "acquired", "expired", "replaced", "acquired"]
    html = response.content.decode()
    assert "Watched" in html and ">mia<" in html


def test_lease_events_filter_by_event_and_search_by_user_and_message_id(mod_client, history):
    message, other = history
    assert event_rows(mod_client.get(EVENTS, {"event__exact": "broken"})) == ["broken"]
    assert event_rows(mod_client.get(EVENTS, {"q": "bob"})) == ["released", "acquired", "broken", "acquired"]
    assert event_rows(mod_client.get(EVENTS, {"q": str(other.pk)})) == ["released", "acquired"]
    # The message change page links its own events.
    assert event_rows(mod_client.get(EVENTS, {"message": message.pk})) == [
        "broken",
        "acquired",
        "expired",
        "replaced",
        "acquired",
    ]


def test_lease_events_are_read_only(mod_client, history):
    event = LeaseEvent.objects.first()
    assert mod_client.get(f"{EVENTS}add/").status_code == 403
    page = mod_client.get(f"{EVENTS}{event.pk}/change/")
    assert page.status_code == 200
    assert 'name="event"' not in page.content.decode()
    assert mod_client.post(f"{EVENTS}{event.pk}/change/", {"event": "released"}).status_code == 403
    assert mod_client.post(f"{EVENTS}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert LeaseEvent.objects.get(pk=event.pk).event == event.event


def test_the_change_page_shows_the_messages_lease_events(mod_client, history):
    message, _ = history
    html = mod_client.get(f"{MESSAGES}{message.pk}/change/").content.decode()
    assert 'id="lease_events-group"' in html
    assert f"{EVENTS}?message={message.pk}" in html


# The "done means", end to end


def test_a_moderator_finds_breaks_protects_and_reads_who_held_a_message(make_message, alice, bob, bob_client):
    from django.core.management import call_command

    call_command("make_moderator", "alice")
    moderator = Client()
    moderator.force_login(alice)
    message = make_message(subject="Quarterly report")
    make_message(subject="Something else")

    # Bob opens the edit page: he holds the lease.
    page = bob_client.get(f"/messages/{message.pk}/edit/").content.decode()
    token = re.search(r'name="lease_token" value="([0-9a-f]+)"', page)[1]

    # The moderator finds the message by search and breaks the lease.
    found = moderator.get(MESSAGES, {"q": "quarterly"})
    assert listed_ids(found) == [message.pk]
    assert "bob" in found.content.decode()
    act(moderator, "break_lease", message)

    # Bob's save is refused, and his text comes back to him; he may not take the lease back yet.
    response = bob_client.post(
        f"/messages/{message.pk}/edit/",
        {"subject": "Quarterly report", "body": "Bob's unsaved words.", "base_version": 1, "lease_token": token},
    )
    assert response.status_code == 403
    assert int(response["Retry-After"]) > 0
    assert "Bob&#x27;s unsaved words." in response.content.decode()
    assert "A moderator ended your editing of this message" in response.content.decode()

    # The moderator protects it; bob can no longer take the lease.
    act(moderator, "protect", message)
    assert bob_client.get(f"/messages/{message.pk}/edit/").status_code == 403

    # And reads who held it.
    events = moderator.get(EVENTS, {"q": str(message.pk)})
    assert event_rows(events) == ["broken", "acquired"]
    assert ">alice<" in events.content.decode()  # the moderator who broke it
