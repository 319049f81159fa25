"""The lease event log in the admin: who held which message's lease, and when.

Only the lease code writes these rows, so the admin lists and searches them and changes
nothing; a message's own page links here for its whole history.
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from messages_app import permissions
from messages_app.models import LeaseEvent

from .inlines import LeaseEventNames
from .pagination import UncountedAdmin


@admin.register(LeaseEvent)
class LeaseEventAdmin(LeaseEventNames, UncountedAdmin):
    """Who held which message's lease, and when: read-only."""

    list_display = ("at", "event", "message_link", "user_name", "by_name")
    list_select_related = ("message", "user", "by")
    list_filter = ("event", ("at", admin.DateFieldListFilter))
    search_fields = ("user__username", "message__id__exact")
    search_help_text = "A username (any part), or a message's id."
    ordering = ("-id",)
    sortable_by = ()
    fields = ("at", "event", "message_link", "user_name", "by_name")
    readonly_fields = fields

    def get_queryset(self, request):
        # A board's moderators see the events of that board's messages only.
        queryset = super().get_queryset(request)
        moderated = permissions.moderated_boards(request.user)
        return queryset if moderated is None else queryset.filter(message__board_id__in=moderated)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="message")
    def message_link(self, event: LeaseEvent) -> str:
        url = reverse("admin:messages_app_message_change", args=[event.message_id])
        return format_html('<a href="{}">#{} {}</a>', url, event.message_id, event.message.subject)
