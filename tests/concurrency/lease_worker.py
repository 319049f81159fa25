"""One contender of tests/concurrency/test_lease_processes.py, in a process of its own.

The test runs it as ``python -m tests.concurrency.lease_worker PLAN`` (PLAN is JSON) with the
test database and body storage in its environment (``DATABASE_URL``, ``MEDIA_ROOT``), so it
has its own database connection, as one app server process would. It sets Django up, touches
``<log>.ready``, waits for the start time (seconds since the epoch) on stdin, then plays
each scenario of the plan against its message, from the scenario's offset for its seconds,
through ``messages_app.services``: the functions the pages and the API call.

Every event goes to the log as one JSON line; every time in it (keys ending in ``_at``) was
read from the database clock, the clock leases are decided by:

- ``grant``: a lease granted. ``requested_at`` was read just before asking, ``acquired_at``
  and ``expires_at`` are the granting statement's own (``acquired_at = expires_at - TTL``),
  ``held_at`` was read just after the grant came back: the lease was surely in force then.
- ``renew``: a renewal and the lease's new ``expires_at``.
- ``end``: a lease surely given up (``release``, a save with release, or taken again from a
  ``second-tab``); ``ended_at`` was read just before giving it up.
- ``save``: every save attempt: its ``save_kind`` (``lease``, ``lease-less``, ``stale`` version,
  ``foreign`` token), the token and base version sent, the sha256 of the body sent,
  ``started_at``/``finished_at`` around the call, ``publish_at`` (after a nap, if any: the
  publishing transaction began later than this), the ``lease_expires_at`` the worker knew,
  and the outcome: ``accepted`` with the new version, or ``refused`` with the error's name.
- ``walked-away``: a lease its holder left to lapse.
- ``violation``: what only the worker can tell: its lease refused a renewal or a release
  before it expired, or an old token outlived a second tab or its own expiry.
- ``summary``: how many acquisitions were refused.
"""

# ruff: noqa: E402 (Django must be set up before the app's modules are imported)

import hashlib
import json
import random
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import django

django.setup()

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models.functions import Now

from messages_app import bodies, editing, selectors
from messages_app.errors import LeaseHeld, LeaseLost, VersionConflict
from messages_app.models import Message

# Long enough for the opener to have finished the previous scenario's last lease and to ask first.
OPENER_HEAD_START_SECONDS = 0.3
FILLER = "The quick brown fox jumps over the lazy dog; every edit says something new.\n"


def db_now() -> datetime:
    """Read the database clock (Now() is the expression the lease statements compare with)."""
    return Message.objects.annotate(now=Now()).values_list("now", flat=True)[:1].get()


class NappingBodySave:
    """Stands in for bodies.body_save: writes the body, then naps until a database time if asked.

    The nap falls between writing the file and the transaction that publishes it, so the lease
    can run out in the middle of a save, as it does when an app server stalls.
    """

    def __init__(self) -> None:
        self.real = bodies.body_save
        self.until: datetime | None = None
        self.woke_at: datetime | None = None

    def __call__(self, **kwargs):
        stored = self.real(**kwargs)
        if self.until is not None:
            while (now := db_now()) < self.until:
                time.sleep((self.until - now).total_seconds() + 0.002)
            self.woke_at = now
        return stored


@dataclass
class Grant:
    token: str
    expires_at: datetime


