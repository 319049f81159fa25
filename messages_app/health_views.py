"""/healthz and /readyz for load balancers and orchestrators: JSON, never cached, never rate-limited."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from messages_app import health


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
