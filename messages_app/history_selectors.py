"""Read queries of a message's past: its versions, the changes between two of them, and its lease events.

Apart from selectors.py, which holds the current message's reads (the hot pages), so that each
module keeps to one job; the visibility rules come from there.
"""

from dataclasses import dataclass

from django.db.models import F
from django.db.models.expressions import RawSQL

from messages_app import bodies, diffs, permissions
from messages_app.errors import MessageGone, MessageNotFound, RevisionNotFound
from messages_app.leases import fits_integer_column
from messages_app.models import LeaseEvent, Revision
from messages_app.selectors import message_must_be_visible, read_following_moves

HISTORY_PAGE_SIZE = 100
LEASE_EVENT_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class RevisionPage:
    items: list[Revision]
    next_before: int | None


def revision_list(
    *, message_id: int, viewer=None, before: int | None = None, limit: int = HISTORY_PAGE_SIZE
) -> RevisionPage:
    """Return a message's versions newest first, older than version ``before`` when given.

    Raises MessageNotFound when ``viewer`` may not read the message's board (selectors.message_get).
    """
    if not fits_integer_column(message_id):
        raise MessageNotFound()
    queryset = Revision.objects.filter(message_id=message_id).order_by("-version")
    if before is not None:
        queryset = queryset.filter(version__lt=before)
    queryset = queryset.annotate(
        author_name=F("author__username"),
        message_deleted_at=F("message__deleted_at"),
        message_board_id=F("message__board_id"),
        # Read with the rows, so the history page asks nothing more to know who may read it.
        access_generation=RawSQL(permissions.GENERATION_SQL, []),
    )
    rows = list(queryset[: limit + 1])
    if not rows:
        # Every message has a version 1, so no rows means no message (or an empty page).
        message_must_be_visible(message_id, viewer=viewer)
        return RevisionPage(items=[], next_before=None)
    if viewer is not None:
        permissions.ensure_may_read(viewer, rows[0].message_board_id, generation=rows[0].access_generation or 0)
    if rows[0].message_deleted_at is not None:
        raise MessageGone()
    items = rows[:limit]
    return RevisionPage(items=items, next_before=items[-1].version if len(rows) > limit else None)


def revision_get(*, message_id: int, version: int, viewer=None) -> Revision:
    """Return one version of a message with its author's name and the message's current state.

    Raises MessageNotFound when ``viewer`` may not read the message's board.
    """
    if not fits_integer_column(message_id):
        raise MessageNotFound()
    if version < 1 or not fits_integer_column(version, Revision._meta.get_field("version")):
        message_must_be_visible(message_id, viewer=viewer)
        raise RevisionNotFound()
    revision = (
        Revision.objects.filter(message_id=message_id, version=version)
        .annotate(
            author_name=F("author__username"),
            message_deleted_at=F("message__deleted_at"),
            message_version=F("message__version"),
            message_protected=F("message__protected"),
            message_board_id=F("message__board_id"),
            message_author_id=F("message__author_id"),
            message_editors_restricted=F("message__editors_restricted"),
            pack_key=F("pack__key"),
        )
        .first()
    )
    if revision is None:
        message_must_be_visible(message_id, viewer=viewer)
        raise RevisionNotFound()
    if viewer is not None:
        permissions.ensure_may_read(viewer, revision.message_board_id)
    if revision.message_deleted_at is not None:
        raise MessageGone()
    return revision


def revision_message_facts(revision: Revision) -> permissions.Facts:
    """Return what the permission rules ask about the message of a revision revision_get returned."""
    return permissions.Facts(
        pk=revision.message_id,
        board_id=revision.message_board_id,
        author_id=revision.message_author_id,
        protected=revision.message_protected,
        editors_restricted=revision.message_editors_restricted,
    )


def revision_body(revision: Revision) -> str:
    """Return the text of one version of a message, wherever it is stored (its own file or a pack)."""
    return read_following_moves(bodies.version_read, revision_location(revision), revision.message_id, revision.version)


def revision_location(revision: Revision) -> bodies.VersionLocation:
    """Return where a revision's text is; revision_get's rows carry their pack's key."""
    if revision.pack_id is None:
        return bodies.VersionLocation(key=revision.body_key, sha256=revision.sha256)
    pack_key = revision.__dict__.get("pack_key") or revision.pack.key
    return bodies.VersionLocation(
        key=revision.body_key,
        sha256=revision.sha256,
        pack_key=pack_key,
        pack_offset=revision.pack_offset,
        pack_length=revision.pack_length,
    )


@dataclass(frozen=True, slots=True)
class LeaseEventPage:
    items: list[LeaseEvent]
    next_before: int | None


