"""Drafts: a user's unsaved text of a message, kept on the server so that no typed word is lost.

One draft per user and message. The edit page's heartbeat sends the text when it changed, and
API clients PUT it; neither needs the lease, so a client that lost its lease keeps its text.
The text is a file written through the file handler (bodies.draft_save), on the storage that
holds the messages; the row says which file, which version the text started from, and its
sequence number. A write whose number is not above the stored one is refused
(DraftOutOfSequence), so a request arriving late never overwrites newer text.

A draft survives a lost, expired or broken lease and someone else's save; it ends when its
writer saves the message (editing.message_edit_save consumes it in the save's transaction) or
discards it. ``manage.py purge_drafts`` removes those nobody touched for a while.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from messages_app import bodies, metrics, permissions, protocol_sql, services
from messages_app.errors import (
    DRAFT_BASE_INVALID,
    DRAFT_SEQ_INVALID,
    DraftNotFound,
    DraftOutOfSequence,
    InvalidInput,
    TooManyDrafts,
)
from messages_app.models import Draft, Message
from messages_app.selectors import message_must_be_visible, message_state

# The draft's sequence number is a signed 64-bit column.
SEQ_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class DraftText:
    message_id: int
    subject: str
    body: str
    base_version: int
    seq: int
    updated_at: datetime


def draft_get(*, message_id: int, user) -> DraftText:
    """Return the user's own draft of a visible message, or raise DraftNotFound."""
    message_must_be_visible(message_id, viewer=user)
    draft = draft_find(message_id=message_id, user=user)
    if draft is None:
        raise DraftNotFound()
    return draft


