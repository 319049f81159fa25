"""export_messages / import_messages: a board round-trips through JSON Lines byte for byte."""

import hashlib
import json

import pytest
from django.contrib.auth import get_user_model

from messages_app import bodies, editing, services
from messages_app.models import EditLease, Message, Revision

pytestmark = [pytest.mark.django_db, pytest.mark.both_storages]

# Bodies a careless export would bend: line ends of three systems, characters that
# str.splitlines() takes for line breaks (U+2028, NEL, FS), quotes, backslashes and JSON.
TRICKY_BODIES = [
    "plain text",
    "naïve café ☕ 🎉 – ĳ ﬁ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢\n",
    "  leading\r\nwindows\rold mac\nunix  \n\n\u00a0trailing \u2028 ",
    'separators\u2029para\x85nel\x1cfs\x0bvt\x0cff "quoted" \\ back\\slash {"json": [1, 2]}\n',
    "\t\ttabs and a very long line " + "x" * 5000,
]


def edit(message, user, body, version, subject=None):
    editing.message_edit_save(
        message_id=message.pk, user=user, base_version=version, lease_token=None, subject=subject, body=body
    )


@pytest.fixture
def rich_board(make_message, make_user, make_moderator, alice, bob):
    moderator = make_moderator("mod")
    """Messages with many versions and authors, tricky bodies, a gap in the ids, deleted and protected ones."""
    carol = make_user("carol")
    first = make_message(subject='Tricky ☕ "subject" \\ ', body=TRICKY_BODIES[0])
    for version, body in enumerate(TRICKY_BODIES[1:], start=1):
        edit(first, bob if version % 2 else carol, body, version, subject=f"v{version + 1} subject")
    gone = make_message(subject="hard-deleted, leaving a gap in the ids", body="x")
    Revision.objects.filter(message=gone).delete()
    Message.objects.filter(pk=gone.pk).delete()
    by_bob = make_message(subject="bob's", body="by bob\n", author=bob)
    edit(by_bob, alice, "alice edits bob\n", 1)
    services.message_delete(message_id=by_bob.pk, user=bob)
    moderated = make_message(subject="moderated", body="rude\n", author=carol)
    services.message_delete(message_id=moderated.pk, user=moderator)
    frozen = make_message(subject="frozen", body="protected\n")
    Message.objects.filter(pk=frozen.pk).update(protected=True)
    return [first, by_bob, moderated, frozen]


def snapshot() -> dict:
    """Everything about the board an export must carry, bodies as the stored bytes."""
    messages = [
        (
            m.pk,
            m.subject,
            m.version,
            m.author.username,
            m.created_at,
            m.updated_at,
            m.updated_by.username,
            m.deleted_at,
            m.deleted_by.username if m.deleted_by else None,
            m.protected,
            m.size,
            m.sha256,
            bodies.body_read_bytes(m.body_key),
        )
        for m in Message.objects.select_related("author", "updated_by", "deleted_by").order_by("pk")
    ]
    revisions = [
        (
            r.message_id,
            r.version,
            r.subject,
            r.author.username,
            r.created_at,
            r.size,
            r.sha256,
            bodies.body_read_bytes(r.body_key),
        )
        for r in Revision.objects.select_related("author").order_by("message_id", "version")
    ]
    return {"messages": messages, "revisions": revisions}


def empty_the_board(body_storage) -> None:
    EditLease.objects.all().delete()
    Revision.objects.all().delete()
    Message.objects.all().delete()
    get_user_model().objects.all().delete()
    for key in body_storage.stored_keys():
        body_storage.remove(key)


def board_state(body_storage) -> tuple:
    return (
        body_storage.stored_keys(),
        Message.objects.count(),
        Revision.objects.count(),
        sorted(get_user_model().objects.values_list("username", flat=True)),
    )


@pytest.fixture
def exported(rich_board, run_command, tmp_path):
    path = tmp_path / "board.jsonl"
    result = run_command("export_messages", str(path))
    assert result.code == 0, result
    assert f"Exported 4 messages to {path}." in result.out
    return path


