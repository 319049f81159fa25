"""The message in the admin: find one among millions, read it, and act on it through the services.

Nothing here writes a message itself. The actions and the one editable field (protected)
call the same services as the pages and the API, so every rule (the lease, "deleted before
forbidden", who may do what) holds in the admin too; each change is recorded in Django's
LogEntry, and a broken lease also as a LeaseEvent.
"""

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal

from messages_app import boards, editing, permissions, selectors, services
from messages_app.errors import DomainError, LeaseHeld, MessageGone
from messages_app.models import Message

from .filters import DeletedFilter, LeasedNowFilter
from .inlines import LeaseEventInline, RevisionInline
from .pagination import UncountedAdmin


@admin.register(Message)
class MessageAdmin(UncountedAdmin):
    list_display = (
        "id",
        "subject",
        "board",
        "author",
        "version",
        "updated_at",
        "lease_holder",
        "lease_expires",
        "is_deleted",
        "protected",
    )
    list_display_links = ("id", "subject")
    list_select_related = ("author", "board")
    list_filter = (DeletedFilter, "protected", LeasedNowFilter, "board")
    # What the search box matches; get_search_results does it without joining the users table.
    search_fields = ("subject", "author__username", "id__exact")
    search_help_text = "Any part of the subject or of the author's username, or a message's id."
    ordering = ("-id",)
    # Sorting by any other column would sort every row: only the id has an index to walk.
    sortable_by = ("id",)
    actions = ("break_lease", "protect", "unprotect", "soft_delete", "restore")
    inlines = (RevisionInline, LeaseEventInline)
    fieldsets = (
        (None, {"fields": ("id", "board", "subject", "author_name", "created_at", "protected")}),
        ("Current version", {"fields": ("version", "updated_at", "updated_by_name", "current_body")}),
        ("Stored as (owned by the save protocol)", {"fields": ("body_key", "size", "sha256")}),
        ("Editing lease", {"fields": ("lease_holder", "lease_expires", "lease_history")}),
        ("Deleted", {"fields": ("deleted_at", "deleted_by_name")}),
    )
    # Everything but "protected", which is saved through the services. The body's key,
    # version and sha256 only ever change by publishing a version.
    readonly_fields = (
        "id",
        "subject",
        "author_name",
        "created_at",
        "version",
        "updated_at",
        "updated_by_name",
        "current_body",
        "body_key",
        "size",
        "sha256",
        "lease_holder",
        "lease_expires",
        "lease_history",
        "deleted_at",
        "deleted_by_name",
    )

    class Media:
        css = {"all": ["css/admin.css"]}

    def get_queryset(self, request):
        # A board's moderators see that board's messages only; site moderators every board's.
        queryset = selectors.message_moderation_queryset()
        moderated = permissions.moderated_boards(request.user)
        return queryset if moderated is None else queryset.filter(board_id__in=moderated)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "board":
            # Moving a message is moving it between boards the moderator moderates.
            moderated = permissions.moderated_boards(request.user)
            if moderated is not None:
                kwargs["queryset"] = db_field.remote_field.model.objects.filter(pk__in=moderated)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_search_results(self, request, queryset, search_term):
        terms = []
        for term in smart_split(search_term):
            if term.startswith(('"', "'")) and term[0] == term[-1]:
                term = unescape_string_literal(term)
            terms.append(term)
        return selectors.message_moderation_search(queryset, terms), False

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.deleted_at is not None:
            # A deleted message cannot be protected or moved (the service says "gone"): restore it first.
            return (*self.readonly_fields, "protected", "board")
        return self.readonly_fields

    def has_add_permission(self, request) -> bool:
        # Posting is a page or an API call: a message needs its first version and file.
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        if obj is not None:
            return permissions.moderates(request.user, obj.board_id)
        return permissions.may_enter_admin(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None:
            return permissions.moderates(request.user, obj.board_id)
        return permissions.may_enter_admin(request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Deleting is soft (the soft_delete action); removing rows and files is purge_deleted.
        return False

    def has_moderate_permission(self, request) -> bool:
        return permissions.may_enter_admin(request.user)

    def save_model(self, request, obj, form, change) -> None:
        # Never obj.save(): it would write back every column as read, over a version
        # published meanwhile. Only the board and the protected flag change here, through services.
        if "board" in form.changed_data:
            try:
                boards.message_move(message_id=obj.pk, board_slug=obj.board.slug, user=request.user)
            except DomainError as error:
                self.message_user(request, f"Not moved: {error.detail}", messages.ERROR)
        if "protected" not in form.changed_data:
            return
        protect = services.message_protect if obj.protected else services.message_unprotect
        try:
            protect(message_id=obj.pk, user=request.user)
        except DomainError as error:
            self.message_user(request, f"Not saved: {error.detail}", messages.ERROR)

    def save_related(self, request, form, formsets, change) -> None:
        # The inlines are read-only: nothing of theirs is saved, and the change message
        # (which reads these lists) says so.
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    # Columns and read-only fields

    @admin.display(description="lease holder")
    def lease_holder(self, message: Message) -> str:
        return message.lease_holder or ""

    @admin.display(description="lease expires")
    def lease_expires(self, message: Message):
        return message.lease_expires_at

    @admin.display(description="deleted", boolean=True)
    def is_deleted(self, message: Message) -> bool:
        return message.deleted_at is not None

    # Names, not the admin's links to user pages a moderator may not open.

    @admin.display(description="author")
    def author_name(self, message: Message) -> str:
        return message.author.get_username()

    @admin.display(description="updated by")
    def updated_by_name(self, message: Message) -> str:
        return message.updated_by.get_username()

    @admin.display(description="deleted by")
    def deleted_by_name(self, message: Message) -> str:
        return message.deleted_by.get_username() if message.deleted_by_id else ""

    @admin.display(description="text")
    def current_body(self, message: Message) -> str:
        try:
            text = selectors.message_body(message)
        except (OSError, UnicodeDecodeError) as error:
            return format_html('<p class="errornote">The body could not be read: {}</p>', error)
        # format_html escapes the text: a body is shown, never interpreted.
        return format_html('<pre class="message-body">{}</pre>', text)

    @admin.display(description="history")
    def lease_history(self, message: Message) -> str:
        events = reverse("admin:messages_app_leaseevent_changelist") + f"?message={message.pk}"
        page = reverse("messages_app:message-history", args=[message.pk])
        return format_html('<a href="{}">Every lease event</a> · <a href="{}">every version</a>', events, page)

    # Actions: each calls a service per message and reports what it skipped.

    @admin.action(description="Break the editing lease", permissions=["moderate"])
    def break_lease(self, request, queryset) -> None:
        broken, free, gone = [], [], []
        for message in queryset:
            try:
                if editing.message_lease_break(message_id=message.pk, user=request.user):
                    broken.append(message)
                else:
                    free.append(message)
            except MessageGone:
                gone.append(message)
        self._log(request, broken, "Broke the editing lease.")
        self._report(
            request,
            done=(broken, "Broke the lease of {}."),
            skipped=[(free, "Nobody was editing {}."), (gone, "{} deleted: a deleted message has no lease.")],
        )

    @admin.action(description="Protect (only moderators can edit)", permissions=["moderate"])
    def protect(self, request, queryset) -> None:
        self._set_protected(request, queryset, services.message_protect, "Protected", "already protected")

    @admin.action(description="Unprotect (everyone can edit)", permissions=["moderate"])
    def unprotect(self, request, queryset) -> None:
        self._set_protected(request, queryset, services.message_unprotect, "Unprotected", "not protected")

    @admin.action(description="Delete (soft: can be restored)", permissions=["moderate"])
    def soft_delete(self, request, queryset) -> None:
        deleted, gone, refused = [], [], []
        for message in queryset:
            try:
                services.message_delete(message_id=message.pk, user=request.user)
            except MessageGone:
                gone.append(message)
            except LeaseHeld as held:
                refused.append((message, held))
            else:
                deleted.append(message)
        self._log(request, deleted, "Soft-deleted.")
        self._report(request, done=(deleted, "Deleted {}."), skipped=[(gone, "{} already deleted.")])
        for message, held in refused:
            self.message_user(
                request,
                f"Not deleted: {_name(message)}: {held.detail} Break the lease first to delete it anyway.",
                messages.WARNING,
            )

    @admin.action(description="Restore (undo a delete)", permissions=["moderate"])
    def restore(self, request, queryset) -> None:
        restored, visible = [], []
        for message in queryset:
            if services.message_restore(message_id=message.pk, user=request.user):
                restored.append(message)
            else:
                visible.append(message)
        self._log(request, restored, "Restored.")
        self._report(request, done=(restored, "Restored {}."), skipped=[(visible, "{} not deleted.")])

    def _set_protected(self, request, queryset, service, verb: str, already: str) -> None:
        changed, unchanged, gone = [], [], []
        for message in queryset:
            try:
                (changed if service(message_id=message.pk, user=request.user) else unchanged).append(message)
            except MessageGone:
                gone.append(message)
        self._log(request, changed, f"{verb}.")
        self._report(
            request,
            done=(changed, verb + " {}."),
            skipped=[(unchanged, "{} " + already + "."), (gone, "{} deleted: restore it first.")],
        )

    def _log(self, request, changed: list[Message], change_message: str) -> None:
        if changed:
            LogEntry.objects.log_actions(
                user_id=request.user.pk, queryset=changed, action_flag=CHANGE, change_message=change_message
            )

    def _report(self, request, *, done, skipped) -> None:
        changed, sentence = done
        if changed:
            self.message_user(request, sentence.format(_names(changed)), messages.SUCCESS)
        for messages_skipped, reason in skipped:
            if messages_skipped:
                self.message_user(request, "Skipped: " + reason.format(_names(messages_skipped)), messages.WARNING)


def _name(message: Message) -> str:
    return f"#{message.pk} “{message.subject}”"


def _names(found: list[Message], *, most: int = 10) -> str:
    named = ", ".join(_name(message) for message in found[:most])
    return named + (f" and {len(found) - most} more" if len(found) > most else "")
