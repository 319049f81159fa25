"""Boards at scale: the pages a reader sees, with 50 boards (10 private) against one open board.

    .venv/bin/python benchmarks/boards.py --messages 1000 --messages 1000000 [--rounds 5]

For each size it prepares two SQLite boards in a temporary folder (rows inserted in bulk, real
body files for the messages whose pages are read):

- ``boards``: the messages spread over 50 boards, every fifth private to a team group;
- ``single``: the same messages on the one open General board — the board as it was before
  boards, with every permission check reading the same single grant.

Then, in alternating rounds (``boards``, ``single``, ``boards``, …) each in a fresh process,
it times through Django's WSGI handler, in-process (no HTTP, so the figures are the app's own
cost): a bare view (the yardstick), the message page (random messages the reader may read),
the "all I may read" list (its first page, kept, and pages at random cursors, which no cache
holds), one board's list at random cursors, and the boards page. Readers: a visitor (reads 40
boards) and a member of the team (reads all 50). It prints the median of the rounds' medians in
microseconds, the ratio ``boards / single`` (the aim: at most 1.2), the SQL queries per page,
peak memory, and SQLite's plan of the "all I may read" list query.
"""

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BOARDS = 50
SAMPLED = 500  # messages with real bodies, whose pages are read


def _django(folder: Path) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "benchmarks.bench_settings",
            "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
            "MEDIA_ROOT": str(folder / "media"),
            "DEBUG": "false",
            "SECRET_KEY": "benchmark-" + "x" * 50,
            "ALLOWED_HOSTS": "127.0.0.1",
            # In-process, no proxy in front: plain HTTP, as the bare view is measured too.
            "HTTPS": "false",
            "STATIC_ROOT": str(folder / "static"),
            "MESSAGEBOARD_RATE_LIMITS": "off",
            "PYTHONWARNINGS": "ignore",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def prepare(folder: Path, messages: int, layout: str) -> None:
    """Migrate and fill one board: ``messages`` rows, on 50 boards or on the default one."""
    _django(folder)
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from messages_app import boards, bodies, pagecache
    from messages_app.models import Board, BoardGrant, Message

    call_command("migrate", verbosity=0)
    users = get_user_model()
    author = users.objects.create_user("bench-author")
    team = Group.objects.create(name="bench-team")
    users.objects.create_user("bench-team-member").groups.add(team)
    users.objects.create_user("bench-member")
    if layout == "boards":
        board_ids = []
        for number in range(1, BOARDS + 1):
            private = number % 5 == 0
            board = boards.board_create(slug=f"board-{number:02d}", name=f"Board {number:02d}", private=private)
            if private:
                BoardGrant.objects.create(board=board, audience="group", group=team, level=3)
            board_ids.append(board.pk)
        boards.grants_changed()
    else:
        board_ids = [boards.default_board().pk]
    rng = random.Random(1)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    columns = (
        "board_id, subject, body, version, size, sha256, author_id, created_at, updated_at, updated_by_id, "
        "protected, editors_restricted, editors_locked"
    )
    table = Message._meta.db_table
    added: dict[int, tuple[int, int]] = {}
    chunk = 20_000
    with connection.cursor() as cursor:
        for start in range(0, messages, chunk):
            rows = []
            for n in range(start, min(messages, start + chunk)):
                board_id = rng.choice(board_ids)
                rows.append((board_id, f"Message {n}", "none", 1, 1, "0" * 64, author.pk, now, now, author.pk, 0, 0, 0))
            with transaction.atomic():
                cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * 13)})", rows)
            for board_id, *_rest in rows:
                count, newest = added.get(board_id, (0, 0))
                added[board_id] = (count + 1, 0)
    last = Message.objects.order_by("-id").values_list("id", flat=True).first()
    for board_id in board_ids:
        newest = Message.objects.filter(board_id=board_id).order_by("-id").values_list("id", flat=True).first()
        Board.objects.filter(pk=board_id).update(message_count=added.get(board_id, (0,))[0], newest_message_id=newest)
    # Real bodies for the messages whose pages are read: the page reads its file.
    sample = sorted(rng.sample(range(1, last + 1), min(SAMPLED, last)))
    for message_id in sample:
        stored = bodies.body_save(message_id=message_id, version=1, data=f"Body of {message_id}.\n".encode())
        Message.objects.filter(pk=message_id).update(body_key=stored.key, size=stored.size, sha256=stored.sha256)
    pagecache.list_changed()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    (folder / "sample.json").write_text(json.dumps({"sample": sample, "last": last}))


