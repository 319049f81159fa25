"""The diff page on hostile pairs of versions: CPU and memory per request, against difflib.

    .venv/bin/python benchmarks/diff.py [--rounds 5] [--difflib-timeout 60]

Builds a board in a temporary folder (SQLite + local disk, production settings, rate limits
off) holding one message per pair of texts from tests/diff_inputs.py, at 34 KB (the size of
the crafted case that took 14.7 s with difflib) and at the 256 KiB body limit, plus an
ordinary edit (one line changed in 34 KB) as the everyday case. Then, in alternating rounds,
it requests each diff page through Django's test client: once with the rendered diff dropped
from the cache (cold: read both bodies, diff, render) and once cached (warm). It prints the
median CPU seconds and wall milliseconds per request, the process's peak resident memory
during the cold request, and whether the exact diff was shown. Baselines measured in the
same run: the message page of the same message, and difflib.SequenceMatcher (the old diff)
on the same lines, each in a process of its own stopped after --difflib-timeout seconds.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = (34_000, 262_144)

DIFFLIB_RUN = """
import sys, time, difflib
from tests.support.diff_inputs import CASES
old, new = CASES[sys.argv[1]](int(sys.argv[2]))
started = time.process_time()
list(difflib.SequenceMatcher(None, old.splitlines(), new.splitlines()).get_grouped_opcodes(3))
print(time.process_time() - started)
"""


def difflib_seconds(name: str, size: int, timeout: float) -> str:
    try:
        result = subprocess.run(
            [sys.executable, "-c", DIFFLIB_RUN, name, str(size)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return f"> {timeout:.0f}"
    return f"{float(result.stdout):.2f}"


def reset_peak_memory() -> None:
    # Writing 5 resets this process's VmHWM (Linux), so the next reading is this request's peak.
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def peak_memory_mib() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--difflib-timeout", type=float, default=60)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mb-diff-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="messageboard.settings",
        DATABASE_URL=f"sqlite:///{folder / 'db.sqlite3'}",
        MEDIA_ROOT=str(folder / "media"),
        SECRET_KEY="benchmark",
        ALLOWED_HOSTS="testserver",
        DEBUG="false",
        HTTPS="false",
        MESSAGEBOARD_RATE_LIMITS="off",
    )
    os.environ.pop("REDIS_URL", None)
    # WhiteNoise looks for collected static files, which pages served here never ask for.
    warnings.filterwarnings("ignore", message="No directory at")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from messages_app import editing, history_selectors, history_views, services
    from tests.support.diff_inputs import CASES

    call_command("migrate", verbosity=0)
    author = get_user_model().objects.create_user("benchmark", password="benchmark-password")
    cases = []
    for size in SIZES:
        for name, make in CASES.items():
            old, new = make(size)
            message = services.message_create(author=author, subject=f"{name} {size}", body=old)
            editing.message_edit_save(
                message_id=message.pk, user=author, base_version=1, lease_token=None, subject=None, body=new
            )
            diff = history_selectors.revision_diff(message_id=message.pk, old_version=1, new_version=2)
            exact = history_selectors.revision_changes(diff).exact
            cases.append((name, size, message.pk, diff.cache_key, exact))

    client = Client()
    for _name, _size, message_id, _cache_key, _exact in cases:  # warm-up: templates, connections
        client.get(f"/messages/{message_id}/diff/1/2/")
        client.get(f"/messages/{message_id}/")
    timings: dict[tuple[str, int], dict[str, list[float]]] = {}
    for _round in range(args.rounds):
        for name, size, message_id, cache_key, _exact in cases:
            kinds = timings.setdefault(
                (name, size), {"cold": [], "cold_ms": [], "warm_ms": [], "page_ms": [], "mib": []}
            )
            history_views.DIFF_CHANGES_HTML.delete(cache_key)
            reset_peak_memory()
            cpu, wall = time.process_time(), time.perf_counter()
            response = client.get(f"/messages/{message_id}/diff/1/2/")
            kinds["cold"].append(time.process_time() - cpu)
            kinds["cold_ms"].append((time.perf_counter() - wall) * 1000)
            kinds["mib"].append(peak_memory_mib())
            assert response.status_code == 200, response.status_code
            wall = time.perf_counter()
            assert client.get(f"/messages/{message_id}/diff/1/2/").status_code == 200
            kinds["warm_ms"].append((time.perf_counter() - wall) * 1000)
            wall = time.perf_counter()
            assert client.get(f"/messages/{message_id}/").status_code == 200
            kinds["page_ms"].append((time.perf_counter() - wall) * 1000)

    print(f"Diff page, median of {args.rounds} alternating rounds (SQLite + local disk, one process)")
    header = (
        f"{'pair of versions':<24}{'size':>8}{'exact':>7}{'cold CPU s':>12}{'cold ms':>9}"
        f"{'cached ms':>11}{'message page ms':>17}{'peak MiB':>10}{'difflib CPU s':>15}"
    )
    print(header)
    for name, size, _message_id, _cache_key, exact in cases:
        kinds = timings[(name, size)]
        print(
            f"{name:<24}{size:>8}{'yes' if exact else 'no':>7}"
            f"{statistics.median(kinds['cold']):>12.3f}{statistics.median(kinds['cold_ms']):>9.1f}"
            f"{statistics.median(kinds['warm_ms']):>11.2f}{statistics.median(kinds['page_ms']):>17.2f}"
            f"{max(kinds['mib']):>10.0f}{difflib_seconds(name, size, args.difflib_timeout):>15}"
        )
    spread = [max(kinds["cold"]) / min(kinds["cold"]) for kinds in timings.values()]
    print(f"noise: the slowest cold round was at most {max(spread):.2f}x the fastest of its row")


if __name__ == "__main__":
    main()