def draft_find(*, message_id: int, user) -> DraftText | None:
    """Return the user's draft of a message, or None (the caller has checked the message is there).

    Every opening of the editor asks, so the statement is written out: the ORM's building of
    it cost twenty times running it (tests/unit/test_drafts.py holds it to the ORM's answer).
    """
    if not user.is_authenticated:
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT body, subject, base_version, seq, updated_at FROM {Draft._meta.db_table} "
            "WHERE user_id = %s AND message_id = %s AND consumed_at IS NULL",
            [user.pk, message_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    key, subject, base_version, seq, updated_at = row
    updated_at = parse_datetime(updated_at) if isinstance(updated_at, str) else updated_at
    if updated_at.tzinfo is None:
        updated_at = updated_at.replace(tzinfo=UTC)
    return DraftText(message_id, subject, bodies.draft_read(key), base_version, seq, updated_at)


def draft_put(*, message_id: int, user, subject: str | None, body: str, base_version: int, seq: int) -> DraftText:
    """Keep the user's text of a message as their draft, replacing an older one.

    No lease is needed. Checked in the API's order: the message is there (MessageNotFound,
    MessageGone), the user may edit it (NotAllowed), the input (InvalidInput, BodyTooLarge),
    then the sequence (DraftOutOfSequence) and the per-user cap (TooManyDrafts). A refused
    write leaves no file behind. Without a subject the draft keeps the one it had, or the
    message's current one.
    """
    state = message_state(message_id=message_id, viewer=user)
    permissions.ensure_may_edit(user, state)
    if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq <= SEQ_MAX:
        raise InvalidInput(DRAFT_SEQ_INVALID, field="seq")
    if isinstance(base_version, bool) or not isinstance(base_version, int) or not 1 <= base_version <= state.version:
        raise InvalidInput(DRAFT_BASE_INVALID, field="base_version")
    if subject is not None:
        services.subject_validate(subject)
    data = services.body_validate(body)
    # Checked before the file is written, so an out-of-sequence write (the usual refusal: a
    # retried request) writes nothing; the locked re-check below stays the rule.
    stored = Draft.objects.filter(user=user, message_id=message_id).values_list("seq", "consumed_at").first()
    if stored is not None and stored[0] >= seq:
        raise DraftOutOfSequence(stored[0])
    if stored is None or stored[1] is not None:
        _ensure_under_cap(user)
    file = bodies.draft_save(message_id=message_id, user_id=user.pk, data=data)
    published = False
    try:
        for _attempt in range(2):
            try:
                draft, replaced_key = _publish(
                    message_id=message_id, user=user, subject=subject, file=file, base_version=base_version, seq=seq
                )
            except IntegrityError:
                # Another request created the row between our look-up and insert (PostgreSQL,
                # where inserts do not queue on one writer): the second try sees and locks it.
                continue
            published = True
            break
        else:
            raise DraftOutOfSequence(seq)
    finally:
        if not published:
            bodies.draft_delete(file.key)
    if replaced_key:
        bodies.draft_delete(replaced_key)
    metrics.DRAFTS.inc()
    return DraftText(message_id, draft.subject, body, draft.base_version, draft.seq, draft.updated_at)


def _publish(*, message_id: int, user, subject: str | None, file, base_version: int, seq: int):
    """Point the user's draft row at the new file if ``seq`` is still the newest; return it and the old file's key."""
    now = timezone.now()
    with transaction.atomic():
        draft = Draft.objects.select_for_update().filter(user=user, message_id=message_id).first()
        if draft is not None and draft.seq >= seq:
            raise DraftOutOfSequence(draft.seq)
        if draft is None:
            current_subject = subject if subject is not None else _current_subject(message_id)
            draft = Draft.objects.create(
                user=user,
                message_id=message_id,
                subject=current_subject,
                body_key=file.key,
                size=file.size,
                sha256=file.sha256,
                base_version=base_version,
                seq=seq,
                updated_at=now,
            )
            return draft, None
        replaced_key = draft.body_key if draft.consumed_at is None else None
        if subject is None and draft.consumed_at is not None:
            subject = _current_subject(message_id)
        draft.subject = subject if subject is not None else draft.subject
        draft.body_key, draft.size, draft.sha256 = file.key, file.size, file.sha256
        draft.base_version, draft.seq, draft.updated_at, draft.consumed_at = base_version, seq, now, None
        draft.save()
        return draft, replaced_key


def _current_subject(message_id: int) -> str:
    return Message.objects.filter(pk=message_id).values_list("subject", flat=True).get()


def _ensure_under_cap(user) -> None:
    limit = settings.MESSAGEBOARD_MAX_DRAFTS_PER_USER
    # Counts at most limit rows through the partial index: never a count of everything.
    live = Draft.objects.filter(user=user, consumed_at__isnull=True).values_list("pk", flat=True)[:limit]
    if len(live) >= limit:
        raise TooManyDrafts(limit)


def draft_discard(*, message_id: int, user, seq: int = 0) -> bool:
    """Discard the user's draft of a message; return whether there was one.

    ``seq`` (the last number the discarding page gave out) keeps a heartbeat in flight from
    bringing the text back, as a save does.
    """
    message_must_be_visible(message_id, viewer=user)
    with transaction.atomic():
        key = protocol_sql.draft_consume(message_id=message_id, user_id=user.pk, seq=seq, now=timezone.now())
    if key is None:
        return False
    bodies.draft_delete(key)
    return True


@dataclass(frozen=True, slots=True)
class PurgedDraft:
    pk: int
    key: str | None  # None: the row had no text left (saved or discarded)


def drafts_purge(*, older_than: datetime, dry_run: bool = False, batch: int = 500) -> Iterator[PurgedDraft]:
    """Remove drafts (and their files) untouched since ``older_than``, oldest first, in batches.

    Each row is deleted only if it is still as it was read: a draft written again meanwhile
    (a user came back to it) is newer than the cut-off and stays. Its file is deleted after the
    row's delete is committed, so nobody is ever pointed at a missing file.
    """
    last_pk = 0
    while True:
        rows = list(
            Draft.objects.filter(updated_at__lt=older_than, pk__gt=last_pk)
            .order_by("pk")
            .values_list("pk", "seq", "body_key", "consumed_at")[:batch]
        )
        if not rows:
            return
        last_pk = rows[-1][0]
        for pk, seq, key, consumed_at in rows:
            live_key = key if consumed_at is None else None
            if dry_run:
                yield PurgedDraft(pk, live_key)
                continue
            with transaction.atomic():
                deleted, _ = Draft.objects.filter(pk=pk, seq=seq, updated_at__lt=older_than).delete()
            if deleted:
                if live_key:
                    bodies.draft_delete(live_key)
                yield PurgedDraft(pk, live_key)


def draft_orphans_purge(*, older_than: datetime, dry_run: bool = False, batch: int = 500) -> Iterator[str]:
    """Delete draft files older than ``older_than`` that no draft points at; yield each key.

    A write that crashed between its file and its row, or whose old file's delete failed,
    leaves such a file. Only files older than the cut-off are looked at, so a write in
    progress (its file new, its row not yet pointing at it) is never touched.
    """
    cut_off = older_than.timestamp()
    chunk: list[str] = []

    def unreferenced(keys: list[str]) -> list[str]:
        referenced = set(Draft.objects.filter(body_key__in=keys).values_list("body_key", flat=True))
        return [key for key in keys if key not in referenced]

    for listed in bodies.draft_listing():
        if listed.modified_at >= cut_off:
            continue
        chunk.append(listed.key)
        if len(chunk) >= batch:
            yield from _orphans_deleted(unreferenced(chunk), dry_run)
            chunk = []
    if chunk:
        yield from _orphans_deleted(unreferenced(chunk), dry_run)


def _orphans_deleted(keys: list[str], dry_run: bool) -> Iterator[str]:
    for key in keys:
        if not dry_run:
            bodies.draft_delete(key)
        yield key
