"""pack_revisions killed for real (SIGKILL) at each of its steps: every version stays readable."""

import textwrap

import pytest

from messages_app import bodies, editing, history_selectors
from messages_app.models import Message, Pack, Revision
from tests.support.processes import killed_when_reached

pytestmark = [pytest.mark.both_storages, pytest.mark.django_db(transaction=True)]

# Packs in another process, stopping it for good right after the step named on the command
# line: the pack durable but not pointed at, the versions pointed at it but their files not
# yet deleted, or one file deleted of several.
PACK_THEN_HANG = textwrap.dedent(
    """
    import sys, threading, time, django
    from datetime import timedelta
    django.setup()
    from messages_app import bodies
    from messages_app.operations import packing

    step = sys.argv[1]

    def hang(what):
        print("REACHED", what, flush=True)
        time.sleep(600)

    if step == "written":
        real_pack_save = bodies.pack_save
        def pack_save(data):
            stored = real_pack_save(data)
            hang(stored.key)
        bodies.pack_save = pack_save
    elif step == "committed":
        real_point = packing._point_at_pack
        def point_at_pack(stored, batch):
            real_point(stored, batch)
            hang(stored.key)
        packing._point_at_pack = point_at_pack
    else:
        real_delete = packing._delete_quietly
        deleted = []
        lock = threading.Lock()
        def delete_quietly(key):
            with lock:
                if deleted:
                    hang(deleted[0])
                deleted.append(key)
                return real_delete(key)
        packing._delete_quietly = delete_quietly
    packing.revisions_pack(older_than=timedelta(0), jobs=1)
    print("FINISHED", flush=True)
    """
)


@pytest.fixture
def history(make_message, alice):
    message = make_message(subject="Kept", body="version one\n")
    for number in range(2, 6):
        editing.message_edit_save(
            message_id=message.pk,
            user=alice,
            base_version=number - 1,
            lease_token=None,
            subject=None,
            body=f"version {number}\n",
        )
    return message.pk


def every_version_reads_back(message_id: int) -> None:
    for version in range(1, 6):
        revision = history_selectors.revision_get(message_id=message_id, version=version)
        bodies.body_uncache(revision.body_key)
        expected = "version one\n" if version == 1 else f"version {version}\n"
        assert history_selectors.revision_body(revision) == expected


def pack_killed_after(step: str, board_env) -> str:
    return killed_when_reached(PACK_THEN_HANG, [step], board_env, "REACHED")[0]


def test_killed_after_writing_the_pack_leaves_every_version_in_its_file_and_one_orphan_pack(
    history, board_env, run_command
):
    pack_key = pack_killed_after("written", board_env)

    assert not Pack.objects.exists()
    assert not Revision.objects.filter(pack__isnull=False).exists()
    every_version_reads_back(history)
    result = run_command("verify_storage", "--orphan-grace", "0")
    assert result.code == 1
    assert f"orphan    {pack_key}: a pack no version points into" in result.out
    assert run_command("verify_storage", "--orphan-grace", "0", "--delete-orphans").code == 0
    # The next run starts over and finishes.
    assert run_command("pack_revisions", "--older-than", "0s").code == 0
    every_version_reads_back(history)
    assert run_command("verify_storage", "--orphan-grace", "0").code == 0


@pytest.mark.parametrize("step", ["committed", "deleting"])
def test_killed_after_the_commit_leaves_every_version_read_from_the_pack_and_leftover_files_as_orphans(
    history, board_env, body_storage, run_command, step
):
    pack_killed_after(step, board_env)

    pack = Pack.objects.get()
    assert Revision.objects.filter(pack=pack).count() == 4
    every_version_reads_back(history)
    current = Message.objects.get(pk=history).body_key
    leftovers = body_storage.stored_keys() - {current}
    assert 3 <= len(leftovers) <= 4
    result = run_command("verify_storage", "--orphan-grace", "0")
    assert result.code == 1
    assert f"0 missing, {len(leftovers)} orphans, 0 checksum mismatches" in result.out
    assert run_command("verify_storage", "--orphan-grace", "0", "--delete-orphans").code == 0
    assert body_storage.stored_keys() == {current}
    every_version_reads_back(history)
    assert run_command("pack_revisions", "--older-than", "0s").code == 0
    assert run_command("verify_storage", "--orphan-grace", "0").code == 0
