"""What the operators' use cases share: progress reporting, the size of a chunk, and the steps
around a bulk load that both the import and the seed make (people by name, sequences, statistics).
"""

from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.core.management.color import no_style
from django.db import connection

from messages_app.models import Message, Revision, SearchDocument

Progress = Callable[[int], object]
# Rows read or written per round trip: memory stays flat however many there are.
CHUNK = 1000


def no_progress(_: int) -> None:
    return None


def ensure_users(names: set[str], users: dict[str, int]) -> None:
    user_model = get_user_model()
    field = user_model.USERNAME_FIELD
    for user_id, name in user_model.objects.filter(**{f"{field}__in": names}).values_list("id", field):
        users[name] = user_id
    for name in sorted(names - users.keys()):
        user = user_model(**{field: name})
        # Imported people sign in only after resetting a password.
        user.set_unusable_password()
        user.save()
        users[name] = user.pk


def reset_sequences() -> None:
    # Explicit ids leave PostgreSQL's sequence behind; the next post would collide.
    statements = connection.ops.sequence_reset_sql(no_style(), [Message])
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def analyze_loaded() -> None:
    """Refresh PostgreSQL's statistics of the tables a bulk load just filled.

    Autovacuum comes round in its own time (and is off on some machines); until then the
    planner plans the board's queries for the tables as they were before the load. SQLite is
    left without statistics on purpose: with them it walks the whole table by id instead of
    the index of visible messages, which costs as much only while few messages are deleted.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            tables = (Message, Revision, SearchDocument)
            cursor.execute(f"ANALYZE {', '.join(model._meta.db_table for model in tables)}")
