"""import_messages holds every record to the rules a post or an edit is held to.

Ids and versions within range (an imported id of 2^63 - 1 left SQLite no id for the next post),
usernames as Django's validators and sign-up's normalization allow, subjects and bodies as the
services validate them. A refused record names its line and what is wrong, and nothing of its
batch is written: no row, no person, no file.
"""

import hashlib
import json

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from messages_app import services
from messages_app.errors import (
    BODY_EMPTY,
    NOT_TEXT,
    NUL_NOT_ALLOWED,
    SUBJECT_EMPTY,
    SUBJECT_TOO_LONG,
)
from messages_app.models import Message, Revision
from messages_app.operations import IMPORT_MAX_ID, import_version_max

pytestmark = pytest.mark.django_db

WHEN = "2026-01-02T03:04:05+00:00"


def revision(version: int, *, body: str | None = None, subject: str = "A subject", author: str = "alice", **extra):
    body = f"version {version}\n" if body is None else body
    try:
        data = body.encode()
    except (UnicodeEncodeError, AttributeError):
        # Not text: refused before its size or checksum matter.
        data = b""
    return {
        "version": version,
        "subject": subject,
        "author": author,
        "created_at": WHEN,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "body": body,
        **extra,
    }


def record(message_id: int = 7, versions: int = 2, **overrides) -> dict:
    """A record as export_messages writes one, valid unless overridden."""
    return {
        "id": message_id,
        "subject": "A subject",
        "version": versions,
        "author": "alice",
        "created_at": WHEN,
        "updated_at": WHEN,
        "updated_by": "bob",
        "deleted_at": None,
        "deleted_by": None,
        "protected": False,
        "revisions": [revision(version) for version in range(1, versions + 1)],
        **overrides,
    }


@pytest.fixture
def import_records(run_command, tmp_path):
    """Write records as JSON Lines (ASCII: lone surrogates survive) and import them."""

    def run(*records):
        path = tmp_path / "import.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        return run_command("import_messages", str(path))

    return run


def nothing_imported(body_files) -> bool:
    return (
        not Message.objects.exists()
        and not Revision.objects.exists()
        and not get_user_model().objects.exists()
        and not body_files()
    )


def assert_refused(result, message: str, body_files) -> None:
    assert result.code == 1, result
    assert f"Nothing more was imported: {message}" in result.err
    assert nothing_imported(body_files)


def test_a_valid_record_imports(import_records):
    result = import_records(record(message_id=7), record(message_id=9, versions=1))
    assert result.code == 0, result
    assert "Imported 2 messages" in result.out
    assert sorted(Message.objects.values_list("id", "version")) == [(7, 2), (9, 1)]


def test_the_largest_id_imports_and_the_board_can_still_post_after_it(import_records):
    assert IMPORT_MAX_ID == 2**53 - 1
    assert import_records(record(message_id=IMPORT_MAX_ID)).code == 0
    alice = get_user_model().objects.get(username="alice")
    posted = services.message_create(author=alice, subject="after the import", body="still posting")
    assert posted.pk == IMPORT_MAX_ID + 1


@pytest.mark.parametrize("message_id", [0, -1, -(2**63), IMPORT_MAX_ID + 1, 2**62, 2**63 - 1, 2**63, 2**64])
def test_an_id_out_of_range_is_refused_and_nothing_is_imported(import_records, body_files, message_id):
    result = import_records(record(message_id=5), record(message_id=message_id))
    assert_refused(
        result, f"line 2: id {message_id} is out of range: imported ids run from 1 to {IMPORT_MAX_ID}", body_files
    )
    # A refused id leaves the next post its id (2^63 - 1 once stopped every post on SQLite).
    author = get_user_model().objects.create_user(username="carol")
    posted = services.message_create(author=author, subject="a post", body="works")
    assert Message.objects.get(pk=posted.pk).subject == "a post"


@pytest.mark.parametrize("message_id", [True, 1.0, "7", None])
def test_an_id_that_is_not_an_integer_is_refused(import_records, body_files, message_id):
    assert_refused(import_records(record(message_id=message_id)), "line 1: not a message record", body_files)


def column_max() -> int:
    return connection.ops.integer_field_range(Message._meta.get_field("version").get_internal_type())[1]


@pytest.mark.parametrize(
    "version", [0, -1, "column max", 2**63], ids=["zero", "negative", "column max", "beyond 64 bits"]
)
def test_a_version_out_of_range_is_refused(import_records, body_files, version):
    version = column_max() if version == "column max" else version
    result = import_records(record(versions=2, version=version))
    highest = import_version_max()
    assert highest == column_max() - 1
    assert_refused(
        result, f"line 1: version {version} is out of range: imported versions run from 1 to {highest}", body_files
    )


def test_a_huge_version_with_few_revisions_is_refused_at_once(import_records, body_files):
    # Compared by count first: the largest version in range never becomes a list of that length.
    highest = import_version_max()
    assert_refused(
        import_records(record(versions=1, version=highest)), f"line 1: versions are not 1..{highest}", body_files
    )


