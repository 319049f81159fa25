"""Issue an API token for a user, for scripts and integrations that cannot sign in by password.

The key is printed once and never stored (only its SHA-256 is), so keep it where you keep secrets.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from messages_app import services


class Command(BaseCommand):
    help = "Create an API token for USERNAME and print it (use it as 'Authorization: Bearer <token>')."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")

    def handle(self, *args, username: str, **options) -> None:
        user_model = get_user_model()
        try:
            user = user_model.objects.get(**{user_model.USERNAME_FIELD: username})
        except user_model.DoesNotExist:
            raise CommandError(f"There is no user {username!r}.") from None
        if not user.is_active:
            raise CommandError(f"The user {username!r} is deactivated.")
        _token, key = services.token_create(user=user)
        self.stdout.write(key)
