"""Separate processes, each with its own database connection, contend for one message's lease.

The 8-thread race (test_lease_race.py) shares one Python process; app servers do not. Here
16 processes on PostgreSQL (4 on SQLite, whose single writer serializes them anyway), each
started with the test database's DATABASE_URL and the test's MEDIA_ROOT, run
``tests/concurrency/lease_worker.py``: acquire, renew, save (with or without releasing),
release, take the lease again from a "second tab", and now and then a save that must be
refused (a stale base version, a foreign token, a lease-less save while someone holds the
lease), all through ``messages_app.services`` as the pages and the API do. Two scenarios, one
message each, about five seconds each:

- churn: a 4-second lease (the smallest settings.py allows) changing hands as fast as the
  workers can take it;
- expiring: a 1-second lease (set in each worker after Django's set-up); one worker in eight
  walks away from its leases now and then and lets them lapse, and one in eight naps in every
  save between writing its file and publishing it, until past its lease's expiry or right at
  it, so leases expire in the middle of saves and others take them over meanwhile.

In each scenario one worker starts a moment before the others, so its first lease is sure to
come: it tries a stale and a foreign-token save (and in the expiring scenario then naps past
expiry in its save), so every run has those refusals and a lease expiring mid-save.

Every worker logs each grant, renewal, release and save attempt with times read from the
database clock (see lease_worker.py). Afterwards the test checks docs/DESIGN.md's invariants from
those logs, the database and the storage:

1. Never two unexpired leases at once. A grant was surely in force from a database time read
   just after it came back until the earlier of its expiry (after renewals) and a database
   time read just before its holder gave it up; those intervals must not overlap for
   different tokens. Reading the times outside the statements only shrinks the intervals, so
   a correct lease cannot fail this, while a lease handed to two workers at once does: a
   read-then-write acquire, or one deciding expiry by each process's own clock. A lease that
   lapsed (not given up) may be taken over only by a statement whose own time (``expires_at``
   minus the TTL) is at or past its expiry; every grant's statement time lies between the
   reads around it (so the times really are the database's). No worker was told LeaseLost
   on a renewal or a release before its lease expired, and an old token stopped working after
   a second tab and after its expiry (checked by the workers).
2. A save is accepted only from the valid lease holder, against the current version: no
   stale-version or foreign-token save is accepted; no lease save is accepted when the
   publishing transaction began at or after its lease's expiry (the napping saves); no save
   is accepted while another token's lease was surely in force throughout it (a lease-less
   save, or a holder whose token was overwritten); and a holder whose lease was surely valid
   throughout its save on the version it read is never refused (someone else published under
   its lease, or took it away).
3. Versions are 1..N without gaps, one Revision each with a file of its own whose bytes, read
   through messages_app.bodies, have the recorded size and sha256; the message row points at
   version N's file. This catches a version number handed out twice or skipped, a revision
   lost in a rolled-back transaction, or a file overwritten or never written.
4. Every save acknowledged to its client is in history: the accepted saves are told versions
   2..N, each exactly once, built on bases 1..N-1, each once (no lost update), and the
   revision of each version has the sha256 of the body that client sent and the client as
   its author.
5. A refused save changes nothing: no revision carries the sha256 of any refused body, and
   storage (messages_app.bodies.body_listing) holds exactly the revisions' files: a refused
   save that left its file behind shows up as an orphan.

The scenarios must really have happened (enough grants, refusals, accepted and refused saves,
leases expiring mid-save and taken over meanwhile), or the test fails rather than pass on a
race that never ran; the floors are low, as other test runs may share the machine's cores.
The workers' logs stay in pytest's tmp_path for a failing run.

Why this can fail: swapped into the workers, a read-then-write acquire (look for a valid lease,
then update_or_create) failed check 1 with 173 overlapping grants in one PostgreSQL run (and
the workers' releases were refused before expiry, on SQLite too); a save whose lease condition
forgot the expiry was accepted after a nap past it (check 2); and a save that kept its file
when refused left orphans behind (check 5).
"""

import hashlib
import itertools
import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from messages_app import bodies
from messages_app.models import EditLease, Message, Revision

ROOT = Path(__file__).resolve().parents[2]
NEVER = datetime.max.replace(tzinfo=UTC)
SCENARIO_SECONDS = 5.0
CHURN_TTL_SECONDS = 4
EXPIRING_TTL_SECONDS = 1
# Every worker must have set Django up before the start; 16 doing so at once on two cores is slow.
READY_TIMEOUT_SECONDS = 90
# After the last scenario's end: a save in flight finishes, a nap runs out (at most a TTL).
FINISH_GRACE_SECONDS = 30
# Why each kind of save may be refused. A foreign token is refused for the token, unless the
# holder's own lease had lapsed meanwhile and someone else published (a slow machine).
ALLOWED_REFUSALS = {
    "lease": {"LeaseLost", "VersionConflict"},
    # Naming no lease, a save is never told it lost one: 423 or success (issue 11).
    "lease-less": {"LeaseHeld", "VersionConflict"},
    "stale": {"VersionConflict"},
    "foreign": {"LeaseLost", "VersionConflict"},
}


