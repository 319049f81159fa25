"""Give each request an id (X-Request-ID) and log one JSON line for it when it is answered.

An id the proxy sent is kept when it looks like one (letters, digits, ``.``, ``_``, ``-``; at
most 64), so one id follows a request from nginx to the app's lines; anything else is replaced,
so a client cannot write what it likes into the logs. The line has the method, the path (never
the query string: searches and tokens travel there), the status, the time taken and, if the
request already looked them up, the user's id.
"""

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from messageboard.logs import REQUEST_ID

logger = logging.getLogger("messageboard.requests")
SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if SANE_ID.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            if logger.isEnabledFor(logging.INFO):
                # The user only if a view asked for them already: looking them up here would
                # cost an anonymous page a session read it never needed.
                user = getattr(request, "_cached_user", None)
                logger.info(
                    "request",
                    extra={
                        "method": request.method,
                        "path": request.path,
                        "status": response.status_code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "user_id": user.pk if user is not None and user.is_authenticated else None,
                    },
                )
            return response
        finally:
            REQUEST_ID.reset(token)
