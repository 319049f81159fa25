"""What a search costs at 1,000 and at 1,000,000 messages, on SQLite (FTS5) and PostgreSQL (tsvector + GIN).

    .venv/bin/python benchmarks/search.py [--sizes 1000,1000000] [--databases sqlite,postgresql] [--runs 50]

For each database and size it loads a fresh board: messages of the seed's text (seed_messages'
corpus, where one word in a hundred is one of a thousand rarer ones), their rows and their search
rows, in bulk and without body files (a search reads none). Then, for a common word, a rare word, a
phrase, a word no message holds and the second page of the common word, it times ``messages_search``
(the function behind /search/ and GET /api/search, first page of 20 with snippets) ``--runs``
times and prints the median and the 99th percentile, with how many messages match (counted once,
for the table only).

Last, the cost the index adds to a save: on the loaded board, rounds of 40 edit cycles at the
service layer (open the editor, which takes the lease and reads the body; save, which writes and
fsyncs the file and publishes the version) alternate with and without ``search.document_put``;
the medians of the rounds and their ratio are printed. PostgreSQL is 127.0.0.1:5432 (user
postgres); its database ``mb_bench_search`` is dropped and made again.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
POSTGRES = "postgres://postgres@127.0.0.1:5432/mb_bench_search"


def environment(folder: Path, database: str) -> dict[str, str]:
    """The benchmarks' board environment (benchmarks/packing.py), on SQLite or on PostgreSQL."""
    from benchmarks.packing import environment as board_environment

    env = board_environment(folder)
    if database == "postgresql":
        env["DATABASE_URL"] = POSTGRES
    return env


def measure(database: str, size: int, runs: int, edit_rounds: int) -> dict:
    """Run one database and size in a process of its own (Django's settings are per process)."""
    return run_on_fresh_board(
        database, __file__, ["--child", str(size), "--runs", str(runs), "--edit-rounds", str(edit_rounds)]
    )


def run_on_fresh_board(database: str, script: str, arguments: list[str]) -> dict:
    """Migrate an empty board on ``database``, run ``script arguments`` on it, and return its last line's JSON."""
    with tempfile.TemporaryDirectory(prefix="bench-board-") as folder:
        env = environment(Path(folder), database)
        if database == "postgresql":
            for statement in ("DROP DATABASE IF EXISTS mb_bench_search", "CREATE DATABASE mb_bench_search"):
                subprocess.run(
                    ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", statement], check=True, capture_output=True
                )
        subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], check=True, cwd=ROOT, env=env, capture_output=True)
        done = subprocess.run(
            [PYTHON, script, *arguments],
            check=True,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])


def child(size: int, runs: int, edit_rounds: int) -> dict:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from benchmarks import search_load

    return search_load.run(size=size, runs=runs, edit_rounds=edit_rounds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--edit-rounds", type=int, default=9, help="rounds of 40 edit cycles, each way")
    parser.add_argument("--child", type=int)
    options = parser.parse_args()
    if options.child:
        print(json.dumps(child(options.child, options.runs, options.edit_rounds)))
        return
    print(f"machine: {os.cpu_count()} CPUs; {options.runs} runs per query; first page of 20 with snippets")
    for database in options.databases.split(","):
        for size in (int(value) for value in options.sizes.split(",")):
            started = time.perf_counter()
            result = measure(database, size, options.runs, options.edit_rounds)
            print(
                f"\n{database}, {size:,} messages (loaded in {result['load_seconds']:.0f} s, "
                f"whole run {time.perf_counter() - started:.0f} s)"
            )
            print(f"  {'query':<34}{'matches':>10}{'median ms':>12}{'p99 ms':>10}")
            for row in result["queries"]:
                print(f"  {row['label']:<34}{row['matches']:>10,}{row['median_ms']:>12.2f}{row['p99_ms']:>10.2f}")
            for kind, cycle in result["edit_cycle"].items():
                print(
                    f"  edit cycle by the {kind}, per second, medians of {cycle['rounds']} rounds: "
                    f"{cycle['with_index']:.0f} indexed, {cycle['without_index']:.0f} not: "
                    f"{cycle['with_index'] / cycle['without_index']:.2f}x (rounds spread {cycle['spread']:.0%})"
                )


if __name__ == "__main__":
    main()
