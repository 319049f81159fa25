from django.apps import AppConfig


class MessagesAppConfig(AppConfig):
    name = "messages_app"
    verbose_name = "Messages"

    def ready(self) -> None:
        # Connect the receivers that end a user's API tokens when their password changes, that
        # move the list generation when a user's name may have changed, and that move the access
        # generation (and end leases no longer allowed) when someone joins or leaves a group.
        from messages_app import boards, pagecache, tokens  # noqa: F401