BAD_USERNAMES = {
    "empty": ("", "This field cannot be blank."),
    "space": ("two words", "Enter a valid username."),
    "punctuation": ("semi;colon", "Enter a valid username."),
    "too long": ("x" * 151, "Ensure this value has at most 150 characters (it has 151)."),
    "NUL": ("nul\x00", "Enter a valid username."),
    "lone surrogate": ("\ud800", "Enter a valid username."),
    "not NFKC": ("\ufb01le", "it is not in Unicode normal form NFKC"),
}


@pytest.mark.parametrize("name, error", BAD_USERNAMES.values(), ids=BAD_USERNAMES.keys())
def test_an_author_that_is_not_a_valid_username_is_refused(import_records, body_files, name, error):
    result = import_records(record(message_id=1), record(message_id=2, author=name))
    assert result.code == 1
    assert f"line 2: author {name!r} is not a valid username: " in result.err
    assert error in result.err
    assert nothing_imported(body_files)


def test_the_longest_username_and_letters_beyond_ascii_are_accepted(import_records):
    names = ["x" * 150, "zoë.o", "名前+tag@example"]
    result = import_records(*(record(message_id=n, author=name) for n, name in enumerate(names, start=1)))
    assert result.code == 0, result
    assert set(get_user_model().objects.values_list("username", flat=True)) == {*names, "alice", "bob"}


def one_bad_person(where: str, name) -> dict:
    if where == "revision author":
        bad = record()
        bad["revisions"][1]["author"] = name
        return bad
    return record(**{where: name})


@pytest.mark.parametrize(
    "where, prefix",
    [
        ("updated_by", "line 1: updated_by"),
        ("deleted_by", "line 1: deleted_by"),
        ("revision author", "line 1, version 2: author"),
    ],
)
def test_every_person_named_is_held_to_the_username_rules(import_records, body_files, where, prefix):
    result = import_records(one_bad_person(where, "no spaces allowed"))
    assert_refused(result, f"{prefix} 'no spaces allowed' is not a valid username: Enter a valid username.", body_files)
    result = import_records(one_bad_person(where, 42))
    assert_refused(result, f"{prefix} is not a username: 42", body_files)


BAD_SUBJECTS = {
    "empty": ("", SUBJECT_EMPTY),
    "blank": (" \t ", SUBJECT_EMPTY),
    "too long": ("x" * 201, SUBJECT_TOO_LONG),
    "NUL": ("a\x00b", NUL_NOT_ALLOWED.format(field="subject")),
    "lone surrogate": ("a\ud800b", NOT_TEXT.format(field="subject")),
    "not a string": (["a list"], NOT_TEXT.format(field="subject")),
}


@pytest.mark.parametrize("subject, error", BAD_SUBJECTS.values(), ids=BAD_SUBJECTS.keys())
def test_a_subject_a_post_would_refuse_is_refused(import_records, body_files, subject, error):
    assert_refused(import_records(record(), record(message_id=8, subject=subject)), f"line 2: {error}", body_files)


@pytest.mark.parametrize("subject, error", BAD_SUBJECTS.values(), ids=BAD_SUBJECTS.keys())
def test_a_revision_subject_an_edit_would_refuse_is_refused(import_records, body_files, subject, error):
    bad = record(versions=3)
    bad["revisions"][2]["subject"] = subject
    assert_refused(import_records(bad), f"line 1, version 3: {error}", body_files)


def test_a_subject_of_200_characters_is_accepted(import_records):
    assert import_records(record(subject="é" * 200)).code == 0
    assert Message.objects.get().subject == "é" * 200


BAD_BODIES = {
    "empty": ("", BODY_EMPTY),
    "blank": (" \n\t\n", BODY_EMPTY),
    "NUL": ("text\x00more", NUL_NOT_ALLOWED.format(field="body")),
    "lone surrogate": ("text \udcff more", NOT_TEXT.format(field="body")),
    "not a string": (12, NOT_TEXT.format(field="body")),
    "over the limit": ("é" * 50 + "x", "The body is larger than the limit of 100 bytes."),
}


@pytest.mark.parametrize("body, error", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_body_a_post_would_refuse_is_refused(import_records, body_files, settings, body, error):
    settings.MESSAGEBOARD_MAX_BODY_BYTES = 100
    bad = record(versions=2)
    bad["revisions"][0] = revision(1, body=body)
    assert_refused(import_records(bad), f"line 1, version 1: {error}", body_files)


def test_a_body_at_the_limit_in_bytes_is_accepted(import_records, settings):
    settings.MESSAGEBOARD_MAX_BODY_BYTES = 100
    good = record(versions=1)
    good["revisions"][0] = revision(1, body="é" * 50)
    assert import_records(good).code == 0
    assert Message.objects.get().size == 100


@pytest.mark.parametrize(
    "field, value",
    [("protected", "false"), ("protected", 0), ("created_at", "2026-01-02T03:04:05"), ("deleted_at", "yesterday")],
)
def test_flags_and_times_must_be_what_the_board_records(import_records, body_files, field, value):
    assert_refused(import_records(record(**{field: value})), "line 1: not a message record", body_files)