def process_count() -> int:
    # SQLite takes one writer at a time: more processes only queue longer on its lock.
    return 16 if connection.vendor == "postgresql" else 4


@dataclass
class Grant:
    worker: int
    token: str
    requested_at: datetime
    acquired_at: datetime
    expires_at: datetime
    held_at: datetime
    ended_at: datetime | None = None

    @property
    def held_until(self) -> datetime:
        return min(self.expires_at, self.ended_at or NEVER)


@dataclass
class Race:
    name: str
    grants: dict[str, Grant] = field(default_factory=dict)
    saves: list[dict] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    walked_away: list[dict] = field(default_factory=list)
    refusals: int = 0

    @classmethod
    def from_events(cls, name: str, events: list[dict]) -> "Race":
        race = cls(name)
        for event in events:
            if event["scenario"] != name:
                continue
            kind = event["kind"]
            if kind == "grant":
                fields = ("token", "requested_at", "acquired_at", "expires_at", "held_at")
                race.grants[event["token"]] = Grant(event["worker"], *(event[key] for key in fields))
            elif kind == "renew":
                grant = race.grants[event["token"]]
                grant.expires_at = max(grant.expires_at, event["expires_at"])
            elif kind == "end":
                grant = race.grants[event["token"]]
                grant.ended_at = min(grant.ended_at or NEVER, event["ended_at"])
            elif kind == "save":
                race.saves.append(event)
            elif kind == "violation":
                race.violations.append(f"worker {event['worker']}: {event['text']}")
            elif kind == "walked-away":
                race.walked_away.append(event)
            elif kind == "summary":
                race.refusals += event["refusals"]
        return race

    def accepted(self) -> list[dict]:
        return [save for save in self.saves if save["outcome"] == "accepted"]

    def refused(self) -> list[dict]:
        return [save for save in self.saves if save["outcome"] == "refused"]


@pytest.mark.django_db(transaction=True)
def test_processes_contending_for_one_message_keep_every_invariant(make_user, make_message, body_storage, tmp_path):
    users = [make_user(f"process{index}") for index in range(process_count())]
    churn = make_message(author=users[0], subject="Churn", body="Version 1 of the churned message.\n")
    expiring = make_message(author=users[0], subject="Expiring", body="Version 1 of the expiring message.\n")
    # A stalled or abandoned lease blocks everyone for a whole TTL: one worker in eight of each.
    few = range(0, len(users), 8)
    scenarios = [
        {
            "name": "churn",
            "message_id": churn.pk,
            "ttl": CHURN_TTL_SECONDS,
            "stallers": [],
            "walkers": [],
            "opener": 0,
            "offset": 0.0,
            "seconds": SCENARIO_SECONDS,
        },
        {
            "name": "expiring",
            "message_id": expiring.pk,
            "ttl": EXPIRING_TTL_SECONDS,
            "stallers": list(few),
            "walkers": [index + 1 for index in few],
            "opener": 0,
            "offset": SCENARIO_SECONDS + 1.0,
            "seconds": SCENARIO_SECONDS,
        },
    ]
    log_dir = tmp_path / "workers"
    events = run_workers(users, scenarios, media=_media_dir(body_storage), log_dir=log_dir)
    where = f"(workers' logs in {log_dir})"

    for scenario in scenarios:
        race = Race.from_events(scenario["name"], events)
        check_one_lease_at_a_time(race)
        assert race.violations == [], f"{race.name}: {race.violations[:5]} {where}"
        check_saves_only_by_the_valid_holder(race)
        check_history(scenario["message_id"], race)
        check_the_race_happened(race, scenario, users)
    check_storage_holds_exactly_the_revisions()


def check_one_lease_at_a_time(race: Race) -> None:
    grants = sorted(race.grants.values(), key=lambda grant: grant.held_at)
    for grant in grants:
        assert grant.requested_at <= grant.acquired_at <= grant.held_at, f"{race.name}: {grant}"
    overlaps = list(overlapping_grants(grants))
    assert not overlaps, f"{race.name}: {len(overlaps)} grants overlapped another, e.g. {overlaps[0]}"
    for earlier, later in itertools.pairwise(grants):
        if earlier.ended_at is None:
            # It lapsed, so the statement that took it over must have seen it expired.
            assert later.acquired_at >= earlier.expires_at, f"{race.name}: {later} took over {earlier}"
    assert EditLease.objects.count() <= 2


