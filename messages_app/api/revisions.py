"""History: every version of a message, one with its body, and making an old one current again."""

from django.http import HttpRequest, HttpResponse
from ninja import Header, Path, Query, Router

from messages_app import editing, history_selectors, permissions, ratelimits, selectors
from messages_app.api.auth import reader
from messages_app.api.http import (
    HISTORY_PAGE,
    MAX_ID,
    MAX_PAGE,
    MAX_VERSION,
    cursor_decode,
    cursor_encode,
    if_match_version,
    lease_token_from,
    message_full,
    revision_out,
)
from messages_app.api.schemas import (
    ETAG,
    MESSAGE_LINKS,
    READ_ERRORS,
    WRITE_ERRORS,
    ErrorOut,
    LockedOut,
    MessageOut,
    RevisionDetailOut,
    RevisionPageOut,
)

router = Router()


@router.get(
    "/messages/{int:message_id}/revisions",
    response={200: RevisionPageOut, **READ_ERRORS},
    operation_id="revision_list",
    auth=None,
    tags=["history"],
    summary="List a message's versions, newest first",
)
def revision_list(
    request: HttpRequest,
    message_id: int = Path(..., ge=1, le=MAX_ID),
    limit: int = Query(HISTORY_PAGE, ge=1, le=MAX_PAGE),
    cursor: str = Query(None, description="next_cursor of the previous page."),
):
    before = cursor_decode("r", cursor, maximum=MAX_VERSION)
    page = history_selectors.revision_list(message_id=message_id, viewer=reader(request), before=before, limit=limit)
    return {"items": [revision_out(r) for r in page.items], "next_cursor": cursor_encode("r", page.next_before)}


@router.get(
    "/messages/{int:message_id}/revisions/{int:version}",
    response={200: RevisionDetailOut, **READ_ERRORS},
    operation_id="revision_get",
    auth=None,
    tags=["history"],
    summary="Read one version of a message, with its body",
)
def revision_get(request: HttpRequest, message_id: int = Path(..., ge=1, le=MAX_ID), version: int = Path(...)):
    # Any version that does not exist, 0 and numbers beyond any column included, is a 404.
    revision = history_selectors.revision_get(message_id=message_id, version=version, viewer=reader(request))
    return {**revision_out(revision), "body": history_selectors.revision_body(revision)}


@router.post(
    "/messages/{int:message_id}/revisions/{int:version}/revert",
    response={
        200: MessageOut,
        400: ErrorOut,
        409: ErrorOut,
        412: ErrorOut,
        423: LockedOut,
        428: ErrorOut,
        413: ErrorOut,
        429: ErrorOut,
        **WRITE_ERRORS,
    },
    operation_id="revision_revert",
    tags=["history"],
    summary="Make an old version current again, as a new version",
    description=(
        "Publishes the old version's subject and body as a new version by the caller; history is "
        "never rewritten. The rules of `PUT /api/messages/{message_id}` apply: `If-Match` names the "
        "current version, and with `Lease-Token` the caller must hold that valid lease, without it "
        "nobody may hold one. Reverting to the current version is `400 invalid`."
    ),
    openapi_extra={"responses": {200: {"headers": ETAG, "links": MESSAGE_LINKS}}},
)
def revision_revert(
    request: HttpRequest,
    response: HttpResponse,
    message_id: int = Path(..., ge=1, le=MAX_ID),
    version: int = Path(...),
    if_match: str = Header(..., alias="If-Match"),
    lease_token: str = Header(None, alias="Lease-Token"),
):
    current = selectors.message_get(message_id=message_id, viewer=request.auth)
    permissions.ensure_may_edit(request.auth, current)
    ratelimits.limit_user("save_user", request.auth)
    editing.message_revert(
        message_id=message_id,
        user=request.auth,
        version=version,
        base_version=if_match_version(if_match, current.version),
        lease_token=lease_token_from(lease_token),
    )
    return message_full(selectors.message_get(message_id=message_id, viewer=request.auth), response)
