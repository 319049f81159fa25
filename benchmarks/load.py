"""The board under load over HTTP, against a bare Django view measured in the same run.

    .venv/bin/python benchmarks/load.py                                   # 1,000 messages, SQLite
    .venv/bin/python benchmarks/load.py --messages 1000000 --reuse /var/tmp/mb-1m   # seeded once, kept
    .venv/bin/python benchmarks/load.py --database-url postgres://postgres@127.0.0.1:5432/mb_load

Builds a board (SQLite + local disk in a temporary folder, or the PostgreSQL database named,
which it creates and drops), seeds it with seed_messages, and serves it with gunicorn exactly
as `make serve` does (messageboard/gunicorn.conf.py, production settings: DEBUG off, HTTPS
behind a proxy, collected static files) on a free port of 127.0.0.1. The only difference is
benchmarks/bench_settings.py, which mounts a bare view returning a constant string: the
yardstick every operation is divided by. Then, each phase for --seconds:

- wrk (C, fast enough not to be the limit) on the bare view, the message page (random ids,
  anonymous) and the list page (the first page, and older pages through the pager's links; and
  at arbitrary keyset positions, pages no cache holds);
- a Python driver (threads, one connection each; gunicorn's sync workers close every
  connection) for what needs a session and forms: the edit cycle (open the editor, which takes
  the lease, then save; the save's redirect to the message is not followed) with 1, 4 and 16
  editors each on their own message; several editors
  fighting over one hot message (refusals are the expected outcome there, not errors); and
  --users signed-in users browsing the list, reading messages, and some editing (open, one
  heartbeat, save, read the result) or contending for the hot message, or reading through the
  JSON API; back to back (the server's limit) or, with --think, pausing as people do.

Every save is durable (the file fsynced, its directory fsynced, SQLite synchronous=FULL) and
every lease enforced by the unmodified application. Afterwards it checks docs/DESIGN.md's invariants
from the database and the storage (load_board.py), including a replay of every lease grant,
renewal and release recorded by database triggers with the database's clock. It also times a
save through the service layer against a raw durable write + sqlite3 transaction.

Columns: requests (or cycles) a second, latency percentiles, errors (unexpected statuses,
failed connections), refusals (expected: the lease is someone else's), throughput as a ratio to
the bare view, and "srv CPU", the server's CPU time per request or cycle (every gunicorn process,
user + system, from /proc). The machine is shared: --rounds repeats the read-only and edit
phases and prints their medians, and the load average is printed before and after.
"""

import argparse
import hashlib
import html
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).parent / "gunicorn")
BARE_PATH = "/bench/bare/"
# DokuWiki on this machine, as the brief measured it.
PEER_PAGE_VIEWS = 547
PEER_EDIT_CYCLES = {1: 64, 4: 99, 16: 102}
REQUEST_TIMEOUT = 30
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PHASES = ("save", "bare", "page", "list", "edit", "contended", "mixed")

FIELD = re.compile(r'name="(csrfmiddlewaretoken|base_version|lease_token|subject)" value="([^"]*)"')
TEXTAREA = re.compile(r'<textarea name="body"[^>]*>\n?(.*?)</textarea>', re.S)


# --- the board --------------------------------------------------------------------------------


@dataclass
class Board:
    folder: Path
    env: dict
    database_url: str
    keep: bool


def board_env(folder: Path, database_url: str, redis_url: str | None) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "messageboard.settings",
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(folder / "media"),
        "STATIC_ROOT": str(folder / "static"),
        # Production, as `make serve` runs it: the proxy in front says the request came over HTTPS.
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + uuid.uuid4().hex + uuid.uuid4().hex,
        "ALLOWED_HOSTS": "127.0.0.1",
        "HTTPS": "true",
        # ...and it is declared, as in the README's Production section: only then is the header believed.
        "MESSAGEBOARD_BEHIND_TLS_PROXY": "true",
        "MESSAGEBOARD_STATIC_MANIFEST": "true",
        "PYTHONWARNINGS": "ignore",
        # Simulated users post and save far faster than people: the request limits would refuse them.
        "MESSAGEBOARD_RATE_LIMITS": "off",
    }
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def postgres_database(url: str, *, create: bool, drop: bool) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        sys.exit(f"unsupported database name {name!r}")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if drop and exists:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
            exists = None
        if create and not exists:
            conn.execute(f"CREATE DATABASE {name}")


