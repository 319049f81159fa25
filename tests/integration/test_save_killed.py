"""A save killed for real (SIGKILL) between writing its file and committing its row."""

import io
import textwrap

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from messages_app import selectors
from messages_app.models import Revision
from tests.support.processes import killed_when_reached

# Runs a real save in another process, stopping it for good right after the body file is
# durable and before the database transaction that would publish it.
SAVE_THEN_HANG = textwrap.dedent(
    """
    import sys, time, django
    django.setup()
    from django.contrib.auth import get_user_model
    from messages_app import bodies, editing

    real_body_save = bodies.body_save

    def body_save_then_hang(**kwargs):
        stored = real_body_save(**kwargs)
        print("WRITTEN", stored.key, flush=True)
        time.sleep(600)

    bodies.body_save = body_save_then_hang
    user = get_user_model().objects.get(username=sys.argv[2])
    editing.message_edit_save(
        message_id=int(sys.argv[1]), user=user, base_version=1, lease_token=None,
        subject=None, body="the version that never was",
    )
    """
)


@pytest.mark.both_storages
@pytest.mark.django_db(transaction=True)
def test_save_killed_between_file_and_commit_leaves_old_version_and_one_orphan(make_message, body_storage, board_env):
    message = make_message(body="the old version\n")
    (written_key,) = killed_when_reached(SAVE_THEN_HANG, [str(message.pk), "alice"], board_env, "WRITTEN")

    assert written_key in body_storage.stored_keys()
    current = selectors.message_get(message_id=message.pk)
    assert current.version == 1
    assert selectors.message_body(current) == "the old version\n"
    assert list(Revision.objects.filter(message=message).values_list("version", flat=True)) == [1]

    report = io.StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("verify_storage", "--orphan-grace", "0", verbosity=0, stdout=report)
    assert refused.value.returncode == 1
    assert f"orphan    {written_key}:" in report.getvalue()
    assert "0 missing, 1 orphans, 0 checksum mismatches" in report.getvalue()
    call_command("verify_storage", "--orphan-grace", "0", "--delete-orphans", verbosity=0)
    assert body_storage.stored_keys() == {message.body_key}
    call_command("verify_storage", "--orphan-grace", "0", verbosity=0)
