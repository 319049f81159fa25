"""The search page: /search/?q=words, the same search as GET /api/search."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from messages_app import ratelimits, search
from messages_app.errors import InvalidSearch, RateLimited, SearchTooBroad

PAGE_SIZE = 20
BAD_CURSOR = "That page of results is not one this board gave out: search again."


@require_GET
def search_page(request: HttpRequest) -> HttpResponse:
    """Messages the person may read matching every word, best first; a page of results at a time."""
    text = request.GET.get("q")
    context: dict = {"search_text": text or "", "page_title": "Search"}
    if text is None:
        return render(request, "messages_app/search.html", context)
    status, retry_after = 200, None
    try:
        query = search.query_parse(text)
        try:
            after = search.position_decode(request.GET.get("cursor"))
        except ValueError:
            raise InvalidSearch(BAD_CURSOR) from None
        ratelimits.limit_address("search_ip", request)
        page = search.messages_search(viewer=request.user, query=query, after=after, limit=PAGE_SIZE)
        context.update(
            page_title=f"Search: {text}",
            hits=page.items,
            next_cursor=search.position_encode(page.next_position),
            continued=after is not None,
            shortened=query.shortened,
        )
    except (InvalidSearch, SearchTooBroad) as refused:
        status, context["refusal"] = 400, refused.detail
    except RateLimited as refused:
        status, retry_after, context["refusal"] = 429, refused.retry_after, refused.detail
    response = render(request, "messages_app/search.html", context, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response
