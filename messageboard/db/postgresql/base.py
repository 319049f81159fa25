"""Django's PostgreSQL backend, with a health check that costs no round trip on a busy, quiet connection.

With CONN_HEALTH_CHECKS, Django sends ``SELECT 1`` before the first statement of every request
on a kept connection, and opens a new connection when it fails. The visitor's message page
makes one statement, so that check was half of its trips to the server.

A connection the server has ended (a restart, an administrator's ``pg_terminate_backend``, an
idle timeout of the server's) makes its socket readable: the server sends its error and
closes. So when the connection served a request a moment ago (``BUSY_WITHIN_SECONDS``), the
check asks the socket, without waiting: nothing to read on an idle connection means nothing
has happened to it, and the request goes on. Anything to read, or a connection idle for
longer, and Django's ``SELECT 1`` decides as before.

Why the time limit: some ends give no sign until something is sent. A NAT gateway or a
firewall forgets a connection idle for minutes, and a database address moved by a failover
answers the next packet with a reset. Django's ``SELECT 1`` meets that reset and reconnects;
the request's own statement would fail. A connection that served a request seconds ago has
not been forgotten by any such timeout; only a failover in those seconds can still cost a
worker's next request, as it costs every request in flight at that moment.
"""

import select
import time

from django.db.backends.postgresql import base
from psycopg import pq

BUSY_WITHIN_SECONDS = 10.0


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._checked_at = -float("inf")

    def close_if_health_check_failed(self) -> None:
        checked_before, self._checked_at = self._checked_at, time.monotonic()
        if (
            self.health_check_enabled
            and not self.health_check_done
            and self._checked_at - checked_before < BUSY_WITHIN_SECONDS
            and self._connection_quiet()
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def _connection_quiet(self) -> bool:
        """True when the connection is idle, open as far as psycopg knows, and the server has sent nothing since."""
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != pq.TransactionStatus.IDLE:
            return False
        poller = select.poll()
        poller.register(connection.fileno(), select.POLLIN | select.POLLPRI)
        return not poller.poll(0)
