"""`make deploy` checks before it asks, asks only what has no safe default, saves it, and without a terminal says
what to pass: driven in a copy of the checkout's deploy files, with a stand-in SAM CLI and moto standing in for STS."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.integration.conftest import running_moto_server

pytestmark = pytest.mark.e2e

FAKE_SAM = """#!/usr/bin/env bash
# Stands in for the SAM CLI: records its arguments; prints an output as `sam list stack-outputs` does.
echo "$*" >> sam-calls.txt
if [ "$1 $2" = "list stack-outputs" ]; then
  echo "InboundUrl  https://example.execute-api.eu-west-1.amazonaws.com/twilio/inbound"
fi
"""
ANSWERS = {
    "STACK_NAME": "smsbridge-test",
    "REGION": "eu-west-1",
    "CI360_GATEWAY_URL": "https://extapigwservice-eu-prod.ci360.sas.com",
    "CI360_TENANT_ID": "tenant0123",
    "TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
}
DEPLOYED = [
    "build",
    "deploy --stack-name smsbridge-test --region eu-west-1 --no-fail-on-empty-changeset{confirm}",
    "list stack-outputs --stack-name smsbridge-test --region eu-west-1 --output table",
]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The files `make deploy` reads, a stand-in SAM CLI (installed: its stamp is there) and python3.13, and the
    checkout's Python (it has botocore) as the project's .venv."""
    for name in ("Makefile", "samconfig.toml", "pyproject.toml", "scripts/deploy.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    tools = tmp_path / ".venv-tools" / "bin"
    tools.mkdir(parents=True)
    (tools / "sam").write_text(FAKE_SAM)
    (tools / "python3.13").write_text("#!/bin/sh\nexit 0\n")  # the checks only ask whether it is 3.13
    for tool in tools.iterdir():
        tool.chmod(0o755)
    (tmp_path / ".venv-tools" / ".installed-sam").touch()
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").symlink_to(ROOT / ".venv" / "bin" / "python")
    return tmp_path


def _environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The shell of someone with no AWS configuration at all (and no instance role to find)."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST", "VIRTUAL_ENV", "CI"))}
    kept.update(
        AWS_CONFIG_FILE=str(tmp_path / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    return {**kept, **extra}


@pytest.fixture(scope="module")
def sts() -> Iterator[str]:
    """moto answering STS GetCallerIdentity, as AWS does for working credentials."""
    with running_moto_server() as url:
        yield url


def _credentials(tmp_path: Path, sts: str) -> dict[str, str]:
    return _environment(
        tmp_path, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_ENDPOINT_URL_STS=sts
    )


def _make(checkout: Path, env: dict[str, str], *variables: str) -> subprocess.CompletedProcess[str]:
    sam = checkout / ".venv-tools" / "bin"
    return subprocess.run(
        ["make", "--no-print-directory", "deploy", f"PY313_DIR={sam}", *variables],
        cwd=checkout, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _sam_calls(checkout: Path) -> list[str]:
    calls = checkout / "sam-calls.txt"
    return calls.read_text().splitlines() if calls.exists() else []


def test_without_credentials_or_terminal_it_stops_in_seconds_naming_them_before_any_install_or_prompt(
    checkout: Path,
) -> None:
    shutil.rmtree(checkout / ".venv-tools")  # nothing installed yet: going on would install the SAM CLI
    before = (checkout / "samconfig.toml").read_text()
    started = time.monotonic()
    done = _make(checkout, _environment(checkout), f"PY313_DIR={checkout / 'nowhere'}")
    took = time.monotonic() - started
    lines = done.stderr.splitlines()
    assert done.returncode != 0, done.stdout + done.stderr
    assert took < 60, took
    assert any(line.startswith("make deploy: no AWS credentials: set AWS_PROFILE") for line in lines), lines
    assert any(line.startswith("make deploy: no AWS region: pass REGION=") for line in lines), lines
    assert any("sam build needs Python 3.13" in line for line in lines), lines
    assert "Installing the SAM CLI" not in done.stdout + done.stderr
    assert not (checkout / ".venv-tools").exists()
    assert "Stack" not in done.stdout and (checkout / "samconfig.toml").read_text() == before  # nothing asked


def test_without_a_terminal_it_names_what_to_pass_then_deploys_with_it_and_the_retry_asks_nothing(
    checkout: Path, sts: str
) -> None:
    env = _credentials(checkout, sts)
    first = _make(checkout, env)
    assert first.returncode != 0
    assert "make deploy: no AWS region: pass REGION=" in first.stderr
    for variable in set(ANSWERS) - {"REGION"}:
        assert f"make deploy: no terminal to ask on: pass {variable}=  (" in first.stderr, first.stderr
    assert _sam_calls(checkout) == []

    pasted = _make(checkout, env, *(f"{k}={v}" for k, v in {**ANSWERS, "TWILIO_ACCOUNT_SID": "AC…"}.items()))
    assert pasted.returncode != 0
    assert "TWILIO_ACCOUNT_SID='AC…': give the value itself" in pasted.stderr
    assert _sam_calls(checkout) == []

    given = _make(checkout, env, *(f"{k}={v}" for k, v in ANSWERS.items()))
    assert given.returncode == 0, given.stdout + given.stderr
    assert "InboundUrl" in given.stdout
    assert "sam delete --stack-name smsbridge-test --region eu-west-1" in given.stdout
    saved = (checkout / "samconfig.toml").read_text()
    assert 'region = "eu-west-1"' in saved and "tenant0123" in saved
    assert "confirm_changeset = true" in saved  # SAM's own settings are kept

    again = _make(checkout, env)
    assert again.returncode == 0, again.stdout + again.stderr
    deployed = [call.format(confirm=" --no-confirm-changeset") for call in DEPLOYED]
    assert _sam_calls(checkout) == deployed + deployed


def test_at_a_terminal_it_asks_the_five_questions_once_and_saves_the_answers(checkout: Path, sts: str) -> None:
    controller, terminal = pty.openpty()
    typed = ["", "eu-west-1", ANSWERS["CI360_GATEWAY_URL"], "tenant0123", ANSWERS["TWILIO_ACCOUNT_SID"]]
    os.write(controller, ("\n".join(typed) + "\n").encode())  # typed ahead: the terminal holds the lines
    process = subprocess.Popen(
        ["make", "--no-print-directory", "deploy", f"PY313_DIR={checkout / '.venv-tools' / 'bin'}"],
        cwd=checkout, env=_credentials(checkout, sts), stdin=terminal, stdout=terminal, stderr=terminal,
    )  # fmt: skip
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed: everything on it has ended
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    assert process.wait(timeout=120) == 0, shown.decode(errors="replace")
    text = shown.decode(errors="replace")
    assert "CloudFormation stack name [smsbridge]: " in text
    assert "Twilio account SID (AC and 32 hex digits" in text
    saved = (checkout / "samconfig.toml").read_text()
    assert 'stack_name = "smsbridge"' in saved and f'twilio_account_sid = "{ANSWERS["TWILIO_ACCOUNT_SID"]}"' in saved
    deploy = "deploy --stack-name smsbridge --region eu-west-1 --no-fail-on-empty-changeset"
    assert deploy in _sam_calls(checkout)  # at a terminal SAM shows the change set and asks before applying it
