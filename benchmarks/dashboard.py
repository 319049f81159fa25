"""What the moderators' dashboard costs on a board of a million messages, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/dashboard.py [--size 1000000] [--databases sqlite,postgresql] [--runs 20]

For each database it loads a fresh board in bulk (rows only, no body files: the dashboard opens
none): ``--size`` messages of one version each, posted over the last 30 days; 50,000 edits in the
last week, a tenth of them on 100 busy messages; 200 leases held, with people waiting on some;
2,000 lease breaks. Then it renders /admin/dashboard/ as a moderator through Django's test client
``--runs`` times (after one warm-up) and prints the median, the 99th percentile and the number
of queries, beside ``board_stats`` alone.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.search import run_on_fresh_board

EDITS = 50_000
LEASES = 200
BREAKS = 2_000


def child(size: int, runs: int) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from messages_app import dashboard, roles

    started = time.perf_counter()
    load(size)
    load_seconds = time.perf_counter() - started
    moderator = get_user_model().objects.create_user("bench-moderator")
    roles.moderator_add(user=moderator)
    client = Client()
    client.force_login(moderator)
    assert client.get("/admin/dashboard/").status_code == 200
    page, stats = [], []
    for _ in range(runs):
        began = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            answer = client.get("/admin/dashboard/")
        page.append((time.perf_counter() - began) * 1000)
        assert answer.status_code == 200
        began = time.perf_counter()
        dashboard.board_stats()
        stats.append((time.perf_counter() - began) * 1000)
    page.sort()
    stats.sort()
    return {
        "load_seconds": load_seconds,
        "queries": len(queries.captured_queries),
        "page_median": statistics.median(page),
        "page_p99": page[-1] if runs < 100 else page[int(runs * 0.99) - 1],
        "stats_median": statistics.median(stats),
        "stats_p99": stats[-1] if runs < 100 else stats[int(runs * 0.99) - 1],
    }


def load(size: int) -> None:
    import random
    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    from messages_app import boards
    from messages_app.models import EditLease, LeaseEvent, LeaseWaiter, Message, Revision
    from messages_app.operations import seed
    from messages_app.operations.common import analyze_loaded, ensure_users, reset_sequences

    generator = random.Random(0)
    users: dict[str, int] = {}
    ensure_users({f"seed-user-{n}" for n in range(1, 51)}, users)
    people = sorted(users.values())
    board_id = boards.default_board().pk
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    batch = 10_000
    for first in range(1, size + 1, batch):
        messages, revisions = [], []
        for message_id in range(first, min(first + batch, size + 1)):
            at = adapt(now - timedelta(seconds=generator.randrange(30 * 86400)))
            author = generator.choice(people)
            messages.append(
                (
                    *(message_id, f"Message {message_id}", f"bench/{message_id}", 1, 100, "0" * 64),
                    *(author, at, at, author, False, board_id, False, False),
                )
            )
            revisions.append((message_id, 1, f"Message {message_id}", f"bench/{message_id}", 100, "0" * 64, author, at))
        with transaction.atomic():
            seed._insert_rows(Message, seed.SEED_MESSAGE_FIELDS, messages)
            seed._insert_rows(Revision, seed.SEED_REVISION_FIELDS, revisions)
    busy = [generator.randrange(1, size + 1) for _ in range(100)]
    versions: dict[int, int] = {}
    edits = []
    for number in range(EDITS):
        message_id = generator.choice(busy) if number % 10 == 0 else generator.randrange(1, size + 1)
        versions[message_id] = versions.get(message_id, 1) + 1
        at = adapt(now - timedelta(seconds=generator.randrange(7 * 86400)))
        edits.append(
            (message_id, versions[message_id], "Edited", f"bench/{message_id}-{number}", 100, "0" * 64,
             generator.choice(people), at)
        )  # fmt: skip
    with transaction.atomic():
        seed._insert_rows(Revision, seed.SEED_REVISION_FIELDS, edits)
        held = generator.sample(range(1, size + 1), LEASES)
        EditLease.objects.bulk_create(
            EditLease(
                message_id=message_id,
                holder_id=generator.choice(people),
                token=f"bench-{message_id}",
                acquired_at=now - timedelta(minutes=generator.randrange(30)),
                expires_at=now + timedelta(minutes=5),
            )
            for message_id in held
        )
        LeaseWaiter.objects.bulk_create(
            LeaseWaiter(message_id=message_id, user_id=generator.choice(people), joined_at=now, seen_at=now)
            for message_id in held[:50]
        )
        LeaseEvent.objects.bulk_create(
            LeaseEvent(
                message_id=generator.randrange(1, size + 1),
                event=LeaseEvent.Kind.BROKEN,
                user_id=generator.choice(people),
                by_id=people[0],
                at=now - timedelta(hours=generator.randrange(24 * 60)),
            )
            for _ in range(BREAKS)
        )
    reset_sequences()
    analyze_loaded()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--child", type=int)
    options = parser.parse_args()
    if options.child:
        print(json.dumps(child(options.child, options.runs)))
        return
    print(f"machine: {os.cpu_count()} CPUs; {options.runs} renders of /admin/dashboard/ after one warm-up")
    for database in options.databases.split(","):
        result = run_on_fresh_board(database, __file__, ["--child", str(options.size), "--runs", str(options.runs)])
        print(
            f"{database}, {options.size:,} messages, {EDITS:,} edits this week, {LEASES} leases held "
            f"(loaded in {result['load_seconds']:.0f} s): the page {result['page_median']:.1f} ms median, "
            f"{result['page_p99']:.1f} ms slowest, {result['queries']} queries; board_stats alone "
            f"{result['stats_median']:.1f} / {result['stats_p99']:.1f} ms"
        )


if __name__ == "__main__":
    main()
