"""manage.py board_create, board_grant, board_revoke and export_messages --board."""

import json

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from messages_app import permissions, services
from messages_app.models import Board, BoardGrant

pytestmark = pytest.mark.django_db


def grants(slug: str) -> dict[str, str]:
    return {
        (grant.group.name if grant.group_id else grant.audience): grant.get_level_display()
        for grant in BoardGrant.objects.filter(board__slug=slug).select_related("group")
    }


def test_board_create_makes_an_open_board_or_a_private_one(capsys):
    call_command("board_create", "team-notes", "Team notes", "--description", "What the team decided")
    board = Board.objects.get(slug="team-notes")
    assert (board.name, board.description, board.message_count) == ("Team notes", "What the team decided", 0)
    assert grants("team-notes") == {"everyone": "read", "members": "edit"}
    call_command("board_create", "secret", "Secret", "--private")
    assert grants("secret") == {}
    assert "private" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Bad Slug", "Name"], "lowercase letters"),
        (["ok", ""], "name must be"),
        (["general", "Again"], "already exists"),
    ],
)
def test_board_create_refuses_bad_input_clearly(args, message):
    call_command("board_create", "general-two", "General two")  # makes the default board exist too
    from messages_app import boards

    boards.default_board()
    with pytest.raises(CommandError, match=message):
        call_command("board_create", *args)


def test_board_grant_and_revoke_change_what_an_audience_may_do(make_user):
    call_command("board_create", "secret", "Secret", "--private")
    team = Group.objects.create(name="team")
    call_command("board_grant", "secret", "team", "edit")
    call_command("board_grant", "secret", "members", "read")
    assert grants("secret") == {"team": "edit", "members": "read"}
    call_command("board_grant", "secret", "members", "post")  # replaces the level
    assert grants("secret") == {"team": "edit", "members": "post"}
    member = make_user("mel")
    board = Board.objects.get(slug="secret")
    assert permissions.may_post(member, board.pk)
    call_command("board_revoke", "secret", "members")
    assert not permissions.may_read(member, board.pk)
    member.groups.add(team)
    assert permissions.may_read(member, board.pk)


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("board_grant", ["nope", "members", "read"], "There is no board 'nope'"),
        ("board_grant", ["secret", "nobody-group", "read"], "no group named 'nobody-group'"),
        ("board_grant", ["secret", "members", "admin"], "read, post, edit or moderate"),
        ("board_revoke", ["nope", "members"], "There is no board 'nope'"),
        ("board_revoke", ["secret", "nobody-group"], "no group named"),
    ],
)
def test_grant_and_revoke_exit_non_zero_on_unknown_boards_groups_and_levels(command, args, message):
    call_command("board_create", "secret", "Secret", "--private")
    with pytest.raises(CommandError, match=message):
        call_command(command, *args)
    assert grants("secret") == {}


def test_export_of_one_board_holds_only_its_messages_with_their_board(tmp_path, alice):
    call_command("board_create", "notes", "Notes")
    services.message_create(author=alice, subject="In notes", body="x", board_slug="notes")
    services.message_create(author=alice, subject="In general", body="y")
    out = tmp_path / "notes.jsonl"
    call_command("export_messages", str(out), "--board", "notes", verbosity=0)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["subject"], r["board"]) for r in records] == [("In notes", "notes")]
    with pytest.raises(CommandError, match="There is no board 'nope'"):
        call_command("export_messages", str(out), "--board", "nope")


def test_import_puts_messages_back_on_their_boards_and_refuses_a_board_missing_here(tmp_path, alice):
    call_command("board_create", "notes", "Notes")
    services.message_create(author=alice, subject="In notes", body="x", board_slug="notes")
    out = tmp_path / "all.jsonl"
    call_command("export_messages", str(out), verbosity=0)
    record = json.loads(out.read_text())
    from messages_app.models import Message

    Message.objects.all().delete()
    Board.objects.filter(slug="notes").update(message_count=0, newest_message=None)
    call_command("import_messages", str(out), verbosity=0)
    imported = Message.objects.get()
    assert imported.board.slug == "notes"
    assert Board.objects.get(slug="notes").message_count == 1
    record["id"] += 100
    record["board"] = "elsewhere"
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps(record) + "\n")
    with pytest.raises(CommandError, match="there is no board 'elsewhere' here"):
        call_command("import_messages", str(other), verbosity=0)
