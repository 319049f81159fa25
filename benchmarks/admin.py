"""The moderators' admin list on a big board: time and queries per page, 1k against 1M.

    .venv/bin/python benchmarks/admin.py --board /var/tmp/mb-load-1k --board /var/tmp/mb-load-1m

Each --board is a folder with a seeded db.sqlite3 (benchmarks/load.py --reuse DIR leaves one;
or `manage.py seed_messages` into any SQLite file), or pass --database-url for PostgreSQL.
For every board it renders, in this process through Django's test client as a signed-in
moderator: the message list (first page and a deep page), each filter, and a search by
subject word and by author name, printing milliseconds per page (median of --repeat runs)
and the number of SQL queries. A flat column from 1k to 1M is the point: no COUNT(*), no
OFFSET scan of the whole table.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PAGES = [
    ("list, first page", ""),
    ("list, page 5", "?p=5"),
    ("filter: deleted", "?deleted=yes"),
    ("filter: protected", "?protected__exact=1"),
    ("filter: leased now", "?leased=yes"),
    ("search: subject word", "?q=release"),
    ("search: author name", "?q=seed-user-3"),
]


def measure(database_url: str, repeat: int) -> list[tuple[str, float, int, int]]:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messageboard.settings")
    os.environ.setdefault("SECRET_KEY", "benchmark")
    os.environ["ALLOWED_HOSTS"] = "testserver"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from messages_app.models import Message

    user_model = get_user_model()
    moderator, _ = user_model.objects.get_or_create(
        username="benchmark-moderator", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(moderator)
    largest = Message.objects.order_by("-id").values_list("id", flat=True).first() or 0
    rows = []
    for name, query in PAGES:
        url = "/admin/messages_app/message/" + query
        response = client.get(url)
        if response.status_code != 200:
            sys.exit(f"{url} answered {response.status_code}")
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            client.get(url)
            timings.append(time.perf_counter() - started)
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        rows.append((name, statistics.median(timings) * 1000, len(queries), largest))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", action="append", default=[], help="a folder holding db.sqlite3")
    parser.add_argument("--database-url", action="append", default=[], help="a database URL")
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    urls = [f"sqlite:///{Path(board) / 'db.sqlite3'}" for board in args.board] + args.database_url
    if not urls:
        parser.error("name at least one --board or --database-url")
    if len(urls) > 1:
        # Django is set up once per process: measure each board in a child of its own.
        import subprocess

        for url in urls:
            subprocess.run([sys.executable, __file__, "--database-url", url, "--repeat", str(args.repeat)], check=True)
        return
    rows = measure(urls[0], args.repeat)
    print(
        f"# admin message list, board of {rows[0][3]:,} messages ({urls[0].split('://')[0]}), load "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(f"{'page':24} {'ms (median)':>12} {'queries':>8}")
    for name, milliseconds, queries, _ in rows:
        print(f"{name:24} {milliseconds:12.1f} {queries:8}")


if __name__ == "__main__":
    main()
