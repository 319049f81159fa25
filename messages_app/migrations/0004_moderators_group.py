"""Create the `moderators` group with the permissions moderators need.

Permissions are normally created after all migrations (post_migrate), so on a fresh
database they do not exist yet: create_permissions makes them here first. The list is
frozen in this migration; roles.MODERATOR_PERMISSIONS is the live copy that
`make_moderator` also applies, so a database flushed by tests gets the same group.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "moderators"
PERMISSIONS = [
    ("messages_app", "moderate_message"),
    ("messages_app", "view_message"),
    ("messages_app", "change_message"),
    ("messages_app", "view_revision"),
    ("messages_app", "view_leaseevent"),
]


def create_group(apps, schema_editor):
    app_config = apps.get_app_config("messages_app")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(schema_editor.connection.alias).get_or_create(name=GROUP)
    for app_label, codename in PERMISSIONS:
        group.permissions.add(
            Permission.objects.using(schema_editor.connection.alias).get(
                content_type__app_label=app_label, codename=codename
            )
        )


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("messages_app", "0003_lease_events"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, delete_group)]
