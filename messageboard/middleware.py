"""Refuse a request whose body is larger than any page or API call takes, before reading it.

Django checks DATA_UPLOAD_MAX_MEMORY_SIZE only when something reads ``request.body`` or
a form's fields: a multipart request's file parts go to the upload handlers whatever their
size, so a 20 MB "file" sent to the sign-in page was read in full before the form ignored
it. No page takes files (DATA_UPLOAD_MAX_NUMBER_FILES is 0), and the largest legal form or
JSON body fits in DATA_UPLOAD_MAX_MEMORY_SIZE: a declared length above that is refused here,
before any other middleware or view can touch the stream.

A body without Content-Length (chunked) is never read at all: Django's WSGI request reads
at most Content-Length bytes, none when it is missing.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from messages_app.api import error_response


def request_too_large(limit: int) -> str:
    """Return the sentence a person reads when a request is over the limit."""
    return f"The request is larger than the limit of {limit:,} bytes."


class RequestSizeLimitMiddleware:
    """Answer 413 to a request declaring a body over DATA_UPLOAD_MAX_MEMORY_SIZE."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and _declared_length(request) > limit:
            return _refuse(request, limit)
        return self.get_response(request)


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        # Django reads nothing of a body whose length it cannot parse.
        return 0


def _refuse(request: HttpRequest, limit: int) -> HttpResponse:
    detail = request_too_large(limit)
    if request.path_info == "/api" or request.path_info.startswith("/api/"):
        return error_response(413, "too_large", detail)
    context = {"detail": detail, "body_limit": f"{settings.MESSAGEBOARD_MAX_BODY_BYTES:,}"}
    return render(request, "413.html", context, status=413)
