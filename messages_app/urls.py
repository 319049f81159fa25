from django.urls import path

from messages_app import board_views, edit_views, history_views, views

app_name = "messages_app"

urlpatterns = [
    path("", views.message_list, name="message-list"),
    path("new/", views.message_create, name="message-create"),
    path("preview/", views.markdown_preview, name="markdown-preview"),
    path("<int:message_id>/", views.message_detail, name="message-detail"),
    path("<int:message_id>/changes/", views.message_changes, name="message-changes"),
    path("<int:message_id>/edit/", edit_views.message_edit, name="message-edit"),
    path("<int:message_id>/lease/", edit_views.lease_status, name="lease-status"),
    path("<int:message_id>/lease/renew/", edit_views.lease_renew, name="lease-renew"),
    path("<int:message_id>/lease/release/", edit_views.lease_release, name="lease-release"),
    path("<int:message_id>/draft/", edit_views.draft_save, name="draft-save"),
    path("<int:message_id>/draft/discard/", edit_views.draft_discard, name="draft-discard"),
    path("<int:message_id>/history/", history_views.message_history, name="message-history"),
    path("<int:message_id>/history/<int:version>/", history_views.revision_detail, name="revision-detail"),
    path("<int:message_id>/history/<int:version>/restore/", history_views.revision_restore, name="revision-restore"),
    path("<int:message_id>/diff/", history_views.message_diff_pick, name="message-diff-pick"),
    path("<int:message_id>/diff/<int:old>/<int:new>/", history_views.message_diff, name="message-diff"),
    path("<int:message_id>/editors/", board_views.message_editors, name="message-editors"),
    path("<int:message_id>/delete/", views.message_delete, name="message-delete"),
    path("<int:message_id>/restore/", views.message_restore, name="message-restore"),
]
