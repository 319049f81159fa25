"""Boards in the admin: site moderators make them and say who may read, post, edit and moderate each.

Grants are saved as rows; boards.grants_changed then moves the access generation every
process reads, and ends the leases of people who may no longer edit.
"""

from django.contrib import admin

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
        # A board with messages cannot go (they are protected by the foreign key); an empty one may.
        return permissions.may_manage_boards(request.user) and (obj is None or obj.message_count == 0)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        boards.grants_changed(board_id=form.instance.pk)

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        boards.grants_changed()
