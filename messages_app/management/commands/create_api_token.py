"""Issue an API token for a user, for scripts and integrations that cannot sign in by password.

The key is printed once and never stored (only its SHA-256 is), so keep it where you keep secrets.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from messages_app import tokens
from messages_app.errors import DomainError


class Command(BaseCommand):
    help = "Create an API token for USERNAME and print it (use it as 'Authorization: Bearer <token>')."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--expires-in-days",
            type=int,
            default=tokens.TOKEN_DAYS_DEFAULT,
            help=(
                f"Days until the token stops signing in, {tokens.TOKEN_DAYS_MIN} to {tokens.TOKEN_DAYS_MAX} "
                f"(default {tokens.TOKEN_DAYS_DEFAULT})."
            ),
        )

    def handle(self, *args, username: str, expires_in_days: int, **options) -> None:
        user_model = get_user_model()
        try:
            user = user_model.objects.get(**{user_model.USERNAME_FIELD: username})
        except user_model.DoesNotExist:
            raise CommandError(f"There is no user {username!r}.") from None
        if not user.is_active:
            raise CommandError(f"The user {username!r} is deactivated.")
        try:
            _token, key = tokens.token_create(user=user, expires_in_days=expires_in_days)
        except DomainError as refused:
            raise CommandError(refused.detail) from None
        self.stdout.write(key)
