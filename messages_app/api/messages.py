"""Messages: list, post, read, edit, delete and restore; moderators protect them."""

from typing import Literal

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Header, Path, Query, Router, Status

from messages_app import editing, markup, permissions, ratelimits, selectors, services
from messages_app.api.auth import reader
from messages_app.api.http import (
    MAX_ID,
    MAX_PAGE,
    cursor_decode,
    cursor_encode,
    etag,
    if_match_version,
    lease_token_from,
    message_full,
    message_summary,
    no_content,
    none_match,
    not_modified,
)
from messages_app.api.schemas import (
    BODY_ERRORS,
    ETAG,
    MESSAGE_LINKS,
    READ_ERRORS,
    WRITE_ERRORS,
    ErrorOut,
    InvalidOut,
    LockedOut,
    MergeIn,
    MergeOut,
    MessageEditIn,
    MessageIn,
    MessageOut,
    MessagePageOut,
    MessageReadOut,
)

router = Router()


@router.get(
    "/messages",
    response={200: MessagePageOut, 422: InvalidOut},
    operation_id="message_list",
    auth=None,
    tags=["messages"],
    summary="List messages, newest first",
)
def message_list(
    request: HttpRequest,
    limit: int = Query(settings.MESSAGEBOARD_PAGE_SIZE, ge=1, le=MAX_PAGE),
    cursor: str = Query(None, description="next_cursor of the previous page."),
):
    before = cursor_decode("m", cursor, maximum=MAX_ID)
    page = selectors.message_list_page(viewer=reader(request), before=before, limit=limit)
    return {"items": [message_summary(m) for m in page.items], "next_cursor": cursor_encode("m", page.next_before)}


@router.post(
    "/messages",
    response={
        201: MessageOut,
        401: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
        422: InvalidOut,
        429: ErrorOut,
        **BODY_ERRORS,
    },
    operation_id="message_create",
    tags=["messages"],
    summary="Post a message",
    openapi_extra={
        "responses": {
            201: {
                "headers": {
                    **ETAG,
                    "Location": {"description": "The new message's address.", "schema": {"type": "string"}},
                },
                "links": MESSAGE_LINKS,
            }
        }
    },
)
def message_create(request: HttpRequest, message: MessageIn, response: HttpResponse):
    ratelimits.limit_user("post_user", request.auth)
    created = services.message_create(
        author=request.auth, subject=message.subject, body=message.body, board_slug=message.board
    )
    current = selectors.message_get(message_id=created.pk)
    response["Location"] = reverse("api:message_get", kwargs={"message_id": created.pk})
    return Status(201, message_full(current, response))


@router.get(
    "/messages/{int:message_id}",
    response={200: MessageReadOut, 304: None, **READ_ERRORS},
    operation_id="message_get",
    auth=None,
    exclude_unset=True,
    tags=["messages"],
    summary="Read a message",
    openapi_extra={"responses": {200: {"headers": ETAG}, 304: {"headers": ETAG}}},
)
def message_get(
    request: HttpRequest,
    response: HttpResponse,
    message_id: int = Path(..., ge=1, le=MAX_ID),
    if_none_match: str = Header(None, alias="If-None-Match"),
    render: Literal["html"] | None = Query(None, description="`html`: add the body rendered as sanitised HTML"),
):
    message = selectors.message_get(message_id=message_id, viewer=reader(request))
    if none_match(if_none_match, message.version):
        return not_modified(message.version)
    full = message_full(message, response)
    if render == "html":
        full["html"] = str(markup.version_html(message.body_key, full["body"]))
    return full


@router.get(
    "/messages/{int:message_id}/body",
    response={200: None, 304: None, **READ_ERRORS},
    operation_id="message_body",
    auth=None,
    tags=["messages"],
    summary="Read a message's body as plain text",
    openapi_extra={
        "responses": {
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "headers": ETAG},
            304: {"headers": ETAG},
        }
    },
)
def message_body(
    request: HttpRequest,
    message_id: int = Path(..., ge=1, le=MAX_ID),
    if_none_match: str = Header(None, alias="If-None-Match"),
):
    message = selectors.message_get(message_id=message_id, viewer=reader(request))
    if none_match(if_none_match, message.version):
        return not_modified(message.version)
    response = HttpResponse(selectors.message_body(message).encode(), content_type="text/plain; charset=utf-8")
    response["ETag"] = etag(message.version)
    return response


