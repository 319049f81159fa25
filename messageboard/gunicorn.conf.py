"""gunicorn settings for `make serve` and benchmarks/load.py: the one way the board is served.

    gunicorn -c messageboard/gunicorn.conf.py messageboard.wsgi

Sync workers: a request's work is database statements and fsyncs, not waiting on clients,
because the reverse proxy in front (nginx) buffers slow clients. Every worker is its own
process with its own database connection; they share nothing but the database, the body
storage and the cache, so more workers, or more machines, need no other coordination.
"""

import os
import shutil
import tempfile

HOST = os.environ.get("HOST", "127.0.0.1")
PORT = os.environ.get("PORT", "8000")


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


bind = f"[{HOST}]:{PORT}" if ":" in HOST else f"{HOST}:{PORT}"
worker_class = "sync"
# gunicorn's own convention: WEB_CONCURRENCY names the number of workers.
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * _cores() + 1)
# A request that takes this long is stuck (a lost database or object store): restart the worker.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
# gunicorn takes X-Forwarded-Proto: https from FORWARDED_ALLOW_IPS as an HTTPS request; like
# Django (settings.py), only when the operator says a proxy that terminates TLS is in front.
if os.environ.get("MESSAGEBOARD_BEHIND_TLS_PROXY", "").lower() not in {"1", "true", "yes", "on"}:
    secure_scheme_headers = {}
# The proxy logs every request already; GUNICORN_ACCESS_LOG=- logs them here too.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# Each worker keeps its metrics in files here, which /metrics adds up (messages_app/metrics.py).
# Set before any worker imports prometheus_client; a folder of this server's own unless named.
_METRICS_DIR_MADE_HERE = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _METRICS_DIR_MADE_HERE:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="messageboard-metrics-")


def on_starting(server) -> None:
    # A previous server's files would add its workers' counts to this one's.
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.remove(os.path.join(directory, name))


def on_exit(server) -> None:
    if _METRICS_DIR_MADE_HERE:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def child_exit(server, worker) -> None:
    # A dead worker's gauges leave the sums; its counters stay counted.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
