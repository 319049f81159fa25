from django.apps import AppConfig


class MessagesAppConfig(AppConfig):
    name = "messages_app"
    verbose_name = "Messages"

    def ready(self) -> None:
        # Connects the receiver that ends a user's API tokens when their password changes.
        from messages_app import tokens  # noqa: F401
