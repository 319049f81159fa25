"""Django's deployment checklist passes with the production variables README documents."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "board.example.com",
    "HTTPS": "true",
    "MESSAGEBOARD_STATIC_MANIFEST": "true",
    "DATABASE_URL": "postgres://messageboard@db.internal:5432/messageboard",
    "MESSAGEBOARD_STORAGE": "s3",
    "AWS_STORAGE_BUCKET_NAME": "messageboard-bodies",
    "AWS_S3_REGION_NAME": "eu-west-1",
    "REDIS_URL": "redis://cache.internal:6379/0",
}


def deploy_check(**variables: str) -> subprocess.CompletedProcess:
    # A clean environment, as a server's: nothing of the test run's (DJANGO_ALLOW_ASYNC_UNSAFE,
    # DATABASE_URL, ...) leaks in. The check reads settings only: no server named is contacted.
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
    env.update(variables, PYTHONWARNINGS="error::UserWarning")
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_deploy_check_passes_without_warnings_in_production():
    result = deploy_check(**PRODUCTION)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in output and "Warning" not in output


def test_deploy_check_flags_plain_http_settings():
    result = deploy_check(**{**PRODUCTION, "HTTPS": "false"})
    assert result.returncode != 0
    assert "security.W008" in result.stderr  # SECURE_SSL_REDIRECT
    assert "security.W012" in result.stderr  # SESSION_COOKIE_SECURE


def test_production_refuses_to_start_without_a_secret_key():
    result = deploy_check(**{**PRODUCTION, "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off." in result.stderr