def overlapping_grants(grants: list[Grant]):
    """Yield pairs of grants whose surely-held intervals overlap (grants sorted by held_at)."""
    latest: Grant | None = None
    for grant in grants:
        if grant.held_at >= grant.held_until:
            continue  # given up or lapsed before it was read back: never surely held
        if latest is not None and grant.held_at < latest.held_until:
            yield latest, grant
        if latest is None or grant.held_until > latest.held_until:
            latest = grant


def check_saves_only_by_the_valid_holder(race: Race) -> None:
    grants = list(race.grants.values())
    for save in race.saves:
        kind, outcome = save["save_kind"], save["outcome"]
        if outcome == "refused":
            assert save["reason"] in ALLOWED_REFUSALS[kind], f"{race.name}: {save}"
            surely_valid = save["lease_expires_at"] is not None and save["finished_at"] < save["lease_expires_at"]
            if kind == "lease" or (kind == "foreign" and save["reason"] == "VersionConflict"):
                # Nobody but the holder can have published, nor taken the lease, while it was valid.
                assert not surely_valid, f"{race.name}: a save refused while its lease was valid: {save}"
            continue
        assert kind in {"lease", "lease-less"}, f"{race.name}: a {kind} save was accepted: {save}"
        if kind == "lease":
            assert save["publish_at"] < save["lease_expires_at"], f"{race.name}: accepted after expiry: {save}"
        for grant in grants:
            if grant.token == save["token"]:
                continue
            surely_held = grant.held_at <= save["publish_at"] and save["finished_at"] < grant.held_until
            assert not surely_held, f"{race.name}: {save} accepted while {grant} held the lease"


def check_history(message_id: int, race: Race) -> None:
    message = Message.objects.get(pk=message_id)
    revisions = list(Revision.objects.filter(message_id=message_id).order_by("version"))
    versions = [revision.version for revision in revisions]
    assert versions == list(range(1, message.version + 1)), f"{race.name}: versions {versions}"
    latest = revisions[-1]
    assert (message.body_key, message.size, message.sha256) == (latest.body_key, latest.size, latest.sha256)

    accepted = race.accepted()
    told = Counter(save["version"] for save in accepted)
    assert sorted(told.elements()) == list(range(2, message.version + 1)), f"{race.name}: versions told {told}"
    bases = sorted(save["base_version"] for save in accepted)
    assert bases == list(range(1, message.version)), f"{race.name}: bases {bases}"
    by_version = {revision.version: revision for revision in revisions}
    for save in accepted:
        revision = by_version[save["version"]]
        assert (revision.sha256, revision.author_id) == (save["sha256"], save["user_id"]), f"{race.name}: {save}"

    refused = {save["sha256"] for save in race.refused()}
    published = set(Revision.objects.values_list("sha256", flat=True))
    assert not refused & published, f"{race.name}: refused bodies in history: {refused & published}"


def check_storage_holds_exactly_the_revisions() -> None:
    revisions = {revision.body_key: revision for revision in Revision.objects.all()}
    assert len(revisions) == Revision.objects.count(), "two revisions share a file"
    listed = {listed.key for listed in bodies.body_listing()}
    assert not listed - revisions.keys(), f"orphan files left by refused saves: {sorted(listed - revisions.keys())}"
    assert not revisions.keys() - listed, f"revisions without a file: {sorted(revisions.keys() - listed)}"
    for key, revision in revisions.items():
        data = bodies.body_read_bytes(key)
        assert (len(data), hashlib.sha256(data).hexdigest()) == (revision.size, revision.sha256), revision


