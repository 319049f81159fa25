"""Boards and who may do what on them; every existing message goes to the default board, open as before.

The default board grants read to everyone and edit to members: what the board allowed before
boards. Its counter and newest message are computed once here; services keep them after.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


DEFAULT_SLUG = "general"
READ, EDIT = 1, 3


def default_board(apps, schema_editor):
    Board = apps.get_model("messages_app", "Board")
    BoardGrant = apps.get_model("messages_app", "BoardGrant")
    Message = apps.get_model("messages_app", "Message")
    board = Board.objects.create(slug=DEFAULT_SLUG, name="General", description="Messages for everyone.")
    BoardGrant.objects.create(board=board, audience="everyone", level=READ)
    BoardGrant.objects.create(board=board, audience="members", level=EDIT)
    Message.objects.update(board=board)
    visible = Message.objects.filter(deleted_at__isnull=True)
    newest = visible.order_by("-id").values_list("id", flat=True).first()
    Board.objects.filter(pk=board.pk).update(message_count=visible.count(), newest_message_id=newest)


def no_default_board(apps, schema_editor):
    apps.get_model("messages_app", "Message").objects.update(board=None)
    apps.get_model("messages_app", "Board").objects.all().delete()
    # On PostgreSQL deleting a board queues the deferred checks of every foreign key to it (message,
    # board grant): trigger events on the board table, pending until the commit. The operations
    # undone after this one drop those foreign keys, and PostgreSQL refuses to ALTER a table with
    # pending trigger events (Django sets only the dropped key's check IMMEDIATE, not the others).
    # Run them all now, as the commit would; SQLite checks its keys here too.
    schema_editor.connection.check_constraints()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("messages_app", "0011_lease_waiters"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AccessGeneration",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("value", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name="BoardGrant",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "audience",
                    models.CharField(
                        choices=[
                            ("everyone", "everyone (visitors included)"),
                            ("members", "members (anyone signed in)"),
                            ("group", "a group"),
                        ],
                        max_length=16,
                    ),
                ),
                (
                    "level",
                    models.PositiveSmallIntegerField(choices=[(1, "read"), (2, "post"), (3, "edit"), (4, "moderate")]),
                ),
            ],
        ),
        migrations.CreateModel(
            name="MessageEditor",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
            ],
        ),
        migrations.AddField(
            model_name="message",
            name="editors_restricted",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="message",
            name="editors_locked",
            field=models.BooleanField(default=False),
        ),
        migrations.CreateModel(
            name="Board",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("slug", models.SlugField(unique=True)),
                ("name", models.CharField(max_length=100)),
                ("description", models.TextField(blank=True, max_length=1000)),
                ("message_count", models.PositiveBigIntegerField(default=0)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "newest_message",
                    models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="messages_app.message",
                    ),
                ),
            ],
            options={
                "ordering": ["name"],
            },
        ),
        migrations.AddField(
            model_name="message",
            name="board",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="messages_app.board"
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True)), fields=["board", "-id"], name="message_board_newest"
            ),
        ),
        migrations.AddField(
            model_name="boardgrant",
            name="board",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="grants", to="messages_app.board"
            ),
        ),
        migrations.AddField(
            model_name="boardgrant",
            name="group",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="auth.group"
            ),
        ),
        migrations.AddField(
            model_name="messageeditor",
            name="group",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="auth.group"
            ),
        ),
        migrations.AddField(
            model_name="messageeditor",
            name="message",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="messages_app.message"
            ),
        ),
        migrations.AddField(
            model_name="messageeditor",
            name="user",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.AddConstraint(
            model_name="boardgrant",
            constraint=models.UniqueConstraint(
                condition=models.Q(("group__isnull", True)),
                fields=("board", "audience"),
                name="boardgrant_one_per_audience",
            ),
        ),
        migrations.AddConstraint(
            model_name="boardgrant",
            constraint=models.UniqueConstraint(
                condition=models.Q(("group__isnull", False)), fields=("board", "group"), name="boardgrant_one_per_group"
            ),
        ),
        migrations.AddConstraint(
            model_name="boardgrant",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("audience", "group"), ("group__isnull", False)),
                    models.Q(("audience__in", ["everyone", "members"]), ("group__isnull", True)),
                    _connector="OR",
                ),
                name="boardgrant_group_only_for_groups",
            ),
        ),
        migrations.AddConstraint(
            model_name="messageeditor",
            constraint=models.UniqueConstraint(fields=("message", "user"), name="messageeditor_user_once"),
        ),
        migrations.AddConstraint(
            model_name="messageeditor",
            constraint=models.UniqueConstraint(fields=("message", "group"), name="messageeditor_group_once"),
        ),
        migrations.AddConstraint(
            model_name="messageeditor",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("group__isnull", False), ("user__isnull", True)),
                    models.Q(("group__isnull", True), ("user__isnull", False)),
                    _connector="OR",
                ),
                name="messageeditor_user_or_group",
            ),
        ),
        migrations.RunPython(default_board, no_default_board),
        migrations.AlterField(
            model_name="message",
            name="board",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="messages_app.board"
            ),
        ),
    ]
