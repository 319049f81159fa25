"""The board's URLs plus a bare view, the yardstick benchmarks/load.py measures every page against.

Only benchmarks/bench_settings.py mounts this module, so production URLs stay as they are.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from messageboard import urls as board_urls

BARE_PATH = "bench/bare/"


def bare(request: HttpRequest) -> HttpResponse:
    """Return a constant string: the cost of Django's request cycle and middleware alone."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path(BARE_PATH, bare), *board_urls.urlpatterns]
handler404 = board_urls.handler404
