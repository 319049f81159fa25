"""Packing old versions: disk and inodes before and after, packing throughput, reads from packs.

    .venv/bin/python benchmarks/packing.py [--messages 20000] [--revisions 10] [--rounds 3] [--samples 300]
    .venv/bin/python benchmarks/packing.py --messages 100000 --pack-only    # 1M versions: throughput, memory

It seeds a SQLite board of ``--messages`` messages with ``--revisions`` versions each (every
version an edit of the one before, seed_messages), copies it, and runs ``pack_revisions
--older-than 0s`` on the copy in a process of its own (its time, versions per second and peak
resident memory). It prints for both copies the disk the body storage takes (allocated blocks
of files and directories, what ``du`` counts), files, directories and files per message, and
runs ``verify_storage`` on the packed one (every packed version decoded and its sha256 checked).

Then, in alternating rounds (loose, packed, loose, …), each in a fresh process, it times
through Django's WSGI handler in-process:

- an old version read through the file handler with the file (or the pack) evicted from the
  page cache first (posix_fadvise DONTNEED), p50 and p95: the "cold" read;
- the history page of a random message and the diff page of two consecutive versions of
  another (bodies and the diff's cache cold: a pair no earlier request asked for).

It prints medians of the rounds' medians and the ratio packed / loose for each.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def environment(folder: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.bench_settings",
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "MEDIA_ROOT": str(folder / "media"),
        "DEBUG": "false",
        "SECRET_KEY": "benchmark-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1,testserver",
        "HTTPS": "false",
        "STATIC_ROOT": str(folder / "static"),
        "MESSAGEBOARD_RATE_LIMITS": "off",
        "PYTHONWARNINGS": "ignore",
        "REDIS_URL": "",
    }


def manage(folder: Path, *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], check=True, cwd=ROOT, env=environment(folder))


def disk(folder: Path) -> dict:
    """What the body storage takes: allocated bytes (files, directories, packs apart) and inodes."""
    figures = {"bytes": 0, "files": 0, "directories": 0, "directory_bytes": 0, "pack_bytes": 0}
    for path, _, names in os.walk(folder / "media"):
        figures["directories"] += 1
        figures["directory_bytes"] += os.lstat(path).st_blocks * 512
        for name in names:
            figures["files"] += 1
            allocated = os.lstat(os.path.join(path, name)).st_blocks * 512
            figures["bytes"] += allocated
            if name.endswith(".pack"):
                figures["pack_bytes"] += allocated
    figures["bytes"] += figures["directory_bytes"]
    return figures


PACK_SCRIPT = """
import json, resource, sys, time, django
django.setup()
from django.core.management import call_command
started = time.perf_counter()
call_command("pack_revisions", "--older-than", "0s", "--jobs", "4", verbosity=0)
elapsed = time.perf_counter() - started
from messages_app.models import Revision
print(json.dumps({"seconds": elapsed, "versions": Revision.objects.filter(pack__isnull=False).count(),
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def pack(folder: Path) -> dict:
    out = subprocess.run(
        [PYTHON, "-c", PACK_SCRIPT], check=True, cwd=ROOT, env=environment(folder), capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


MEASURE_SCRIPT = """
import json, os, random, statistics, sys, time, django
django.setup()
from django.test import Client
from messages_app import bodies, history_selectors
from messages_app.models import Message, Revision

samples, seed = int(sys.argv[1]), int(sys.argv[2])
media = os.environ["MEDIA_ROOT"]
chooser = random.Random(seed)
last_id = Message.objects.order_by("-id").values_list("id", flat=True).first()
versions = Message.objects.values_list("version", flat=True).first()


def evict(key):
    fd = os.open(os.path.join(media, key), os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


reads = []
for _ in range(samples):
    revision = history_selectors.revision_get(message_id=chooser.randint(1, last_id),
                                              version=chooser.randint(1, versions - 1))
    location = history_selectors.revision_location(revision)
    evict(location.pack_key or location.key)
    started = time.perf_counter()
    bodies.version_read_bytes(location)
    reads.append(time.perf_counter() - started)

client = Client()
history, diff = [], []
for _ in range(samples):
    message_id = chooser.randint(1, last_id)
    started = time.perf_counter()
    assert client.get(f"/messages/{message_id}/history/").status_code == 200
    history.append(time.perf_counter() - started)
    message_id, old = chooser.randint(1, last_id), chooser.randint(1, versions - 1)
    for version in (old, old + 1):
        bodies.body_uncache(Revision.objects.get(message_id=message_id, version=version).body_key)
    started = time.perf_counter()
    assert client.get(f"/messages/{message_id}/diff/{old}/{old + 1}/").status_code == 200
    diff.append(time.perf_counter() - started)

reads.sort()
print(json.dumps({
    "read_p50": statistics.median(reads), "read_p95": reads[int(len(reads) * 0.95)],
    "history": statistics.median(history), "diff": statistics.median(diff),
}))
"""


def measure(folder: Path, samples: int, seed: int) -> dict:
    out = subprocess.run(
        [PYTHON, "-c", MEASURE_SCRIPT, str(samples), str(seed)],
        check=True,
        cwd=ROOT,
        env=environment(folder),
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--revisions", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the temporary boards")
    parser.add_argument(
        "--pack-only", action="store_true", help="pack the board in place and stop: throughput and memory at scale"
    )
    options = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mb-packing-"))
    loose, packed = base / "loose", base / "packed"
    try:
        loose.mkdir()
        manage(loose, "migrate", "-v0")
        started = time.perf_counter()
        manage(loose, "seed_messages", "--count", str(options.messages), "--revisions", str(options.revisions), "-v0")
        print(f"seeded {options.messages} x {options.revisions} in {time.perf_counter() - started:.0f} s")
        if options.pack_only:
            packed = loose
            before = disk(loose)
        else:
            shutil.copytree(loose, packed, symlinks=True)
        subprocess.run(["sync"], check=True)
        packing = pack(packed)
        started = time.perf_counter()
        manage(packed, "verify_storage", "--orphan-grace", "0", "-v0")
        verify_seconds = time.perf_counter() - started
        report_disk(options.messages, before if options.pack_only else disk(loose), disk(packed))
        versions = packing["versions"]
        print(
            f"pack_revisions: {versions} versions in {packing['seconds']:.1f} s = "
            f"{versions / packing['seconds']:,.0f} versions/s; peak resident memory "
            f"{packing['peak_kib'] / 1024:.0f} MiB"
        )
        print(f"verify_storage (every packed version decoded, sha256 checked): {verify_seconds:.1f} s, no finding")
        if options.pack_only:
            return
        rounds: dict[str, list[dict]] = {"loose": [], "packed": []}
        for round_number in range(options.rounds):
            for name, folder in (("loose", loose), ("packed", packed)):
                rounds[name].append(measure(folder, options.samples, seed=round_number))
        report_reads(rounds, options.samples)
    finally:
        if options.keep:
            print(f"boards kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    print(f"benchmark peak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def report_disk(messages: int, before: dict, after: dict) -> None:
    print()
    print(
        f"{'body storage':<14}{'MB on disk':>12}{'of which dirs':>15}{'packs':>8}{'files':>10}{'dirs':>8}"
        f"{'files/message':>15}{'inodes':>10}"
    )
    for name, figures in (("loose", before), ("packed", after)):
        print(
            f"{name:<14}{figures['bytes'] / 1e6:>12.1f}{figures['directory_bytes'] / 1e6:>15.1f}"
            f"{figures['pack_bytes'] / 1e6:>8.1f}{figures['files']:>10}{figures['directories']:>8}"
            f"{figures['files'] / messages:>15.2f}{figures['files'] + figures['directories']:>10}"
        )
    print(f"packing made the body storage {before['bytes'] / after['bytes']:.1f}x smaller on disk")


def report_reads(rounds: dict[str, list[dict]], samples: int) -> None:
    def median(name: str, figure: str) -> float:
        return statistics.median(result[figure] for result in rounds[name])

    print()
    print(f"medians of {len(rounds['loose'])} alternating rounds of {samples} samples each, in ms")
    print(f"{'':<34}{'loose':>9}{'packed':>9}{'packed/loose':>14}")
    for label, figure in (
        ("old version read, cold, p50", "read_p50"),
        ("old version read, cold, p95", "read_p95"),
        ("history page", "history"),
        ("diff page (bodies not cached)", "diff"),
    ):
        loose, packed = median("loose", figure) * 1000, median("packed", figure) * 1000
        print(f"{label:<34}{loose:>9.2f}{packed:>9.2f}{packed / loose:>13.2f}x")
    print("per round (loose / packed, ms):")
    for figure in ("read_p95", "history", "diff"):
        paired = zip(rounds["loose"], rounds["packed"], strict=True)
        pairs = ", ".join(f"{a[figure] * 1000:.2f}/{b[figure] * 1000:.2f}" for a, b in paired)
        print(f"  {figure}: {pairs}")


if __name__ == "__main__":
    main()
