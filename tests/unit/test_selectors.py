from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from messages_app import editing, history_selectors, leases, permissions, selectors, services
from messages_app.errors import MessageGone, MessageNotFound, RevisionNotFound
from messages_app.models import EditLease

pytestmark = pytest.mark.django_db

VISITOR = AnonymousUser()


def test_list_page_shows_50_newest_first_and_points_at_the_next(many_messages):
    ids = many_messages(120)
    first = selectors.message_list_page(viewer=VISITOR)
    assert [m.pk for m in first.items] == ids[:50]
    assert first.next_before == ids[49]
    second = selectors.message_list_page(viewer=VISITOR, before=first.next_before)
    assert [m.pk for m in second.items] == ids[50:100]
    last = selectors.message_list_page(viewer=VISITOR, before=second.next_before)
    assert [m.pk for m in last.items] == ids[100:]
    assert last.next_before is None


def test_list_page_of_exactly_one_full_page_has_no_next(many_messages):
    ids = many_messages(50)
    page = selectors.message_list_page(viewer=VISITOR)
    assert [m.pk for m in page.items] == ids
    assert page.next_before is None


def test_list_page_before_the_oldest_is_empty(many_messages):
    ids = many_messages(3)
    page = selectors.message_list_page(viewer=VISITOR, before=ids[-1])
    assert page.items == []
    assert page.next_before is None


def test_list_page_leaves_out_deleted_messages(make_message, alice):
    kept, deleted = make_message(subject="kept"), make_message(subject="deleted")
    services.message_delete(message_id=deleted.pk, user=alice)
    assert [m.subject for m in selectors.message_list_page(viewer=VISITOR).items] == ["kept"]
    assert kept.pk in [m.pk for m in selectors.message_list_page(viewer=VISITOR, before=deleted.pk + 1).items]


def test_list_page_names_author_and_the_lease_holder_only_while_the_lease_is_valid(make_message, bob):
    make_message(subject="free")
    leased = make_message(subject="leased")
    grant = leases.lease_acquire(message_id=leased.pk, user=bob)
    items = {m.subject: m for m in selectors.message_list_page(viewer=VISITOR).items}
    assert items["leased"].lease_holder == "bob"
    assert abs((items["leased"].lease_expires_at - grant.expires_at).total_seconds()) < 0.001
    assert items["free"].lease_holder is None
    assert items["leased"].author_name == "alice"
    EditLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    items = {m.subject: m for m in selectors.message_list_page(viewer=VISITOR).items}
    assert items["leased"].lease_holder is None
    assert items["leased"].lease_expires_at is None


def test_list_page_is_one_query_once_the_readers_boards_are_known(many_messages, bob, django_assert_num_queries):
    ids = many_messages(60)
    leases.lease_acquire(message_id=ids[0], user=bob)
    visitor = AnonymousUser()
    permissions.access(visitor)  # a request asks once (one read of the access generation)
    with django_assert_num_queries(1):
        page = selectors.message_list_page(viewer=visitor, before=ids[0] + 1)
        names = [(m.subject, m.author_name, m.version, m.updated_at, m.lease_holder) for m in page.items]
    assert len(names) == 50
    assert names[0][4] == "bob"


def test_message_get_is_one_query_with_names_and_lease(make_message, bob, django_assert_num_queries):
    message = make_message()
    leases.lease_acquire(message_id=message.pk, user=bob)
    with django_assert_num_queries(1):
        fetched = selectors.message_get(message_id=message.pk)
        seen = (fetched.subject, fetched.author_name, fetched.updated_by_name, fetched.lease_holder)
    assert seen == ("Hello", "alice", "alice", "bob")


def test_message_get_refuses_unknown_and_deleted_messages(make_message, alice):
    with pytest.raises(MessageNotFound):
        selectors.message_get(message_id=999)
    message = make_message()
    services.message_delete(message_id=message.pk, user=alice)
    with pytest.raises(MessageGone):
        selectors.message_get(message_id=message.pk)
    assert selectors.message_get(message_id=message.pk, include_deleted=True).pk == message.pk


def test_message_get_of_an_id_beyond_any_integer_is_not_found(db):
    with pytest.raises(MessageNotFound):
        selectors.message_get(message_id=10**30)


def test_revision_list_is_newest_first_with_authors(make_message, alice, bob, django_assert_num_queries):
    message = make_message()
    editing.message_edit_save(
        message_id=message.pk, user=bob, base_version=1, lease_token=None, subject="two", body="2"
    )
    editing.message_edit_save(
        message_id=message.pk, user=alice, base_version=2, lease_token=None, subject="three", body="3"
    )
    with django_assert_num_queries(1):
        page = history_selectors.revision_list(message_id=message.pk)
        rows = [(r.version, r.author_name, r.subject) for r in page.items]
    assert rows == [(3, "alice", "three"), (2, "bob", "two"), (1, "alice", "Hello")]
    assert page.next_before is None


