"""The editor's pages: opening it under the lease, saving, the lease's heartbeat and release, drafts, merges.

A refused save, a lost lease or a closed tab never loses the person's text: it comes back in
the form (merged with the current version when that moved on, docs/DESIGN.md "Drafts and
merges"), the heartbeat keeps it as a draft on the server, and the page keeps a copy in the
browser (static/js/board.js).
"""

import contextlib
import re
import time

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from messages_app import boards, drafts, editing, permissions, ratelimits, selectors
from messages_app.drafts import SEQ_MAX
from messages_app.errors import (
    DomainError,
    DraftOutOfSequence,
    InvalidInput,
    LeaseCooldown,
    LeaseHeld,
    LeaseLost,
    MessageGone,
    MessageNotFound,
    NotAllowed,
    RateLimited,
    TooManyDrafts,
    TooManyLeases,
    VersionConflict,
)
from messages_app.forms import MessageEditForm
from messages_app.history_selectors import text_changes
from messages_app.merge import TextMerge
from messages_app.views import _error_page, positive_whole_number, retry_after, shows_domain_errors

EDIT_TEMPLATE = "messages_app/message_edit.html"
WAIT_POLL_SECONDS = 5
STALE_EDIT_FORM = (
    "This edit form lacks the version or lease it was opened with, so it cannot be saved. "
    "Your text is kept below: copy it and open the editor again."
)
# A conflict the merge could not decide is written into the text between these lines, as
# version control tools do: the page's buttons (or the person, by hand) keep one side.
CONFLICT_START = "<<<<<<< your text"
CONFLICT_MIDDLE = "======= version {version}"
CONFLICT_END = ">>>>>>> end of conflict"
CONFLICT_MARK = re.compile(r"^(?:<<<<<<< your text|======= version \d+|>>>>>>> end of conflict)$", re.MULTILINE)
UNRESOLVED_CONFLICTS = (
    "Your text still has conflict marks (<<<<<<<, =======, >>>>>>>): keep one side of each conflict "
    "or rewrite it, and remove the marks, before saving."
)


