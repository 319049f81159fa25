"""/healthz, /readyz (load balancers, orchestrators) and /metrics (Prometheus): never cached or rate-limited."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from messages_app import health, ratelimits
from messages_app import metrics as board_metrics


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers: nothing else is asked, so a slow database never restarts a healthy process."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Database, body storage and cache reachable, each with its latency; 503 when any is not."""
    checks = health.readiness()
    ready = all(check.ok for check in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "fail", "checks": {name: check.as_dict() for name, check in checks.items()}},
        status=200 if ready else 503,
    )


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus' text format, for the addresses MESSAGEBOARD_METRICS_ALLOW names or the bearer of its token."""
    if not board_metrics.may_scrape(request, ratelimits.client_ip(request)):
        return HttpResponse("Only the board's metrics scrapers may read this.\n", status=403, content_type="text/plain")
    body, content_type = board_metrics.exposition()
    return HttpResponse(body, content_type=content_type)
