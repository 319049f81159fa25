from datetime import timedelta

import pytest
from django.utils import timezone

from messages_app import leases, selectors, services
from messages_app.errors import MessageGone, MessageNotFound, RevisionNotFound
from messages_app.models import EditLease

pytestmark = pytest.mark.django_db


def test_list_page_shows_50_newest_first_and_points_at_the_next(many_messages):
    ids = many_messages(120)
    first = selectors.message_list_page()
    assert [m.pk for m in first.items] == ids[:50]
    assert first.next_before == ids[49]
    second = selectors.message_list_page(before=first.next_before)
    assert [m.pk for m in second.items] == ids[50:100]
    last = selectors.message_list_page(before=second.next_before)
    assert [m.pk for m in last.items] == ids[100:]
    assert last.next_before is None


def test_list_page_of_exactly_one_full_page_has_no_next(many_messages):
    ids = many_messages(50)
    page = selectors.message_list_page()
    assert [m.pk for m in page.items] == ids
    assert page.next_before is None


def test_list_page_before_the_oldest_is_empty(many_messages):
    ids = many_messages(3)
    page = selectors.message_list_page(before=ids[-1])
    assert page.items == []
    assert page.next_before is None


def test_list_page_leaves_out_deleted_messages(make_message, alice):
    kept, deleted = make_message(subject="kept"), make_message(subject="deleted")
    services.message_delete(message_id=deleted.pk, user=alice)
    assert [m.subject for m in selectors.message_list_page().items] == ["kept"]
    assert kept.pk in [m.pk for m in selectors.message_list_page(before=deleted.pk + 1).items]


def test_list_page_names_author_and_the_lease_holder_only_while_the_lease_is_valid(make_message, bob):
    make_message(subject="free")
    leased = make_message(subject="leased")
    grant = leases.lease_acquire(message_id=leased.pk, user=bob)
    items = {m.subject: m for m in selectors.message_list_page().items}
    assert items["leased"].lease_holder == "bob"
    assert abs((items["leased"].lease_expires_at - grant.expires_at).total_seconds()) < 0.001
    assert items["free"].lease_holder is None
    assert items["leased"].author_name == "alice"
    EditLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    items = {m.subject: m for m in selectors.message_list_page().items}
    assert items["leased"].lease_holder is None
    assert items["leased"].lease_expires_at is None


def test_list_page_is_one_query(many_messages, bob, django_assert_num_queries):
    ids = many_messages(60)
    leases.lease_acquire(message_id=ids[0], user=bob)
    with django_assert_num_queries(1):
        page = selectors.message_list_page(before=ids[0] + 1)
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
    services.message_save_edit(
        message_id=message.pk, user=bob, base_version=1, lease_token=None, subject="two", body="2"
    )
    services.message_save_edit(
        message_id=message.pk, user=alice, base_version=2, lease_token=None, subject="three", body="3"
    )
    with django_assert_num_queries(1):
        page = selectors.revision_list(message_id=message.pk)
        rows = [(r.version, r.author_name, r.subject) for r in page.items]
    assert rows == [(3, "alice", "three"), (2, "bob", "two"), (1, "alice", "Hello")]
    assert page.next_before is None


def test_revision_list_pages_by_version(make_message, alice):
    message = make_message()
    for version in range(1, 5):
        services.message_save_edit(
            message_id=message.pk, user=alice, base_version=version, lease_token=None, subject=None, body=f"{version}"
        )
    first = selectors.revision_list(message_id=message.pk, limit=2)
    assert [r.version for r in first.items] == [5, 4]
    assert first.next_before == 4
    rest = selectors.revision_list(message_id=message.pk, before=4, limit=2)
    assert [r.version for r in rest.items] == [3, 2]
    last = selectors.revision_list(message_id=message.pk, before=2, limit=2)
    assert ([r.version for r in last.items], last.next_before) == ([1], None)


def test_revision_list_of_an_unknown_message_is_not_found(db):
    with pytest.raises(MessageNotFound):
        selectors.revision_list(message_id=999)


def test_revision_get_returns_the_old_text(make_message, alice):
    message = make_message(body="old text")
    services.message_save_edit(
        message_id=message.pk, user=alice, base_version=1, lease_token=None, subject=None, body="new text"
    )
    revision = selectors.revision_get(message_id=message.pk, version=1)
    assert (revision.version, revision.author_name) == (1, "alice")
    assert selectors.revision_body(revision) == "old text"
    with pytest.raises(RevisionNotFound):
        selectors.revision_get(message_id=message.pk, version=3)
    with pytest.raises(MessageNotFound):
        selectors.revision_get(message_id=999, version=1)


def test_message_lease_names_the_holder_of_a_visible_message(make_message, bob):
    message = make_message()
    assert selectors.message_lease(message_id=message.pk) is None
    leases.lease_acquire(message_id=message.pk, user=bob)
    assert selectors.message_lease(message_id=message.pk).holder == "bob"
    with pytest.raises(MessageNotFound):
        selectors.message_lease(message_id=999)
