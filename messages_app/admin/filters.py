"""The message list's own filters: states that are not a plain column to filter on.

"Deleted" is a nullable timestamp, and "leased now" lives in the lease store rather than
in a column of the message, so neither can be a field name in list_filter.
"""

from django.contrib import admin

from messages_app import leases


class DeletedFilter(admin.SimpleListFilter):
    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("yes", "Deleted"), ("no", "Not deleted")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        return queryset


class LeasedNowFilter(admin.SimpleListFilter):
    title = "leased now"
    parameter_name = "leased"

    def lookups(self, request, model_admin):
        return [("yes", "Someone is editing"), ("no", "Nobody is editing")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(pk__in=leases.lease_held_message_ids())
        if self.value() == "no":
            return queryset.exclude(pk__in=leases.lease_held_message_ids())
        return queryset