def lease_event_list(
    *, message_id: int, viewer, before: int | None = None, limit: int = LEASE_EVENT_PAGE_SIZE
) -> LeaseEventPage:
    """Return a message's lease events newest first, older than event ``before`` when given.

    Only the board's moderators may read them: others get NotAllowed (after MessageNotFound or
    MessageGone; MessageNotFound too for those who may not read the board).
    """
    if not fits_integer_column(message_id):
        raise MessageNotFound()
    state = message_must_be_visible(message_id, viewer=viewer)
    permissions.ensure_may_read_lease_events(viewer, state.board_id)
    # Each transition is recorded in the transaction that makes it, under the lease row's
    # lock, so ids order one message's events as they happened.
    queryset = LeaseEvent.objects.filter(message_id=message_id).order_by("-id")
    if before is not None:
        queryset = queryset.filter(id__lt=before)
    queryset = queryset.annotate(user_name=F("user__username"), by_name=F("by__username"))
    rows = list(queryset[: limit + 1])
    items = rows[:limit]
    return LeaseEventPage(items=items, next_before=items[-1].pk if len(rows) > limit else None)


DIFF_CONTEXT_LINES = 3
# Lines one diff page shows at most: a person reads no more, and rendering each costs time.
DIFF_MAX_SHOWN_LINES = 5000


@dataclass(frozen=True, slots=True)
class DiffLine:
    kind: str  # "context", "removed" or "added"
    text: str
    old_number: int | None
    new_number: int | None


@dataclass(frozen=True, slots=True)
class DiffHunk:
    skipped_before: int  # unchanged lines left out before this hunk
    lines: list[DiffLine]


@dataclass(frozen=True, slots=True)
class RevisionDiff:
    """Two versions of one message to compare; their line changes are computed on request."""

    old: Revision
    new: Revision

    @property
    def cache_key(self) -> str:
        """Return what makes the changes between these versions differ: they never change."""
        return f"{self.old.message_id}:{self.old.version}:{self.old.sha256}:{self.new.version}:{self.new.sha256}"


@dataclass(frozen=True, slots=True)
class LineChanges:
    hunks: list[DiffHunk]
    skipped_after: int
    removed: int
    added: int
    exact: bool  # False: the exact line diff cost too much, and a coarser one is shown
    lines_not_shown: int  # lines of the diff past DIFF_MAX_SHOWN_LINES, left out of the hunks
    line_endings_only: bool = False  # the texts differ, but only in line endings or a final newline

    @property
    def identical(self) -> bool:
        return not self.hunks


def revision_diff(*, message_id: int, old_version: int, new_version: int, viewer=None) -> RevisionDiff:
    """Return two versions of a message to compare, without reading their bodies."""
    old = revision_get(message_id=message_id, version=old_version, viewer=viewer)
    new = old if new_version == old_version else revision_get(message_id=message_id, version=new_version, viewer=viewer)
    return RevisionDiff(old=old, new=new)


def revision_changes(diff: RevisionDiff) -> LineChanges:
    """Return the line changes from one version to the other, with a little unchanged context.

    Bounded work whatever the texts: diffs.line_diff falls back to a coarser diff (``exact``
    False) when the exact one would cost too much, and at most DIFF_MAX_SHOWN_LINES lines
    are listed (the counts of removed and added lines stay exact).
    """
    old_text = revision_body(diff.old)
    new_text = old_text if diff.new is diff.old else revision_body(diff.new)
    return text_changes(old_text, new_text)


def text_changes(old_text: str, new_text: str) -> LineChanges:
    """Return the line changes from one text to another (two versions, or a draft and a version)."""
    old_lines = old_text.splitlines()
    new_lines = new_text.splitlines()
    hunks: list[DiffHunk] = []
    removed = added = 0
    room = DIFF_MAX_SHOWN_LINES
    not_shown = 0
    shown_until = 0  # old lines up to here are in a hunk or counted as skipped
    exact = True
    if old_lines != new_lines:
        line_diff = diffs.line_diff(old_lines, new_lines)
        exact = line_diff.exact
        for group in diffs.grouped_opcodes(line_diff.opcodes, DIFF_CONTEXT_LINES):
            lines: list[DiffLine] = []
            for tag, i1, i2, j1, j2 in group:
                if tag == diffs.EQUAL:
                    shown = min(i2 - i1, room)
                    lines += [DiffLine("context", old_lines[i], i + 1, i - i1 + j1 + 1) for i in range(i1, i1 + shown)]
                    not_shown += (i2 - i1) - shown
                    room -= shown
                    continue
                removed += i2 - i1
                added += j2 - j1
                shown_removed = min(i2 - i1, room)
                shown_added = min(j2 - j1, room - shown_removed)
                lines += [DiffLine("removed", old_lines[i], i + 1, None) for i in range(i1, i1 + shown_removed)]
                lines += [DiffLine("added", new_lines[j], None, j + 1) for j in range(j1, j1 + shown_added)]
                not_shown += (i2 - i1) + (j2 - j1) - shown_removed - shown_added
                room -= shown_removed + shown_added
            if lines:
                hunks.append(DiffHunk(skipped_before=group[0][1] - shown_until, lines=lines))
                shown_until = group[-1][2]
    skipped_after = len(old_lines) - shown_until if hunks and not not_shown else 0
    return LineChanges(
        # splitlines() drops the line endings, so texts that differ only there compare equal.
        line_endings_only=not hunks and old_text != new_text,
        hunks=hunks,
        skipped_after=skipped_after,
        removed=removed,
        added=added,
        exact=exact,
        lines_not_shown=not_shown,
    )
