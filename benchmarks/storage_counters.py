"""What the storage counters' triggers (migration 0016) cost a save, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/storage_counters.py [--databases sqlite,postgresql] [--rounds 10] [--saves 40]

For each database it migrates a fresh board (PostgreSQL: 127.0.0.1:5432, user postgres, database
``mb_bench_storage_counters``, dropped and made again), seeds 1,000 messages of 3 versions, then
alternates rounds with the triggers and without them (dropped and made again in the same
process, from the migration's own statements):

- ``--saves`` edits through ``editing.message_edit_save`` (the service: body written and
  fsynced, then published with its revision, the draft consumed), spread over 20 messages;
- 400 transactions of the publishing statement alone, the revision's INSERT, rolled back:
  the database's side of the cost, without the fsyncs that dwarf it.

It prints the medians of the rounds each way, their difference and ratio, and the spread of
the rounds. Last it recounts: the counters missed exactly the saves made without triggers.
"""

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.packing import environment as board_environment

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
DATABASE = "mb_bench_storage_counters"
EDITED = 20
STATEMENTS = 400


def child(rounds: int, saves: int) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from messages_app import editing, services
    from messages_app.models import Message, Revision
    from messages_app.operations import seed
    from messages_app.storage_counters import storage_counted, storage_recount, storage_used

    migration = importlib.import_module("messages_app.migrations.0016_storage_counters")
    seed.messages_seed(count=1000, revisions=3)
    user = get_user_model().objects.create_user("bench-editor")
    edited = [services.message_create(author=user, subject=f"Edited {n}", body="A line.\n" * 40).pk for n in range(20)]
    revisions = Revision._meta.db_table

    def triggers(on: bool) -> None:
        if connection.vendor == "postgresql":
            made = [
                sql
                for sql in migration.postgresql_statements()
                if sql.startswith("CREATE TRIGGER") and "_truncate" not in sql
            ]
            dropped = [sql for sql in migration.POSTGRESQL_REVERSE if "TRIGGER" in sql and "_truncate" not in sql]
        else:
            made, dropped = migration.sqlite_statements(), migration.SQLITE_REVERSE
        with connection.cursor() as cursor:
            for sql in made if on else dropped:
                cursor.execute(sql)

    counter = iter(range(10**9))

    def save_round() -> float:
        started = time.perf_counter()
        for _ in range(saves):
            number = next(counter)
            message_id = edited[number % len(edited)]
            version = Message.objects.filter(pk=message_id).values_list("version", flat=True).get()
            editing.message_edit_save(
                message_id=message_id,
                user=user,
                base_version=version,
                lease_token=None,
                subject=None,
                body=f"A line.\n{number}\n" * 40,
            )
        return (time.perf_counter() - started) / saves * 1000

    at = connection.ops.adapt_datetimefield_value(timezone.now())

    def statement_round() -> float:
        started = time.perf_counter()
        for number in range(STATEMENTS):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {revisions} (message_id, version, subject, body, size, sha256, author_id, "
                    "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    [edited[number % EDITED], 10**6, "s", "bench/none", 100, "0" * 64, user.pk, at],
                )
                transaction.set_rollback(True)
        return (time.perf_counter() - started) / STATEMENTS * 1000

    timings: dict[str, dict[bool, list[float]]] = {"save": {True: [], False: []}, "insert": {True: [], False: []}}
    untriggered_saves = 0
    # Warm-up: connections, caches, plans.
    save_round()
    statement_round()
    for number in range(rounds * 2):
        on = number % 2 == 0
        if not on:
            triggers(False)
        try:
            timings["save"][on].append(save_round())
            timings["insert"][on].append(statement_round())
        finally:
            if not on:
                triggers(True)
                untriggered_saves += saves
    missed = storage_counted().files - storage_used().files
    recount = storage_recount()
    return {
        "vendor": connection.vendor,
        "timings": {
            kind: {
                "with": statistics.median(by[True]),
                "without": statistics.median(by[False]),
                "spread": (max(by[True] + by[False]) - min(by[True] + by[False]))
                / statistics.median(by[True] + by[False]),
            }
            for kind, by in timings.items()
        },
        "untriggered_saves": untriggered_saves,
        "missed_files": missed,
        "recount_drift_files": recount.drift.files,
    }


def run(database: str, rounds: int, saves: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-counters-") as folder:
        env = board_environment(Path(folder))
        if database == "postgresql":
            env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
            for statement in (f"DROP DATABASE IF EXISTS {DATABASE}", f"CREATE DATABASE {DATABASE}"):
                subprocess.run(
                    ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", statement], check=True, capture_output=True
                )
        subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], check=True, cwd=ROOT, env=env, capture_output=True)
        try:
            done = subprocess.run(
                [PYTHON, __file__, "--child", "--rounds", str(rounds), "--saves", str(saves)],
                check=True,
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
        finally:
            if database == "postgresql":
                subprocess.run(
                    ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE IF EXISTS {DATABASE}"],
                    check=False,
                    capture_output=True,
                )
        return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=10, help="rounds each way, alternating")
    parser.add_argument("--saves", type=int, default=40, help="saves per round")
    parser.add_argument("--child", action="store_true")
    options = parser.parse_args()
    if options.child:
        print(json.dumps(child(options.rounds, options.saves)))
        return
    print(
        f"machine: {os.cpu_count()} CPUs; {options.rounds} rounds each way, alternating; per round {options.saves} "
        f"saves through editing.message_edit_save and {STATEMENTS} revision INSERTs alone (rolled back)"
    )
    for database in options.databases.split(","):
        started = time.perf_counter()
        result = run(database, options.rounds, options.saves)
        print(f"\n{database} (whole run {time.perf_counter() - started:.0f} s)")
        for kind, label in (("save", "a save (service)"), ("insert", "the revision INSERT alone")):
            figures = result["timings"][kind]
            added = figures["with"] - figures["without"]
            print(
                f"  {label:<28} {figures['with']:.3f} ms with triggers, {figures['without']:.3f} ms without: "
                f"{added * 1000:+.0f} µs ({figures['with'] / figures['without'] - 1:+.1%}); "
                f"rounds spread {figures['spread']:.0%}"
            )
        print(
            f"  counters missed {result['missed_files']} files over {result['untriggered_saves']} saves made "
            f"without triggers; the recount corrected {result['recount_drift_files']:+d}"
        )


if __name__ == "__main__":
    main()
