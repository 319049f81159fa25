"""manage.py make_moderator: the moderators group and staff, both ways; an unknown user fails."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command, execute_from_command_line
from django.test import Client

from messages_app import permissions, roles

pytestmark = pytest.mark.django_db


def fresh(user):
    # has_perm caches a user's permissions on the object: look the user up again.
    return get_user_model().objects.get(pk=user.pk)


def test_the_migration_creates_the_moderators_group_with_its_permissions(db):
    group = Group.objects.get(name="moderators")
    names = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
    assert names == set(roles.MODERATOR_PERMISSIONS)


def test_make_moderator_adds_the_group_and_staff_so_the_user_enters_the_admin(alice, capsys):
    call_command("make_moderator", "alice")
    assert "alice is a moderator" in capsys.readouterr().out
    alice = fresh(alice)
    assert alice.is_staff
    assert alice.groups.filter(name="moderators").exists()
    assert permissions.is_moderator(alice)
    client = Client()
    client.force_login(alice)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/messages_app/message/").status_code == 200


def test_make_moderator_twice_changes_nothing_more(alice):
    call_command("make_moderator", "alice")
    call_command("make_moderator", "alice")
    assert fresh(alice).groups.filter(name="moderators").count() == 1


def test_remove_takes_the_group_and_staff_away(alice, capsys):
    call_command("make_moderator", "alice")
    call_command("make_moderator", "alice", "--remove")
    assert "alice is no longer a moderator" in capsys.readouterr().out
    alice = fresh(alice)
    assert not alice.is_staff
    assert not alice.groups.filter(name="moderators").exists()
    assert not permissions.is_moderator(alice)
    client = Client()
    client.force_login(alice)
    response = client.get("/admin/messages_app/message/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_remove_leaves_a_superuser_staff(make_user):
    root = make_user("root", is_staff=True, is_superuser=True)
    call_command("make_moderator", "root")
    call_command("make_moderator", "root", "--remove")
    assert fresh(root).is_staff


def test_the_group_is_made_again_if_it_is_gone(alice):
    Group.objects.filter(name="moderators").delete()
    call_command("make_moderator", "alice")
    assert permissions.is_moderator(fresh(alice))


def test_an_unknown_user_is_a_command_error(db):
    with pytest.raises(CommandError, match="There is no user 'nobody'"):
        call_command("make_moderator", "nobody")
    with pytest.raises(CommandError):
        call_command("make_moderator", "nobody", "--remove")


def test_an_unknown_user_exits_with_status_1_and_says_why(db, monkeypatch, capsys):
    # run_from_argv closes every connection when done, the test's transaction's too.
    from django.core.management import base

    monkeypatch.setattr(base.connections, "close_all", lambda: None)
    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "make_moderator", "nobody"])
    assert exited.value.code == 1
    assert "There is no user 'nobody'" in capsys.readouterr().err
