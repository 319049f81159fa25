"""The permission matrix: every role against every board and rule, asked of permissions.py."""

import pytest

from messages_app import boards, permissions, selectors
from messages_app.errors import MessageNotFound, NotAllowed
from tests.support.boards import ROLES

pytestmark = pytest.mark.django_db


def _row(value: str) -> dict[str, bool]:
    # One letter per role, in ROLES order: Y may, . may not.
    assert len(value) == len(ROLES)
    return {role: flag == "Y" for role, flag in zip(ROLES, value, strict=True)}


#                     vis mem pos edi nam bmo smo
READ = {
    "open": _row("YYYYYYY"),
    "private": _row("..YYYYY"),
    "announce": _row("YYYYYYY"),
}
POST = {
    "open": _row(".YYYYYY"),
    "private": _row("..YYYYY"),
    "announce": _row("..Y...Y"),
}
EDIT = {  # a message by the poster on each board
    "open": _row(".YYYYYY"),
    "private": _row("..YYYYY"),
    "announce": _row("..Y...Y"),
    "restricted": _row("..Y.YYY"),
}
DELETE = {
    "open": _row("..Y...Y"),
    "private": _row("..Y..YY"),
    "announce": _row("..Y...Y"),
}
MODERATE = {
    "open": _row("......Y"),
    "private": _row(".....YY"),
    "announce": _row("......Y"),
}


def _board_of(world, name: str) -> int:
    return world.boards["private" if name == "restricted" else name].pk


@pytest.mark.parametrize("role", ROLES)
def test_who_may_read_post_and_moderate_each_board(world, role):
    person = world.people[role]
    for name, board in world.boards.items():
        assert permissions.may_read(person, board.pk) is READ[name][role], (role, name, "read")
        assert permissions.may_post(person, board.pk) is POST[name][role], (role, name, "post")
        assert permissions.moderates(person, board.pk) is MODERATE[name][role], (role, name, "moderate")


@pytest.mark.parametrize("role", ROLES)
def test_who_may_edit_and_delete_each_message(world, role):
    person = world.people[role]
    for name, message in world.messages.items():
        state = selectors.message_state(message_id=message.pk)
        assert permissions.may_edit(person, state) is EDIT[name][role], (role, name, "edit")
        if name in DELETE:
            allowed = permissions.may_delete(
                person, board_id=state.board_id, author_id=state.author_id, protected=state.protected
            )
            assert allowed is DELETE[name][role], (role, name, "delete")


@pytest.mark.parametrize("role", ROLES)
def test_a_private_boards_messages_do_not_exist_to_those_who_may_not_read_it(world, role):
    for name, message in world.messages.items():
        readable = READ["private" if name == "restricted" else name][role]
        if readable:
            assert selectors.message_get(message_id=message.pk, viewer=world.people[role]).pk == message.pk
        else:
            with pytest.raises(MessageNotFound):
                selectors.message_get(message_id=message.pk, viewer=world.people[role])
            with pytest.raises(MessageNotFound):
                selectors.message_state(message_id=message.pk, viewer=world.people[role])


def test_the_all_messages_list_holds_exactly_what_each_role_may_read(world):
    for role in ROLES:
        page = selectors.message_list_page(viewer=world.people[role])
        shown = {message.pk for message in page.items}
        expected = {
            message.pk
            for name, message in world.messages.items()
            if READ["private" if name == "restricted" else name][role]
        }
        assert shown == expected, role


def test_a_board_list_of_a_board_one_may_not_read_is_empty(world):
    page = selectors.message_list_page(viewer=world.people["member"], board_id=world.boards["private"].pk)
    assert page.items == []


def test_a_visitor_never_posts_or_edits_even_where_everyone_is_granted_edit(world):
    boards.board_grant(slug="open", audience="everyone", level="edit")
    visitor = world.people["visitor"]
    assert permissions.may_read(visitor, world.boards["open"].pk)
    assert not permissions.may_post(visitor, world.boards["open"].pk)
    assert not permissions.may_edit(visitor, selectors.message_state(message_id=world.messages["open"].pk))


def test_a_grant_reaches_the_next_question_and_a_revoke_takes_it_away(world):
    member = world.people["member"]
    private = world.boards["private"].pk
    assert not permissions.may_read(member, private)
    boards.board_grant(slug="private", audience="members", level="read")
    assert permissions.may_read(member, private)
    assert not permissions.may_post(member, private)
    boards.board_revoke(slug="private", audience="members")
    assert not permissions.may_read(member, private)


def test_joining_or_leaving_a_group_changes_what_one_may_read(world):
    from django.contrib.auth.models import Group

    member = world.people["member"]
    private = world.boards["private"].pk
    team = Group.objects.get(name="team")
    member.groups.add(team)
    assert permissions.may_read(member, private)
    assert permissions.may_edit(member, selectors.message_state(message_id=world.messages["private"].pk))
    member.groups.remove(team)
    assert not permissions.may_read(member, private)


def test_a_named_editor_must_be_one_the_board_lets_edit(world):
    from messages_app.errors import InvalidInput

    with pytest.raises(InvalidInput, match="does not let mel edit"):
        boards.message_editors_set(
            message_id=world.messages["private"].pk, user=world.people["poster"], users=["mel"], groups=[]
        )
    with pytest.raises(InvalidInput, match="No such user: nobody"):
        boards.message_editors_set(
            message_id=world.messages["private"].pk, user=world.people["poster"], users=["nobody"], groups=[]
        )


def test_only_the_author_or_a_moderator_names_editors(world):
    message = world.messages["private"]
    with pytest.raises(NotAllowed):
        boards.message_editors_set(message_id=message.pk, user=world.people["editor"], users=["ned"], groups=[])
    saved = boards.message_editors_set(
        message_id=message.pk, user=world.people["board_moderator"], users=[], groups=["team"]
    )
    assert saved.groups == ["team"] and saved.users == []


def test_empty_editor_lists_lift_the_restriction(world):
    message = world.messages["restricted"]
    editor = world.people["editor"]
    assert not permissions.may_edit(editor, selectors.message_state(message_id=message.pk))
    boards.message_editors_set(message_id=message.pk, user=world.people["poster"], users=[], groups=[])
    assert permissions.may_edit(editor, selectors.message_state(message_id=message.pk))


def test_a_question_per_request_reads_the_access_generation_once(world, django_assert_num_queries):
    from django.contrib.auth.models import AnonymousUser

    visitor = AnonymousUser()
    with django_assert_num_queries(1):
        for board in world.boards.values():
            permissions.may_read(visitor, board.pk)
            permissions.may_post(visitor, board.pk)


def test_editors_a_moderator_named_only_a_moderator_changes(world):
    message = world.messages["private"]
    author = world.people["poster"]
    boards.message_editors_set(message_id=message.pk, user=world.people["board_moderator"], users=["eve"], groups=[])
    with pytest.raises(NotAllowed, match="A moderator chose who may edit"):
        boards.message_editors_set(message_id=message.pk, user=author, users=[], groups=[])
    assert boards.editors_of(message.pk).users == ["eve"]
    boards.message_editors_set(message_id=message.pk, user=world.people["site_moderator"], users=[], groups=[])
    boards.message_editors_set(message_id=message.pk, user=author, users=["ned"], groups=[])
    assert boards.editors_of(message.pk).users == ["ned"]
