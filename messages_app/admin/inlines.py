"""What a message's admin page lists beneath it: its versions and its lease events, read-only.

Both are histories that only grow, written by the services; the admin shows the newest
rows of each and links to the pages that list them all.
"""

from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils.html import format_html

from messages_app.models import LeaseEvent, Revision

from .access import ModeratorsOnly

INLINE_ROWS = 50


class NewestFirstFormSet(BaseInlineFormSet):
    """An inline's newest rows only: a message can have thousands of versions."""

    def get_queryset(self):
        if not hasattr(self, "_newest"):
            self._newest = super().get_queryset().order_by("-pk")[:INLINE_ROWS]
        return self._newest


class ReadOnlyInline(ModeratorsOnly, admin.TabularInline):
    formset = NewestFirstFormSet
    extra = 0
    max_num = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class RevisionInline(ReadOnlyInline):
    model = Revision
    verbose_name = "version"
    verbose_name_plural = f"versions (the newest {INLINE_ROWS}; the history page lists every one)"
    # Never the body: the inline lists versions; each one's text is a link away (its page).
    fields = ("version", "subject", "author_name", "created_at", "size", "sha256", "page")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author")

    @admin.display(description="author")
    def author_name(self, revision: Revision) -> str:
        return revision.author.get_username()

    @admin.display(description="text")
    def page(self, revision: Revision) -> str:
        url = reverse("messages_app:revision-detail", args=[revision.message_id, revision.version])
        return format_html('<a href="{}">read version {}</a>', url, revision.version)


class LeaseEventNames:
    """The names of a lease event's people, as the event log and a message's inline show them."""

    @admin.display(description="user")
    def user_name(self, event: LeaseEvent) -> str:
        return event.user.get_username()

    @admin.display(description="by")
    def by_name(self, event: LeaseEvent) -> str:
        return event.by.get_username() if event.by_id else ""


class LeaseEventInline(LeaseEventNames, ReadOnlyInline):
    model = LeaseEvent
    verbose_name_plural = f"lease events (the newest {INLINE_ROWS})"
    fields = ("at", "event", "user_name", "by_name")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "by")
