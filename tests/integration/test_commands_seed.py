"""seed_messages: a realistic board in bulk, whose files verify clean."""

import pytest

from messages_app import selectors
from messages_app.models import Message, Revision

pytestmark = [pytest.mark.django_db, pytest.mark.both_storages]


def test_seed_creates_n_messages_with_k_revisions_each_whose_files_verify(body_storage, run_command):
    result = run_command("seed_messages", "--count", "7", "--revisions", "3", "--users", "2")
    assert result.code == 0, result
    assert "Created 7 messages." in result.out
    assert Message.objects.count() == 7
    assert set(Message.objects.values_list("version", flat=True)) == {3}
    assert Revision.objects.count() == 21
    for message in Message.objects.all():
        assert list(message.revisions.order_by("version").values_list("version", flat=True)) == [1, 2, 3]
        assert message.body_key == message.revisions.get(version=3).body_key
    assert body_storage.stored_keys() == set(Revision.objects.values_list("body_key", flat=True))
    assert Message.objects.values("author").distinct().count() <= 2
    verified = run_command("verify_storage", "--orphan-grace", "0")
    assert verified.code == 0, verified
    assert "Checked 21 revisions and 21 files: 0 missing, 0 orphans, 0 checksum mismatches" in verified.out


def test_seeded_messages_read_like_any_other(run_command, client):
    assert run_command("seed_messages", "--count", "2").code == 0
    message = Message.objects.order_by("id").first()
    text = selectors.message_body(message)
    assert text.strip()
    assert client.get(f"/messages/{message.pk}/").status_code == 200


def test_seeding_adds_to_a_board_without_colliding_ids(make_message, run_command):
    posted = make_message()
    assert run_command("seed_messages", "--count", "3", "--seed", "5").code == 0
    assert Message.objects.filter(pk__gt=posted.pk).count() == 3
    assert run_command("verify_storage", "--orphan-grace", "0").code == 0


@pytest.mark.local_storage_only
def test_the_same_seed_gives_the_same_board(db, run_command):
    assert run_command("seed_messages", "--count", "3", "--seed", "42").code == 0
    first = list(Message.objects.order_by("id").values_list("subject", "sha256"))
    Revision.objects.all().delete()
    Message.objects.all().delete()
    assert run_command("seed_messages", "--count", "3", "--seed", "42").code == 0
    assert list(Message.objects.order_by("id").values_list("subject", "sha256")) == first


@pytest.mark.local_storage_only
@pytest.mark.parametrize("option", ["--count", "--revisions", "--users"])
def test_counts_below_one_are_refused(db, run_command, option):
    args = {"--count": "5", "--revisions": "1", "--users": "1", option: "0"}
    result = run_command("seed_messages", *[part for pair in args.items() for part in pair])
    assert result.code == 1
    assert f"{option} must be at least 1." in result.err
    assert not Message.objects.exists()


@pytest.mark.local_storage_only
def test_progress_bar_counts_messages_on_stderr(db, run_command):
    result = run_command("seed_messages", "--count", "5")
    assert "100%" in result.err and "messages" in result.err
    assert run_command("seed_messages", "--count", "1", verbosity=0).err == ""
