"""A board world for permission tests: boards open, private and staff-only, and a person at each level."""

from dataclasses import dataclass, field

from django.contrib.auth.models import AnonymousUser, Group
from django.test import Client

from messages_app import boards, roles, services


@dataclass
class World:
    people: dict = field(default_factory=dict)  # role -> user (the visitor is an AnonymousUser)
    boards: dict = field(default_factory=dict)  # name -> Board
    messages: dict = field(default_factory=dict)  # name -> Message


ROLES = ("visitor", "member", "poster", "editor", "named", "board_moderator", "site_moderator")


def build_world(make_user) -> World:
    """Make the boards and people of the permission matrix.

    - ``open``: everyone reads, members edit (the default board's grants).
    - ``private``: nobody but its groups: posters post, the team edits, board-mods moderate.
    - ``announce``: everyone reads, posters post; members only read.
    The ``named`` member is named editor of one private message (``restricted``), which the
    team may not otherwise edit.
    """
    world = World()
    posters, team, board_mods = (Group.objects.create(name=name) for name in ("posters", "team", "board-mods"))
    world.people["visitor"] = AnonymousUser()
    world.people["member"] = make_user("mel")
    world.people["poster"] = make_user("pat")
    world.people["editor"] = make_user("eve")
    world.people["named"] = make_user("ned")
    world.people["board_moderator"] = make_user("bo", is_staff=True)
    world.people["site_moderator"] = make_user("mia")
    roles.moderator_add(user=world.people["site_moderator"])
    world.people["poster"].groups.add(posters)
    world.people["editor"].groups.add(team)
    world.people["named"].groups.add(team)
    world.people["board_moderator"].groups.add(board_mods)

    world.boards["open"] = boards.board_create(slug="open", name="Open")
    world.boards["private"] = boards.board_create(slug="private", name="Private", private=True)
    world.boards["announce"] = boards.board_create(slug="announce", name="Announcements", private=True)
    boards.board_grant(slug="private", audience="posters", level="post")
    boards.board_grant(slug="private", audience="team", level="edit")
    boards.board_grant(slug="private", audience="board-mods", level="moderate")
    boards.board_grant(slug="announce", audience="everyone", level="read")
    boards.board_grant(slug="announce", audience="posters", level="post")

    author = world.people["poster"]
    for name in ("open", "private", "announce"):
        world.messages[name] = services.message_create(
            author=author, subject=f"On {name}", body=f"A message on the {name} board.\n", board_slug=name
        )
    world.messages["restricted"] = services.message_create(
        author=author, subject="Restricted", body="Only ned may edit.\n", board_slug="private"
    )
    boards.message_editors_set(message_id=world.messages["restricted"].pk, user=author, users=["ned"], groups=[])
    return world


def signed_in(user) -> Client:
    """Return a browser signed in as the user."""
    browser = Client()
    browser.force_login(user)
    return browser
