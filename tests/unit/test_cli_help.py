"""`smsbridge --help` builds only what it shows: every command group with its summary, and no group's module or
options (so it starts fast); `smsbridge GROUP …` builds that group alone, and its help still shows its options."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from smsbridge.cli import GROUPS, build_parser, main

# Runs `smsbridge ARGV` in a new interpreter, then lists the smsbridge modules it imported (on stderr, last line).
_RUN_AND_LIST_MODULES = """
import json, sys
from smsbridge.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(name for name in sys.modules if name.startswith("smsbridge"))), file=sys.stderr)
"""
GROUP_MODULES = {f"smsbridge.cli.{name}" for name in GROUPS}


def fresh_run(*argv: str) -> tuple[str, set[str]]:
    """What ``smsbridge ARGV`` prints in a new interpreter, and the smsbridge modules it imported."""
    done = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST_MODULES, *argv], capture_output=True, text=True, check=True
    )
    return done.stdout, set(json.loads(done.stderr.splitlines()[-1]))


@pytest.fixture(autouse=True)
def fixed_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """argparse wraps help to the terminal's width: the same for this process and the ones it starts."""
    monkeypatch.setenv("COLUMNS", "120")


def test_help_lists_every_group_with_its_summary_and_imports_no_group() -> None:
    shown, loaded = fresh_run("--help")
    words = " ".join(shown.split())
    for name, summary in GROUPS.items():
        assert f" {name} {summary}" in words
    assert not loaded & GROUP_MODULES
    beyond_the_cli = {name for name in loaded if name != "smsbridge" and not name.startswith("smsbridge.cli")}
    assert not beyond_the_cli, f"smsbridge --help imported {sorted(beyond_the_cli)}"


def test_help_is_the_full_trees_top_level_help() -> None:
    shown, _ = fresh_run("--help")
    assert shown == build_parser().format_help()


@pytest.mark.parametrize(
    ("argv", "module", "options"),
    [
        (["replay", "--help"], "replay", ["--dead-letter-queue-url", "--kind KIND", "--max MAX", "examples:"]),
        (["optouts", "list", "--help"], "optouts", ["--since SINCE", "--status {opted_out,opted_in}", "--local"]),
        (["ci360", "--help"], "ci360", ["events", "connector-body", "check", "sync-preferences"]),
    ],
)
def test_a_groups_help_shows_its_options_and_builds_that_group_alone(
    argv: list[str], module: str, options: list[str]
) -> None:
    shown, loaded = fresh_run(*argv)
    assert shown.startswith(f"usage: smsbridge {' '.join(argv[:-1])}")
    for option in options:
        assert option in shown
    assert loaded & GROUP_MODULES == {f"smsbridge.cli.{module}"}


def test_the_full_tree_builds_every_group_in_the_registrys_order_with_its_summary() -> None:
    commands = next(a for a in build_parser()._actions if a.dest == "command")
    assert list(commands.choices or ()) == list(GROUPS)
    assert {action.dest: action.help for action in commands._get_subactions()} == GROUPS


def test_an_unknown_command_is_one_usage_line_naming_every_group(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["optout", "get", "+14155550100"])
    assert exited.value.code == 2
    choices = ", ".join(f"'{name}'" for name in GROUPS)
    assert capsys.readouterr().err == (
        f"smsbridge: argument COMMAND: invalid choice: 'optout' (choose from {choices}) (see smsbridge --help)\n"
    )