def _edit_context(message, form, *, lease_mode: str, lease=None, **extra) -> dict:
    # Who may edit, said on the page only when the message names its editors (one more query then).
    editors = boards.editors_of(message.pk) if message.editors_restricted else None
    return {
        "message": message,
        "editors": editors,
        "form": form,
        "lease_mode": lease_mode,
        "lease": lease,
        "renew_seconds": max(1, settings.MESSAGEBOARD_LEASE_SECONDS // 4),
        "idle_seconds": settings.MESSAGEBOARD_IDLE_SECONDS,
        "poll_seconds": WAIT_POLL_SECONDS,
        **extra,
    }


def _whole_number(raw: str | None) -> int | None:
    return positive_whole_number(raw, maximum=SEQ_MAX)


def _kept_text(post) -> dict:
    """Return the text a request carries, and the version it was written from (None when unknown)."""
    return {
        "subject": post.get("subject", ""),
        "body": post.get("body", "").replace("\r\n", "\n"),
        "base_version": _whole_number(post.get("base_version")),
    }


def marked_text(merge: TextMerge, version: int) -> str:
    """Return a merged text with each conflict written out between conflict marks, both sides in full."""
    middle = CONFLICT_MIDDLE.format(version=version)
    return "".join(
        chunk
        if isinstance(chunk, str)
        else f"\n{CONFLICT_START}\n{chunk.mine}\n{middle}\n{chunk.theirs}\n{CONFLICT_END}\n"
        for chunk in merge.chunks
    )


def _merged_into_form(message, current_body: str, kept: dict, initial: dict) -> dict:
    """Put the kept text into the form, merged with the current version if it was written from an older one.

    Return what the page shows about the merge: the notice, the conflicts, or what the merge
    took from the other version.
    """
    initial.update(subject=kept["subject"], body=kept["body"])
    base_version = kept.get("base_version")
    if base_version is None or base_version >= message.version:
        return {}
    try:
        merged = editing.merge_onto(
            message, current_body, base_version=base_version, subject=kept["subject"] or None, body=kept["body"]
        )
    except InvalidInput:
        # Nothing to merge (an empty body, a version the message never had): the text as sent.
        return {}
    body = merged.body.text()
    initial.update(subject=merged.subject.text(), body=marked_text(merged.body, merged.version))
    if merged.clean:
        return {"merged": merged, "merge_base": base_version, "merge_changes": text_changes(kept["body"], body)}
    return {
        "merged": merged,
        "merge_base": base_version,
        "conflicts": merged.conflicts,
        "has_conflict_marks": not merged.body.clean,
    }


class _KeptWaiting(Exception):
    """The lease is held or kept for someone's turn; ``waiting`` is how the page shows it, from the last look."""

    def __init__(self, waiting: dict):
        self.waiting = waiting


# A page that looks and finds the lease free (or its user's turn) tries again this often.
EDITOR_ATTEMPTS = 3


def _editor_opened(*, message_id: int, user) -> editing.OpenedEditor:
    """Take the lease and open the editor; raise _KeptWaiting if someone else holds it or it is kept for them."""
    attempts = 0
    while True:
        try:
            return editing.message_edit_open(message_id=message_id, user=user)
        except LeaseHeld:
            attempts += 1
            # The holder may have let go between the refusal and the look: rather than a page
            # saying "it is free (or your turn), click to edit", the editor, while it is to be had.
            # The page shows the look that decided, never a later one that could disagree.
            waiting = _waiting(editing.message_lease_wait(message_id=message_id, user=user), user)
            if waiting["lease_mode"] not in {"free", "your-turn"} or attempts == EDITOR_ATTEMPTS:
                raise _KeptWaiting(waiting) from None


def _edit_page_or_wait(
    request: HttpRequest, message_id: int, *, kept: dict | None = None, notice: str = "", status: int = 200
):
    """Open the editor (with kept text if any), or show who holds the lease or why it is refused."""
    try:
        opened = _editor_opened(message_id=message_id, user=request.user)
    except _KeptWaiting as kept_waiting:
        message = selectors.message_get(message_id=message_id, viewer=request.user)
        context = _edit_context(
            message,
            None,
            kept=kept,
            notice=notice,
            may_take_over=permissions.may_break_lease(request.user, message.board_id),
            **kept_waiting.waiting,
        )
        return render(request, EDIT_TEMPLATE, context, status=status)
    except (TooManyLeases, LeaseCooldown) as refused:
        message = selectors.message_get(message_id=message_id, viewer=request.user)
        held = refused.held if isinstance(refused, TooManyLeases) else []
        context = _edit_context(
            message, None, lease_mode="refused", refusal=refused.detail, held=held, kept=kept, notice=notice
        )
        if isinstance(refused, TooManyLeases):
            return render(request, EDIT_TEMPLATE, context, status=429)
        response = render(request, EDIT_TEMPLATE, context, status=403)
        response["Retry-After"] = str(refused.retry_after)
        return response
    message = opened.message
    initial = {
        "subject": message.subject,
        "body": opened.body,
        "base_version": message.version,
        "lease_token": opened.lease.token,
    }
    extra: dict = {}
    if kept:
        extra = _merged_into_form(message, opened.body, kept, initial)
        if not extra and kept["body"] != opened.body:
            extra["current_body"] = opened.body
    else:
        draft = drafts.draft_find(message_id=message_id, user=request.user)
        if draft is not None and (draft.body, draft.subject) != (opened.body, message.subject):
            extra.update(draft=draft, draft_changes=text_changes(opened.body, draft.body))
    form = MessageEditForm(initial=initial)
    context = _edit_context(message, form, lease_mode="holding", lease=opened.lease, notice=notice, **extra)
    return render(request, EDIT_TEMPLATE, context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@shows_domain_errors
def message_edit(request: HttpRequest, message_id: int) -> HttpResponse:
    if request.method == "GET":
        ratelimits.limit_user("lease_user", request.user, message_id=message_id)
        return _edit_page_or_wait(request, message_id)

    form = MessageEditForm(request.POST)
    kept = _kept_text(request.POST)
    if request.POST.get("intent") == "take-over":
        # A moderator takes the lease from whoever holds it (its holder's text stays their draft).
        ratelimits.limit_user("lease_user", request.user, message_id=message_id)
        editing.message_lease_break(message_id=message_id, user=request.user)
        return _edit_page_or_wait(request, message_id)
    if request.POST.get("intent") == "resume":
        # Back to the editor with this text: after a lost lease, a reload, or to restore a draft.
        try:
            ratelimits.limit_user("lease_user", request.user, message_id=message_id)
        except (RateLimited, MessageGone, MessageNotFound, NotAllowed) as error:
            return _error_page(request, error, kept=kept, message_id=message_id)
        return _edit_page_or_wait(request, message_id, kept=kept)
    marks_kept = bool(request.POST.get("conflict_marks"))
    if form.is_valid() and marks_kept and CONFLICT_MARK.search(form.cleaned_data["body"]):
        form.add_error("body", UNRESOLVED_CONFLICTS)
    if not form.is_valid():
        message = selectors.message_get(message_id=message_id, viewer=request.user)
        if form.has_error("base_version") or form.has_error("lease_token"):
            # The template shows no errors of hidden fields: say what is wrong where it shows.
            form.add_error(None, STALE_EDIT_FORM)
        lease_token = form.cleaned_data.get("lease_token") if hasattr(form, "cleaned_data") else None
        context = _edit_context(
            message, form, lease_mode="holding" if lease_token else "lost", has_conflict_marks=marks_kept
        )
        return render(request, EDIT_TEMPLATE, context, status=400)
    data = form.cleaned_data
    kept.update(subject=data["subject"], body=data["body"])
    try:
        ratelimits.limit_user("save_user", request.user, message_id=message_id)
        saved = editing.message_edit_save(
            message_id=message_id,
            user=request.user,
            base_version=data["base_version"],
            lease_token=data["lease_token"],
            subject=data["subject"],
            body=data["body"],
            release_lease=True,
            draft_seq=_whole_number(request.POST.get("draft_seq")) or 0,
        )
    except (VersionConflict, LeaseLost, LeaseHeld) as refused:
        return _refused_save(request, message_id, refused, kept)
    except InvalidInput as error:
        form.add_error(error.field, error.detail)
        message = selectors.message_get(message_id=message_id, viewer=request.user)
        return render(request, EDIT_TEMPLATE, _edit_context(message, form, lease_mode="holding"), status=400)
    except RateLimited as limited:
        # Nothing was written and the lease is still held: the same form saves once the wait is over.
        message = selectors.message_get(message_id=message_id, viewer=request.user)
        notice = f"Your save was refused. {limited.detail} Your text is kept below."
        context = _edit_context(message, form, lease_mode="holding", notice=notice)
        return retry_after(render(request, EDIT_TEMPLATE, context, status=429), limited)
    except (MessageGone, MessageNotFound, NotAllowed) as error:
        # NotAllowed: the message was protected while the member edited it.
        return _error_page(request, error, kept=kept, message_id=message_id)
    flash.success(request, f"Saved: this is now version {saved.version}.", extra_tags=f"saved saved-{message_id}")
    return redirect("messages_app:message-detail", message_id=message_id)


def _refused_save(request: HttpRequest, message_id: int, refused: DomainError, kept: dict) -> HttpResponse:
    """Give the text of a refused save back: merged into the editor when the message moved on."""
    notice = f"Your save was refused. {refused.detail} Your text is kept below."
    _keep_refused_text(request, message_id, kept)
    holder = selectors.message_lease(message_id=message_id, viewer=request.user)
    if holder is not None and holder.holder == request.user.get_username():
        # The user's other tab holds the lease: taking it back here unasked would make that
        # tab's next save fail in turn. Offer it as a choice instead.
        message = selectors.message_get(message_id=message_id, viewer=request.user)
        context = _edit_context(message, None, lease_mode="elsewhere", lease=holder, kept=kept, notice=notice)
        return render(request, EDIT_TEMPLATE, context, status=409)
    return _edit_page_or_wait(request, message_id, kept=kept, notice=notice, status=409)


def _keep_refused_text(request: HttpRequest, message_id: int, kept: dict) -> None:
    """Keep a refused save's text as the user's draft too: the page giving it back may be closed next."""
    # The page numbers its save above its heartbeats; without the script, the clock does.
    seq = _whole_number(request.POST.get("draft_seq")) or time.time_ns() // 1_000_000
    with contextlib.suppress(DomainError):
        _put_draft(request, message_id, kept, seq=seq)


def _put_draft(request: HttpRequest, message_id: int, kept: dict, *, seq: int) -> drafts.DraftText:
    """Keep text a page sent as the user's draft, counted against their draft rate; raise what draft_put raises."""
    ratelimits.limit_user("draft_user", request.user, message_id=message_id)
    return drafts.draft_put(
        message_id=message_id,
        user=request.user,
        subject=kept["subject"] or None,
        body=kept["body"],
        base_version=kept["base_version"] or 0,
        seq=seq,
    )


@require_GET
@shows_domain_errors
def lease_status(request: HttpRequest, message_id: int) -> HttpResponse:
    """Tell a waiting editor who holds the lease, their place in line, or that it is their turn (polled by HTMX)."""
    waiting = _waiting(editing.message_lease_wait(message_id=message_id, user=request.user), request.user)
    context = {"message_id": message_id, "poll_seconds": WAIT_POLL_SECONDS, **waiting}
    return render(request, f"{EDIT_TEMPLATE}#lease-status", context)


def _waiting(state, user) -> dict:
    """Return how the lease status shows a queue state: held, kept for someone's turn, the user's turn, or free."""
    if state.holder is not None:
        return {"lease_mode": "waiting", "lease": state.holder, "queue": state}
    if state.turn_of is None:
        return {"lease_mode": "free", "queue": state}
    turn = {"holder": state.turn_of, "expires_at": state.turn_until}
    mode = "your-turn" if state.turn_of == user.get_username() else "waiting"
    return {"lease_mode": mode, "lease": turn, "reserved": True, "queue": state}


@login_required
@require_POST
@shows_domain_errors
def lease_renew(request: HttpRequest, message_id: int) -> HttpResponse:
    """Extend the editor's lease (the edit page's heartbeat), keeping its text as a draft when it changed."""
    context: dict = {"message_id": message_id, "draft_kept": _draft_from(request, message_id)}
    try:
        grant = editing.message_lease_renew(
            message_id=message_id, user=request.user, token=request.POST.get("lease_token", "")
        )
    except LeaseLost as lost:
        context.update(lease_mode="lost", lost_detail=lost.detail)
    else:
        context.update(lease_mode="holding", lease=grant)
    return render(request, f"{EDIT_TEMPLATE}#lease-status", context)


def _draft_from(request: HttpRequest, message_id: int) -> drafts.DraftText | None:
    """Keep the text a request carries as the user's draft; return it, or None when none was sent or kept.

    A draft that cannot be kept (a newer one is, the text is invalid, the user writes drafts
    too fast) must not cost the heartbeat its lease: the page keeps its own copy meanwhile.
    """
    seq = _whole_number(request.POST.get("draft_seq"))
    kept = _kept_text(request.POST)
    if seq is None or "body" not in request.POST or kept["base_version"] is None:
        return None
    try:
        return _put_draft(request, message_id, kept, seq=seq)
    except (DraftOutOfSequence, InvalidInput, RateLimited, TooManyDrafts, NotAllowed):
        return None


@login_required
@require_POST
@shows_domain_errors
def lease_release(request: HttpRequest, message_id: int) -> HttpResponse:
    """Give up the editor's lease: Cancel, or the page being closed (sendBeacon, with the text as a draft)."""
    # The message first, as every page about one: a private one is not found whatever is asked.
    selectors.message_state(message_id=message_id, viewer=request.user, include_deleted=True)
    if request.POST.get("beacon"):
        _draft_from(request, message_id)
    token = request.POST.get("lease_token", "")
    if token:
        # Already gone (expired, taken over): releasing it is done either way.
        with contextlib.suppress(LeaseLost):
            editing.message_lease_release(message_id=message_id, user=request.user, token=token)
    if request.POST.get("beacon"):
        return HttpResponse(status=204)
    flash.info(request, "Editing cancelled; nothing was changed.")
    detail_url = reverse("messages_app:message-detail", args=[message_id])
    if request.htmx:
        return HttpResponseClientRedirect(detail_url)
    return redirect(detail_url)


@login_required
@require_POST
@shows_domain_errors
def draft_save(request: HttpRequest, message_id: int) -> HttpResponse:
    """Keep the editor's text as the user's draft without the lease (the page lost it, or is closing)."""
    try:
        _put_draft(request, message_id, _kept_text(request.POST), seq=_whole_number(request.POST.get("draft_seq")) or 0)
    except DraftOutOfSequence as refused:
        return HttpResponse(refused.detail, status=409, content_type="text/plain; charset=utf-8")
    except InvalidInput as invalid:
        return HttpResponse(invalid.detail, status=400, content_type="text/plain; charset=utf-8")
    except TooManyDrafts as refused:
        return HttpResponse(refused.detail, status=429, content_type="text/plain; charset=utf-8")
    return HttpResponse(status=204)


@login_required
@require_POST
@shows_domain_errors
def draft_discard(request: HttpRequest, message_id: int) -> HttpResponse:
    """Discard the user's draft of a message and go back to the editor, which then shows the current version."""
    ratelimits.limit_user("draft_user", request.user, message_id=message_id)
    discarded = drafts.draft_discard(
        message_id=message_id, user=request.user, seq=_whole_number(request.POST.get("draft_seq")) or 0
    )
    if discarded:
        flash.info(request, "Your draft is discarded.", extra_tags=f"draft-discarded draft-discarded-{message_id}")
    return redirect("messages_app:message-edit", message_id=message_id)
