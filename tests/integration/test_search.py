"""Full-text search (messages_app/search.py) on the database the suite runs on: FTS5 or a tsvector."""

import pytest
from django.contrib.auth.models import AnonymousUser

from messages_app import editing, search, services
from messages_app.errors import InvalidSearch
from messages_app.models import SearchDocument
from tests.support.boards import build_world

pytestmark = pytest.mark.django_db(transaction=True)


def found(viewer, text: str, **options) -> list[int]:
    page = search.messages_search(viewer=viewer, query=search.query_parse(text), **options)
    return [hit.id for hit in page.items]


def edit(message_id: int, user, body: str, subject: str | None = None):
    current = services.Message.objects.get(pk=message_id).version
    return editing.message_edit_save(
        message_id=message_id, user=user, base_version=current, lease_token=None, subject=subject, body=body
    )


def test_a_message_is_found_by_every_word_of_its_body_or_subject(make_message, alice):
    wanted = make_message(subject="Quarterly budget", body="The heron flew over the marsh at dawn.")
    make_message(subject="Other", body="A heron stood still.")

    assert found(alice, "heron marsh") == [wanted.pk]
    assert found(alice, "quarterly heron") == [wanted.pk]
    assert found(alice, "heron marsh pelican") == []


def test_words_match_their_other_forms(make_message, alice):
    wanted = make_message(body="She was running the meetings all week.")

    assert found(alice, "run meeting") == [wanted.pk]


def test_quoted_words_match_only_as_a_phrase(make_message, alice):
    phrase = make_message(body="Please bring the blue notebook tomorrow.")
    apart = make_message(body="The notebook is not blue, it is green.")

    assert sorted(found(alice, "blue notebook")) == sorted([phrase.pk, apart.pk])
    assert found(alice, '"blue notebook"') == [phrase.pk]


def test_a_match_in_the_subject_ranks_above_one_in_the_body(make_message, alice):
    in_body = make_message(subject="Weekly notes", body="We talked about the lighthouse and other things.")
    in_subject = make_message(subject="Lighthouse repairs", body="The lamp needs a new lens before winter.")

    assert found(alice, "lighthouse") == [in_subject.pk, in_body.pk]


def test_the_snippet_marks_the_matches_and_the_page_escapes_the_text(make_message, alice):
    make_message(body="Keep <script>alert(1)</script> and 5 < 6 off the marshmallow jar, [[please]] now.")

    (hit,) = search.messages_search(viewer=alice, query=search.query_parse("marshmallow")).items

    assert "[[marshmallow]]" in hit.snippet_marked()
    html = hit.snippet_html()
    assert "<mark>marshmallow</mark>" in html
    # PostgreSQL's snippets leave tags out, SQLite's keep them as text: either way never as markup.
    assert "<script" not in html and "5 &lt; 6" in html
    # Brackets the author typed are text, not marks.
    assert "[[please]]" in html and html.count("<mark>") == 1


def test_the_marks_own_characters_typed_in_a_body_are_not_marks(make_message, alice):
    make_message(body=f"A {search.MARK_START}fake{search.MARK_END} mark beside a walrus.")

    (hit,) = search.messages_search(viewer=alice, query=search.query_parse("walrus")).items

    assert hit.snippet_html().count("<mark>") == 1


def test_the_index_follows_edits_and_reverts(make_message, alice, bob):
    message = make_message(body="The ferry leaves at noon.")
    edit(message.pk, bob, "The train leaves at noon.")

    assert found(alice, "ferry") == []
    assert found(alice, "train") == [message.pk]

    editing.message_revert(message_id=message.pk, user=alice, version=1, base_version=2, lease_token=None)

    assert found(alice, "ferry") == [message.pk]
    assert found(alice, "train") == []
    assert SearchDocument.objects.get(pk=message.pk).version == 3


def test_a_subject_only_edit_is_found_by_its_new_subject(make_message, alice):
    message = make_message(subject="Old title", body="Body stays the same.")
    edit(message.pk, alice, "Body stays the same.", subject="Zeppelin schedule")

    assert found(alice, "zeppelin") == [message.pk]


def test_deleted_messages_leave_the_results_and_restored_ones_come_back(make_message, alice, mia):
    message = make_message(body="An otter in the river.")
    services.message_delete(message_id=message.pk, user=alice)

    assert found(alice, "otter") == []
    assert found(mia, "otter") == []

    services.message_restore(message_id=message.pk, user=alice)

    assert found(alice, "otter") == [message.pk]


