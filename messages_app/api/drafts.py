"""Drafts: the caller's own unsaved text of a message, kept without the lease (messages_app/drafts.py)."""

from django.http import HttpRequest
from ninja import Path, Router

from messages_app import drafts, ratelimits
from messages_app.api.http import MAX_ID, no_content
from messages_app.api.schemas import BODY_ERRORS, WRITE_ERRORS, DraftIn, DraftOut, ErrorOut

router = Router()


def draft_out(draft: drafts.DraftText) -> dict:
    return {
        "subject": draft.subject,
        "body": draft.body,
        "base_version": draft.base_version,
        "seq": draft.seq,
        "updated_at": draft.updated_at,
    }


@router.get(
    "/messages/{int:message_id}/draft",
    response={200: DraftOut, **WRITE_ERRORS},
    operation_id="draft_get",
    tags=["drafts"],
    summary="Read the caller's draft of a message (404 when there is none)",
)
def draft_get(request: HttpRequest, message_id: int = Path(..., ge=1, le=MAX_ID)):
    return draft_out(drafts.draft_get(message_id=message_id, user=request.auth))


@router.put(
    "/messages/{int:message_id}/draft",
    response={200: DraftOut, 409: ErrorOut, 429: ErrorOut, **WRITE_ERRORS, **BODY_ERRORS},
    operation_id="draft_put",
    tags=["drafts"],
    summary="Keep the caller's text of a message as their draft (no lease needed)",
    description=(
        "One draft per user and message; `seq` must be above the stored draft's (else `409 "
        "draft_out_of_sequence`, whose `seq` is the stored one), so a late request never overwrites "
        "newer text. Saving the message (PUT) ends the draft. A user keeps at most "
        "`MESSAGEBOARD_MAX_DRAFTS_PER_USER` (default 50) drafts: `429 too_many_drafts`."
    ),
)
def draft_put(request: HttpRequest, draft: DraftIn, message_id: int = Path(..., ge=1, le=MAX_ID)):
    ratelimits.limit_user("draft_user", request.auth, message_id=message_id)
    kept = drafts.draft_put(
        message_id=message_id,
        user=request.auth,
        subject=draft.subject,
        body=draft.body,
        base_version=draft.base_version,
        seq=draft.seq,
    )
    return draft_out(kept)


@router.delete(
    "/messages/{int:message_id}/draft",
    response={204: None, 429: ErrorOut, **WRITE_ERRORS},
    operation_id="draft_delete",
    tags=["drafts"],
    summary="Discard the caller's draft of a message",
)
def draft_delete(request: HttpRequest, message_id: int = Path(..., ge=1, le=MAX_ID)):
    ratelimits.limit_user("draft_user", request.auth, message_id=message_id)
    drafts.draft_discard(message_id=message_id, user=request.auth)
    return no_content()
