"""Export every message with all its versions as JSON Lines, in the form operations.importing reads back."""

import hashlib
import json
from typing import TextIO

from django.db.models import F

from messages_app import bodies, packs
from messages_app.models import Message, Revision
from messages_app.operations.common import CHUNK, Progress, no_progress
from messages_app.selectors import read_following_moves


def messages_export(*, out: TextIO, board_id: int | None = None, progress: Progress = no_progress) -> int:
    """Write every message (of one board if given) with all its revisions as JSON Lines; return how many."""
    exported = 0
    last_id = 0
    chosen = Message.objects.all() if board_id is None else Message.objects.filter(board_id=board_id)
    while True:
        messages = list(
            chosen.filter(id__gt=last_id)
            .order_by("id")
            .values(
                "id",
                "subject",
                "version",
                "protected",
                "created_at",
                "updated_at",
                "deleted_at",
                board_slug=F("board__slug"),
                author_name=F("author__username"),
                updated_by_name=F("updated_by__username"),
                deleted_by_name=F("deleted_by__username"),
            )[:CHUNK]
        )
        if not messages:
            return exported
        last_id = messages[-1]["id"]
        revisions: dict[int, list[dict]] = {}
        for revision in (
            Revision.objects.filter(message_id__in=[m["id"] for m in messages])
            .order_by("message_id", "version")
            .values(
                "message_id",
                "version",
                "subject",
                "body_key",
                "size",
                "sha256",
                "created_at",
                "pack_offset",
                "pack_length",
                author_name=F("author__username"),
                pack_key=F("pack__key"),
            )
        ):
            revisions.setdefault(revision["message_id"], []).append(revision)
        for message in messages:
            record = {
                "id": message["id"],
                "board": message["board_slug"],
                "subject": message["subject"],
                "version": message["version"],
                "author": message["author_name"],
                "created_at": message["created_at"].isoformat(),
                "updated_at": message["updated_at"].isoformat(),
                "updated_by": message["updated_by_name"],
                "deleted_at": message["deleted_at"].isoformat() if message["deleted_at"] else None,
                "deleted_by": message["deleted_by_name"],
                "protected": message["protected"],
                "revisions": [
                    {
                        "version": revision["version"],
                        "subject": revision["subject"],
                        "author": revision["author_name"],
                        "created_at": revision["created_at"].isoformat(),
                        "size": revision["size"],
                        "sha256": revision["sha256"],
                        "body": _exported_body(message["id"], revision),
                    }
                    for revision in revisions.get(message["id"], [])
                ],
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            exported += 1
            progress(1)


class ExportFailed(Exception):
    """A body that cannot go into an export as it is: the export would not import again."""


def _exported_body(message_id: int, revision: dict) -> str:
    packed = f" in pack {revision['pack_key']}" if revision["pack_key"] else ""
    where = f"message {message_id} version {revision['version']}: its body file {revision['body_key']}{packed}"
    location = bodies.VersionLocation(
        key=revision["body_key"],
        sha256=revision["sha256"],
        pack_key=revision["pack_key"],
        pack_offset=revision["pack_offset"] or 0,
        pack_length=revision["pack_length"] or 0,
    )
    try:
        data = read_following_moves(bodies.version_read_bytes, location, message_id, revision["version"])
    except FileNotFoundError:
        raise ExportFailed(f"{where} is missing; verify_storage lists every damaged file") from None
    except packs.PackDamaged as error:
        raise ExportFailed(f"{where}: {error}; verify_storage lists every damaged file") from None
    if hashlib.sha256(data).hexdigest() != revision["sha256"]:
        raise ExportFailed(f"{where} does not match its sha256; verify_storage lists every damaged file")
    return data.decode("utf-8")
