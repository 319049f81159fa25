"""Every operator's command explains itself with --help and exits 0."""

from pathlib import Path

import pytest
from django.core.management import call_command, load_command_class

import messages_app.management.commands as commands_package

# Options each --help must mention; every command of the app is checked, listed here or not.
OPTIONS = {
    "verify_storage": ["--delete-orphans", "--repair-checksums", "--orphan-grace", "--quick", "--dry-run"],
    "migrate_storage": ["--to {local,s3}", "--jobs"],
    "purge_deleted": ["--older-than AGE", "--dry-run"],
    "export_messages": ["path"],
    "import_messages": ["path"],
    "seed_messages": ["--count", "--revisions", "--users", "--seed"],
    "create_api_token": ["username"],
}


COMMANDS = sorted(path.stem for path in Path(commands_package.__file__).parent.glob("[!_]*.py"))


def test_every_operators_command_is_checked():
    assert set(OPTIONS) <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_help_describes_the_command_and_its_options(name, capsys):
    with pytest.raises(SystemExit) as exited:
        call_command(name, "--help")
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: ") and name in text.split("\n")[0]
    for option in OPTIONS.get(name, []):
        assert option in text, f"{name} --help does not mention {option}"
    # argparse re-wraps the help text; compare it word for word.
    assert " ".join(load_command_class("messages_app", name).help.split()) in " ".join(text.split())
