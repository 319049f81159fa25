"""HTTP details the routers share: ETags and preconditions, cursors, and docs/API.md's representations."""

import base64
import binascii
import re
from datetime import datetime

from django.http import HttpResponse, HttpResponseNotModified

from messages_app import history_selectors, selectors
from messages_app.api.errors import BAD_CURSOR, LEASE_TOKEN_EMPTY, ApiError
from messages_app.errors import (
    LeaseLost,
    VersionConflict,
)
from messages_app.leases import LeaseGrant

# Ids are 64-bit and versions 32-bit in the database; larger numbers are not ids, and
# SQLite raises OverflowError on them instead of finding nothing.
MAX_ID = 2**63 - 1
MAX_VERSION = 2**31 - 1
MAX_PAGE = 200
HISTORY_PAGE = history_selectors.HISTORY_PAGE_SIZE
LEASE_EVENT_PAGE = history_selectors.LEASE_EVENT_PAGE_SIZE


def etag(version: int) -> str:
    return f'"{version}"'


def _etag_versions(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def if_match_version(header: str, current: int) -> int:
    """Return the version an If-Match names, raising VersionConflict unless it is the current one."""
    # Strong comparison (RFC 9110): a weak tag or "*" never names the version the client edited.
    versions = {int(tag[1:-1]) for tag in _etag_versions(header) if re.fullmatch(r'"[0-9]{1,10}"', tag)}
    # Refused here, a stale request costs no body write; the service re-checks the version
    # atomically, so a save that lands between this read and the write still wins.
    if current not in versions:
        raise VersionConflict(current)
    return current


def none_match(header: str | None, current: int) -> bool:
    if header is None:
        return False
    tags = {tag.removeprefix("W/") for tag in _etag_versions(header)}
    return "*" in tags or etag(current) in tags


def lease_token_from(header: str | None) -> str | None:
    if header is None:
        return None
    if not header.strip():
        # An empty token can never be a valid lease; without this it would read as "no token".
        raise LeaseLost(LEASE_TOKEN_EMPTY)
    return header.strip()


def cursor_encode(kind: str, position: int | None) -> str | None:
    if position is None:
        return None
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


def cursor_decode(kind: str, cursor: str | None, *, maximum: int) -> int | None:
    if not cursor:
        return None
    try:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", cursor):
            raise ValueError(cursor)
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        found = re.fullmatch(rf"{kind}:([1-9][0-9]{{0,18}})", raw)
        if found is None or int(found[1]) > maximum:
            raise ValueError(raw)
    except (ValueError, binascii.Error):
        raise ApiError(422, "invalid", BAD_CURSOR, fields={"cursor": BAD_CURSOR}) from None
    return int(found[1])


def _lease(holder: str | None, expires_at: datetime | None) -> dict | None:
    return {"holder": holder, "expires_at": expires_at} if holder and expires_at else None


def message_summary(message) -> dict:
    return {
        "id": message.pk,
        "board": message.board_slug,
        "subject": message.subject,
        "version": message.version,
        "author": message.author_name,
        "created_at": message.created_at,
        "updated_at": message.updated_at,
        "updated_by": message.updated_by_name,
        "size": message.size,
        "sha256": message.sha256,
        "protected": message.protected,
        "lease": _lease(message.lease_holder, message.lease_expires_at),
    }


def message_full(message, response: HttpResponse) -> dict:
    response["ETag"] = etag(message.version)
    return {**message_summary(message), "body": selectors.message_body(message)}


def revision_out(revision) -> dict:
    return {
        "version": revision.version,
        "author": revision.author_name,
        "created_at": revision.created_at,
        "size": revision.size,
        "sha256": revision.sha256,
        "subject": revision.subject,
    }


def lease_event_out(event) -> dict:
    return {"event": event.event, "user": event.user_name, "by": event.by_name, "at": event.at}


def token_out(token) -> dict:
    return {
        "id": token.pk,
        "prefix": token.prefix,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "expires_at": token.expires_at,
    }


def grant_out(grant: LeaseGrant) -> dict:
    return {
        "token": grant.token,
        "holder": grant.holder,
        "expires_at": grant.expires_at,
        "ttl_seconds": grant.ttl_seconds,
    }


def no_content() -> HttpResponse:
    response = HttpResponse(status=204)
    del response["Content-Type"]
    return response


def not_modified(version: int) -> HttpResponse:
    response = HttpResponseNotModified()
    response["ETag"] = etag(version)
    return response