class Contender:
    def __init__(self, *, index: int, user, scenario: dict, start: float, log, napper: NappingBodySave) -> None:
        self.index = index
        self.start = start
        self.user = user
        self.scenario = scenario
        self.name = scenario["name"]
        self.message_id = scenario["message_id"]
        # Stallers nap in every save of theirs until about when their lease runs out; walkers
        # now and then leave theirs to lapse. The opener starts alone, so its first lease is
        # sure to come: it tries a stale and a foreign save, then saves (a staller stalls
        # past expiry), so every run has those refusals and a lease expiring mid-save.
        self.staller = index in scenario["stallers"]
        self.walker = index in scenario["walkers"]
        self.opener = index == scenario["opener"]
        self.log_file = log
        self.napper = napper
        self.rng = random.Random(f"{self.name}-{index}")
        self.attempts = 0
        self.grants = 0
        self.refusals = 0

    def log(self, kind: str, **fields) -> None:
        fields = {key: value.isoformat() if isinstance(value, datetime) else value for key, value in fields.items()}
        self.log_file.write(json.dumps({"kind": kind, "scenario": self.name, "worker": self.index, **fields}) + "\n")

    def play(self) -> None:
        # settings.py refuses a TTL under 4 s from the environment, a guard for production;
        # the expiring scenario needs leases that lapse within a second, many times over.
        settings.MESSAGEBOARD_LEASE_SECONDS = self.scenario["ttl"]
        start = self.start + self.scenario["offset"]
        if self.scenario["opener"] not in (None, self.index):
            start += OPENER_HEAD_START_SECONDS
        time.sleep(max(0.0, start - time.time()))
        deadline = start + self.scenario["seconds"]
        while time.time() < deadline:
            grant = self.take(deadline)
            if grant is not None:
                self.hold(grant)
        self.log("summary", refusals=self.refusals)

    def take(self, deadline: float) -> Grant | None:
        """Ask for the lease until granted; now and then a refused worker tries a lease-less save."""
        while time.time() < deadline:
            requested_at = db_now()
            try:
                granted = editing.message_lease_acquire(message_id=self.message_id, user=self.user)
            except LeaseHeld:
                self.refusals += 1
                if self.rng.random() < 0.04:
                    self.save(None, kind="lease-less")
                time.sleep(self.rng.uniform(0.01, 0.04))
                continue
            return self.granted(granted, requested_at)
        return None

    def granted(self, granted, requested_at: datetime) -> Grant:
        self.log(
            "grant",
            token=granted.token,
            requested_at=requested_at,
            acquired_at=granted.expires_at - timedelta(seconds=granted.ttl_seconds),
            expires_at=granted.expires_at,
            held_at=db_now(),
        )
        return Grant(granted.token, granted.expires_at)

    def hold(self, grant: Grant) -> None:
        rng = self.rng
        self.grants += 1
        opening = self.opener and self.grants == 1
        if opening:
            # What must be refused, tried in every run.
            self.save(grant, kind="stale")
            self.save(grant, kind="foreign")
        elif rng.random() < 0.05:
            self.save(grant, kind=rng.choice(["stale", "foreign"]))
        if rng.random() < 0.05:
            grant = self.second_tab(grant)
            if grant is None:
                return
        if self.walker and rng.random() < 0.3:
            self.walk_away(grant)
            return
        if rng.random() < 0.2:
            self.renew(grant)
        if opening or rng.random() < 0.8:
            nap = None
            if opening and self.staller:
                nap = grant.expires_at + timedelta(seconds=0.3)
            elif self.staller and rng.random() < 0.6:
                # Past expiry, by up to a fifth of a second: others may take over meanwhile.
                nap = grant.expires_at + timedelta(seconds=rng.uniform(0.001, 0.2))
            elif self.staller:
                # Right at expiry: the publishing statement races the lease's end.
                nap = grant.expires_at + timedelta(seconds=rng.uniform(-0.04, 0.04))
            release = rng.random() < 0.5
            if self.save(grant, kind="lease", nap=nap, release=release) and release:
                return
        self.release(grant)

    def second_tab(self, grant: Grant) -> Grant | None:
        """Take the lease again as the same user; the first token must die."""
        requested_at = db_now()
        try:
            granted = editing.message_lease_acquire(message_id=self.message_id, user=self.user)
        except LeaseHeld:
            return None  # the first lease had expired and someone else took it
        self.log("end", token=grant.token, ended_at=requested_at, how="second-tab")
        second = self.granted(granted, requested_at)
        try:
            editing.message_lease_renew(message_id=self.message_id, user=self.user, token=grant.token)
        except LeaseLost:
            pass
        else:
            self.log("violation", text=f"the first tab's token {grant.token} survived a second tab")
        return second

    def walk_away(self, grant: Grant) -> None:
        """Leave the lease to lapse; once it has, its token must be refused."""
        until = grant.expires_at + timedelta(seconds=self.rng.uniform(0.1, 0.3))
        while (now := db_now()) < until:
            time.sleep((until - now).total_seconds() + 0.002)
        self.log("walked-away", token=grant.token, expires_at=grant.expires_at)
        try:
            editing.message_lease_renew(message_id=self.message_id, user=self.user, token=grant.token)
        except LeaseLost:
            return
        self.log("violation", text=f"a lease renewed after it expired at {grant.expires_at}")

    def renew(self, grant: Grant) -> None:
        try:
            renewed = editing.message_lease_renew(message_id=self.message_id, user=self.user, token=grant.token)
        except LeaseLost:
            if (now := db_now()) < grant.expires_at:
                self.log("violation", text=f"renewal refused at {now}, before the lease expired at {grant.expires_at}")
            return
        grant.expires_at = renewed.expires_at
        self.log("renew", token=grant.token, expires_at=renewed.expires_at)

    def release(self, grant: Grant) -> None:
        ended_at = db_now()
        try:
            editing.message_lease_release(message_id=self.message_id, user=self.user, token=grant.token)
        except LeaseLost:
            if (now := db_now()) < grant.expires_at:
                self.log("violation", text=f"release refused at {now}, before the lease expired at {grant.expires_at}")
            return
        self.log("end", token=grant.token, ended_at=ended_at, how="release")

    def save(self, grant: Grant | None, *, kind: str, nap: datetime | None = None, release: bool = False) -> bool:
        """Save a body no one else ever sends; return whether it was accepted."""
        rng = self.rng
        self.attempts += 1
        base_version = selectors.message_get(message_id=self.message_id).version
        if kind == "stale":
            base_version = base_version - 1 if base_version > 1 else base_version + 1
        token = secrets.token_hex(16) if kind == "foreign" else grant.token if grant else None
        body = f"{self.name}: worker {self.index}, attempt {self.attempts}, {secrets.token_hex(8)}\n"
        body += FILLER * rng.randint(0, 40)
        subject = f"Edited by worker {self.index}" if rng.random() < 0.1 else None
        started_at = db_now()
        self.napper.until, self.napper.woke_at = nap, None
        try:
            saved = editing.message_edit_save(
                message_id=self.message_id,
                user=self.user,
                base_version=base_version,
                lease_token=token,
                subject=subject,
                body=body,
                release_lease=release,
            )
        except (LeaseHeld, LeaseLost, VersionConflict) as refused:
            outcome, version, reason = "refused", None, type(refused).__name__
        else:
            outcome, version, reason = "accepted", saved.version, None
        finally:
            self.napper.until = None
        finished_at = db_now()
        self.log(
            "save",
            save_kind=kind,
            token=token,
            base_version=base_version,
            sha256=hashlib.sha256(body.encode()).hexdigest(),
            user_id=self.user.pk,
            started_at=started_at,
            publish_at=self.napper.woke_at or started_at,
            finished_at=finished_at,
            lease_expires_at=grant.expires_at if grant else None,
            napped=nap is not None,
            outcome=outcome,
            version=version,
            reason=reason,
        )
        accepted = outcome == "accepted"
        if accepted and release and grant is not None:
            self.log("end", token=grant.token, ended_at=started_at, how="saved")
        return accepted


def main() -> None:
    plan = json.loads(sys.argv[1])
    index = plan["index"]
    log_path = Path(plan["log"])
    user = get_user_model().objects.get(username=plan["username"])
    db_now()  # connect before the start, not in the race
    napper = NappingBodySave()
    bodies.body_save = napper
    log_path.with_suffix(".ready").touch()
    start = float(sys.stdin.readline())  # the test writes it once every worker is ready
    with log_path.open("w", buffering=1) as log:
        for scenario in plan["scenarios"]:
            Contender(index=index, user=user, scenario=scenario, start=start, log=log, napper=napper).play()


if __name__ == "__main__":
    main()
