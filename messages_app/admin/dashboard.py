"""The moderators' dashboard: leases held now, the week's edits per hour, busiest messages, lease breaks,
storage used."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from messages_app import dashboard, permissions


def dashboard_view(request: HttpRequest) -> HttpResponse:
    if not permissions.may_enter_admin(request.user):
        raise PermissionDenied
    stats = dashboard.board_stats()
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "stats": stats,
        "chart": dashboard.chart_svg_points(stats.edits_per_hour),
        "storage_used": dashboard.storage_text(stats.storage),
    }
    return TemplateResponse(request, "admin/messages_app/dashboard.html", context)
