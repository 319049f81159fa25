"""Safe defaults (issue 11): DEBUG is off unless asked for, and X-Forwarded-Proto is believed only
when the operator says a proxy that terminates TLS is in front.

The settings are read as a server reads them: in a new process with a clean environment, so
nothing of the test run's (DEBUG=true from tests/settings.py, DATABASE_URL, ...) leaks in.
"""

import json
import os
import runpy
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONF = ROOT / "messageboard" / "gunicorn.conf.py"
PRODUCTION = {"SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "board.example.com"}

# Reads the settings and asks them about one request that says it came over HTTPS, as a client
# can say whatever it likes; a redirect to https:// means the request was taken as plain HTTP.
PROBE = """
import json
import django
from django.conf import settings
from django.test import Client, RequestFactory

django.setup()
forged = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_HOST": "board.example.com"}
# The API's schema reads no table: the probe needs no database.
response = Client().get("/api/openapi.json", **forged)
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "SECURE_PROXY_SSL_HEADER": settings.SECURE_PROXY_SSL_HEADER,
    "SECURE_SSL_REDIRECT": settings.SECURE_SSL_REDIRECT,
    "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
    "is_secure": RequestFactory().get("/", **forged).is_secure(),
    "redirected_to": response.get("Location") if response.status_code == 301 else None,
}))
"""


def read_settings(**variables: str) -> subprocess.CompletedProcess:
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
    # Never the checkout's own database: the probe must not create one there.
    env.update(variables, DJANGO_SETTINGS_MODULE="messageboard.settings", DATABASE_URL="sqlite://:memory:")
    return subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def probe(**variables: str) -> dict:
    result = read_settings(**variables)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_debug_is_off_when_the_environment_does_not_say():
    seen = probe(**PRODUCTION)
    assert seen["DEBUG"] is False
    # And with it, production's side: HTTPS only.
    assert seen["SECURE_SSL_REDIRECT"] is True
    assert seen["SESSION_COOKIE_SECURE"] is True


def test_without_debug_asked_for_a_missing_secret_key_stops_the_board():
    result = read_settings(ALLOWED_HOSTS="board.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off." in result.stderr


def test_debug_turns_on_only_when_asked():
    assert probe(DEBUG="true")["DEBUG"] is True


def test_x_forwarded_proto_is_ignored_unless_a_tls_proxy_is_declared():
    seen = probe(**PRODUCTION)
    assert seen["SECURE_PROXY_SSL_HEADER"] is None
    assert seen["is_secure"] is False
    assert seen["redirected_to"] == "https://board.example.com/api/openapi.json"


def test_x_forwarded_proto_makes_a_request_https_behind_a_declared_tls_proxy():
    seen = probe(**PRODUCTION, MESSAGEBOARD_BEHIND_TLS_PROXY="true")
    assert seen["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert seen["is_secure"] is True
    assert seen["redirected_to"] is None


def test_gunicorn_ignores_x_forwarded_proto_unless_a_tls_proxy_is_declared(monkeypatch):
    monkeypatch.delenv("MESSAGEBOARD_BEHIND_TLS_PROXY", raising=False)
    assert runpy.run_path(str(GUNICORN_CONF))["secure_scheme_headers"] == {}
    monkeypatch.setenv("MESSAGEBOARD_BEHIND_TLS_PROXY", "true")
    # Left unset, gunicorn's default applies: the header counts from FORWARDED_ALLOW_IPS only.
    assert "secure_scheme_headers" not in runpy.run_path(str(GUNICORN_CONF))


@pytest.mark.parametrize("target", ["run", "serve"])
def test_make_run_turns_debug_on_for_itself_and_make_serve_does_not(target):
    dry_run = subprocess.run(
        ["make", "--dry-run", "--always-make", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    commands = dry_run.stdout.replace("\\\n", " ").splitlines()  # a continued command is one line
    board = [line for line in commands if "manage.py" in line or "gunicorn " in line]
    assert board, dry_run.stdout
    for line in board:
        if target == "run":
            assert line.startswith("DEBUG=true "), line
        else:
            assert line.startswith("DEBUG=${DEBUG:-false} "), line