def test_export_then_import_into_an_empty_board_reproduces_every_version_byte_for_byte(
    rich_board, exported, body_storage, run_command
):
    before = snapshot()
    assert len(before["revisions"]) == len(TRICKY_BODIES) + 2 + 1 + 1
    empty_the_board(body_storage)
    assert board_state(body_storage) == (set(), 0, 0, [])

    result = run_command("import_messages", str(exported))
    assert result.code == 0, result
    assert f"Imported 4 messages from {exported}." in result.out
    after = snapshot()
    assert after == before
    for revision in after["revisions"]:
        assert hashlib.sha256(revision[-1]).hexdigest() == revision[6]
    assert run_command("verify_storage", "--orphan-grace", "0").code == 0


def test_imported_people_exist_but_cannot_sign_in_until_they_reset_a_password(
    rich_board, exported, body_storage, run_command
):
    empty_the_board(body_storage)
    assert run_command("import_messages", str(exported)).code == 0
    users = get_user_model().objects.order_by("username")
    assert [user.username for user in users] == ["alice", "bob", "carol", "mod"]
    assert not any(user.has_usable_password() for user in users)


def test_the_board_goes_on_after_an_import(rich_board, exported, body_storage, run_command, alice):
    highest = max(m.pk for m in rich_board)
    empty_the_board(body_storage)
    assert run_command("import_messages", str(exported)).code == 0
    author = get_user_model().objects.get(username="alice")
    posted = services.message_create(author=author, subject="after the import", body="new")
    assert posted.pk > highest
    edit(Message.objects.get(pk=rich_board[0].pk), author, "an edit after the import", len(TRICKY_BODIES))
    assert Revision.objects.filter(message_id=rich_board[0].pk).count() == len(TRICKY_BODIES) + 1


def test_export_writes_one_message_a_line_with_all_its_revisions(rich_board, exported):
    lines = exported.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""
    records = [json.loads(line) for line in lines[:-1]]
    assert [record["id"] for record in records] == [m.pk for m in rich_board]
    first = records[0]
    assert [r["version"] for r in first["revisions"]] == list(range(1, len(TRICKY_BODIES) + 1))
    assert [r["body"] for r in first["revisions"]] == TRICKY_BODIES
    assert records[1]["deleted_by"] == "bob" and records[2]["deleted_by"] == "mod"
    assert records[3]["protected"] is True


def test_export_to_standard_output(rich_board, run_command):
    result = run_command("export_messages", "-")
    assert result.code == 0
    # Split on "\n" only: str.splitlines() would also break the raw U+2028 inside a body.
    assert [json.loads(line)["id"] for line in result.out.split("\n")[:-1]] == [m.pk for m in rich_board]


def test_export_of_an_empty_board_is_an_empty_file(db, run_command, tmp_path):
    path = tmp_path / "empty.jsonl"
    assert run_command("export_messages", str(path)).code == 0
    assert path.read_text() == ""


def test_export_to_a_folder_that_does_not_exist_is_a_clear_error(rich_board, run_command, tmp_path):
    result = run_command("export_messages", str(tmp_path / "no" / "such" / "board.jsonl"))
    assert result.code == 1
    assert "Cannot write" in result.err and "No such file or directory" in result.err


def test_export_of_a_board_with_a_missing_body_says_which_and_stops(rich_board, body_storage, run_command, tmp_path):
    lost = rich_board[3].body_key
    body_storage.remove(lost)
    result = run_command("export_messages", str(tmp_path / "board.jsonl"))
    assert result.code == 1
    assert f"message {rich_board[3].pk} version 1: its body file {lost} is missing" in result.err
    assert "verify_storage" in result.err


def test_export_of_a_damaged_body_refuses_to_write_a_backup_that_would_not_import(
    rich_board, body_storage, run_command, tmp_path
):
    damaged = rich_board[3].body_key
    body_storage.overwrite(damaged, b"PROTECTED\n")
    result = run_command("export_messages", str(tmp_path / "board.jsonl"))
    assert result.code == 1
    assert f"message {rich_board[3].pk} version 1: its body file {damaged} does not match its sha256" in result.err


