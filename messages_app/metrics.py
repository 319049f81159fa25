"""The board's Prometheus metrics, and the request and database ones around them.

Counted with prometheus-client. Under gunicorn every worker is a process of its own, so the
client's multiprocess mode keeps each worker's values in files of PROMETHEUS_MULTIPROC_DIR
(gunicorn.conf.py makes it, empties it when the server starts and marks dead workers), and
/metrics adds them up. django-prometheus, which the issue named, does not install with Django
6.1 (it requires Django < 6.1): requests and database statements are counted here, through
Django's documented hooks (a middleware, ``connection.execute_wrapper``).
"""

import ipaddress
import os
import secrets
import time
from collections.abc import Callable

from django.conf import settings
from django.db.backends.signals import connection_created
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.core import GaugeMetricFamily

# Latency buckets in seconds: a page is a few milliseconds, a save tens, a stuck request seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

REQUESTS = Counter("messageboard_requests_total", "Requests answered, by method and status.", ["method", "status"])
REQUEST_SECONDS = Histogram(
    "messageboard_request_seconds", "Time to answer a request, by method.", ["method"], buckets=BUCKETS
)
QUERIES = Counter("messageboard_db_queries_total", "Database statements run, by database vendor.", ["vendor"])
QUERY_ERRORS = Counter("messageboard_db_errors_total", "Database statements that raised, by vendor.", ["vendor"])
QUERY_SECONDS = Histogram(
    "messageboard_db_query_seconds", "Time a database statement took, by vendor.", ["vendor"], buckets=BUCKETS
)
LEASES = Counter(
    "messageboard_leases_total",
    "Editing lease transitions: granted, refused (423), lost (409), released, broken, expired.",
    ["outcome"],
)
SAVES = Counter(
    "messageboard_saves_total", "Saves of an edit or a revert, by outcome (ok or the refusal).", ["outcome"]
)
SAVE_SECONDS = Histogram(
    "messageboard_save_seconds",
    "Time of a published save's parts: writing the body file, and the transaction that publishes it.",
    ["part"],
    buckets=BUCKETS,
)
CACHE_GETS = Counter(
    "messageboard_cache_gets_total",
    "Keys looked up in Django's cache, by backend and result (hit, miss).",
    ["backend", "result"],
)
CACHE_ERRORS = Counter("messageboard_cache_errors_total", "Django cache calls that failed, by backend.", ["backend"])
BODY_CACHE = Counter("messageboard_body_cache_total", "Body text look-ups in the cache, by result.", ["result"])
STORAGE_ERRORS = Counter("messageboard_storage_errors_total", "Body storage calls that failed, by operation.", ["op"])
RATE_LIMITED = Counter("messageboard_rate_limited_total", "Requests refused by a rate limit, by limit.", ["limit"])
DRAFTS = Counter("messageboard_drafts_saved_total", "Drafts kept (editor heartbeats with new text, PUT …/draft).")
SEARCHES = Counter("messageboard_searches_total", "Searches asked, by outcome.", ["outcome"])

# What each lease use case's outcome counts as (events.logged reports the outcome).
LEASE_OUTCOMES = {
    ("lease.acquire", "ok"): "granted",
    ("lease.acquire", "LeaseHeld"): "refused",
    ("lease.renew", "LeaseLost"): "lost",
    ("lease.release", "ok"): "released",
    ("lease.release", "LeaseLost"): "lost",
    ("lease.break", "ok"): "broken",
    ("save", "LeaseLost"): "lost",
    ("save", "LeaseHeld"): "refused",
}


def use_case_done(event: str, outcome: str) -> None:
    """Count a use case's outcome (events.logged calls this for each one)."""
    lease_outcome = LEASE_OUTCOMES.get((event, outcome))
    if lease_outcome is not None:
        LEASES.labels(lease_outcome).inc()
    if event in {"save", "revert"}:
        SAVES.labels(outcome).inc()


class _StatementTimer:
    """Count and time one connection's statements (an execute wrapper, installed per connection)."""

    def __init__(self, vendor: str) -> None:
        # Bound once: labels() looks a child up under a lock, on every statement of every page.
        self.count = QUERIES.labels(vendor)
        self.seconds = QUERY_SECONDS.labels(vendor)
        self.errors = QUERY_ERRORS.labels(vendor)

    def __call__(self, execute: Callable, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        except Exception:
            self.errors.inc()
            raise
        finally:
            self.count.inc()
            self.seconds.observe(time.perf_counter() - started)


def _count_statements(sender, connection, **kwargs) -> None:
    if not any(isinstance(wrapper, _StatementTimer) for wrapper in connection.execute_wrappers):
        connection.execute_wrappers.append(_StatementTimer(connection.vendor))


connection_created.connect(_count_statements, dispatch_uid="messageboard-metrics-statements")


class RequestMetricsMiddleware:
    """Count each request by method and status, and time it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.children: dict[tuple[str, int], tuple] = {}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in KNOWN_METHODS else "other"
        key = (method, response.status_code)
        counted = self.children.get(key)
        if counted is None:
            # Bound once per method and status: labels() takes a lock on every call.
            counted = self.children[key] = (REQUESTS.labels(method, str(key[1])), REQUEST_SECONDS.labels(method))
        counted[0].inc()
        counted[1].observe(time.perf_counter() - started)
        return response


# A label per method a client invents would grow the metrics without bound.
KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class LeaseGauges:
    """Leases held now and editors waiting in line, read from the database when scraped.

    Two indexed counts of small tables (one row per message being edited, per person waiting),
    asked once per scrape, not kept by each worker (which would each know only its own part).
    """

    def collect(self):
        from django.db.models.functions import Now

        from messages_app.models import EditLease, LeaseWaiter

        held = GaugeMetricFamily("messageboard_leases_held", "Valid editing leases held now.")
        held.add_metric([], EditLease.objects.filter(expires_at__gt=Now()).count())
        yield held
        waiting = GaugeMetricFamily("messageboard_lease_queue_length", "People waiting in line for a lease now.")
        waiting.add_metric([], LeaseWaiter.objects.count())
        yield waiting


def exposition() -> tuple[bytes, str]:
    """Return the metrics in Prometheus' text format: every worker's, summed, under gunicorn."""
    gauges = CollectorRegistry()
    gauges.register(LeaseGauges())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY as registry
    return generate_latest(registry) + generate_latest(gauges), CONTENT_TYPE_LATEST


def may_scrape(request: HttpRequest, address: str) -> bool:
    """Whether a caller may read /metrics: its address is allowed, or it sends the bearer token."""
    token = settings.MESSAGEBOARD_METRICS_TOKEN
    sent = request.headers.get("Authorization", "")
    if token and sent.startswith("Bearer ") and secrets.compare_digest(sent[7:].encode(), token.encode()):
        return True
    try:
        caller = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(caller in network for network in _allowed_networks(settings.MESSAGEBOARD_METRICS_ALLOW))


def _allowed_networks(allow: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(entry, strict=False) for entry in allow]
