"""One JSON object per log line, with the request it belongs to.

Each line carries the time (UTC), the level, the logger, the event and the request id of the
request being served (``REQUEST_ID``, set by RequestLogMiddleware), and only the named fields
below a caller passes as ``extra``: a record can never carry a body, a subject or a token by
accident, because nothing else is written.
"""

import contextvars
import json
import logging
from datetime import UTC, datetime

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

FIELDS = (
    "method",
    "path",
    "status",
    "duration_ms",
    "user_id",
    "message_id",
    "version",
    "outcome",
    "holder_id",
    "by_id",
)


class RequestIdFilter(logging.Filter):
    """Stamp each record with the id of the request being served when it is made (not when written)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info:
            # The exception's kind and where it happened, as Django's own error mails do.
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)
