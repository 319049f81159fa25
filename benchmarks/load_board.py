"""The Django side of benchmarks/load.py, run in a subprocess on the benchmark's board.

    python benchmarks/load_board.py prepare|save|check IN.json OUT.json

prepare: signed-in users with sessions, the messages each phase edits, and a lease log (database
triggers recording every grant, renewal and release with the database's clock).
save: one save through the service layer against a raw durable write + sqlite3 transaction.
check: the invariants of docs/DESIGN.md, from the database and the body storage.
"""

import hashlib
import json
import os
import random
import secrets
import sqlite3
import sys
import time
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messageboard.settings")
# This process seeds, times saves and checks invariants: a JSON line per save would bury its report.
os.environ.setdefault("MESSAGEBOARD_LOG_LEVEL", "WARNING")
django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count, Exists, F, Max, Min, OuterRef  # noqa: E402
from django.utils.dateparse import parse_datetime  # noqa: E402

from messages_app import bodies, editing  # noqa: E402
from messages_app.models import EditLease, Message, Revision  # noqa: E402

LOG = "bench_lease_log"
LEASES = EditLease._meta.db_table
USER_PREFIX = "bench-user-"


def install_lease_log() -> None:
    """Record every lease row written or deleted, with the database's clock, in commit order."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {LOG} (id INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT, "
                "message_id INTEGER, holder_id INTEGER, token TEXT, acquired_at TEXT, expires_at TEXT, at TEXT)"
            )
            now = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
            for event, timing, row in (("set", "INSERT", "NEW"), ("set", "UPDATE", "NEW"), ("del", "DELETE", "OLD")):
                cursor.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {LOG}_{timing.lower()} AFTER {timing} ON {LEASES} BEGIN "
                    f"INSERT INTO {LOG} (event, message_id, holder_id, token, acquired_at, expires_at, at) VALUES "
                    f"('{event}', {row}.message_id, {row}.holder_id, {row}.token, {row}.acquired_at, "
                    f"{row}.expires_at, {now}); END"
                )
        elif connection.vendor == "postgresql":
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {LOG} (id bigserial PRIMARY KEY, event text, message_id bigint, "
                "holder_id bigint, token text, acquired_at timestamptz, expires_at timestamptz, at timestamptz)"
            )
            columns = "event, message_id, holder_id, token, acquired_at, expires_at, at"
            cursor.execute(
                f"CREATE OR REPLACE FUNCTION {LOG}_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF TG_OP = 'DELETE' THEN INSERT INTO {LOG} ({columns}) VALUES ('del', OLD.message_id, "
                "OLD.holder_id, OLD.token, OLD.acquired_at, OLD.expires_at, statement_timestamp()); RETURN OLD; "
                f"ELSE INSERT INTO {LOG} ({columns}) VALUES ('set', NEW.message_id, NEW.holder_id, NEW.token, "
                "NEW.acquired_at, NEW.expires_at, statement_timestamp()); RETURN NEW; END IF; END $$"
            )
            cursor.execute(
                f"CREATE OR REPLACE TRIGGER {LOG} AFTER INSERT OR UPDATE OR DELETE ON {LEASES} "
                f"FOR EACH ROW EXECUTE FUNCTION {LOG}_row()"
            )
        else:
            raise SystemExit(f"no lease log for {connection.vendor}")
        cursor.execute(f"DELETE FROM {LOG}")


def sessions_for(users: list) -> list[str]:
    """Sign each user in as django.contrib.auth.login would, without a password round trip."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = []
    for user in users:
        session = store()
        session[SESSION_KEY] = user._meta.pk.value_to_string(user)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        keys.append(session.session_key)
    return keys


def prepare(args: dict) -> dict:
    # Leases left by an interrupted run on a reused board would refuse this run's editors.
    EditLease.objects.all().delete()
    install_lease_log()
    user_model = get_user_model()
    names = [f"{USER_PREFIX}{n}" for n in range(1, args["users"] + 1)]
    existing = set(user_model.objects.filter(username__in=names).values_list("username", flat=True))
    user_model.objects.bulk_create(
        [user_model(username=name, password=make_password(None)) for name in names if name not in existing]
    )
    users = sorted(user_model.objects.filter(username__in=names), key=lambda user: names.index(user.username))
    visible = Message.objects.visible().filter(protected=False)
    bounds = visible.aggregate(low=Min("id"), high=Max("id"), count=Count("id"))
    rng = random.Random(args.get("seed", 0))
    wanted = args["editable"]
    sample = rng.sample(range(bounds["low"], bounds["high"] + 1), min(bounds["high"] - bounds["low"] + 1, wanted * 3))
    editable = list(visible.filter(id__in=sample).values_list("id", flat=True))[:wanted]
    rng.shuffle(editable)
    if len(editable) < wanted:
        raise SystemExit(f"the board has only {len(editable)} editable messages; seed more (--messages)")
    return {
        "sessions": sessions_for(users),
        "usernames": names,
        "low": bounds["low"],
        "high": bounds["high"],
        "messages": bounds["count"],
        "editable": editable,
        "vendor": connection.vendor,
    }


