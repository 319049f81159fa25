"""Operators' commands on a big board: throughput and peak memory, against raw baselines.

    .venv/bin/python benchmarks/commands.py --count 100000

Seeds a fresh SQLite board (in a temporary folder) with --count messages, then runs
seed_messages, verify_storage (quick and full), export_messages, import_messages (into a
second empty board), purge_deleted and migrate_storage --to s3 (against moto's S3 server
on 127.0.0.1), each in its own process so its peak memory is its own. Baselines measured in
the same run: writing the same files with plain open().write() plus sqlite3 executemany
(the floor for seeding), and reading + hashing every file with plain Python (the floor for
verify and export).
"""

import argparse
import hashlib
import json
import logging
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RUN_COMMAND = """
import json, sys, time, django
django.setup()
from django.core.management import call_command
from django.core.management.base import CommandError
started = time.perf_counter()
status = 0
try:
    call_command(*sys.argv[1:], verbosity=0)
except CommandError as error:
    status = error.returncode
elapsed = time.perf_counter() - started
# VmHWM is this process's own high-water mark; ru_maxrss would include the parent's at fork time
# (the parent holds moto's S3 server and every object stored in it).
with open("/proc/self/status") as process_status:
    peak = next(int(line.split()[1]) for line in process_status if line.startswith("VmHWM:"))
print(json.dumps({"seconds": elapsed, "peak_kib": peak, "status": status}))
"""


def run_command(env: dict, *args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", RUN_COMMAND, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def board_env(folder: Path, **extra: str) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "messageboard.settings",
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "MEDIA_ROOT": str(folder / "media"),
        "SECRET_KEY": "benchmark",
        "PYTHONWARNINGS": "ignore",
    }
    env.update(extra)
    return env


def migrate(env: dict) -> None:
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)


