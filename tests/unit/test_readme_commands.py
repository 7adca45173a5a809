"""Every `smsbridge …` command the README and docs/ show exists, with every flag they show with it (the parser accepts
it; a renamed flag keeps working under its earlier name, hidden from --help)."""

from __future__ import annotations

import argparse
import re

import pytest

from smsbridge.cli import build_parser, main
from tests.documents import all_text

SUBCOMMANDS = {
    "serve": 0,
    "simulate": 0,
    "optouts": 1,
    "ci360": 1,
    "twilio": 1,
    "replay": 0,
    "consent": 1,
    "smoke": 0,
    "trace": 0,
    "recover": 0,
    "migrate": 0,
}


def shown_commands() -> dict[tuple[str, ...], set[str]]:
    """(command words) → the flags shown with them anywhere in the README or docs/."""
    found: dict[tuple[str, ...], set[str]] = {}
    for match in re.finditer(rf"smsbridge ((?:{'|'.join(SUBCOMMANDS)})\b[^`\n)]*)", all_text()):
        words = match.group(1).split()
        depth = SUBCOMMANDS[words[0]]
        command = tuple(words[: depth + 1])
        if depth and (len(words) < 2 or words[1].startswith(("-", "|", "…"))):
            continue  # a mention of the group, not a command
        flags = {word.strip("[]").split("=")[0] for word in words if word.strip("[]").startswith("--")}
        found.setdefault(command, set()).update(flags)
    return found


COMMANDS = shown_commands()


def test_the_readme_shows_every_command_group() -> None:
    assert {command[0] for command in COMMANDS} == set(SUBCOMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS), ids=" ".join)
def test_readme_command_and_its_flags_exist(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: smsbridge {' '.join(command)}")
    parser = build_parser()
    for word in command:
        parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[word]
    for flag in COMMANDS[command]:
        assert flag in parser._option_string_actions, f"smsbridge {' '.join(command)} has no {flag}"