def _durable_write(directory: str, name: str, data: bytes) -> None:
    os.makedirs(directory, exist_ok=True)
    temp = os.path.join(directory, f".tmp-{secrets.token_hex(8)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, os.path.join(directory, name))
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class RawSaves:
    """The floor: the same file layout and durability, and one sqlite3 transaction, no Django."""

    def __init__(self, folder: Path, message_id: int) -> None:
        self.root = folder / "raw-media"
        self.message_id = message_id
        self.version = 1
        self.db = sqlite3.connect(folder / "raw.sqlite3", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("DROP TABLE IF EXISTS revision")
        self.db.execute("DROP TABLE IF EXISTS message")
        self.db.execute(
            "CREATE TABLE message (id INTEGER PRIMARY KEY, version INT, body TEXT, size INT, sha256 TEXT, "
            "updated_at TEXT)"
        )
        self.db.execute(
            "CREATE TABLE revision (id INTEGER PRIMARY KEY, message_id INT, version INT, body TEXT, size INT, "
            "sha256 TEXT, created_at TEXT, UNIQUE (message_id, version))"
        )
        self.db.execute("INSERT INTO message VALUES (?, 1, '', 0, '', '')", [message_id])

    def save(self, text: str) -> None:
        data = text.encode()
        shard = hashlib.sha256(str(self.message_id).encode()).hexdigest()
        name = f"{self.message_id}-{self.version + 1:08d}-{secrets.token_hex(6)}.txt"
        key = f"messages/{shard[:2]}/{shard[2:4]}/{name}"
        _durable_write(str(self.root / "messages" / shard[:2] / shard[2:4]), name, data)
        digest = hashlib.sha256(data).hexdigest()
        now = datetime.now(UTC).isoformat()
        self.db.execute("BEGIN IMMEDIATE")
        changed = self.db.execute(
            "UPDATE message SET version = version + 1, body = ?, size = ?, sha256 = ?, updated_at = ? "
            "WHERE id = ? AND version = ?",
            [key, len(data), digest, now, self.message_id, self.version],
        ).rowcount
        assert changed == 1
        self.db.execute(
            "INSERT INTO revision (message_id, version, body, size, sha256, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [self.message_id, self.version + 1, key, len(data), digest, now],
        )
        self.db.execute("COMMIT")
        self.version += 1


def save(args: dict) -> dict:
    """Alternate rounds of raw saves and service saves of the same texts; return both rates."""
    user = get_user_model().objects.get(username=args["username"])
    message_id = args["message_id"]
    raw = RawSaves(Path(args["folder"]), message_id)
    grant = editing.message_lease_acquire(message_id=message_id, user=user)
    message = Message.objects.get(pk=message_id)
    version, subject = message.version, message.subject
    texts = [
        f"Save {n} of the micro-benchmark.\n" + "A line of a message of ordinary length. " * 30 + "\n"
        for n in range(64)
    ]
    spent = {"raw": 0.0, "service": 0.0}
    done = {"raw": 0, "service": 0}
    acks = []
    half_round = args["seconds"] / (2 * args["rounds"])
    for _round in range(args["rounds"]):
        for kind in ("raw", "service"):
            started = time.perf_counter()
            while time.perf_counter() - started < half_round:
                text = texts[done[kind] % len(texts)]
                if kind == "raw":
                    raw.save(text)
                else:
                    saved = editing.message_edit_save(
                        message_id=message_id,
                        user=user,
                        base_version=version,
                        lease_token=grant.token,
                        subject=subject,  # the edit form always sends it
                        body=text,
                    )
                    version = saved.version
                    acks.append([message_id, saved.version, saved.sha256])
                done[kind] += 1
            spent[kind] += time.perf_counter() - started
    editing.message_lease_release(message_id=message_id, user=user, token=grant.token)
    return {
        "raw_per_second": done["raw"] / spent["raw"],
        "service_per_second": done["service"] / spent["service"],
        "saves": done,
        "acks": acks,
    }


def _as_datetime(value) -> datetime:
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def lease_log_check() -> dict:
    """Replay the lease log per message in commit order: a grant to someone else while the
    previous holder's lease had neither been released nor expired is an overlap."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT event, message_id, holder_id, token, acquired_at, expires_at, at FROM {LOG} "
            "ORDER BY message_id, id"
        )
        rows = cursor.fetchall()
    overlaps, late_renewals, grants, samples = 0, 0, 0, []
    current: dict[int, tuple] = {}
    for event, message_id, holder_id, token, acquired_at, expires_at, at in rows:
        held = current.get(message_id)
        if event == "del":
            current.pop(message_id, None)
            continue
        acquired_at, expires_at, at = _as_datetime(acquired_at), _as_datetime(expires_at), _as_datetime(at)
        if held is not None and held[1] == token:
            if at >= held[2]:
                late_renewals += 1
        else:
            grants += 1
            # The holder taking its own lease again (a second tab) ends the first token at once.
            if held is not None and held[0] != holder_id and acquired_at < held[2]:
                overlaps += 1
                if len(samples) < 5:
                    samples.append(f"message {message_id}: granted at {acquired_at} while held until {held[2]}")
        current[message_id] = (holder_id, token, expires_at)
    return {"grants": grants, "overlaps": overlaps, "late_renewals": late_renewals, "samples": samples}


def _shard_folder(message_id: int) -> str:
    return os.path.dirname(bodies.body_key(message_id, 1))


def check(args: dict) -> dict:
    """Check docs/DESIGN.md's invariants after the load; return the counts of violations."""
    touched = sorted(set(args["touched"]))
    since = datetime.fromtimestamp(args["since"], UTC)
    result = {"leases": lease_log_check()}

    # Versions 1..N without gaps, for every message of the board.
    gaps = (
        Message.objects.annotate(n=Count("revisions"), low=Min("revisions__version"), high=Max("revisions__version"))
        .exclude(n=F("version"), low=1, high=F("version"))
        .values_list("id", flat=True)
    )
    result["version_gaps"] = list(gaps[:20])
    current = Revision.objects.filter(
        message=OuterRef("pk"),
        version=OuterRef("version"),
        body_key=OuterRef("body_key"),
        sha256=OuterRef("sha256"),
        size=OuterRef("size"),
    )
    result["not_at_current_revision"] = list(Message.objects.filter(~Exists(current)).values_list("id", flat=True)[:20])

    # One file per version whose sha256 matches, and no other file, for every message touched.
    revisions = list(
        Revision.objects.filter(message_id__in=touched).values_list("message_id", "version", "body_key", "sha256")
    )
    keys = {key for _, _, key, _ in revisions}
    missing, mismatched = [], []
    for message_id, version, key, sha256 in revisions:
        try:
            data = bodies.body_read_bytes(key)
        except FileNotFoundError:
            missing.append(f"{message_id} v{version}")
            continue
        if hashlib.sha256(data).hexdigest() != sha256:
            mismatched.append(f"{message_id} v{version}")
    storage = bodies.messages_storage()
    orphans, listed = [], {}
    for message_id in touched:
        folder = _shard_folder(message_id)
        if folder not in listed:
            try:
                listed[folder] = storage.listdir(folder)[1]
            except FileNotFoundError:
                listed[folder] = []
        for name in listed[folder]:
            if name.startswith((f"{message_id}-", ".tmp-")) and f"{folder}/{name}" not in keys:
                orphans.append(f"{folder}/{name}")
    result.update(revisions_checked=len(revisions), missing_files=missing, checksum_mismatches=mismatched)
    result["orphan_files"] = sorted(set(orphans))[:20]

    # Every acknowledged save is in history; no refused save left a trace.
    stored = {(m, v, s) for m, v, _, s in revisions}
    acks = {tuple(ack) for ack in args["acks"]}
    result["acknowledged"] = len(acks)
    result["acknowledged_missing"] = [list(ack) for ack in sorted(acks - stored)[:20]]
    refused_hashes = {(m, s) for m, s in args["refused"]}
    result["refused"] = len(refused_hashes)
    result["refused_but_stored"] = sorted({(m, s) for m, _, s in stored} & refused_hashes)[:20]
    new_revisions = Revision.objects.filter(created_at__gte=since, version__gt=1).count()
    result["new_revisions"] = new_revisions
    result["accepted_unacknowledged"] = max(0, new_revisions - len(acks))
    result["touched"] = len(touched)
    return result


TASKS = {"prepare": prepare, "save": save, "check": check}

if __name__ == "__main__":
    task, source, target = sys.argv[1:4]
    outcome = TASKS[task](json.loads(Path(source).read_text()))
    Path(target).write_text(json.dumps(outcome, default=str))
