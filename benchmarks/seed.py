"""seed_messages against the floor, measured in the same run.

    .venv/bin/python benchmarks/seed.py --count 20000

The floor writes the same number of files into the same key layout with plain
open().write() and inserts rows with sqlite3 executemany in batches of 1,000: no Django, no
checksums kept, no revisions. seed_messages writes real bodies through the file handler
(temp file + rename, one sync at the end), revisions and authors, with bulk inserts.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from commands import board_env, floor_seed, migrate, run_command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2, help="alternate floor and seed this many times")
    args = parser.parse_args()
    print(f"# seed_messages vs floor, {args.count:,} messages, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"{'round':>5} {'floor msg/s':>12} {'seed msg/s':>11} {'ratio':>6} {'seed peak MiB':>14}")
    for round_number in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory(prefix="mb-seed-") as tmp:
            floor_dir, board = Path(tmp) / "floor", Path(tmp) / "board"
            floor_dir.mkdir()
            board.mkdir()
            env = board_env(board)
            migrate(env)
            floor_seconds = floor_seed(floor_dir, args.count)
            seeded = run_command(env, "seed_messages", "--count", str(args.count))
            floor_rate, seed_rate = args.count / floor_seconds, args.count / seeded["seconds"]
            print(
                f"{round_number:5} {floor_rate:12,.0f} {seed_rate:11,.0f} {seed_rate / floor_rate:6.2f}"
                f" {seeded['peak_kib'] / 1024:14.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