def test_import_into_a_board_that_has_those_ids_is_refused_and_writes_nothing(
    rich_board, exported, body_storage, run_command
):
    before = board_state(body_storage)
    result = run_command("import_messages", str(exported))
    assert result.code == 1
    assert "already exist: import into an empty board" in result.err
    assert board_state(body_storage) == before


def write_lines(path, records) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return str(path)


@pytest.fixture
def records(exported, body_storage):
    """The export's records, on a board emptied for the import."""
    lines = [json.loads(line) for line in exported.read_text(encoding="utf-8").split("\n")[:-1]]
    empty_the_board(body_storage)
    return lines


def test_malformed_json_is_refused_naming_the_line_and_imports_nothing(records, body_storage, run_command, tmp_path):
    path = write_lines(tmp_path / "bad.jsonl", [records[0], '{"id": 9, "subject": "cut short'])
    result = run_command("import_messages", path)
    assert result.code == 1
    assert "line 2: not JSON" in result.err
    assert board_state(body_storage) == (set(), 0, 0, [])


def test_a_body_not_matching_its_sha256_is_refused_and_leaves_nothing_of_its_batch(
    records, body_storage, run_command, tmp_path
):
    records[1]["revisions"][0]["body"] = "tampered\n"
    path = write_lines(tmp_path / "tampered.jsonl", records)
    result = run_command("import_messages", path)
    assert result.code == 1
    assert "line 2: version 1's body does not match its sha256" in result.err
    assert board_state(body_storage) == (set(), 0, 0, [])


def test_versions_with_a_gap_are_refused(records, body_storage, run_command, tmp_path):
    del records[0]["revisions"][1]
    result = run_command("import_messages", write_lines(tmp_path / "gap.jsonl", records))
    assert result.code == 1
    assert f"line 1: versions are not 1..{len(TRICKY_BODIES)}" in result.err
    assert board_state(body_storage) == (set(), 0, 0, [])


def test_a_record_missing_a_field_is_refused(records, body_storage, run_command, tmp_path):
    del records[2]["author"]
    result = run_command("import_messages", write_lines(tmp_path / "partial.jsonl", records))
    assert result.code == 1
    assert "line 3: not a message record" in result.err
    assert board_state(body_storage) == (set(), 0, 0, [])


def test_the_same_id_twice_in_one_file_is_refused(records, body_storage, run_command, tmp_path):
    result = run_command("import_messages", write_lines(tmp_path / "twice.jsonl", [records[0], records[0]]))
    assert result.code == 1
    assert f"message {records[0]['id']} appears twice" in result.err
    assert board_state(body_storage) == (set(), 0, 0, [])


@pytest.mark.local_storage_only
def test_an_unknown_file_is_a_clear_error(db, run_command, tmp_path):
    result = run_command("import_messages", str(tmp_path / "nowhere.jsonl"))
    assert result.code == 1
    assert f"There is no file {tmp_path / 'nowhere.jsonl'}." in result.err


@pytest.mark.local_storage_only
def test_a_file_that_is_not_utf8_is_a_clear_error(db, run_command, tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes('{"subject": "café"}\n'.encode("latin-1"))
    result = run_command("import_messages", str(path))
    assert result.code == 1
    assert "is not UTF-8 text" in result.err


def test_blank_lines_are_skipped(records, run_command, tmp_path):
    path = write_lines(tmp_path / "spaced.jsonl", ["", records[0], "   ", records[1]])
    result = run_command("import_messages", path)
    assert result.code == 0, result
    assert "Imported 2 messages" in result.out


def test_imported_messages_are_found_by_search_at_their_current_version(
    rich_board, exported, body_storage, run_command
):
    from messages_app import search

    empty_the_board(body_storage)
    assert run_command("import_messages", str(exported)).code == 0

    assert run_command("reindex_search", "--verify").code == 0
    current = Message.objects.get(pk=rich_board[0].pk)
    indexed = search.SearchDocument.objects.get(pk=current.pk)
    assert (indexed.version, indexed.subject) == (current.version, current.subject)
