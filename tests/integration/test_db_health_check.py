"""The PostgreSQL backend's health check: no round trip on a quiet connection, Django's check otherwise.

These tests open their own connections to the PostgreSQL server the test machines run
(127.0.0.1:5432), whichever database the suite itself runs on: the backend is PostgreSQL's.
"""

import socket
import struct
import threading
import time

import psycopg
import pytest
from django.db.utils import ConnectionHandler

from messageboard.db.postgresql import base as board_backend

SERVER = {
    "ENGINE": "messageboard.db.postgresql",
    "NAME": "postgres",
    "USER": "postgres",
    "HOST": "127.0.0.1",
    "PORT": "5432",
    "CONN_MAX_AGE": 600,
    "CONN_HEALTH_CHECKS": True,
}

pytestmark = pytest.mark.django_db


def _kept(settings: dict):
    return ConnectionHandler({"default": settings})["default"]


@pytest.fixture
def kept_connection():
    """A kept, health-checked connection through the board's backend, as a gunicorn worker holds one."""
    wrapper = _kept(SERVER)
    yield wrapper
    wrapper.close()


@pytest.fixture
def observer():
    """Another session, to see what the kept connection's server process last ran, and to end it."""
    with psycopg.connect(host=SERVER["HOST"], port=5432, user="postgres", dbname="postgres", autocommit=True) as conn:
        yield conn


def _request(wrapper, marker: str) -> int:
    """What a request does: Django's request_started cleanup, then a statement; the server pid."""
    wrapper.close_if_unusable_or_obsolete()
    with wrapper.cursor() as cursor:
        cursor.execute(f"SELECT pg_backend_pid() /* {marker} */")
        return cursor.fetchone()[0]


def _last_statement(observer, pid: int) -> str:
    return observer.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0]


def test_a_quiet_kept_connection_starts_a_request_without_sending_select_1(kept_connection, observer):
    pid = _request(kept_connection, "first")
    kept_connection.close_if_unusable_or_obsolete()
    kept_connection.close_if_health_check_failed()

    assert kept_connection.health_check_done
    assert "first" in _last_statement(observer, pid), "the check sent something to the server"
    assert _request(kept_connection, "second") == pid


def test_a_connection_the_server_ended_is_replaced_before_the_request_uses_it(kept_connection, observer):
    old_pid = _request(kept_connection, "before")
    assert observer.execute("SELECT pg_terminate_backend(%s)", (old_pid,)).fetchone()[0]
    observer.execute("SELECT pg_sleep(0.2)")  # the server's goodbye reaches the socket

    new_pid = _request(kept_connection, "after")

    assert new_pid != old_pid
    assert "after" in _last_statement(observer, new_pid)


def test_a_connection_with_something_to_read_gets_djangos_select_1_and_is_kept_when_it_answers(
    kept_connection, observer
):
    pid = _request(kept_connection, "listening")
    with kept_connection.cursor() as cursor:
        cursor.execute("LISTEN board_health_check")
    observer.execute("NOTIFY board_health_check")
    observer.execute("SELECT pg_sleep(0.2)")

    kept_connection.close_if_unusable_or_obsolete()
    kept_connection.close_if_health_check_failed()

    assert _last_statement(observer, pid) == "SELECT 1"
    assert _request(kept_connection, "still here") == pid


def test_a_connection_inside_a_transaction_is_not_taken_for_quiet(kept_connection):
    _request(kept_connection, "open")
    kept_connection.connection.execute("BEGIN")
    try:
        assert not kept_connection._connection_quiet()
    finally:
        kept_connection.connection.execute("ROLLBACK")
    assert kept_connection._connection_quiet()


def test_a_connection_idle_for_longer_than_a_moment_gets_djangos_select_1(kept_connection, observer, monkeypatch):
    pid = _request(kept_connection, "a while ago")
    monkeypatch.setattr(board_backend, "BUSY_WITHIN_SECONDS", 0.0)

    kept_connection.close_if_unusable_or_obsolete()
    kept_connection.close_if_health_check_failed()

    assert _last_statement(observer, pid) == "SELECT 1"


class ForgetfulGateway:
    """A TCP relay to the server that can forget its connections as a NAT gateway does after an idle timeout.

    Forgotten, a connection gets no word: the client's next packet is answered with a reset.
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.generation = 0
        self.upstreams: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def forget_everything(self) -> None:
        self.generation += 1
        for upstream in self.upstreams:
            upstream.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", 5432))
            self.upstreams.append(upstream)
            threading.Thread(target=self._relay, args=(client, upstream, self.generation), daemon=True).start()
            threading.Thread(target=self._relay, args=(upstream, client, None), daemon=True).start()

    def _relay(self, source: socket.socket, target: socket.socket, generation: int | None) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if generation is not None and generation != self.generation:
                source.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                source.close()  # with linger 0: a reset
                return
            if not data:
                return
            try:
                target.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self.forget_everything()
        self.listener.close()


def test_a_connection_a_gateway_forgot_while_it_sat_idle_is_replaced_and_the_request_succeeds(monkeypatch):
    gateway = ForgetfulGateway()
    wrapper = _kept({**SERVER, "PORT": str(gateway.port)})
    try:
        first = _request(wrapper, "before the idle hours")
        monkeypatch.setattr(board_backend, "BUSY_WITHIN_SECONDS", 0.0)  # the connection has sat idle since
        gateway.forget_everything()
        time.sleep(0.1)

        assert wrapper._connection_quiet(), "a forgotten connection gives no sign until it speaks"
        assert _request(wrapper, "after the idle hours") != first
    finally:
        wrapper.close()
        gateway.close()