def test_revision_list_pages_by_version(make_message, alice):
    message = make_message()
    for version in range(1, 5):
        editing.message_edit_save(
            message_id=message.pk, user=alice, base_version=version, lease_token=None, subject=None, body=f"{version}"
        )
    first = history_selectors.revision_list(message_id=message.pk, limit=2)
    assert [r.version for r in first.items] == [5, 4]
    assert first.next_before == 4
    rest = history_selectors.revision_list(message_id=message.pk, before=4, limit=2)
    assert [r.version for r in rest.items] == [3, 2]
    last = history_selectors.revision_list(message_id=message.pk, before=2, limit=2)
    assert ([r.version for r in last.items], last.next_before) == ([1], None)


def test_revision_list_of_an_unknown_message_is_not_found(db):
    with pytest.raises(MessageNotFound):
        history_selectors.revision_list(message_id=999)


def test_revision_get_returns_the_old_text(make_message, alice):
    message = make_message(body="old text")
    editing.message_edit_save(
        message_id=message.pk, user=alice, base_version=1, lease_token=None, subject=None, body="new text"
    )
    revision = history_selectors.revision_get(message_id=message.pk, version=1)
    assert (revision.version, revision.author_name) == (1, "alice")
    assert history_selectors.revision_body(revision) == "old text"
    with pytest.raises(RevisionNotFound):
        history_selectors.revision_get(message_id=message.pk, version=3)
    with pytest.raises(MessageNotFound):
        history_selectors.revision_get(message_id=999, version=1)


def test_message_lease_names_the_holder_of_a_visible_message(make_message, bob):
    message = make_message()
    assert selectors.message_lease(message_id=message.pk) is None
    leases.lease_acquire(message_id=message.pk, user=bob)
    assert selectors.message_lease(message_id=message.pk).holder == "bob"
    with pytest.raises(MessageNotFound):
        selectors.message_lease(message_id=999)


# The hot pages' written-out queries, held against the ORM querysets they replace.


def _rows_by_orm(queryset) -> list[selectors.MessageRow]:
    from django.db.models import Case, F, When
    from django.db.models.functions import Now

    valid = {"lease__expires_at__gt": Now()}
    annotated = queryset.annotate(
        author_name=F("author__username"),
        updated_by_name=F("updated_by__username"),
        lease_holder=Case(When(**valid, then=F("lease__holder__username")), default=None),
        lease_expires_at=Case(When(**valid, then=F("lease__expires_at")), default=None),
    )
    return [
        selectors.MessageRow(
            id=message.id,
            subject=message.subject,
            version=message.version,
            size=message.size,
            sha256=message.sha256,
            protected=message.protected,
            created_at=message.created_at,
            updated_at=message.updated_at,
            author_id=message.author_id,
            deleted_at=message.deleted_at,
            body_key=message.body_key,
            author_name=message.author_name,
            updated_by_name=message.updated_by_name,
            lease_holder=message.lease_holder,
            lease_expires_at=selectors._aware(message.lease_expires_at),
            board_id=message.board_id,
            board_slug=message.board.slug,
            board_name=message.board.name,
            editors_restricted=message.editors_restricted,
            editors_locked=message.editors_locked,
        )
        for message in annotated
    ]


@pytest.fixture
def board_in_every_state(make_message, alice, bob, mia):
    """Messages edited by another, leased now, leased once, protected and deleted."""
    from messages_app.models import Message

    _plain, edited, leased, lapsed, frozen, gone = (
        make_message(subject=name) for name in ("plain", "edited", "leased", "lapsed", "frozen", "gone")
    )
    editing.message_edit_save(
        message_id=edited.pk, user=bob, base_version=1, lease_token=None, subject="edited!", body="By bob."
    )
    leases.lease_acquire(message_id=leased.pk, user=bob)
    leases.lease_acquire(message_id=lapsed.pk, user=bob)
    EditLease.objects.filter(message=lapsed).update(expires_at=timezone.now() - timedelta(seconds=1))
    services.message_protect(message_id=frozen.pk, user=mia)
    services.message_delete(message_id=gone.pk, user=alice)
    return Message.objects.all()


def test_the_message_query_says_what_the_orm_says_in_every_state(board_in_every_state):
    for message in board_in_every_state:
        [expected] = _rows_by_orm(board_in_every_state.filter(pk=message.pk))
        assert selectors.message_get(message_id=message.pk, include_deleted=True) == expected, message.subject


def test_the_list_query_says_what_the_orm_says_page_after_page(board_in_every_state):
    visible = board_in_every_state.filter(deleted_at__isnull=True).order_by("-id")
    first = selectors.message_list_page(viewer=VISITOR, limit=2)
    assert first.items == _rows_by_orm(visible[:2])
    second = selectors.message_list_page(viewer=VISITOR, before=first.next_before, limit=2)
    assert second.items == _rows_by_orm(visible.filter(id__lt=first.next_before)[:2])
    assert [row.lease_holder for row in selectors.message_list_page(viewer=VISITOR, limit=10).items].count("bob") == 1
