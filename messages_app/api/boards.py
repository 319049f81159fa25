"""Boards: those the caller may read, one board's messages, and who may edit a message."""

from django.conf import settings
from django.http import HttpRequest
from ninja import Path, Query, Router

from messages_app import boards, permissions, ratelimits, selectors
from messages_app.api.auth import reader
from messages_app.api.http import MAX_ID, MAX_PAGE, cursor_decode, cursor_encode, message_summary
from messages_app.api.schemas import (
    BODY_ERRORS,
    READ_ERRORS,
    WRITE_ERRORS,
    BoardListOut,
    EditorsIO,
    ErrorOut,
    InvalidOut,
    MessagePageOut,
)

router = Router()


@router.get(
    "/boards",
    response={200: BoardListOut},
    operation_id="board_list",
    auth=None,
    tags=["boards"],
    summary="The boards the caller may read, by name",
)
def board_list(request: HttpRequest):
    items = boards.board_list(viewer=reader(request))
    return {
        "items": [
            {
                "slug": board.slug,
                "name": board.name,
                "description": board.description,
                "messages": board.messages,
                "may_post": board.may_post,
            }
            for board in items
        ]
    }


@router.get(
    "/boards/{slug}/messages",
    response={200: MessagePageOut, 404: ErrorOut, 422: InvalidOut},
    operation_id="board_messages",
    auth=None,
    tags=["boards"],
    summary="One board's messages, newest first (404 for a board the caller may not read)",
)
def board_messages(
    request: HttpRequest,
    slug: str = Path(..., max_length=50),
    limit: int = Query(settings.MESSAGEBOARD_PAGE_SIZE, ge=1, le=MAX_PAGE),
    cursor: str = Query(None, description="next_cursor of the previous page."),
):
    viewer = reader(request)
    board = boards.board_get(slug=slug, viewer=viewer)
    before = cursor_decode("m", cursor, maximum=MAX_ID)
    page = selectors.message_list_page(viewer=viewer, before=before, limit=limit, board_id=board.pk)
    return {"items": [message_summary(m) for m in page.items], "next_cursor": cursor_encode("m", page.next_before)}


@router.get(
    "/messages/{int:message_id}/editors",
    response={200: EditorsIO, **READ_ERRORS},
    operation_id="editors_get",
    auth=None,
    tags=["boards"],
    summary="Who the message names as its editors (both lists empty: whoever the board lets edit)",
)
def editors_get(request: HttpRequest, message_id: int = Path(..., ge=1, le=MAX_ID)):
    found = boards.message_editors(message_id=message_id, viewer=reader(request))
    return {"users": found.users, "groups": found.groups}


@router.put(
    "/messages/{int:message_id}/editors",
    response={200: EditorsIO, 429: ErrorOut, **WRITE_ERRORS, **BODY_ERRORS},
    operation_id="editors_set",
    tags=["boards"],
    summary="Name who may edit the message (the author or a moderator); empty lists lift the restriction",
)
def editors_set(request: HttpRequest, editors: EditorsIO, message_id: int = Path(..., ge=1, le=MAX_ID)):
    # The message and the right first (404 for a private one, 403), then the limit: a stranger
    # is never told more by a 429 than by the 404 a reader of nothing gets.
    permissions.ensure_may_set_editors(
        request.auth, selectors.message_state(message_id=message_id, viewer=request.auth)
    )
    ratelimits.limit_user("save_user", request.auth)
    found = boards.message_editors_set(
        message_id=message_id, user=request.auth, users=editors.users, groups=editors.groups
    )
    return {"users": found.users, "groups": found.groups}
