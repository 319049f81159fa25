"""Moderators' admin: find a message among millions, read it, and act on it through the services.

A package so each part has one job: who may enter (access), lists that never count
(pagination), the message list's filters (filters), a message's histories beneath it
(inlines), and one module per registered model. Importing the model admins here is what
registers them when Django autodiscovers this app's admin; the names are re-exported so
`from messages_app.admin import ...` keeps working.
"""

from django.contrib import admin

from .access import ModeratorsOnly
from .board_admin import BoardAdmin, BoardGrantInline
from .filters import DeletedFilter, LeasedNowFilter
from .inlines import INLINE_ROWS, LeaseEventInline, NewestFirstFormSet, ReadOnlyInline, RevisionInline
from .lease_event_admin import LeaseEventAdmin
from .message_admin import MessageAdmin
from .pagination import NoCountChangeList, NoCountPaginator, UncountedAdmin

admin.site.site_header = "Messageboard moderation"
admin.site.site_title = "Messageboard moderation"
admin.site.index_title = "Moderation"
# The moderation index, with a link to the dashboard above the models.
admin.site.index_template = "admin/messages_app/index.html"

__all__ = [
    "INLINE_ROWS",
    "BoardAdmin",
    "BoardGrantInline",
    "DeletedFilter",
    "LeaseEventAdmin",
    "LeaseEventInline",
    "LeasedNowFilter",
    "MessageAdmin",
    "ModeratorsOnly",
    "NewestFirstFormSet",
    "NoCountChangeList",
    "NoCountPaginator",
    "ReadOnlyInline",
    "RevisionInline",
    "UncountedAdmin",
]
