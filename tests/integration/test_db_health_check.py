"""The PostgreSQL backend's health check: no round trip on a quiet connection, Django's check otherwise.

These tests open their own connections to the PostgreSQL server the test machines run
(127.0.0.1:5432), whichever database the suite itself runs on: the backend is PostgreSQL's.
"""

import psycopg
import pytest
from django.db.utils import ConnectionHandler

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


@pytest.fixture
def kept_connection():
    """A kept, health-checked connection through the board's backend, as a gunicorn worker holds one."""
    wrapper = ConnectionHandler({"default": SERVER})["default"]
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