def check_the_race_happened(race: Race, scenario: dict, users: list) -> None:
    accepted, refused = race.accepted(), race.refused()
    grants = sorted(race.grants.values(), key=lambda grant: grant.held_at)
    saves = Counter(f"{save['save_kind']} {save['outcome']}" for save in race.saves)
    summary = (
        f"{race.name}: {len(grants)} grants to {len({grant.worker for grant in grants})} workers, "
        f"{race.refusals} refused acquisitions, saves {dict(saves)}"
    )
    # Loose floors: other test runs may share the machine's cores and slow every worker down.
    assert race.refusals >= 5 * len(users), summary
    assert {save["save_kind"] for save in refused} >= {"stale", "foreign", "lease-less"}, summary
    assert len({grant.worker for grant in grants}) >= min(4, len(users) // 2), summary
    if not scenario["stallers"]:
        assert len(grants) >= 8, summary
        assert len([save for save in accepted if save["save_kind"] == "lease"]) >= 4, summary
        return
    # Leases ran out in the middle of saves, and others took them over while those saves napped.
    napped = [save for save in refused if save["napped"] and save["publish_at"] >= save["lease_expires_at"]]
    taken_meanwhile = [
        save
        for save in napped
        if any(
            grant.token != save["token"] and save["lease_expires_at"] <= grant.acquired_at <= save["publish_at"]
            for grant in grants
        )
    ]
    lapsed = {event["token"] for event in race.walked_away}
    taken_over = [
        (earlier, later)
        for earlier, later in itertools.pairwise(grants)
        if earlier.token in lapsed and later.worker != earlier.worker
    ]
    summary += (
        f"; {len(napped)} saves napped past expiry, {len(taken_meanwhile)} of them while another took the lease; "
        f"{len(lapsed)} leases left to lapse, {len(taken_over)} taken over by another"
    )
    print(summary)
    assert len(grants) >= 4, summary
    assert len([save for save in accepted if save["save_kind"] == "lease"]) >= 2, summary
    assert taken_meanwhile, summary
    # A lease left to lapse at the very end may have had no one left to take it.
    assert taken_over or not lapsed - {grants[-1].token}, summary


def run_workers(users: list, scenarios: list[dict], *, media: Path, log_dir: Path) -> list[dict]:
    """Run one worker process per user through the scenarios; return every event they logged."""
    log_dir.mkdir()
    env = _worker_env(media)
    processes: list[subprocess.Popen] = []
    try:
        for index, user in enumerate(users):
            plan = {
                "index": index,
                "username": user.get_username(),
                "log": str(log_dir / f"worker-{index}.jsonl"),
                "scenarios": scenarios,
            }
            with (log_dir / f"worker-{index}.stderr").open("w") as stderr:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "tests.concurrency.lease_worker", json.dumps(plan)],
                        cwd=ROOT,
                        env=env,
                        stdin=subprocess.PIPE,
                        stdout=subprocess.DEVNULL,
                        stderr=stderr,
                        text=True,
                    )
                )
        _wait_until_ready(processes, log_dir)
        start = time.time() + 0.2
        for process in processes:
            process.stdin.write(f"{start}\n")
            process.stdin.close()
        end = start + max(scenario["offset"] + scenario["seconds"] for scenario in scenarios)
        for index, process in enumerate(processes):
            try:
                returncode = process.wait(timeout=max(0.1, end + FINISH_GRACE_SECONDS - time.time()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"worker {index} still runs after its scenarios: {_stderr(log_dir, index)}")
            assert returncode == 0, f"worker {index} failed:\n{_stderr(log_dir, index)}"
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    events = []
    for index in range(len(users)):
        with (log_dir / f"worker-{index}.jsonl").open() as log:
            events.extend(json.loads(line, object_hook=_parse_times) for line in log)
    return events


def _wait_until_ready(processes: list[subprocess.Popen], log_dir: Path) -> None:
    give_up = time.monotonic() + READY_TIMEOUT_SECONDS
    waiting = set(range(len(processes)))
    while waiting:
        for index in list(waiting):
            if (log_dir / f"worker-{index}.ready").exists():
                waiting.discard(index)
            elif processes[index].poll() is not None:
                pytest.fail(f"worker {index} exited before the start:\n{_stderr(log_dir, index)}")
        if time.monotonic() > give_up:
            pytest.fail(f"workers {sorted(waiting)} not ready after {READY_TIMEOUT_SECONDS} s")
        time.sleep(0.05)


def _stderr(log_dir: Path, index: int) -> str:
    return (log_dir / f"worker-{index}.stderr").read_text()[-4000:]


def _parse_times(event: dict) -> dict:
    return {
        key: datetime.fromisoformat(value) if key.endswith("_at") and isinstance(value, str) else value
        for key, value in event.items()
    }


def _media_dir(body_storage) -> Path:
    # The body_storage fixture yields the media folder, or an object carrying it as .media.
    media = getattr(body_storage, "media", body_storage)
    assert getattr(body_storage, "backend", "local") == "local"
    return Path(media)


def _worker_env(media: Path) -> dict[str, str]:
    # No REDIS_URL: each worker caches bodies in its own memory, leaving nothing in a shared
    # Redis outside this test's key prefix. The invariants do not depend on the cache.
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    env.update(
        DJANGO_SETTINGS_MODULE="messageboard.settings",
        DATABASE_URL=_database_url(),
        MEDIA_ROOT=str(media),
        MESSAGEBOARD_STORAGE="local",
        MESSAGEBOARD_LEASE_SECONDS=str(CHURN_TTL_SECONDS),
        PYTHONWARNINGS="ignore:SECRET_KEY is not set",
    )
    return env


def _database_url() -> str:
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    user = quote(settings_dict["USER"] or "", safe="")
    if settings_dict["PASSWORD"]:
        user += ":" + quote(settings_dict["PASSWORD"], safe="")
    host, port = settings_dict["HOST"] or "127.0.0.1", settings_dict["PORT"] or 5432
    return f"postgres://{user}@{host}:{port}/{quote(settings_dict['NAME'], safe='')}"
