"""Editing leases: take, renew, release or break one, and the lease's history for moderators."""

from django.http import HttpRequest
from ninja import Header, Path, Query, Router, Status

from messages_app import editing, history_selectors, ratelimits
from messages_app.api.http import (
    LEASE_EVENT_PAGE,
    MAX_ID,
    MAX_PAGE,
    cursor_decode,
    cursor_encode,
    grant_out,
    lease_event_out,
    lease_token_from,
    no_content,
)
from messages_app.api.schemas import (
    LEASE_LINKS,
    READ_ERRORS,
    WRITE_ERRORS,
    ErrorOut,
    LeaseEventPageOut,
    LeaseGrantOut,
    LockedOut,
)

router = Router()


@router.post(
    "/messages/{int:message_id}/lease",
    response={201: LeaseGrantOut, 423: LockedOut, 429: ErrorOut, **WRITE_ERRORS},
    operation_id="lease_acquire",
    tags=["leases"],
    summary="Take the message's editing lease (a new token each time)",
    description=(
        "Someone else holds it: `423 locked`. A user holds at most `MESSAGEBOARD_MAX_LEASES_PER_USER` "
        "(default 5) valid leases: one more is `429 too_many_leases`, whose `held` lists the message ids. "
        "For `MESSAGEBOARD_BREAK_COOLDOWN_SECONDS` (default 600) after a moderator broke the caller's "
        "lease on this message (or protected it), `403 lease_cooldown` with `Retry-After`."
    ),
    openapi_extra={"responses": {201: {"links": LEASE_LINKS}}},
)
def lease_acquire(request: HttpRequest, message_id: int = Path(..., ge=1, le=MAX_ID)):
    ratelimits.limit_user("lease_user", request.auth, message_id=message_id)
    grant = editing.message_lease_acquire(message_id=message_id, user=request.auth)
    return Status(201, grant_out(grant))


@router.put(
    "/messages/{int:message_id}/lease",
    response={200: LeaseGrantOut, 409: ErrorOut, **WRITE_ERRORS},
    operation_id="lease_renew",
    tags=["leases"],
    summary="Renew the caller's lease: same token, later expiry",
    description=(
        "A lease renews for at most `MESSAGEBOARD_LEASE_MAX_HOLD_SECONDS` (default 3600) after it was "
        "taken or after its holder's last save of the message; then, like a token that is not the "
        "current valid lease, `409 lease_lost`: take the lease again to go on."
    ),
)
def lease_renew(
    request: HttpRequest,
    message_id: int = Path(..., ge=1, le=MAX_ID),
    lease_token: str = Header(..., alias="Lease-Token"),
):
    token = lease_token_from(lease_token)
    return grant_out(editing.message_lease_renew(message_id=message_id, user=request.auth, token=token))


@router.delete(
    "/messages/{int:message_id}/lease",
    response={204: None, 409: ErrorOut, **WRITE_ERRORS},
    operation_id="lease_release",
    tags=["leases"],
    summary="Release the caller's lease; without Lease-Token, a moderator breaks anyone's",
)
def lease_release(
    request: HttpRequest,
    message_id: int = Path(..., ge=1, le=MAX_ID),
    lease_token: str = Header(None, alias="Lease-Token"),
):
    editing.message_lease_release(message_id=message_id, user=request.auth, token=lease_token_from(lease_token))
    return no_content()


@router.get(
    "/messages/{int:message_id}/lease/events",
    response={200: LeaseEventPageOut, 401: ErrorOut, 403: ErrorOut, **READ_ERRORS},
    operation_id="lease_events",
    tags=["leases"],
    summary="Who held the message's lease: its transitions, newest first (moderators only)",
    description=(
        "`acquired`; `released`; `expired` (found expired when someone else took the lease); "
        "`replaced` (the holder took it again, and the old token died); `broken` (`by` names the "
        "moderator). Renewals are not events."
    ),
)
def lease_events(
    request: HttpRequest,
    message_id: int = Path(..., ge=1, le=MAX_ID),
    limit: int = Query(LEASE_EVENT_PAGE, ge=1, le=MAX_PAGE),
    cursor: str = Query(None, description="next_cursor of the previous page."),
):
    before = cursor_decode("e", cursor, maximum=MAX_ID)
    page = history_selectors.lease_event_list(message_id=message_id, viewer=request.auth, before=before, limit=limit)
    return {"items": [lease_event_out(e) for e in page.items], "next_cursor": cursor_encode("e", page.next_before)}
