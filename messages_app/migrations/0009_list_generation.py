"""The list generation: one row (SQLite) or one sequence (PostgreSQL), see messages_app/pagecache.py."""

from django.db import migrations, models

SEQUENCE = "messages_app_list_generation"


def create_generation(apps, schema_editor):
    # SQLite's row is made by the first change (an upsert), so nothing is needed there.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE}")


def drop_generation(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP SEQUENCE IF EXISTS {SEQUENCE}")


class Migration(migrations.Migration):
    dependencies = [("messages_app", "0008_body_key_charfield")]

    operations = [
        migrations.CreateModel(
            name="ListGeneration",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("value", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(create_generation, drop_generation),
    ]
