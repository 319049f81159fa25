"""Search: messages the caller may read, matching every word, best first."""

from typing import Annotated

from django.http import HttpRequest
from ninja import Query, Router
from pydantic import WithJsonSchema

from messages_app import ratelimits, search
from messages_app.api.auth import reader
from messages_app.api.errors import BAD_CURSOR, ApiError
from messages_app.api.schemas import ErrorOut, InvalidOut, SearchPageOut

router = Router()

# The limits are the handler's, refused with a clear 400 (search.query_parse); the schema only
# describes them, so that a client (and the contract tests) knows what a valid query is.
QueryText = Annotated[
    str, WithJsonSchema({"type": "string", "minLength": 1, "maxLength": search.MAX_QUERY_CHARS, "pattern": r"\S"})
]

MAX_SEARCH_PAGE = 50


@router.get(
    "/search",
    response={200: SearchPageOut, 400: InvalidOut, 422: InvalidOut, 429: ErrorOut},
    operation_id="message_search",
    auth=None,
    tags=["messages"],
    summary="Search messages by the words of their subject and body, best first",
    description=(
        "Every word must appear (other forms of a word count); words in double quotes must appear "
        "side by side. Results are the caller's readable, undeleted messages, best first among the "
        f"newest {search.WINDOW} matches, then the next {search.WINDOW}. An empty query, or one over "
        f"{search.MAX_QUERY_CHARS} characters, is 400; one without a word (punctuation) finds nothing."
    ),
)
def message_search(
    request: HttpRequest,
    q: QueryText = Query(..., description='The words to find; "quoted words" side by side.'),  # noqa: B008 (ninja's way)
    limit: int = Query(20, ge=1, le=MAX_SEARCH_PAGE),
    cursor: str = Query(None, description="next_cursor of the previous page."),
):
    query = search.query_parse(q)
    try:
        after = search.position_decode(cursor)
    except ValueError:
        raise ApiError(422, "invalid", BAD_CURSOR, fields={"cursor": BAD_CURSOR}) from None
    ratelimits.limit_address("search_ip", request)
    page = search.messages_search(viewer=reader(request), query=query, after=after, limit=limit)
    return {
        "items": [
            {
                "id": hit.id,
                "subject": hit.subject,
                "board": hit.board_slug,
                "author": hit.author_name,
                "updated_at": hit.updated_at,
                "snippet": hit.snippet_marked(),
            }
            for hit in page.items
        ],
        "next_cursor": search.position_encode(page.next_position),
    }
