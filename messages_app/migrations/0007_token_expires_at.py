# Tokens expire. A token issued before expiry existed gets the default lifetime counted from
# its creation (created_at + 90 days), as if the rule had always held: one older than that was
# already past any lifetime a new token can have, so it ends here instead of living for ever.

import datetime

from django.db import migrations, models
from django.db.models import F

LIFETIME_OF_EARLIER_TOKENS = datetime.timedelta(days=90)


def expire_earlier_tokens(apps, schema_editor):
    Token = apps.get_model("messages_app", "Token")
    Token.objects.filter(expires_at__isnull=True).update(expires_at=F("created_at") + LIFETIME_OF_EARLIER_TOKENS)


class Migration(migrations.Migration):

    dependencies = [
        ('messages_app', '0006_leaseevent_broken_recent'),
    ]

    operations = [
        migrations.AddField(
            model_name='token',
            name='expires_at',
            field=models.DateTimeField(null=True),
        ),
        migrations.RunPython(expire_earlier_tokens, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name='token',
            name='expires_at',
            field=models.DateTimeField(),
        ),
    ]
