"""Every command and flag the README and docs/ show, given wrong input: one line on stderr saying what to do, no
traceback, and the exit status `smsbridge --help` documents (2: wrong usage; 3: cannot reach it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from smsbridge.cli import main
from smsbridge.cli.exits import EXIT_STATUSES, EXIT_UNREACHABLE, EXIT_USAGE
from tests.unit.test_readme_commands import COMMANDS

SID = "SM" + "0" * 32
SERVICE = "MG" + "3" * 32
BASE = "https://abc123def4.execute-api.us-east-1.amazonaws.com"

# (arguments, exit status, words the one line must contain). Each documented command and flag appears in one at least.
CASES: list[tuple[list[str], int, str]] = [
    (["serve", "--port", "99999"], EXIT_USAGE, "a port is 0 (any free port) to 65535"),
    (["serve", "--log-level", "LOUD"], EXIT_USAGE, "invalid choice: 'LOUD'"),
    (["serve", "--retry-seconds", "0"], EXIT_USAGE, "give 1 or more"),
    (["simulate", "inbound", "--url", "127.0.0.1:3000/twilio/inbound"], EXIT_USAGE, "not an http(s) URL"),
    (["simulate", "inbound"], EXIT_UNREACHABLE, "no --url given and no local stack is running"),
    (["simulate", "outbound", "--url", "http://127.0.0.1:1/x"], EXIT_USAGE, "invalid choice: 'outbound'"),
    (["simulate", "inbound", "--url", "http://127.0.0.1:1/twilio/inbound", "--auth-token"], EXIT_USAGE,
     "--auth-token: expected one argument"),
    (["simulate", "inbound", "--url", "http://127.0.0.1:1/twilio/inbound", "--body"], EXIT_USAGE,
     "--body: expected one argument"),
    (["simulate", "inbound", "--url", "http://127.0.0.1:1/twilio/inbound", "--from"], EXIT_USAGE,
     "--from: expected one argument"),
    (["simulate", "status", "--url", "http://127.0.0.1:1/twilio/status", "--status"], EXIT_USAGE,
     "--status: expected one argument"),
    (["simulate", "status", "--url", "http://127.0.0.1:1/twilio/status", "--error-code", "busy"], EXIT_USAGE,
     "not a Twilio error code"),
    (["simulate", "inbound", "--url", "http://127.0.0.1:1/twilio/inbound"], EXIT_UNREACHABLE,
     "nothing answers at http://127.0.0.1:1/twilio/inbound"),
    (["optouts", "get", "4155550100", "--local"], EXIT_USAGE, "did you mean +14155550100?"),
    (["optouts", "get", "abc", "--local"], EXIT_USAGE, "not an E.164 phone number"),
    (["optouts", "get", "+14155550100", "--stack", "smsbridge"], EXIT_USAGE, "no AWS region: give --region"),
    (["optouts", "get", "+14155550100", "--local"], EXIT_UNREACHABLE, "the local stack is not running"),
    (["optouts", "list", "--local", "--since", "yesterday"], EXIT_USAGE, "is not a time"),
    (["optouts", "list", "--local", "--status", "maybe"], EXIT_USAGE, "invalid choice: 'maybe'"),
    (["optouts", "list", "--local", "--scope", "MGxyz"], EXIT_USAGE, "looks like a Messaging Service SID"),
    (["optouts", "list", "--stack", "smsbridge"], EXIT_USAGE, "no AWS region"),
    (["optouts", "list", "--local", "--json=yes"], EXIT_USAGE, "--json: ignored explicit argument 'yes'"),
    (["optouts", "list"], EXIT_USAGE, "say where it is: --local, --stack NAME or --consent-table"),
    (["optouts", "export", "--stack", "smsbridge", "-o", "/no/such/folder/x.csv"], EXIT_USAGE,
     "the folder /no/such/folder does not exist"),
    (["optouts", "export", "--stack", "smsbridge"], EXIT_USAGE, "no AWS region"),
    (["optouts", "import", "missing.csv", "--stack", "smsbridge", "--dry-run"], EXIT_USAGE,
     "missing.csv: no such file or directory"),
    (["optouts", "import", "legacy.csv", "--stack", "smsbridge", "--dry-run=yes"], EXIT_USAGE,
     "--dry-run: ignored explicit argument 'yes'"),
    (["ci360", "events", "--kind", "reply"], EXIT_USAGE, "unrecognized arguments: --kind reply"),
    (["ci360", "connector-body", "--base-url", "abc123.execute-api"], EXIT_USAGE, "must be an https URL"),
    (["ci360", "connector-body", "--stack", "smsbridge"], EXIT_USAGE, "no AWS region"),
    (["ci360", "check", "--stack", "smsbridge"], EXIT_USAGE, "no AWS region"),
    (["ci360", "check", "--local"], EXIT_UNREACHABLE, "the local stack is not running"),
    (["ci360", "sync-preferences", "--stack", "smsbridge", "--phone", "abc"], EXIT_USAGE, "not an E.164"),
    (["ci360", "sync-preferences", "--stack", "smsbridge", "--since", "yesterday"], EXIT_USAGE, "is not a time"),
    (["ci360", "sync-preferences", "--stack", "smsbridge", "--dry-run=no"], EXIT_USAGE, "ignored explicit argument"),
    (["ci360", "sync-preferences", "--stack", "smsbridge", "--dry-run"], EXIT_USAGE, "no AWS region"),
    (["consent", "reconcile", "--stack", "smsbridge", "--write-fix", "/no/such/folder/fix.csv"], EXIT_USAGE,
     "does not exist"),
    (["consent", "reconcile", "--stack", "smsbridge"], EXIT_USAGE, "no AWS region"),
    (["replay", "--stack", "smsbridge", "--max", "0"], EXIT_USAGE, "give 1 or more"),
    (["replay", "--stack", "smsbridge", "--max", "-1"], EXIT_USAGE, "give 1 or more"),
    (["replay", "--stack", "smsbridge", "--kind", "optout"], EXIT_USAGE, "invalid choice: 'optout'"),
    (["replay", "--stack", "smsbridge", "--reason"], EXIT_USAGE, "--reason: expected one argument"),
    (["replay", "--stack", "smsbridge", "--dry-run=1"], EXIT_USAGE, "ignored explicit argument"),
    (["replay", "--stack", "smsbridge"], EXIT_USAGE, "no AWS region"),
    (["replay", "--stack", "smsbridge", "--list=all"], EXIT_USAGE, "--list: ignored explicit argument 'all'"),
    (["twilio", "configure", "--stack", "smsbridge", "--phone", "4155550199"], EXIT_USAGE,
     "did you mean +14155550199?"),
    (["twilio", "configure", "--stack", "smsbridge", "--messaging-service", "MG123"], EXIT_USAGE,
     "not a Messaging Service SID"),
    (["twilio", "configure", "--stack", "smsbridge", "--phone", "+14155550199", "--fragment", "retry please"],
     EXIT_USAGE, "not a list of connection overrides"),
    (["twilio", "configure", "--stack", "smsbridge", "--phone", "+14155550199", "--apply=yes"], EXIT_USAGE,
     "ignored explicit argument"),
    (["twilio", "configure", "--stack", "smsbridge"], EXIT_USAGE, "one of the arguments --phone --messaging-service"),
    (["twilio", "configure", "--stack", "smsbridge", "--phone", "+14155550199", "--dry-run", "--apply"], EXIT_USAGE,
     "argument --apply: not allowed with argument --dry-run"),
    (["twilio", "configure", "--phone", "+14155550199", "--inbound-url", "http://127.0.0.1:3000/twilio/inbound",
      "--status-url", "http://127.0.0.1:3000/twilio/status", "--apply", "--account-sid", "AC" + "0" * 32,
      "--auth-token", "0" * 32], EXIT_USAGE,
     "Twilio cannot reach it (127.0.0.1 is a loopback or private address)"),
    (["smoke", "--stack", "smsbridge"], EXIT_USAGE, "no AWS region"),
    (["recover", "--stack", "smsbridge", "--since", "yesterday"], EXIT_USAGE, "is not a time"),
    (["recover", "--stack", "smsbridge", "--since", "24h", "--until", "soon"], EXIT_USAGE, "is not a time"),
    (["recover", "--stack", "smsbridge", "--since", "24h"], EXIT_USAGE, "no AWS region"),
    (["smoke", "--local"], EXIT_UNREACHABLE, "the local stack is not running"),
    (["migrate", "--local", "--dry-run"], EXIT_UNREACHABLE, "the local stack is not running"),
    (["migrate", "--local", "--dry-run=yes"], EXIT_USAGE, "ignored explicit argument"),
    (["migrate", "--stack", "smsbridge", "--account-sid", "AC…"], EXIT_USAGE, "is not an account SID"),
    (["migrate", "--stack", "smsbridge"], EXIT_USAGE, "no AWS region"),
    (["trace", "SM123", "--local"], EXIT_USAGE, "not a message SID"),
    (["trace", SID, "--local"], EXIT_UNREACHABLE, "the local stack is not running"),
    (["trace", SID, "--stack", "smsbridge"], EXIT_USAGE, "no AWS region"),
    (["trace", SID, "--local", "--json=x"], EXIT_USAGE, "--json: ignored explicit argument 'x'"),
    (["serve", "--chaos", "loud"], EXIT_USAGE, "--chaos: invalid int value: 'loud'"),
    (["simulate", "inbound", "--message-sid", "SM123"], EXIT_USAGE, "not a message SID"),
    (["ci360", "connector-body", "--local"], EXIT_UNREACHABLE, "the local stack is not running"),
    (["ci360", "sync-preferences", "--local", "--dry-run"], EXIT_UNREACHABLE, "the local stack is not running"),
    (["consent", "reconcile", "--local"], EXIT_UNREACHABLE, "the local stack is not running"),
    (["optouts", "export", "--local"], EXIT_UNREACHABLE, "the local stack is not running"),
    (["optouts", "import", "legacy.csv", "--local", "--dry-run"], EXIT_UNREACHABLE, "the local stack is not running"),
    (["recover", "--local", "--since", "24h", "--dry-run"], EXIT_UNREACHABLE, "the local stack is not running"),
    (["replay", "--local"], EXIT_UNREACHABLE, "the local stack is not running"),
]  # fmt: skip


@pytest.fixture(autouse=True)
def no_aws_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A machine with no AWS region or credentials, and no local stack running: the new user's first try."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name.startswith(("TWILIO_", "CI360_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "legacy.csv").write_text("phone,scope,status\n+14155550100,+14155550199,opted_out\n")
    stale = {"pid": 2**22 + 12345, "aws_endpoint_url": "http://127.0.0.1:1", "region": "us-east-1", "resources": {}}
    state = tmp_path / "local.json"
    state.write_text(json.dumps(stale))
    monkeypatch.setattr("smsbridge.ops.local_state.LOCAL_STATE", state)
    monkeypatch.setattr("smsbridge.ops.local_state.project_root", lambda: tmp_path)


@pytest.mark.parametrize(("argv", "status", "words"), CASES, ids=[" ".join(case[0])[:60] for case in CASES])
def test_wrong_input_gets_one_line_and_the_documented_status(
    argv: list[str], status: int, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(argv)
    except SystemExit as exited:
        code = int(exited.code or 0)
    captured = capsys.readouterr()
    assert code == status, captured.err
    assert captured.err.endswith("\n") and captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("smsbridge")
    assert words in captured.err
    assert "Traceback" not in captured.err and "Error:" not in captured.err
    assert f"  {status}  " in EXIT_STATUSES or f"  {status}    " in EXIT_STATUSES


def test_every_command_and_flag_the_readme_shows_is_driven_with_wrong_input() -> None:
    driven = {(command, flag) for command in COMMANDS for flag in COMMANDS[command] if flag != "--help"}
    for argv, _, _ in CASES:
        for command in COMMANDS:
            if tuple(argv[: len(command)]) == command:
                driven -= {(command, word.split("=")[0]) for word in argv}
    assert driven == set(), f"README commands and flags without a wrong-input case: {sorted(driven)}"
    assert {tuple(argv[:2]) for argv, _, _ in CASES} >= {command[:2] for command in COMMANDS if len(command) == 2}