def manage(env: dict, *args: str, quiet: bool = True) -> None:
    subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL if quiet else None,
    )


def board_task(board: Board, task: str, payload: dict) -> dict:
    source = board.folder / f"{task}-in.json"
    target = board.folder / f"{task}-out.json"
    source.write_text(json.dumps(payload))
    subprocess.run(
        [PYTHON, "benchmarks/load_board.py", task, str(source), str(target)], cwd=ROOT, env=board.env, check=True
    )
    return json.loads(target.read_text())


@contextmanager
def board_ready(args):
    """Yield a migrated board with at least --messages messages; remove it afterwards unless --reuse."""
    if args.reuse:
        folder = Path(args.reuse).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        keep = True
    else:
        folder = Path(tempfile.mkdtemp(prefix="mb-load-", dir=args.tmp))
        keep = False
    state_file = folder / "board.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    database_url = args.database_url or state.get("database_url") or f"sqlite:///{folder / 'db.sqlite3'}"
    if state and state.get("database_url") != database_url:
        sys.exit(f"{folder} holds a board on {state['database_url']}, not {database_url}")
    board = Board(folder, board_env(folder, database_url, args.redis_url), database_url, keep)
    postgres = database_url.startswith(("postgres://", "postgresql://"))
    try:
        if postgres:
            postgres_database(database_url, create=True, drop=not state)
        manage(board.env, "migrate", "--noinput")
        seeded = state.get("messages", 0)
        if seeded < args.messages:
            print(f"seeding {args.messages - seeded:,} messages…", file=sys.stderr, flush=True)
            started = time.perf_counter()
            manage(board.env, "seed_messages", "--count", str(args.messages - seeded), quiet=False)
            print(f"seeded in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
            state = {"database_url": database_url, "messages": args.messages}
            state_file.write_text(json.dumps(state))
        manage(board.env, "collectstatic", "--noinput")
        yield board
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
            if postgres:
                postgres_database(database_url, create=False, drop=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    port: int
    pid: int

    def cpu_seconds(self) -> float:
        """Return the CPU time (user + system) the master and its workers have used so far."""
        total, pending = 0.0, [self.pid]
        while pending:
            pid = pending.pop()
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:  # not Linux, or the process is gone
                continue
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            pending.extend(int(child) for child in children)
        return total


@contextmanager
def gunicorn(board: Board, workers: int):
    """Serve the board as `make serve` does, plus the bare view; stop it on the way out."""
    port = free_port()
    env = {
        **board.env,
        "DJANGO_SETTINGS_MODULE": "benchmarks.bench_settings",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_LOG_LEVEL": "warning",
    }
    log = open(board.folder / "gunicorn.log", "ab")  # noqa: SIM115 - closed below, after the server
    server = subprocess.Popen(
        [GUNICORN, "--config", "messageboard/gunicorn.conf.py", "--no-control-socket", "messageboard.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with suppress(OSError, http.client.HTTPException):
                if Client(port).call("GET", BARE_PATH)[0] == 200:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = (board.folder / "gunicorn.log").read_text(errors="replace")[-3000:]
                raise SystemExit(f"gunicorn did not start:\n{tail}")
            time.sleep(0.2)
        yield Server(port, server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


# --- wrk for the pages anyone can read --------------------------------------------------------

WRK_SCRIPT = """
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end
function init(args)
  math.randomseed(os.time() * 1000 + seed)
end
function request()
  return wrk.format("GET", %(path)s)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('MBJSON {"requests": %%d, "duration_us": %%d, "errors": %%d, "status_errors": %%d, ' ..
    '"p50": %%d, "p95": %%d, "p99": %%d}\\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""

WRK_PATHS = {
    "bare": f'"{BARE_PATH}"',
    "page": '"/messages/" .. math.random(%(low)d, %(high)d) .. "/"',
    # Half the views are the first page, half an older page reached as a reader does, through the
    # pager's "Older" links: the page boundaries of the seeded board (ids high..low, 50 a page).
    "list": '(math.random() < 0.5) and "/messages/" or ("/messages/?before=" .. '
    "(%(high)d - %(page_size)d * math.random(1, %(pages)d) + 1))",
    # The keyset cursor at any id: each a page no reader has asked for, which no cache holds.
    "list-anywhere": '"/messages/?before=" .. math.random(%(low)d, %(high)d)',
}
PAGE_SIZE = 50  # the board's MESSAGEBOARD_PAGE_SIZE
WARM_UP_SECONDS = 10


@dataclass
class Result:
    name: str
    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds
    percentiles: tuple[float, float, float] | None = None  # from wrk, seconds
    errors: int = 0
    refused: int = 0
    ops: int = 0  # cycles, for the edit phases
    server_cpu: float | None = None  # seconds of the server's CPU time during the phase

    def rate(self, what: str = "requests") -> float:
        return getattr(self, what) / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        if self.percentiles is not None:
            return self.percentiles[{50: 0, 95: 1, 99: 2}[q]]
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def run_wrk(name: str, what: str, server: Server, seconds: float, connections: int, bounds: dict, folder: Path):
    script = folder / f"{what}.lua"
    script.write_text(WRK_SCRIPT % {"path": WRK_PATHS[what] % bounds})
    port = server.port
    cpu_before = server.cpu_seconds()
    output = subprocess.run(
        [
            *("wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"),
            *("-s", str(script), "-H", "X-Forwarded-Proto: https", f"http://127.0.0.1:{port}"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(output.split("MBJSON ", 1)[1].splitlines()[0])
    return Result(
        name,
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        percentiles=(data["p50"] / 1e6, data["p95"] / 1e6, data["p99"] / 1e6),
        errors=data["errors"],
        server_cpu=server.cpu_seconds() - cpu_before,
    )


def run_wrk_interleaved(
    kinds: list[tuple[str, str]], server: Server, seconds: float, connections: int, bounds: dict, folder: Path
) -> dict[str, Result]:
    """Run each (name, what) for ``seconds`` in all, in turns of one second; return their results by ``what``.

    Requests, errors, durations and server CPU add up over the turns; the latency percentiles
    are the medians of the turns' percentiles.
    """
    turns: dict[str, list[Result]] = defaultdict(list)
    for _turn in range(max(1, round(seconds))):
        for name, what in kinds:
            turns[what].append(run_wrk(name, what, server, 1, connections, bounds, folder))
    results = {}
    for (name, what), parts in zip(kinds, turns.values(), strict=True):
        results[what] = Result(
            name,
            requests=sum(part.requests for part in parts),
            seconds=sum(part.seconds for part in parts),
            percentiles=tuple(statistics.median(part.percentiles[i] for part in parts) for i in range(3)),
            errors=sum(part.errors for part in parts),
            server_cpu=sum(part.server_cpu for part in parts),
        )
    return results


# --- the Python driver for signed-in users ----------------------------------------------------


class Client:
    """One browser: a connection, a cookie jar, and what a proxy in front would add (HTTPS)."""

    def __init__(self, port: int, session: str | None = None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
        self.origin = f"https://127.0.0.1:{port}"
        self.cookies = {"sessionid": session} if session else {}

    def call(self, method: str, path: str, form: dict | None = None, headers: dict | None = None):
        sent = {"X-Forwarded-Proto": "https"}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
            sent["Origin"] = self.origin  # as a browser sends it; Django checks it over HTTPS
        sent.update(headers or {})
        try:
            self.conn.request(method, path, body, sent)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            raise
        for cookie in response.headers.get_all("Set-Cookie") or ():
            name, _, rest = cookie.partition("=")
            value = rest.split(";", 1)[0]
            if "max-age=0" in rest.lower():
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response.status, response.headers, data.decode()


class Tally:
    """One thread's outcomes; merged after the phase, so the threads never share a lock."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.refused: dict[str, int] = defaultdict(int)
        self.samples: list[str] = []
        self.acks: list[list] = []
        self.refused_saves: list[list] = []
        self.touched: set[int] = set()
        self.cycles = 0
        self.server_cpu: float | None = None
        self.client_cpu = 0.0  # this process's CPU time during the phase: the load generator's cost

    def error(self, op: str, detail: str) -> None:
        self.errors[op] += 1
        if len(self.samples) < 5:
            self.samples.append(f"{op}: {detail}")

    def timed(self, client: Client, op: str, method: str, path: str, **kwargs):
        started = time.perf_counter()
        try:
            status, headers, text = client.call(method, path, **kwargs)
        except (OSError, http.client.HTTPException) as failure:
            self.error(op, f"{method} {path}: {failure!r}")
            return None
        self.latencies[op].append(time.perf_counter() - started)
        return status, headers, text

    def merge(self, other: "Tally") -> None:
        for op, values in other.latencies.items():
            self.latencies[op].extend(values)
        for op, count in other.errors.items():
            self.errors[op] += count
        for op, count in other.refused.items():
            self.refused[op] += count
        self.samples.extend(other.samples[: max(0, 10 - len(self.samples))])
        self.acks.extend(other.acks)
        self.refused_saves.extend(other.refused_saves)
        self.touched |= other.touched
        self.cycles += other.cycles


def edit_form(page: str) -> dict | None:
    fields = {}
    for name, value in FIELD.findall(page):
        fields.setdefault(name, html.unescape(value))
    body = TEXTAREA.search(page)
    if body is None or not {"csrfmiddlewaretoken", "base_version", "lease_token", "subject"} <= fields.keys():
        return None
    fields["body"] = html.unescape(body.group(1))
    return fields


def edit_cycle(
    client: Client, tally: Tally, message_id: int, *, prefix: str = "", heartbeat: bool = False, follow: bool = False
) -> str:
    """Open the editor (taking the lease), optionally renew it once, and save; return the outcome."""
    tally.touched.add(message_id)
    edit_path = f"/messages/{message_id}/edit/"
    answer = tally.timed(client, prefix + "open editor", "GET", edit_path)
    if answer is None:
        return "error"
    status, _, page = answer
    form = edit_form(page) if status == 200 else None
    if form is None:
        if status == 200 and 'data-lease-state="waiting"' in page:
            tally.refused[prefix + "open editor"] += 1  # someone else holds the lease: expected
            return "held"
        tally.error(prefix + "open editor", f"GET {edit_path}: {status}")
        return "error"
    if heartbeat:
        renew_path = f"/messages/{message_id}/lease/renew/"
        headers = {"HX-Request": "true", "X-CSRFToken": form["csrfmiddlewaretoken"]}
        answer = tally.timed(
            client, prefix + "heartbeat", "POST", renew_path, form={"lease_token": form["lease_token"]}, headers=headers
        )
        if answer is not None and (answer[0] != 200 or 'data-lease-state="holding"' not in answer[2]):
            tally.error(prefix + "heartbeat", f"POST {renew_path}: {answer[0]}, lease not held")
    body = f"Edited under load, {uuid.uuid4().hex}.\n" + form["body"][:1500].replace("\r", "")
    digest = hashlib.sha256(body.encode()).hexdigest()
    posted = {
        "csrfmiddlewaretoken": form["csrfmiddlewaretoken"],
        "subject": form["subject"],
        "body": body,
        "base_version": form["base_version"],
        "lease_token": form["lease_token"],
    }
    answer = tally.timed(client, prefix + "save", "POST", edit_path, form=posted)
    if answer is None:
        return "error"
    status, headers, _ = answer
    if status == 302 and headers.get("Location", "").endswith(f"/messages/{message_id}/"):
        tally.acks.append([message_id, int(form["base_version"]) + 1, digest])
        tally.cycles += 1
        if follow:
            answer = tally.timed(client, prefix + "message page", "GET", f"/messages/{message_id}/")
            if answer is not None and answer[0] != 200:
                tally.error(prefix + "message page", f"after save: {answer[0]}")
        else:
            client.cookies.pop("messages", None)  # the "Saved" notice the next page would show
        return "saved"
    if status == 409:
        tally.refused[prefix + "save"] += 1
        tally.refused_saves.append([message_id, digest])
        return "refused"
    tally.error(prefix + "save", f"POST {edit_path}: {status}")
    return "error"


def run_threads(bodies: list, seconds: float) -> tuple[Tally, float]:
    """Run each body(tally, deadline) in its own thread until the deadline; return the merged tally."""
    tallies = [Tally() for _ in bodies]
    start_line = threading.Barrier(len(bodies) + 1)
    deadline = [0.0]

    def runner(body, tally):
        start_line.wait()
        while time.perf_counter() < deadline[0]:
            body(tally)

    threads = [threading.Thread(target=runner, args=pair, daemon=True) for pair in zip(bodies, tallies, strict=True)]
    for thread in threads:
        thread.start()
    started, cpu_started = time.perf_counter(), time.process_time()
    deadline[0] = started + seconds
    start_line.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    merged = Tally()
    for tally in tallies:
        merged.merge(tally)
    merged.client_cpu = time.process_time() - cpu_started
    return merged, elapsed


def results_of(tally: Tally, seconds: float, prefix: str = "") -> list[Result]:
    ops = sorted(set(tally.latencies) | set(tally.errors))
    return [
        Result(
            prefix + op,
            requests=len(tally.latencies[op]),
            seconds=seconds,
            latencies=tally.latencies[op],
            errors=tally.errors[op],
            refused=tally.refused[op],
        )
        for op in ops
    ]


def edit_phase(port: int, sessions: list[str], messages: list[int], seconds: float) -> tuple[Tally, float]:
    def editor(session, message_id):
        client = Client(port, session)
        return lambda tally: edit_cycle(client, tally, message_id)

    return run_threads([editor(s, m) for s, m in zip(sessions, messages, strict=True)], seconds)


def contended_phase(port: int, sessions: list[str], hot: int, seconds: float) -> tuple[Tally, float]:
    def editor(session, seed):
        client, rng = Client(port, session), random.Random(seed)

        def body(tally):
            if edit_cycle(client, tally, hot) == "held":
                time.sleep(rng.uniform(0, 0.01))

        return body

    return run_threads([editor(s, n) for n, s in enumerate(sessions)], seconds)


def mixed_phase(
    port: int,
    sessions: list[str],
    bounds: dict,
    hot: int,
    seconds: float,
    shares: dict[str, float],
    think: float,
) -> tuple[Tally, float]:
    def user(session, seed):
        client, rng = Client(port, session), random.Random(seed)

        def pause():
            # A person reads before the next click: ``think`` seconds on average, 0 for none.
            if think:
                time.sleep(rng.expovariate(1 / think))

        arrived = [False]

        def visit(tally):
            if think and not arrived[0]:
                # People arrive over time, not all in the same millisecond.
                arrived[0] = True
                time.sleep(rng.uniform(0, 2 * think))
            if rng.random() < shares["api"]:
                # An integrator's script: a page of the API's list, then one message.
                for op, path in (
                    ("api: list", "/api/messages?limit=20"),
                    ("api: message", f"/api/messages/{rng.randint(bounds['low'], bounds['high'])}"),
                ):
                    answer = tally.timed(client, op, "GET", path)
                    if answer is not None and answer[0] != 200:
                        tally.error(op, f"GET {path}: {answer[0]}")
                    pause()
                return
            # Older pages as the pager's links give them (see WRK_PATHS["list"]).
            older = bounds["high"] - PAGE_SIZE * rng.randint(1, bounds["pages"]) + 1
            path = "/messages/" if rng.random() < 0.7 else f"/messages/?before={older}"
            answer = tally.timed(client, "list page", "GET", path)
            if answer is not None and answer[0] != 200:
                tally.error("list page", f"GET {path}: {answer[0]}")
            pause()
            read = [rng.randint(bounds["low"], bounds["high"]) for _ in range(rng.randint(1, 3))]
            for message_id in read:
                answer = tally.timed(client, "message page", "GET", f"/messages/{message_id}/")
                if answer is not None and answer[0] != 200:
                    tally.error("message page", f"GET /messages/{message_id}/: {answer[0]}")
                pause()
            chance = rng.random()
            if chance < shares["edit"]:
                edit_cycle(client, tally, rng.choice(read), heartbeat=True, follow=True)
                pause()
            elif chance < shares["edit"] + shares["hot"]:
                edit_cycle(client, tally, hot, prefix="hot: ", heartbeat=True, follow=True)
                pause()

        return visit

    return run_threads([user(s, n) for n, s in enumerate(sessions)], seconds)


# --- the report -------------------------------------------------------------------------------


def ms(value: float) -> str:
    return f"{value * 1000:8.1f}" if value == value else f"{'-':>8}"


def print_header(title: str) -> None:
    print(f"\n## {title}")
    print(
        f"{'operation':34} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7} {'refused':>8}"
        f" {'vs bare':>8} {'srv CPU':>8}  {'peer (DokuWiki)':<20}"
    )


def cpu_per(server_cpu: float | None, count: int) -> str:
    # The server's CPU time (master and workers, user + system) per request or cycle, in ms.
    return f"{server_cpu / count * 1000:8.2f}" if server_cpu is not None and count else f"{'':>8}"


def print_row(result: Result, bare: float | None, peer: str = "") -> None:
    rate = result.rate()
    ratio = f"{rate / bare:7.2f}x" if bare else f"{'-':>8}"
    print(
        f"{result.name:34} {rate:8,.0f} {ms(result.p(50))} {ms(result.p(95))} {ms(result.p(99))}"
        f" {result.errors:7} {result.refused:8} {ratio} {cpu_per(result.server_cpu, result.requests)}  {peer}",
        flush=True,
    )


def print_cycles(label: str, tally: Tally, seconds: float, bare: float | None, peer: int | None = None) -> None:
    rate = tally.cycles / seconds
    peer_text = f"{peer} cycles/s → {rate / peer:.2f}x" if peer else ""
    ratio = f"{rate / bare:7.2f}x" if bare else f"{'-':>8}"
    errors = sum(tally.errors.values())
    refused = sum(tally.refused.values())
    print(
        f"{label:34} {rate:8,.1f} {'':>8} {'':>8} {'':>8} {errors:7} {refused:8} {ratio}"
        f" {cpu_per(tally.server_cpu, tally.cycles)}  {peer_text}",
        flush=True,
    )
    for result in results_of(tally, seconds, "  "):
        print_row(result, bare)
    print_client(tally, seconds)


def print_client(tally: Tally, seconds: float) -> None:
    requests = sum(len(values) for values in tally.latencies.values())
    if requests:
        print(
            f"  (the Python load generator used {tally.client_cpu / seconds:.0%} of a core, "
            f"{tally.client_cpu / requests * 1000:.2f} ms a request)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000, help="messages on the board (default 1000)")
    parser.add_argument("--seconds", type=float, default=5, help="length of each phase (default 5)")
    parser.add_argument("--workers", type=int, default=2 * len(os.sched_getaffinity(0)) + 1)
    parser.add_argument("--users", type=int, default=200, help="signed-in users in the mixed phase (default 200)")
    parser.add_argument("--contenders", type=int, default=8, help="editors fighting over the hot message (default 8)")
    parser.add_argument("--editors", default="1,4,16", help="editors of the edit-cycle phases (default 1,4,16)")
    parser.add_argument("--connections", type=int, default=32, help="wrk's concurrent connections (default 32)")
    parser.add_argument("--edit-share", type=float, default=0.15, help="mixed visits that edit (default 0.15)")
    parser.add_argument("--hot-share", type=float, default=0.05, help="mixed visits that contend (default 0.05)")
    parser.add_argument("--api-share", type=float, default=0.1, help="mixed visits through the API (default 0.1)")
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean seconds a mixed-phase user waits between requests (default 0: back to back, the server's limit)",
    )
    parser.add_argument("--phases", default=",".join(PHASES), help=f"which phases to run (default {','.join(PHASES)})")
    parser.add_argument("--database-url", help="a PostgreSQL database to create, use and drop (default: SQLite)")
    parser.add_argument("--redis-url", help="the cache (default: each worker's local memory)")
    parser.add_argument("--reuse", metavar="DIR", help="keep the board in DIR and reuse it next time (seeds once)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the read-only and edit phases (default 1)")
    parser.add_argument("--tmp", help="where the temporary board goes (default: the system's temporary folder)")
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    editor_counts = [int(n) for n in args.editors.split(",") if n]
    if not shutil.which("wrk") and phases & {"bare", "page", "list"}:
        sys.exit("wrk is needed for the bare view and the read-only pages: apt-get install -y wrk")

    with board_ready(args) as board:
        editable = max(editor_counts, default=0) + 2
        prepared = board_task(
            board, "prepare", {"users": max(args.users, args.contenders, *editor_counts), "editable": editable}
        )
        sessions, own = prepared["sessions"], prepared["editable"]
        hot, save_message = own[-1], own[-2]
        bounds = {"low": prepared["low"], "high": prepared["high"], "page_size": PAGE_SIZE}
        bounds["pages"] = max(1, (bounds["high"] - bounds["low"] + 1) // PAGE_SIZE - 1)
        database = "PostgreSQL" if prepared["vendor"] == "postgresql" else "SQLite"
        load = " ".join(f"{value:.2f}" for value in os.getloadavg())
        print(
            f"# Messageboard under load: {prepared['messages']:,} messages ({database} + local disk, "
            f"cache: {'Redis' if args.redis_url else 'local memory'}), gunicorn {args.workers} sync workers, "
            f"{len(os.sched_getaffinity(0))} cores, load average before: {load}",
            flush=True,
        )
        since = time.time()
        tally_all = Tally()
        folder = board.folder

        if "save" in phases:
            print("\n## A save through the service layer vs a raw durable write + sqlite3 transaction (same run)")
            saved = board_task(
                board,
                "save",
                {
                    "username": prepared["usernames"][0],
                    "message_id": save_message,
                    "folder": str(board.folder),
                    "seconds": max(2.0, args.seconds),
                    "rounds": 2,
                },
            )
            tally_all.acks.extend(saved["acks"])
            tally_all.touched.add(save_message)
            ratio = saved["service_per_second"] / saved["raw_per_second"]
            raw_label = "raw: file (temp, fsync, rename, dir fsync) + sqlite3 UPDATE + INSERT"
            service_label = f"editing.message_edit_save on {database} (lease checked, revision, cache)"
            print(f"{raw_label:78} {saved['raw_per_second']:7,.0f}/s")
            print(f"{service_label:78} {saved['service_per_second']:7,.0f}/s")
            print(f"ratio service / raw: {ratio:.2f}x (aim ≥ 0.5x)", flush=True)

        with gunicorn(board, args.workers) as server:
            port = server.port
            bare = None
            medians: dict[str, list[float]] = defaultdict(list)
            # Each worker's first requests compile templates and fill its caches (at 1,000
            # messages, each of the workers has met most of them after these seconds): not what
            # a board that has been up for a while does, so not measured.
            warm = [kind for kind in ("bare", "page", "list") if kind in phases]
            for kind in warm:
                run_wrk(f"warm-up {kind}", kind, server, WARM_UP_SECONDS, args.connections, bounds, folder)
            if warm:
                print(f"\n(warmed up: {WARM_UP_SECONDS:g} s of each read-only phase, not counted)", flush=True)
            for round_number in range(1, args.rounds + 1):
                suffix = f" (round {round_number})" if args.rounds > 1 else ""
                if phases & {"bare", "page", "list"}:
                    print_header(f"Read-only pages (wrk, anonymous readers){suffix}")
                # The read-only phases in alternating one-second slices, so that each page and the
                # bare view it is divided by meet the same moments of a shared machine.
                kinds = [("bare Django view", "bare")] if "bare" in phases else []
                kinds += [("message page", "page")] if "page" in phases else []
                if "list" in phases:
                    kinds += [("list page", "list"), ("list page at any ?before= (uncached)", "list-anywhere")]
                results = run_wrk_interleaved(kinds, server, args.seconds, args.connections, bounds, folder)
                if "bare" in results:
                    bare = results["bare"].rate()
                    medians["bare Django view, req/s"].append(bare)
                    print_row(results["bare"], bare)
                if "page" in results:
                    result = results["page"]
                    peer = f"{PEER_PAGE_VIEWS} views/s → {result.rate() / PEER_PAGE_VIEWS:.2f}x"
                    medians["message page, req/s"].append(result.rate())
                    if bare:
                        medians["message page / bare view"].append(result.rate() / bare)
                    print_row(result, bare, peer)
                if "list" in results:
                    medians["list page, req/s"].append(results["list"].rate())
                    if bare:
                        medians["list page / bare view"].append(results["list"].rate() / bare)
                        medians["list at any ?before= / bare view"].append(results["list-anywhere"].rate() / bare)
                    print_row(results["list"], bare)
                    print_row(results["list-anywhere"], bare)

                if "edit" in phases:
                    print_header(f"Edit cycle: open the editor (takes the lease) + save, one message each{suffix}")
                    for count in editor_counts:
                        cpu_before = server.cpu_seconds()
                        tally, elapsed = edit_phase(port, sessions[:count], own[:count], args.seconds)
                        tally.server_cpu = server.cpu_seconds() - cpu_before
                        tally_all.merge(tally)
                        label = f"edit cycles, {count} editor{'s' if count > 1 else ''}"
                        medians[f"{label}, cycles/s"].append(tally.cycles / elapsed)
                        print_cycles(label, tally, elapsed, bare, PEER_EDIT_CYCLES.get(count))
            if args.rounds > 1:
                print(f"\n## Medians of {args.rounds} rounds")
                for name, values in medians.items():
                    peer = ""
                    if name == "message page, req/s":
                        peer = f"  (DokuWiki {PEER_PAGE_VIEWS})"
                    for count, cycles in PEER_EDIT_CYCLES.items():
                        if name == f"edit cycles, {count} editor{'s' if count > 1 else ''}, cycles/s":
                            peer = f"  (DokuWiki {cycles})"
                    shown = ", ".join(f"{value:,.2f}" if value < 10 else f"{value:,.0f}" for value in values)
                    print(f"{name:34} {statistics.median(values):10,.2f}   [{shown}]{peer}")

            if "contended" in phases:
                print_header(f"Contended: {args.contenders} editors fighting over one message")
                cpu_before = server.cpu_seconds()
                tally, elapsed = contended_phase(port, sessions[: args.contenders], hot, args.seconds)
                tally.server_cpu = server.cpu_seconds() - cpu_before
                tally_all.merge(tally)
                print_cycles("saves on the hot message", tally, elapsed, bare)

            if "mixed" in phases:
                pace = f"{args.think:g} s between requests on average" if args.think else "no pause between requests"
                print_header(
                    f"Mixed: {args.users} signed-in users ({pace}): list → 1-3 messages → {args.edit_share:.0%} "
                    f"edit (open, heartbeat, save, read), {args.hot_share:.0%} contend for the hot message; "
                    f"{args.api_share:.0%} of visits read through the API instead"
                )
                shares = {"edit": args.edit_share, "hot": args.hot_share, "api": args.api_share}
                # Not measured, as for the read-only phases: each worker's first look-ups of 200
                # sessions and its first renders. Its saves are checked with the rest.
                warm_up, _ = mixed_phase(port, sessions[: args.users], bounds, hot, WARM_UP_SECONDS, shares, args.think)
                tally_all.merge(warm_up)
                cpu_before = server.cpu_seconds()
                tally, elapsed = mixed_phase(
                    port, sessions[: args.users], bounds, hot, args.seconds, shares, args.think
                )
                server_cpu = server.cpu_seconds() - cpu_before
                tally_all.merge(tally)
                total = Result(
                    "all requests",
                    requests=sum(len(values) for values in tally.latencies.values()),
                    seconds=elapsed,
                    latencies=[value for values in tally.latencies.values() for value in values],
                    errors=sum(tally.errors.values()),
                    refused=sum(tally.refused.values()),
                    server_cpu=server_cpu,
                )
                print_row(total, bare)
                for result in results_of(tally, elapsed, "  "):
                    print_row(result, bare)
                print(f"{'  saves (edit cycles completed)':34} {tally.cycles / elapsed:8,.1f}")
                print_client(tally, elapsed)

        if tally_all.samples:
            print("\nfirst errors:", *tally_all.samples, sep="\n  ")
        print("\n## Invariants (from the database and the body storage)")
        checked = board_task(
            board,
            "check",
            {
                "touched": sorted(tally_all.touched | {m for m, _, _ in tally_all.acks}),
                "acks": tally_all.acks,
                "refused": tally_all.refused_saves,
                "since": since,
            },
        )
        print_invariants(checked, tally_all)


def print_invariants(checked: dict, tally: Tally) -> None:
    leases = checked["leases"]
    lines = [
        (
            "no two overlapping leases",
            leases["overlaps"] + leases["late_renewals"],
            f"{leases['grants']:,} grants replayed",
        ),
        ("versions 1..N without gaps (all messages)", len(checked["version_gaps"]), ""),
        ("each message at its current revision", len(checked["not_at_current_revision"]), ""),
        (
            "one file per version, sha256 matching",
            len(checked["missing_files"]) + len(checked["checksum_mismatches"]),
            f"{checked['revisions_checked']:,} revisions of {checked['touched']:,} touched messages",
        ),
        ("no orphan files", len(checked["orphan_files"]), ""),
        (
            "every acknowledged save in history",
            len(checked["acknowledged_missing"]),
            f"{checked['acknowledged']:,} saves",
        ),
        ("refused saves changed nothing", len(checked["refused_but_stored"]), f"{checked['refused']:,} refused"),
    ]
    violations = 0
    for name, count, note in lines:
        violations += count
        print(f"{'OK ' if count == 0 else 'BAD'} {name:44} {count:6} violations  {note}")
    if checked["accepted_unacknowledged"]:
        print(f"note: {checked['accepted_unacknowledged']} saves were stored but their answer never reached the client")
    errors = sum(tally.errors.values())
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\nerrors: {errors}, invariant violations: {violations}, load average after: {load}")
    if violations:
        print(json.dumps({key: value for key, value in checked.items() if value}, indent=1, default=str))
        sys.exit(1)


if __name__ == "__main__":
    main()
