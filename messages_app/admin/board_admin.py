"""Boards in the admin: site moderators make them and say who may read, post, edit and moderate each.

Grants are saved as rows; boards.grants_changed then moves the access generation every
process reads, and ends the leases of people who may no longer edit.
"""

from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import ProtectedError

from messages_app import boards, permissions
from messages_app.models import Board, BoardGrant


class BoardGrantInline(admin.TabularInline):
    model = BoardGrant
    extra = 1
    fields = ("audience", "group", "level")
    autocomplete_fields = ()

    def has_view_permission(self, request, obj=None) -> bool:
        return permissions.may_manage_boards(request.user)

    def has_add_permission(self, request, obj=None) -> bool:
        return permissions.may_manage_boards(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return permissions.may_manage_boards(request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return permissions.may_manage_boards(request.user)


@admin.register(Board)
class BoardAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "message_count", "newest_message")
    list_select_related = ("newest_message",)
    search_fields = ("name", "slug")
    ordering = ("name",)
    fields = ("slug", "name", "description", "message_count", "newest_message")
    # Kept by the services that post, delete, restore and move messages: never typed in.
    readonly_fields = ("message_count", "newest_message")
    inlines = (BoardGrantInline,)

    def has_module_permission(self, request) -> bool:
        return permissions.may_manage_boards(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return permissions.may_manage_boards(request.user)

    def has_add_permission(self, request) -> bool:
        return permissions.may_manage_boards(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return permissions.may_manage_boards(request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        # A board with messages cannot go (the foreign key protects them), nor the default board
        # new messages go to; an empty one may.
        if obj is not None and (obj.message_count or obj.slug == settings.MESSAGEBOARD_DEFAULT_BOARD):
            return False
        return permissions.may_manage_boards(request.user)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        boards.grants_changed(board_id=form.instance.pk)

    def delete_model(self, request, obj) -> None:
        # A message posted since the page was shown keeps the board: the database refuses.
        try:
            with transaction.atomic():
                super().delete_model(request, obj)
        except ProtectedError:
            self.message_user(request, f"{obj} was not deleted: messages were posted to it.", messages.ERROR)
            return
        boards.grants_changed()
