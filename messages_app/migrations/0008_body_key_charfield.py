"""The body's storage key is a plain CharField, no longer a FileField.

A FileField's ``.open()`` would read the file around the file handler (bodies.py) and its
cache. Both are a varchar(255) in the database under the same column, so only Django's idea of
the field changes: no table is rewritten.
"""

from django.db import migrations, models


def _key_field():
    return models.CharField(max_length=255, db_column="body")


class Migration(migrations.Migration):
    dependencies = [("messages_app", "0007_token_expires_at")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RenameField("message", "body", "body_key"),
                migrations.AlterField("message", "body_key", _key_field()),
                migrations.RenameField("revision", "body", "body_key"),
                migrations.AlterField("revision", "body_key", _key_field()),
            ],
            database_operations=[],
        )
    ]
