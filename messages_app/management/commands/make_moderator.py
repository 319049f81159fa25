"""Make a user a moderator, or (with --remove) an ordinary member again.

Moderators are the `moderators` group (its permissions let them protect, break leases and
delete or restore anyone's message) and staff, so they can sign in at /admin/. Operators
run this instead of ticking boxes in the admin, so a moderator is always both.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from messages_app import roles


class Command(BaseCommand):
    help = "Make USERNAME a moderator (the moderators group, and staff for /admin/); --remove undoes it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--remove",
            action="store_true",
            help="Take the user out of the moderators group and, unless a superuser, out of the admin.",
        )

    def handle(self, *args, username: str, remove: bool, **options) -> None:
        user_model = get_user_model()
        try:
            user = user_model.objects.get(**{user_model.USERNAME_FIELD: username})
        except user_model.DoesNotExist:
            raise CommandError(f"There is no user {username!r}.") from None
        if remove:
            roles.moderator_remove(user=user)
            self.stdout.write(self.style.SUCCESS(f"{username} is no longer a moderator."))
        else:
            roles.moderator_add(user=user)
            self.stdout.write(self.style.SUCCESS(f"{username} is a moderator: they can sign in at /admin/."))
