"""Careless input is checked before anything is contacted: every command the README and docs/ show, given an empty
value (an unset shell variable), a placeholder pasted from the docs (`AC…`, `…`) or a value one character off, exits 2
with one line and no traceback. Beside it: `simulate` finds the local stack itself and says why it was refused,
`optouts export` warns before writing numbers into the checkout, and the versions agree."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import threading
import tomllib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from smsbridge.cli import GROUPS, build_parser, main
from smsbridge.cli import options as checked
from smsbridge.cli.exits import EXIT_FOUND_PROBLEM, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from smsbridge.domain.signature import compute_signature
from smsbridge.ops.inputs import committable_problem
from smsbridge.ops.simulate import TEST_AUTH_TOKEN
from tests.conftest import ROOT

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SID = "SM" + "0" * 32
ACCOUNT = "AC" + "0" * 32
TOKEN = "0" * 32


def documented_commands() -> set[tuple[str, ...]]:
    """Every `smsbridge GROUP [ACTION]` the README and docs/ show."""
    parser = build_parser()
    found = set()
    text = "\n".join(path.read_text(encoding="utf-8") for path in DOCUMENTS)
    for match in re.finditer(rf"smsbridge ((?:{'|'.join(GROUPS)})\b(?: [a-z][a-z0-9-]+)?)", text):
        words = match.group(1).split()
        group = _subparsers(parser)
        if group is None or words[0] not in group.choices:
            continue
        actions = _subparsers(group.choices[words[0]])
        if actions is None:
            found.add((words[0],))
        elif len(words) > 1 and words[1] in actions.choices:
            found.add((words[0], words[1]))
    return found


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[argparse.ArgumentParser] | None:
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def _parser_of(command: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = build_parser()
    for word in command:
        sub = _subparsers(parser)
        assert sub is not None
        parser = sub.choices[word]
    return parser


# Each checked value type: a good value, and the careless ones (an empty value is added to every list).
GOOD_AND_CARELESS: dict[Callable[[str], object], tuple[str, list[str]]] = {
    checked.SINCE: ("24h", ["…", "yesterday", "2026-11-01T08:00:00"]),
    checked.PHONE: ("+14155550100", ["…", "+1415555010", "+141555501000", "$PHONE"]),
    checked.SCOPE: ("+14155550199", ["MG…", "…"]),
    checked.MESSAGE_SID: (SID, ["SM…", "…", SID[:-1]]),
    checked.COUNT: ("1", ["…", "0"]),
    checked.SECONDS: ("1", ["…", "-1"]),
    checked.PORT: ("3000", ["…", "70000"]),
    checked.URL: ("https://hooks.example.com/twilio/inbound", ["https://…/twilio/inbound", "<InboundUrl output>"]),
    checked.SERVICE_SID: ("MG" + "3" * 32, ["MG…", "…"]),
    checked.ACCOUNT_SID: (ACCOUNT, ["AC…", "…", ACCOUNT[:-1]]),
    checked.AUTH_TOKEN: (TOKEN, ["…", "<your Twilio auth token>", TOKEN[:-1]]),
    checked.ERROR_CODE: ("30006", ["…", "300 06"]),
    checked.NEW_FILE: ("out.csv", []),
    checked.FRAGMENT: ("rc=3", ["…", "rc=2&…"]),
}


def _good(action: argparse.Action) -> str:
    if action.choices:
        return str(next(iter(action.choices)))
    if action.type in GOOD_AND_CARELESS:
        return GOOD_AND_CARELESS[action.type][0]
    return "legacy.csv" if action.dest == "file" else "x"


def _base(parser: argparse.ArgumentParser) -> list[str]:
    """Arguments that parse: every positional and required option with a good value (and --local where offered)."""
    argv = []
    for action in parser._actions:
        if not action.option_strings and action.nargs != 0:
            argv.append(_good(action))
        elif action.required:
            argv += [action.option_strings[0], _good(action)]
    for group in parser._mutually_exclusive_groups:
        if group.required:
            argv += [group._group_actions[0].option_strings[0], _good(group._group_actions[0])]
    return argv + (["--local"] if "--local" in parser._option_string_actions else [])


def careless_cases() -> list[tuple[list[str], str]]:
    cases = []
    for command in sorted(documented_commands()):
        parser = _parser_of(command)
        base = _base(parser)
        for action in parser._actions:
            if action.type not in GOOD_AND_CARELESS:
                continue
            blank = [] if action.type is checked.FRAGMENT else [""]  # --fragment '' is documented: none
            for value in blank + GOOD_AND_CARELESS[action.type][1]:
                if action.option_strings:
                    flag = action.option_strings[0]
                    argv = [*command, *_without(base, flag), flag, value]
                else:
                    argv = [*command, *[value if word == _good(action) else word for word in base]]
                cases.append((argv, value))
    return cases


def _without(argv: list[str], flag: str) -> list[str]:
    if flag not in argv:
        return argv
    at = argv.index(flag)
    return argv[:at] + argv[at + 2 :]


CASES = careless_cases()


@pytest.fixture(autouse=True)
def no_deployment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS configuration, no Twilio or CI360 variables, no local stack: nothing a careless value could reach."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "TWILIO_", "CI360_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("smsbridge.ops.local_state.LOCAL_STATE", tmp_path / "no-local.json")
    monkeypatch.setattr("smsbridge.ops.local_state.project_root", lambda: tmp_path)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exited:
        code = int(exited.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_usage_line(code: int, err: str) -> None:
    assert code == EXIT_USAGE, err
    assert err.startswith("smsbridge") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err


def test_every_documented_command_with_a_checked_value_is_driven() -> None:
    driven = {tuple(argv[: len(command)]) for argv, _ in CASES for command in documented_commands()}
    with_values = {c for c in documented_commands() if any(a.type in GOOD_AND_CARELESS for a in _parser_of(c)._actions)}
    assert with_values <= driven
    assert {("recover",), ("optouts", "get"), ("twilio", "configure"), ("ci360", "sync-preferences")} <= with_values


@pytest.mark.parametrize(("argv", "value"), CASES, ids=[" ".join(case[0])[:70] for case in CASES])
def test_a_careless_value_is_a_usage_error_of_one_line(
    argv: list[str], value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(argv, capsys)
    _one_usage_line(code, err)
    if not value:
        assert "it is empty: an unset shell variable?" in err or "no file name given" in err
    if "…" in value or value.startswith("<"):
        assert "a placeholder" in err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["recover", "--local", "--since", ""], "'' is not a time"),
        (["ci360", "sync-preferences", "--local", "--since", "", "--dry-run"], "it is empty"),
        (["optouts", "get", "", "--local"], "'' is not an E.164 phone number"),
        (["optouts", "get", "+1415555010", "--local"], "a +1 number has 10 digits after +1, this one 9"),
        (["twilio", "configure", "--local", "--phone", "+14155550199", "--account-sid", "AC…", "--auth-token", TOKEN],
         "'AC…' is not an account SID"),
        (["twilio", "configure", "--local", "--phone", "+14155550199", "--account-sid", ACCOUNT, "--auth-token", "…"],
         "the auth token is not 32 letters and digits (this is a placeholder)"),
        (["twilio", "configure", "--local", "--phone", "+14155550199", "--dry-run", "--apply"], "not allowed with"),
        (["twilio", "configure", "--local", "--phone", "+14155550199", "--dry-run"],
         "give the Twilio account's credentials: --account-sid (or TWILIO_ACCOUNT_SID) and --auth-token"),
    ],
)  # fmt: skip
def test_the_careless_inputs_of_the_report(argv: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(argv, capsys)
    _one_usage_line(code, err)
    assert says in err


def test_a_placeholder_left_in_the_environment_is_refused_like_one_typed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC…")
    code, _, err = _run(["twilio", "configure", "--local", "--phone", "+14155550199"], capsys)
    _one_usage_line(code, err)
    assert "argument --account-sid: 'AC…' is not an account SID" in err


def test_a_token_is_never_repeated_in_its_error(capsys: pytest.CaptureFixture[str]) -> None:
    secretish = "9f8e7d6c5b4a39281706f5e4d3c2b1a0ff"  # two characters too many
    code, _, err = _run(["simulate", "inbound", "--auth-token", secretish], capsys)
    _one_usage_line(code, err)
    assert "34 characters" in err and secretish not in err and secretish[-4:] not in err


def test_aws_region_alone_is_a_region(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    code, _, err = _run(["optouts", "get", "+14155550100", "--stack", "smsbridge"], capsys)
    assert code == EXIT_UNREACHABLE, err
    assert "no AWS credentials" in err and "region" not in err


def test_a_gateway_that_does_not_answer_is_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["ci360", "check", "--url", "http://127.0.0.1:1", "--tenant", "tenant0123", "--secret", "s"]
    code, out, _ = _run(argv, capsys)
    assert code == EXIT_UNREACHABLE
    assert out.startswith("cannot reach http://127.0.0.1:1")


class _Webhook(BaseHTTPRequestHandler):
    """A webhook that checks signatures as smsbridge's does: for the URL it is served at, with the test token."""

    served_at = ""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        expected = compute_signature(TEST_AUTH_TOKEN, self.served_at + self.path, parse_qsl(body))
        self.send_response(204 if self.headers["X-Twilio-Signature"] == expected else 403)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A running local stack as `simulate` sees it: its state file (this process's pid) and a webhook answering."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    _Webhook.served_at = base
    state = tmp_path / "local.json"
    urls = {"inbound_url": f"{base}/twilio/inbound", "status_url": f"{base}/twilio/status"}
    state.write_text(json.dumps({"pid": os.getpid(), "region": "us-east-1", "resources": {}, **urls}))
    monkeypatch.setattr("smsbridge.ops.local_state.LOCAL_STATE", state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()


def test_simulate_without_url_sends_to_the_running_local_stack(
    local_stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(["simulate", "status", "--status", "delivered"], capsys)
    assert code == EXIT_OK, out + err
    assert f"POST {local_stack}/twilio/status" in out and "HTTP 204" in out


def test_simulate_at_the_wrong_port_names_the_real_one(local_stack: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["simulate", "inbound", "--url", "http://127.0.0.1:1/twilio/inbound"], capsys)
    assert code == EXIT_UNREACHABLE, err
    assert err.count("\n") == 1
    assert f"the local stack listens at {local_stack}: give --url {local_stack}/twilio/inbound" in err


def test_a_403_at_localhost_names_the_url_the_local_stack_checks(
    local_stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    port = local_stack.rsplit(":", 1)[1]
    code, out, _ = _run(["simulate", "inbound", "--url", f"http://localhost:{port}/twilio/inbound"], capsys)
    assert code == EXIT_FOUND_PROBLEM
    assert "HTTP 403" in out
    assert f"the local stack checks signatures against {local_stack}/twilio/inbound; localhost signs another" in out


def test_a_403_for_another_token_names_its_last_four_characters(
    local_stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = "a" * 28 + "9z8y"
    code, out, _ = _run(["simulate", "inbound", "--auth-token", token], capsys)
    assert code == EXIT_FOUND_PROBLEM
    assert "HTTP 403" in out and "with the token ending ...9z8y" in out and token not in out


def test_an_export_into_the_checkout_not_ignored_is_warned_about(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "--quiet", str(tmp_path / "repo")], check=True)
    (tmp_path / "repo" / ".gitignore").write_text("*.ignored.csv\n")
    problem = committable_problem(tmp_path / "repo" / "optouts.csv")
    assert problem is not None and "not ignored: the phone numbers in it could be committed" in problem
    assert committable_problem(tmp_path / "repo" / "optouts.ignored.csv") is None
    assert committable_problem(tmp_path / "outside.csv") is None  # not in a repository


def test_the_versions_agree(capsys: pytest.CaptureFixture[str]) -> None:
    """pyproject, the installed package, --version, and the newest version the README and docs/ speak of."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out == f"smsbridge {declared}\n"
    assert version("smsbridge") == declared
    spoken = {tuple(map(int, m)) for doc in DOCUMENTS for m in re.findall(r"\bv(\d+)\.(\d+)\b", doc.read_text())}
    assert max(spoken) == tuple(map(int, declared.split(".")[:2]))
