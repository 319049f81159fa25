"""Read queries. Each page's data comes from one query; none of them counts or offsets."""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Case, F, QuerySet, When
from django.db.models.functions import Now

from messages_app import bodies
from messages_app.errors import MessageGone, MessageNotFound, RevisionNotFound
from messages_app.leases import LeaseInfo, lease_current
from messages_app.models import Message, Revision

HISTORY_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class MessagePage:
    items: list[Message]
    next_before: int | None


@dataclass(frozen=True, slots=True)
class RevisionPage:
    items: list[Revision]
    next_before: int | None


def _with_lease_and_names(queryset: QuerySet) -> QuerySet:
    lease_is_valid = {"lease__expires_at__gt": Now()}
    return queryset.annotate(
        author_name=F("author__username"),
        updated_by_name=F("updated_by__username"),
        lease_holder=Case(When(**lease_is_valid, then=F("lease__holder__username")), default=None),
        lease_expires_at=Case(When(**lease_is_valid, then=F("lease__expires_at")), default=None),
    )


def message_list_page(*, before: int | None = None, limit: int | None = None) -> MessagePage:
    """Return visible messages newest first, older than ``before`` when given."""
    limit = limit or settings.MESSAGEBOARD_PAGE_SIZE
    queryset = Message.objects.visible().order_by("-id")
    if before is not None:
        queryset = queryset.filter(id__lt=before)
    queryset = _with_lease_and_names(queryset).only(
        "id", "subject", "version", "size", "sha256", "protected", "created_at", "updated_at"
    )
    # One row more than the page tells whether an older page exists, without counting.
    rows = list(queryset[: limit + 1])
    items = rows[:limit]
    next_before = items[-1].pk if len(rows) > limit else None
    return MessagePage(items=items, next_before=next_before)


def message_get(*, message_id: int, include_deleted: bool = False) -> Message:
    """Return one message with its author, editor and current lease holder.

    Raises MessageNotFound, or MessageGone for a deleted message unless include_deleted.
    """
    message = _with_lease_and_names(Message.objects.filter(pk=message_id)).first()
    if message is None:
        raise MessageNotFound()
    if message.deleted_at is not None and not include_deleted:
        raise MessageGone()
    return message


def message_lease(*, message_id: int) -> LeaseInfo | None:
    """Return who holds a visible message's valid lease and until when, or None."""
    message_must_be_visible(message_id)
    return lease_current(message_id=message_id)


def message_body(message: Message) -> str:
    """Return the text of a message's current version."""
    return bodies.body_read(message.body.name)


def revision_list(*, message_id: int, before: int | None = None, limit: int = HISTORY_PAGE_SIZE) -> RevisionPage:
    """Return a message's versions newest first, older than version ``before`` when given."""
    queryset = Revision.objects.filter(message_id=message_id).order_by("-version")
    if before is not None:
        queryset = queryset.filter(version__lt=before)
    queryset = queryset.annotate(author_name=F("author__username"), message_deleted_at=F("message__deleted_at"))
    rows = list(queryset[: limit + 1])
    if not rows:
        # Every message has a version 1, so no rows means no message (or an empty page).
        message_must_be_visible(message_id)
        return RevisionPage(items=[], next_before=None)
    if rows[0].message_deleted_at is not None:
        raise MessageGone()
    items = rows[:limit]
    return RevisionPage(items=items, next_before=items[-1].version if len(rows) > limit else None)


def revision_get(*, message_id: int, version: int) -> Revision:
    """Return one version of a message with its author's name."""
    revision = (
        Revision.objects.filter(message_id=message_id, version=version)
        .annotate(author_name=F("author__username"), message_deleted_at=F("message__deleted_at"))
        .first()
    )
    if revision is None:
        message_must_be_visible(message_id)
        raise RevisionNotFound()
    if revision.message_deleted_at is not None:
        raise MessageGone()
    return revision


def revision_body(revision: Revision) -> str:
    """Return the text of one version of a message."""
    return bodies.body_read(revision.body.name)


def message_must_be_visible(message_id: int) -> None:
    """Raise MessageNotFound or MessageGone unless the message exists and is not deleted."""
    deleted_at = list(Message.objects.filter(pk=message_id).values_list("deleted_at", flat=True))
    if not deleted_at:
        raise MessageNotFound()
    if deleted_at[0] is not None:
        raise MessageGone()
