from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from messages_app.api import api_urls, unknown_route

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="messages_app:message-list", permanent=False)),
    path("messages/", include("messages_app.urls")),
    path("accounts/", include("messages_app.account_urls")),
    path("admin/", admin.site.urls),
    path("api/", api_urls()),
    path("api", unknown_route),
]

handler404 = "messages_app.views.page_not_found"