def floor_seed(folder: Path, count: int) -> float:
    """Plain open().write() into the same key layout, and sqlite3 executemany in batches."""
    rng = random.Random(0)
    media = folder / "media"
    db = sqlite3.connect(folder / "floor.sqlite3")
    db.execute("CREATE TABLE message (id INTEGER PRIMARY KEY, subject TEXT, body TEXT, size INT, sha256 TEXT)")
    started = time.perf_counter()
    rows = []
    for message_id in range(1, count + 1):
        shard = hashlib.sha256(str(message_id).encode()).hexdigest()
        directory = media / "messages" / shard[:2] / shard[2:4]
        directory.mkdir(parents=True, exist_ok=True)
        data = ("word " * (int(rng.lognormvariate(6.5, 1.0)) // 5 + 4)).encode()
        key = f"messages/{shard[:2]}/{shard[2:4]}/{message_id}-00000001-{rng.getrandbits(48):012x}.txt"
        with open(media / key, "wb") as file:
            file.write(data)
        rows.append((message_id, "subject", key, len(data), hashlib.sha256(data).hexdigest()))
        if len(rows) == 1000:
            db.executemany("INSERT INTO message VALUES (?, ?, ?, ?, ?)", rows)
            db.commit()
            rows = []
    db.executemany("INSERT INTO message VALUES (?, ?, ?, ?, ?)", rows)
    db.commit()
    os.sync()
    return time.perf_counter() - started


def floor_read_all(media: Path) -> tuple[float, int]:
    started = time.perf_counter()
    files = 0
    for directory, _, names in os.walk(media):
        for name in names:
            with open(os.path.join(directory, name), "rb") as file:
                hashlib.sha256(file.read()).hexdigest()
            files += 1
    return time.perf_counter() - started, files


def start_s3() -> tuple[object, str, str]:
    sys.path.insert(0, str(ROOT))
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.server import ThreadedMotoServer

    from tests.s3_server import BUCKET, s3_reset

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3_reset(endpoint)
    return server, endpoint, BUCKET


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument(
        "--s3-count",
        type=int,
        help="migrate only a separate board of this many messages to moto's S3 server, which answers a few "
        "hundred requests a second here: the whole board takes most of an hour at 100k (0 leaves it out)",
    )
    args = parser.parse_args()
    count = args.count

    with tempfile.TemporaryDirectory(prefix="mb-bench-") as tmp:
        tmp = Path(tmp)
        board, copy, floor = tmp / "board", tmp / "copy", tmp / "floor"
        for folder in (board, copy, floor):
            folder.mkdir()
        env, copy_env = board_env(board), board_env(copy)
        migrate(env)
        migrate(copy_env)

        print(f"# Operators' commands on {count:,} messages (SQLite + local disk), {os.cpu_count()} cores")
        print(f"{'operation':34} {'seconds':>8} {'per second':>12} {'peak MiB':>9} {'vs floor':>9}")

        def row(name: str, seconds: float, items: int, peak_kib: int | None = None, floor_seconds: float | None = None):
            peak = f"{peak_kib / 1024:9.0f}" if peak_kib else f"{'-':>9}"
            ratio = f"{floor_seconds / seconds:8.2f}x" if floor_seconds else f"{'-':>9}"
            print(f"{name:34} {seconds:8.1f} {items / seconds:12,.0f} {peak} {ratio}", flush=True)

        floor_seconds = floor_seed(floor, count)
        row("floor: open().write + executemany", floor_seconds, count)
        seeded = run_command(env, "seed_messages", "--count", str(count))
        row("seed_messages", seeded["seconds"], count, seeded["peak_kib"], floor_seconds)

        read_seconds, files = floor_read_all(board / "media")
        row("floor: read + sha256 every file", read_seconds, files)
        quick = run_command(env, "verify_storage", "--quick")
        row("verify_storage --quick", quick["seconds"], files, quick["peak_kib"])
        full = run_command(env, "verify_storage")
        row("verify_storage (sha256 of all)", full["seconds"], files, full["peak_kib"], read_seconds)
        assert quick["status"] == 0 and full["status"] == 0, "a freshly seeded board must verify clean"

        export_path = tmp / "export.jsonl"
        exported = run_command(env, "export_messages", str(export_path))
        row("export_messages", exported["seconds"], count, exported["peak_kib"], read_seconds)
        imported = run_command(copy_env, "import_messages", str(export_path))
        row("import_messages (empty board)", imported["seconds"], count, imported["peak_kib"])

        s3_count = count if args.s3_count is None else args.s3_count
        if s3_count:
            small_env = env
            if s3_count != count:
                s3_board = tmp / "s3-board"
                s3_board.mkdir()
                small_env = board_env(s3_board)
                migrate(small_env)
                run_command(small_env, "seed_messages", "--count", str(s3_count))
            server, endpoint, bucket = start_s3()
            try:
                s3_env = {
                    **small_env,
                    "AWS_STORAGE_BUCKET_NAME": bucket,
                    "AWS_S3_ENDPOINT_URL": endpoint,
                    "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_S3_REGION_NAME": "us-east-1",
                    "AWS_S3_ADDRESSING_STYLE": "path",
                }
                migrated = run_command(s3_env, "migrate_storage", "--to", "s3")
                assert migrated["status"] == 0, "every body must copy and verify"
                label = "migrate_storage --to s3" + ("" if s3_count == count else f" ({s3_count:,} messages)")
                row(label, migrated["seconds"], s3_count, migrated["peak_kib"])
                resumed = run_command(s3_env, "migrate_storage", "--to", "s3")
                row("  again: all skipped (resume)", resumed["seconds"], s3_count, resumed["peak_kib"])
            finally:
                server.stop()

        with sqlite3.connect(board / "db.sqlite3") as db:
            db.execute(
                "UPDATE messages_app_message SET deleted_at = '2000-01-01 00:00:00', deleted_by_id = author_id "
                "WHERE id % 10 = 0"
            )
        purged = run_command(env, "purge_deleted", "--older-than", "30d")
        row("purge_deleted (10% deleted)", purged["seconds"], count // 10, purged["peak_kib"])


if __name__ == "__main__":
    main()
