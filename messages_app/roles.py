"""Moderator roles: who is in the moderators group, with the permissions it grants.

What a moderator may do is decided in permissions.py; this module only makes and unmakes them.
"""

from django.contrib.auth.models import Group, Permission

MODERATORS_GROUP = "moderators"
# What the moderators group may do; migration 0004 created the group with a frozen copy.
MODERATOR_PERMISSIONS = [
    "messages_app.moderate_message",
    "messages_app.view_message",
    "messages_app.change_message",
    "messages_app.view_revision",
    "messages_app.view_leaseevent",
]


def moderator_add(*, user) -> None:
    """Make the user a moderator: a member of the moderators group, and staff to enter the admin."""
    user.groups.add(_moderators_group())
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])


def moderator_remove(*, user) -> None:
    """Take the user out of the moderators group and, unless a superuser, out of the admin."""
    user.groups.remove(_moderators_group())
    if user.is_staff and not user.is_superuser:
        user.is_staff = False
        user.save(update_fields=["is_staff"])


def _moderators_group() -> Group:
    # Migration 0004 creates the group; a database emptied since (a test flush) gets it back here.
    group, created = Group.objects.get_or_create(name=MODERATORS_GROUP)
    if created:
        for name in MODERATOR_PERMISSIONS:
            app_label, codename = name.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return group
