"""Django's PostgreSQL backend, with a health check that costs no round trip while the line is quiet.

With CONN_HEALTH_CHECKS, Django sends ``SELECT 1`` before the first statement of every request
on a kept connection. The visitor's message page makes one statement, so that check was half of
its trips to the server. A connection the server has ended (a restart, an administrator's
``pg_terminate_backend``, an idle timeout) makes its socket readable: the server sends its error
and closes. So the check first asks the socket, without waiting: nothing to read on an idle
connection means nothing has happened to it, and the request goes on; anything to read, and
Django's ``SELECT 1`` decides as before. Go's database/sql checks its pooled connections the same
way. What neither catches is a peer gone without a word (a host powered off, a cable cut): the
first statement then fails after the TCP timeout, as ``SELECT 1`` would have.
"""

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self) -> None:
        if self.health_check_enabled and not self.health_check_done and self._connection_quiet():
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
