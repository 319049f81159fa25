from django.contrib import admin
from django.urls import include, path

from messages_app import health_views, search_views, views
from messages_app.admin.dashboard import dashboard_view
from messages_app.api import api_urls, unknown_route

urlpatterns = [
    path("", views.board_index, name="board-index"),
    path("messages/", include("messages_app.urls")),
    path("b/<slug:slug>/", views.board_messages, name="board-messages"),
    path("search/", search_views.search_page, name="search"),
    path("healthz", health_views.healthz, name="healthz"),
    path("readyz", health_views.readyz, name="readyz"),
    path("metrics", health_views.metrics, name="metrics"),
    path("accounts/", include("messages_app.account_urls")),
    path("admin/dashboard/", admin.site.admin_view(dashboard_view), name="admin-dashboard"),
    path("admin/", admin.site.urls),
    path("api/", api_urls()),
    path("api", unknown_route),
]

handler404 = "messages_app.views.page_not_found"
handler500 = "messages_app.views.server_error"