def measure(folder: Path, calls: int) -> dict:
    """Time each page in this process; return microseconds per call, queries per page and the plan."""
    _django(folder)
    import io

    from django.contrib.auth import get_user_model
    from django.core.wsgi import get_wsgi_application
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from messages_app import permissions, selectors
    from messages_app.models import Board, Message

    app = get_wsgi_application()
    state = json.loads((folder / "sample.json").read_text())
    last = state["last"]
    board_slugs = list(Board.objects.order_by("id").values_list("slug", flat=True))
    readers = {"visitor": None, "team member": "bench-team-member"}
    cookies = {}
    for reader, username in readers.items():
        if username:
            browser = Client()
            browser.force_login(get_user_model().objects.get(username=username))
            cookies[reader] = f"sessionid={browser.cookies['sessionid'].value}"
    rng = random.Random(2)

    def readable_sample(reader: str) -> tuple[list[int], list[str]]:
        user = get_user_model().objects.get(username=readers[reader]) if readers[reader] else None
        from django.contrib.auth.models import AnonymousUser

        viewer = user or AnonymousUser()
        readable = set(permissions.readable_boards(viewer))
        return [pk for pk in state["sample"] if Message.objects.filter(pk=pk, board_id__in=readable).exists()], sorted(
            slug for slug in board_slugs if Board.objects.get(slug=slug).pk in readable
        )

    def call(path: str, cookie: str | None) -> int:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path.split("?")[0],
            "QUERY_STRING": path.partition("?")[2],
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
        }
        if cookie:
            environ["HTTP_COOKIE"] = cookie
        status = []
        b"".join(app(environ, lambda s, h, e=None: status.append(s)))
        return int(status[0].split()[0])

    results: dict = {"us": {}, "queries": {}}
    for reader in readers:
        messages, slugs = readable_sample(reader)
        cookie = cookies.get(reader)
        pages = {
            "bare view": lambda: "/bench/bare/",
            "message page": lambda messages=messages: f"/messages/{rng.choice(messages)}/",
            "all I may read, first page (kept)": lambda: "/messages/",
            "all I may read, any cursor": lambda: f"/messages/?before={rng.randint(2, last + 1)}",
            "one board, any cursor": lambda slugs=slugs: f"/b/{rng.choice(slugs)}/?before={rng.randint(2, last + 1)}",
            "boards page": lambda: "/",
        }
        for message_id in messages:  # every sampled page kept once, as a busy board's are
            assert call(f"/messages/{message_id}/", cookie) == 200
        for name, path in pages.items():
            for _ in range(20):
                assert call(path(), cookie) == 200, (reader, name)
            started = time.perf_counter()
            for _ in range(calls):
                call(path(), cookie)
            results["us"][f"{reader}: {name}"] = (time.perf_counter() - started) / calls * 1e6
            with CaptureQueriesContext(connection) as captured:
                call(path(), cookie)
            results["queries"][f"{reader}: {name}"] = len(captured.captured_queries)
    from django.contrib.auth.models import AnonymousUser

    visitor = AnonymousUser()
    found = permissions.access(visitor)
    mode, named = selectors._list_shape(found.readable, permissions.every_board(found.generation), None)
    sql = selectors._message_list_sql(connection.vendor, keyset=True, mode=mode, count=len(named))
    params = {"before": last // 2, "limit": 51, **selectors._board_params(named)}
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        results["plan"] = [row[-1] for row in cursor.fetchall()]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, action="append", help="board sizes (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per layout (default 3)")
    parser.add_argument("--calls", type=int, default=1000, help="calls per page per round (default 1000)")
    parser.add_argument("--tmp", default=None, help="where the temporary boards go")
    parser.add_argument("--_prepare", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--_measure", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._prepare:
        folder, messages, layout = args._prepare
        prepare(Path(folder), int(messages), layout)
        return
    if args._measure:
        folder, calls = args._measure
        found = measure(Path(folder), int(calls))
        # Peak resident memory of the measuring process (tracemalloc would slow every call).
        found["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("RESULT " + json.dumps(found))
        return
    sizes = args.messages or [1000]
    print(f"# Boards at scale, in-process (SQLite), {args.rounds} alternating rounds of {args.calls} calls a page")
    print(f"# load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="mb-boards-", dir=args.tmp) as tmp:
            folders = {layout: Path(tmp) / layout for layout in ("boards", "single")}
            for layout, folder in folders.items():
                folder.mkdir()
                started = time.perf_counter()
                script = [PYTHON, __file__, "--_prepare", str(folder), str(size), layout]
                subprocess.run(script, check=True, cwd=ROOT)
                print(f"prepared {size:,} messages ({layout}) in {time.perf_counter() - started:.0f} s", flush=True)
            rounds: dict[str, list[dict]] = {"boards": [], "single": []}
            for _round in range(args.rounds):
                for layout, folder in folders.items():
                    script = [PYTHON, __file__, "--_measure", str(folder), str(args.calls)]
                    out = subprocess.run(script, check=True, cwd=ROOT, capture_output=True, text=True).stdout
                    rounds[layout].append(json.loads(out.split("RESULT ", 1)[1]))
            report(size, rounds)


def report(size: int, rounds: dict[str, list[dict]]) -> None:
    print(f"\n## {size:,} messages: µs per page (median of rounds)")
    print("boards: 50 boards, 10 of them private; single: one open board, as before boards")
    print("ratio: boards / single; ÷ bare: the same, each divided by its round's bare view first")
    print(f"{'page':52} {'boards':>8} {'single':>8} {'ratio':>6} {'÷ bare':>7} {'queries':>8}")
    for name in rounds["boards"][0]["us"]:
        reader = name.split(":")[0]
        boards_us = statistics.median(r["us"][name] for r in rounds["boards"])
        single_us = statistics.median(r["us"][name] for r in rounds["single"])
        relative = statistics.median(r["us"][name] / r["us"][f"{reader}: bare view"] for r in rounds["boards"])
        relative /= statistics.median(r["us"][name] / r["us"][f"{reader}: bare view"] for r in rounds["single"])
        queries = rounds["boards"][0]["queries"][name]
        print(f"{name:52} {boards_us:8.0f} {single_us:8.0f} {boards_us / single_us:6.2f} {relative:7.2f} {queries:8d}")
    peak = max(r["peak_mib"] for layout in rounds.values() for r in layout)
    print(f"peak resident memory of a measuring process: {peak:.0f} MiB")
    print("plan of the visitor's 'all I may read' list (boards):")
    for step in rounds["boards"][0]["plan"]:
        print(f"  {step}")


if __name__ == "__main__":
    main()
