"""One log line and one count per lease transition and per save (messageboard/logs.py, metrics.py).

Each line names the use case, the message, the user, the outcome (``ok``, or the refusal's
kind: ``LeaseHeld``, ``VersionConflict``…) and how long it took; a save adds the version it
made. Never the text: the line's fields are the only ones the formatter writes.
"""

import functools
import logging
import time
from collections.abc import Callable

from messages_app import metrics
from messages_app.errors import DomainError

logger = logging.getLogger("messageboard.events")


def logged[**P, R](event: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Log each call of a use case taking ``message_id`` and ``user`` keywords."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            outcome, level, version = "ok", logging.INFO, None
            try:
                result = function(*args, **kwargs)
                version = getattr(result, "version", None)
                return result
            except DomainError as refused:
                outcome = type(refused).__name__
                raise
            except Exception as error:
                outcome, level = type(error).__name__, logging.ERROR
                raise
            finally:
                metrics.use_case_done(event, outcome)
                if logger.isEnabledFor(level):
                    user = kwargs.get("user")
                    logger.log(
                        level,
                        event,
                        extra={
                            "message_id": kwargs.get("message_id"),
                            "user_id": getattr(user, "pk", None),
                            "outcome": outcome,
                            "version": version if isinstance(version, int) else None,
                            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        },
                    )

        return wrapper

    return decorate
