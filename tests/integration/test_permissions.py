"""Who may do what: visitor, member, author and moderator, on every action, on pages and in the API.

One parametrized test walks the whole matrix. Each action runs on a fresh board: a message by
the author at version 2 (so there is an older version to restore), protected, deleted or under
someone else's lease when the action is about that.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client

from messages_app import editing, permissions, roles, services, tokens
from messages_app.models import Message

pytestmark = pytest.mark.django_db

ROLES = ("visitor", "member", "author", "moderator")
LOGIN, OK, FORBIDDEN, NOT_FOUND = "login", "ok", "forbidden", "not found"


@dataclass
class Board:
    users: dict
    message: Message
    moderator: object
    holder: object  # someone else, to hold a lease the role does not

    def page(self, role: str) -> Client:
        client = Client()
        if role != "visitor":
            client.force_login(self.users[role])
        return client

    def api(self, role: str, method: str, path: str, body=None, **headers):
        if role != "visitor":
            _token, key = tokens.token_create(user=self.users[role])
            headers["Authorization"] = f"Bearer {key}"
        data = "" if body is None else json.dumps(body)
        return Client().generic(method, path, data, content_type="application/json", headers=headers)

    def protect(self) -> None:
        services.message_protect(message_id=self.message.pk, user=self.moderator)

    def delete(self) -> None:
        services.message_delete(message_id=self.message.pk, user=self.moderator)

    def delete_as_author(self) -> None:
        services.message_delete(message_id=self.message.pk, user=self.users["author"])

    def lease_elsewhere(self) -> None:
        editing.message_lease_acquire(message_id=self.message.pk, user=self.holder)


@pytest.fixture
def board(make_user, make_message, alice) -> Board:
    author = alice
    member, moderator, holder = (make_user(name) for name in ("bob", "mia", "carol"))
    roles.moderator_add(user=moderator)
    message = make_message(subject="Matrix", body="Version one.", author=author)
    editing.message_edit_save(
        message_id=message.pk, user=author, base_version=1, lease_token=None, subject=None, body="Version two."
    )
    users = {"member": member, "author": author, "moderator": moderator}
    return Board(users=users, message=message, moderator=moderator, holder=holder)


def outcome(response) -> str:
    """What the role got: sent to sign in, refused, or served."""
    location = response.get("Location", "")
    if response.status_code == 401 or (response.status_code == 302 and location.startswith("/accounts/login/")):
        return LOGIN
    if response.status_code == 403:
        return FORBIDDEN
    if response.status_code == 404:
        return NOT_FOUND
    if response.status_code < 400:
        return OK
    return f"status {response.status_code}: {response.content[:200]!r}"


def _url(board: Board, suffix: str = "") -> str:
    return f"/messages/{board.message.pk}/{suffix}"


def _api(board: Board, suffix: str = "") -> str:
    return f"/api/messages/{board.message.pk}{suffix}"


# Each action: (name, prepare the board, perform as the role, expected for visitor, member, author, moderator)
Action = tuple[str, Callable[[Board], None] | None, Callable[[Board, str], object], tuple[str, str, str, str]]

ACTIONS: list[Action] = [
    # Pages
    ("page read", None, lambda b, r: b.page(r).get(_url(b)), (OK, OK, OK, OK)),
    ("page history", None, lambda b, r: b.page(r).get(_url(b, "history/")), (OK, OK, OK, OK)),
    ("page diff", None, lambda b, r: b.page(r).get(_url(b, "diff/1/2/")), (OK, OK, OK, OK)),
    (
        "page post",
        None,
        lambda b, r: b.page(r).post("/messages/new/", {"subject": "New", "body": "Text."}),
        (LOGIN, OK, OK, OK),
    ),
    ("page edit", None, lambda b, r: b.page(r).get(_url(b, "edit/")), (LOGIN, OK, OK, OK)),
    (
        "page edit protected",
        Board.protect,
        lambda b, r: b.page(r).get(_url(b, "edit/")),
        (LOGIN, FORBIDDEN, FORBIDDEN, OK),
    ),
    ("page delete", None, lambda b, r: b.page(r).post(_url(b, "delete/")), (LOGIN, FORBIDDEN, OK, OK)),
    (
        "page delete protected",
        Board.protect,
        lambda b, r: b.page(r).post(_url(b, "delete/")),
        (LOGIN, FORBIDDEN, FORBIDDEN, OK),
    ),
    # A moderator's delete stands until a moderator undoes it; the author may undo their own.
    (
        "page restore after a moderator's delete",
        Board.delete,
        lambda b, r: b.page(r).post(_url(b, "restore/")),
        (LOGIN, FORBIDDEN, FORBIDDEN, OK),
    ),
    (
        "page restore after the author's delete",
        Board.delete_as_author,
        lambda b, r: b.page(r).post(_url(b, "restore/")),
        (LOGIN, FORBIDDEN, OK, OK),
    ),
    (
        "page restore a version",
        None,
        lambda b, r: b.page(r).post(_url(b, "history/1/restore/"), {"base_version": 2}),
        (LOGIN, OK, OK, OK),
    ),
    (
        "page restore a version protected",
        Board.protect,
        lambda b, r: b.page(r).post(_url(b, "history/1/restore/"), {"base_version": 2}),
        (LOGIN, FORBIDDEN, FORBIDDEN, OK),
    ),
    # API
    ("api read", None, lambda b, r: b.api(r, "GET", _api(b)), (OK, OK, OK, OK)),
    (
        "api post",
        None,
        lambda b, r: b.api(r, "POST", "/api/messages", {"subject": "New", "body": "Text."}),
        (LOGIN, OK, OK, OK),
    ),
    (
        "api put",
        None,
        lambda b, r: b.api(r, "PUT", _api(b), {"body": "Three."}, **{"If-Match": '"2"'}),
        (LOGIN, OK, OK, OK),
    ),
    (
        "api put protected",
        Board.protect,
        lambda b, r: b.api(r, "PUT", _api(b), {"body": "Three."}, **{"If-Match": '"2"'}),
        (LOGIN, FORBIDDEN, FORBIDDEN, OK),
    ),
    ("api take lease", None, lambda b, r: b.api(r, "POST", _api(b, "/lease")), (LOGIN, OK, OK, OK)),
    (
        "api take lease protected",
        Board.protect,
        lambda b, r: b.api(r, "POST", _api(b, "/lease")),
        (LOGIN, FORBIDDEN, FORBIDDEN, OK),
    ),
    (
        "api break someone's lease",
        Board.lease_elsewhere,
        lambda b, r: b.api(r, "DELETE", _api(b, "/lease")),
        (LOGIN, FORBIDDEN, FORBIDDEN, OK),
    ),
    ("api delete", None, lambda b, r: b.api(r, "DELETE", _api(b)), (LOGIN, FORBIDDEN, OK, OK)),
    (
        "api delete protected",
        Board.protect,
        lambda b, r: b.api(r, "DELETE", _api(b)),
        (LOGIN, FORBIDDEN, FORBIDDEN, OK),
    ),
    (
        "api restore after a moderator's delete",
        Board.delete,
        lambda b, r: b.api(r, "POST", _api(b, "/restore")),
        (LOGIN, FORBIDDEN, FORBIDDEN, OK),
    ),
    (
        "api restore after the author's delete",
        Board.delete_as_author,
        lambda b, r: b.api(r, "POST", _api(b, "/restore")),
        (LOGIN, FORBIDDEN, OK, OK),
    ),
    (
        "api revert protected to a version that does not exist",
        Board.protect,
        lambda b, r: b.api(r, "POST", _api(b, "/revisions/99/revert"), **{"If-Match": '"2"'}),
        (LOGIN, FORBIDDEN, FORBIDDEN, NOT_FOUND),
    ),
    (
        "api revert",
        None,
        lambda b, r: b.api(r, "POST", _api(b, "/revisions/1/revert"), **{"If-Match": '"2"'}),
        (LOGIN, OK, OK, OK),
    ),
    (
        "api revert protected",
        Board.protect,
        lambda b, r: b.api(r, "POST", _api(b, "/revisions/1/revert"), **{"If-Match": '"2"'}),
        (LOGIN, FORBIDDEN, FORBIDDEN, OK),
    ),
    ("api protect", None, lambda b, r: b.api(r, "POST", _api(b, "/protect")), (LOGIN, FORBIDDEN, FORBIDDEN, OK)),
    (
        "api unprotect",
        Board.protect,
        lambda b, r: b.api(r, "POST", _api(b, "/unprotect")),
        (LOGIN, FORBIDDEN, FORBIDDEN, OK),
    ),
    (
        "api lease events",
        Board.lease_elsewhere,
        lambda b, r: b.api(r, "GET", _api(b, "/lease/events")),
        (LOGIN, FORBIDDEN, FORBIDDEN, OK),
    ),
]


@pytest.mark.parametrize(
    ("action", "role"),
    [pytest.param(action, role, id=f"{action[0]} as {role}") for action in ACTIONS for role in ROLES],
)
def test_permission_matrix(board, action, role):
    name, prepare, perform, expected = action
    if prepare is not None:
        prepare(board)
    before = Message.objects.values("version", "protected", "deleted_at").get(pk=board.message.pk)
    got = outcome(perform(board, role))
    assert got == expected[ROLES.index(role)], f"{name} as {role}"
    if got != OK:
        # A refusal changes nothing.
        assert Message.objects.values("version", "protected", "deleted_at").get(pk=board.message.pk) == before


# The buttons each role is shown: exactly those whose action the matrix above lets it take
# (a visitor is shown what signing in would allow, and sent to sign in).

SHOWN, HIDDEN = "shown", "hidden"


def _shown(response, marker: str) -> str:
    assert response.status_code in {200, 410}, response.status_code
    return SHOWN if marker in response.content.decode() else HIDDEN


BUTTONS = [
    # (button, prepare, page, marker, expected for visitor, member, author, moderator)
    ("Edit", None, "", 'edit/">Edit</a>', (SHOWN, SHOWN, SHOWN, SHOWN)),
    ("Edit, protected", Board.protect, "", 'edit/">Edit</a>', (HIDDEN, HIDDEN, HIDDEN, SHOWN)),
    ("Delete", None, "", 'delete/">Delete</a>', (HIDDEN, HIDDEN, SHOWN, SHOWN)),
    ("Delete, protected", Board.protect, "", 'delete/">Delete</a>', (HIDDEN, HIDDEN, HIDDEN, SHOWN)),
    ("Restore a version", None, "history/1/", "Restore this version</button>", (HIDDEN, SHOWN, SHOWN, SHOWN)),
    (
        "Restore a version, protected",
        Board.protect,
        "history/1/",
        "Restore this version</button>",
        (HIDDEN, HIDDEN, HIDDEN, SHOWN),
    ),
    (
        "Restore, deleted by its author",
        Board.delete_as_author,
        "",
        "Restore it</button>",
        (HIDDEN, HIDDEN, SHOWN, SHOWN),
    ),
    ("Restore, deleted by a moderator", Board.delete, "", "Restore it</button>", (HIDDEN, HIDDEN, HIDDEN, SHOWN)),
]


@pytest.mark.parametrize(
    ("button", "role"),
    [pytest.param(button, role, id=f"{button[0]} as {role}") for button in BUTTONS for role in ROLES],
)
def test_each_role_is_shown_exactly_the_buttons_it_may_use(board, button, role):
    name, prepare, page, marker, expected = button
    if prepare is not None:
        prepare(board)
    response = board.page(role).get(_url(board, page))
    assert _shown(response, marker) == expected[ROLES.index(role)], f"{name} as {role}"


@pytest.mark.parametrize("who", ["author", "other member", "moderator", "visitor"])
@pytest.mark.parametrize("protected", [False, True])
def test_the_deletes_own_condition_says_what_may_delete_says(who, protected, make_message, alice, bob, mia):
    # services.message_delete re-checks the rule in its UPDATE: both forms must agree.
    message = make_message()
    Message.objects.filter(pk=message.pk).update(protected=protected)
    user = {"author": alice, "other member": bob, "moderator": mia, "visitor": AnonymousUser()}[who]
    allowed = permissions.may_delete(user, board_id=message.board_id, author_id=alice.pk, protected=protected)
    matched = Message.objects.filter(permissions.deletable_by(user), pk=message.pk).exists()
    assert matched == allowed
