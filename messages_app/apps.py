from django.apps import AppConfig


class MessagesAppConfig(AppConfig):
    name = "messages_app"
    verbose_name = "Messages"

    def ready(self) -> None:
        # Connect the receivers that end a user's API tokens when their password changes, and
        # that move the list generation when a user's name may have changed.
        from messages_app import pagecache, tokens  # noqa: F401
