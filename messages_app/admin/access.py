"""Who may enter the moderation admin: one rule (permissions.may_enter_admin) for every page in it.

Model permissions are not how moderators are made here, so the admin classes and inlines
mix this in rather than each restating the check.
"""

from messages_app import permissions


class ModeratorsOnly:
    """Admin access for moderators (permissions.may_enter_admin), whatever model permissions say."""

    def has_module_permission(self, request) -> bool:
        return permissions.may_enter_admin(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return permissions.may_enter_admin(request.user)
