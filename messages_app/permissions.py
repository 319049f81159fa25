"""Who may do what to a message: the one place every page, API call, admin action and service asks.

Each rule is a ``may_*`` predicate (for the pages, which show only the buttons that will
work) and, where a service refuses, an ``ensure_*`` twin raising NotAllowed with the
sentence the person reads. The predicates take the few facts they need, not a model
instance, so a page can ask with what it already loaded and a service with one column.
"""

from django.db.models import Q

from messages_app.errors import (
    BREAK_NOT_ALLOWED,
    DELETE_NOT_ALLOWED,
    DELETE_PROTECTED,
    LEASE_EVENTS_NOT_ALLOWED,
    PROTECT_NOT_ALLOWED,
    PROTECTED,
    RESTORE_MODERATED,
    RESTORE_NOT_ALLOWED,
    NotAllowed,
)

MODERATE_PERMISSION = "messages_app.moderate_message"


def is_moderator(user) -> bool:
    """Return whether the user may act on any message.

    Moderators are staff (roles.moderator_add makes them so, and the admin needs it): a member
    is answered without the permission look-up's queries, on every page that shows buttons.
    """
    return bool(user.is_authenticated and user.is_active and user.is_staff and user.has_perm(MODERATE_PERMISSION))


def may_edit(user, *, protected: bool) -> bool:
    """Return whether the user may edit (and take the lease of, and revert) a message."""
    return user.is_authenticated and (not protected or is_moderator(user))


def offers_edit(user, *, protected: bool) -> bool:
    """Return whether a page offers the Edit button: to whoever may edit, and to visitors (asked to sign in).

    A visitor is not offered what no sign-in would allow: editing a protected message.
    """
    return may_edit(user, protected=protected) or (not user.is_authenticated and not protected)


def ensure_may_edit(user, *, protected: bool) -> None:
    if not may_edit(user, protected=protected):
        raise NotAllowed(PROTECTED)


def may_delete(user, *, author_id: int, protected: bool) -> bool:
    """Return whether the user may delete a message: its author unless a moderator froze it, or a moderator."""
    if not user.is_authenticated:
        return False
    # The author's own case first: it needs no permission look-up (the message page asks this).
    return (user.pk == author_id and not protected) or is_moderator(user)


def deletable_by(user) -> Q:
    """Return may_delete's rule as a condition on messages, for the delete's own statement to re-check."""
    if is_moderator(user):
        return Q()
    if not user.is_authenticated:
        return Q(pk__in=[])
    return Q(author_id=user.pk, protected=False)


def ensure_may_delete(user, *, author_id: int, protected: bool) -> None:
    if may_delete(user, author_id=author_id, protected=protected):
        return
    raise NotAllowed(DELETE_PROTECTED if protected and user.pk == author_id else DELETE_NOT_ALLOWED)


def may_restore(user, *, author_id: int, deleted_by_id: int | None) -> bool:
    """Return whether the user may restore a deleted message.

    The author may undo only their own delete: a message a moderator deleted stays deleted
    until a moderator says otherwise.
    """
    if not user.is_authenticated:
        return False
    if is_moderator(user):
        return True
    return user.pk == author_id and deleted_by_id == author_id


def ensure_may_restore(user, *, author_id: int, deleted_by_id: int | None) -> None:
    if may_restore(user, author_id=author_id, deleted_by_id=deleted_by_id):
        return
    raise NotAllowed(RESTORE_MODERATED if user.pk == author_id else RESTORE_NOT_ALLOWED)


def may_protect(user) -> bool:
    """Return whether the user may protect or unprotect a message."""
    return is_moderator(user)


def ensure_may_protect(user) -> None:
    if not may_protect(user):
        raise NotAllowed(PROTECT_NOT_ALLOWED)


def may_break_lease(user) -> bool:
    """Return whether the user may end someone else's editing lease."""
    return is_moderator(user)


def ensure_may_break_lease(user) -> None:
    if not may_break_lease(user):
        raise NotAllowed(BREAK_NOT_ALLOWED)


def may_read_lease_events(user) -> bool:
    """Return whether the user may read who held a message's lease and when."""
    return is_moderator(user)


def ensure_may_read_lease_events(user) -> None:
    if not may_read_lease_events(user):
        raise NotAllowed(LEASE_EVENTS_NOT_ALLOWED)


def may_enter_admin(user) -> bool:
    """Return whether the user may use the moderators' admin."""
    return is_moderator(user)