@router.put(
    "/messages/{int:message_id}",
    response={
        200: MessageOut,
        409: ErrorOut,
        412: ErrorOut,
        423: LockedOut,
        428: ErrorOut,
        429: ErrorOut,
        **WRITE_ERRORS,
        **BODY_ERRORS,
    },
    operation_id="message_edit_save",
    tags=["messages"],
    summary="Save a new version of a message",
    description=(
        "`If-Match` names the version the edit started from. With `Lease-Token`, the caller must hold "
        "that valid lease; without it, nobody may hold one. The lease stays held after the save."
    ),
    openapi_extra={"responses": {200: {"headers": ETAG, "links": MESSAGE_LINKS}}},
)
def message_edit_save(
    request: HttpRequest,
    edit: MessageEditIn,
    response: HttpResponse,
    message_id: int = Path(..., ge=1, le=MAX_ID),
    if_match: str = Header(..., alias="If-Match"),
    lease_token: str = Header(None, alias="Lease-Token"),
):
    current = selectors.message_get(message_id=message_id, viewer=request.auth)
    permissions.ensure_may_edit(request.auth, current)
    ratelimits.limit_user("save_user", request.auth)
    editing.message_edit_save(
        message_id=message_id,
        user=request.auth,
        base_version=if_match_version(if_match, current.version),
        lease_token=lease_token_from(lease_token),
        subject=edit.subject,
        body=edit.body,
    )
    return message_full(selectors.message_get(message_id=message_id, viewer=request.auth), response)


@router.post(
    "/messages/{int:message_id}/merge",
    response={200: MergeOut, 429: ErrorOut, **WRITE_ERRORS, **BODY_ERRORS},
    operation_id="message_merge",
    tags=["messages"],
    summary="Merge the caller's text, written from an older version, with the current one (nothing is saved)",
    description=(
        "A three-way merge by words (sentences in conflicts), for a PUT refused with `412` because the "
        "message moved on. Where both changed the same passage differently, `merged` holds the caller's "
        "text and `conflicts` lists the passage as the starting version, the caller and the current "
        "version have it. Check the text, then PUT it with `If-Match` of `version`."
    ),
)
def message_merge(request: HttpRequest, merge: MergeIn, message_id: int = Path(..., ge=1, le=MAX_ID)):
    ratelimits.limit_user("merge_user", request.auth, message_id=message_id)
    merged = editing.message_merge(
        message_id=message_id,
        user=request.auth,
        base_version=merge.base_version,
        subject=merge.subject,
        body=merge.body,
    )
    return {
        "version": merged.version,
        "merged": {"subject": merged.subject.text(), "body": merged.body.text()},
        "conflicts": [
            {"field": field, "base": c.base, "mine": c.mine, "theirs": c.theirs} for field, c in merged.conflicts
        ],
    }


@router.delete(
    "/messages/{int:message_id}",
    response={204: None, 412: ErrorOut, 423: LockedOut, **WRITE_ERRORS},
    operation_id="message_delete",
    tags=["messages"],
    summary="Delete a message (its author or a moderator; it can be restored)",
)
def message_delete(
    request: HttpRequest,
    message_id: int = Path(..., ge=1, le=MAX_ID),
    if_match: str = Header(None, alias="If-Match"),
):
    # Deleted before forbidden: every call on a deleted message answers 410.
    current = selectors.message_get(message_id=message_id, viewer=request.auth)
    permissions.ensure_may_delete(
        request.auth, board_id=current.board_id, author_id=current.author_id, protected=current.protected
    )
    base_version = None if if_match is None else if_match_version(if_match, current.version)
    services.message_delete(message_id=message_id, user=request.auth, base_version=base_version)
    return no_content()


@router.post(
    "/messages/{int:message_id}/restore",
    response={200: MessageOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: InvalidOut},
    operation_id="message_restore",
    tags=["messages"],
    summary="Restore a deleted message (its author or a moderator)",
    openapi_extra={"responses": {200: {"headers": ETAG}}},
)
def message_restore(request: HttpRequest, response: HttpResponse, message_id: int = Path(..., ge=1, le=MAX_ID)):
    services.message_restore(message_id=message_id, user=request.auth)
    return message_full(selectors.message_get(message_id=message_id, viewer=request.auth), response)


@router.post(
    "/messages/{int:message_id}/protect",
    response={200: MessageOut, **WRITE_ERRORS},
    operation_id="message_protect",
    tags=["moderation"],
    summary="Protect a message: only moderators can edit it then (moderators only)",
    openapi_extra={"responses": {200: {"headers": ETAG}}},
)
def message_protect(request: HttpRequest, response: HttpResponse, message_id: int = Path(..., ge=1, le=MAX_ID)):
    services.message_protect(message_id=message_id, user=request.auth)
    return message_full(selectors.message_get(message_id=message_id, viewer=request.auth), response)


@router.post(
    "/messages/{int:message_id}/unprotect",
    response={200: MessageOut, **WRITE_ERRORS},
    operation_id="message_unprotect",
    tags=["moderation"],
    summary="Unprotect a message: everyone can edit it again (moderators only)",
    openapi_extra={"responses": {200: {"headers": ETAG}}},
)
def message_unprotect(request: HttpRequest, response: HttpResponse, message_id: int = Path(..., ge=1, le=MAX_ID)):
    services.message_unprotect(message_id=message_id, user=request.auth)
    return message_full(selectors.message_get(message_id=message_id, viewer=request.auth), response)