def test_messages_on_boards_the_reader_may_not_read_are_never_returned(make_user):
    world = build_world(make_user)
    everyone = [world.people[role] for role in ("visitor", "member", "poster", "editor", "site_moderator")]
    for message in world.messages.values():
        search.document_put(
            message_id=message.pk,
            version=message.version,
            subject=message.subject,
            body="the albatross text",
            sha256=message.sha256,
        )

    for viewer in everyone:
        hits = search.messages_search(viewer=viewer, query=search.query_parse("albatross")).items
        readable = {message.pk for message in world.messages.values() if _may_read(viewer, message)}
        assert {hit.id for hit in hits} == readable


def _may_read(viewer, message) -> bool:
    from messages_app import permissions

    return permissions.may_read(viewer, message.board_id)


def test_purged_messages_leave_the_index(make_message, alice, mia, run_command):
    message = make_message(body="A pangolin in the garden.")
    services.message_delete(message_id=message.pk, user=alice)
    services.Message.objects.filter(pk=message.pk).update(deleted_at=services.timezone.now() - _days(60))

    run_command("purge_deleted", "--older-than", "30d")

    assert not SearchDocument.objects.filter(pk=message.pk).exists()
    assert found(alice, "pangolin") == []


def _days(count: int):
    from datetime import timedelta

    return timedelta(days=count)


def test_pages_follow_each_other_best_first_without_repeats(make_message, alice):
    ids = [make_message(subject=f"Note {n}", body="kestrel " * (1 + n % 4) + "filler words here") for n in range(12)]

    seen, position = [], None
    while True:
        page = search.messages_search(viewer=alice, query=search.query_parse("kestrel"), after=position, limit=5)
        seen.extend(hit.id for hit in page.items)
        position = page.next_position
        if position is None:
            break

    assert sorted(seen) == sorted(message.pk for message in ids)
    assert len(seen) == len(set(seen))
    assert seen == found(alice, "kestrel", limit=50)


def test_pages_cross_windows_of_newest_matches(make_message, alice, monkeypatch):
    monkeypatch.setattr(search, "WINDOW", 4)
    ids = [make_message(subject=f"Note {n}", body="puffin " * (1 + n % 3)).pk for n in range(10)]

    seen, position, pages = [], None, 0
    while True:
        page = search.messages_search(viewer=alice, query=search.query_parse("puffin"), after=position, limit=3)
        seen.extend(hit.id for hit in page.items)
        position, pages = page.next_position, pages + 1
        if position is None:
            break

    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    # The newest window's four come first, best first among them; then the next four.
    assert set(seen[:4]) == set(ids[-4:]) and set(seen[4:8]) == set(ids[-8:-4])
    assert pages <= 5


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "Type a word"), ("   ", "Type a word"), ("\u3000\t", "Type a word"), ("x" * 201, "at most 200")],
)
def test_an_empty_or_overlong_query_is_refused_saying_why(text, reason):
    with pytest.raises(InvalidSearch, match=reason):
        search.query_parse(text)


def test_punctuation_alone_finds_nothing_without_asking_the_database(make_message, alice, django_assert_num_queries):
    make_message(body="Dots... and !!! marks.")
    query = search.query_parse('"" !!! ...')

    with django_assert_num_queries(0):
        assert search.messages_search(viewer=alice, query=query).items == []


def test_query_syntax_of_the_engines_is_only_text(make_message, alice):
    make_message(body="Plain words: NEAR AND OR NOT column subject body.")

    for text in ["subject:plain", "NEAR(plain words)", "plain OR", "-plain", "plain*", "(plain", "plain & !words"]:
        hits = found(alice, text)
        assert all(isinstance(hit, int) for hit in hits), text


def test_a_visitor_searches_what_everyone_may_read(make_message):
    message = make_message(body="A public heronry.")

    assert found(AnonymousUser(), "heronry") == [message.pk]


def test_a_message_moved_to_a_private_board_leaves_the_results_of_those_who_may_not_read_it(make_user):
    from messages_app import boards

    world = build_world(make_user)
    mia = world.people["site_moderator"]
    message = services.message_create(author=mia, subject="Moving", body="A nightjar at dusk.")
    assert found(AnonymousUser(), "nightjar") == [message.pk]

    boards.message_move(message_id=message.pk, board_slug=world.boards["private"].slug, user=mia)

    assert found(AnonymousUser(), "nightjar") == []
    assert found(mia, "nightjar") == [message.pk]


def test_seeded_messages_are_indexed_as_they_are_loaded(run_command):
    assert run_command("seed_messages", "--count", "30", "--revisions", "2").code == 0

    assert run_command("reindex_search", "--verify").code == 0
    assert SearchDocument.objects.count() == 30
