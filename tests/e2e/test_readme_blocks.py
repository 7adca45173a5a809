"""Every README command block that needs no AWS account runs as written, from the root of a fresh clone, and exits
as the README says. Blocks that need an AWS account, and `make test` itself, are left out with the reason."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.readme]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# Commands left out, by what they contain, and why.
LEFT_OUT = {
    "make test": "recurses into make test, which runs this test",
    "make deploy": "needs an AWS account (its flow is tested with a stand-in SAM CLI below)",
    "--stack": "reads a deployed stack: needs an AWS account",
    "aws secretsmanager": "writes a deployed stack's secret: needs an AWS account",
    "TWILIO_ACCOUNT_SID": "a Twilio account's credentials, for twilio configure: needs a Twilio account",
}
PLACEHOLDER = re.compile(r"<[^<>\n]+>")  # <InboundUrl output>, <token>: values of a deployed stack
SERVE = "make serve"  # runs until stopped: started in the background, and the commands after it use it


def readme_commands() -> list[str]:
    """The commands of every ```bash block, in order (a command continues over `\\` and open quotes)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.DOTALL):
        pending = ""
        for line in block.splitlines():
            pending = f"{pending}\n{line}" if pending else line.strip()
            if not pending or pending.endswith("\\"):
                continue
            try:
                shlex.split(pending, comments=True)
            except ValueError:  # an open quote: the command goes on
                continue
            commands.append(pending)
            pending = ""
    return commands


def left_out(command: str) -> str | None:
    if PLACEHOLDER.search(command):
        return "takes values from a deployed stack (its outputs, its token): needs an AWS account"
    return next((reason for text, reason in LEFT_OUT.items() if text in command), None)


def expected_answer(command: str) -> int | None:
    """The HTTP status the README's comment says a command gets (`# 403`), if it says one."""
    found = re.search(r"#\s*(\d{3})\b", command)
    return int(found.group(1)) if found else None


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of the committed checkout. Its .venv is new (the clone's own smsbridge, editable) and sees the
    checkout's installed dependencies through a path file, and .venv-tools links to the checkout's SAM CLI: the
    test checks the README's commands, not pip's download of ~840 MB (the CI run bootstraps from nothing)."""
    target = tmp_path_factory.mktemp("clone") / "smsbridge"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "venv", str(target / ".venv")], check=True)
    site = subprocess.run(
        [str(target / ".venv" / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "checkout-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [str(target / ".venv" / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(target)],
        check=True,
        capture_output=True,
    )
    checksum = subprocess.run(["cksum", "pyproject.toml"], cwd=target, check=True, capture_output=True, text=True)
    for kind in ("dev", "local"):  # what the Makefile's install steps leave behind
        (target / ".venv" / f".installed-{kind}-{checksum.stdout.split()[0]}").touch()
    (target / ".venv-tools").symlink_to((ROOT / ".venv-tools").resolve())
    return target


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST", "VIRTUAL_ENV"))}


@pytest.fixture(scope="module")
def served(clone: Path) -> Iterator[subprocess.Popen[str]]:
    """`make serve` as the quick start runs it, in the clone, until the module ends."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 3000)) == 0:
            pytest.skip("port 3000, which the README's commands use, is taken on this machine")
    process = subprocess.Popen(
        ["bash", "-c", SERVE],
        cwd=clone,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: make and the server stop together
    )
    assert process.stdout is not None
    banner = []
    for line in process.stdout:
        banner.append(line)
        if line.strip() == "ready":
            break
    else:
        pytest.fail("make serve did not start:\n" + "".join(banner))
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        process.stdout.close()


def test_the_readme_shows_commands_and_leaves_out_only_what_needs_aws_or_recurses() -> None:
    commands = readme_commands()
    assert SERVE in [command.split("#")[0].strip() for command in commands]
    run = [command for command in commands if not left_out(command)]
    assert len(run) >= 6, run
    for command in commands:
        first = shlex.split(command, comments=True)[0] if shlex.split(command, comments=True) else ""
        # A fresh machine has neither on its PATH: the README spells out .venv/bin/smsbridge and .venv-tools/bin/sam.
        assert first not in ("smsbridge", "sam"), command


def test_readme_commands_run_as_written_in_a_fresh_clone(clone: Path, served: subprocess.Popen[str]) -> None:
    ran = []
    for command in readme_commands():
        if left_out(command) or command.split("#")[0].strip() == SERVE:
            continue
        started = time.monotonic()
        done = subprocess.run(
            ["bash", "-c", command], cwd=clone, env=_environment(), capture_output=True, text=True, timeout=300,
            check=False,
        )  # fmt: skip
        output = done.stdout + done.stderr
        if command.startswith("make build") and "needs Python 3.13" in output:
            continue  # as the README says it does without Python 3.13; this machine has none
        answer = expected_answer(command)
        if answer is not None and answer >= 400:
            assert done.returncode == 1, (command, output)  # simulate exits 1 on a refusal
            assert f"HTTP {answer}" in output, (command, output)
        else:
            assert done.returncode == 0, (command, output)
        ran.append((command.splitlines()[0], round(time.monotonic() - started, 1)))
    assert any("simulate inbound" in command for command, _ in ran), ran
    assert served.poll() is None, "make serve stopped while the commands ran"


FAKE_SAM = """#!/usr/bin/env bash
# Stands in for the SAM CLI: records its arguments; `deploy --guided` saves a region as SAM's guided deploy does.
echo "$*" >> sam-calls.txt
if [ "$1 $2" = "deploy --guided" ]; then
  sed -i '/^\\[default.deploy.parameters\\]/a region = "eu-west-1"' samconfig.toml
fi
if [ "$1 $2" = "list stack-outputs" ]; then
  echo "InboundUrl  https://example.execute-api.eu-west-1.amazonaws.com/twilio/inbound"
fi
"""


def test_make_deploy_is_guided_the_first_time_then_plain_and_prints_the_outputs(clone: Path) -> None:
    tools = clone.parent / "stand-ins"
    tools.mkdir()
    (tools / "sam").write_text(FAKE_SAM)
    (tools / "python3.13").write_text("#!/bin/sh\nexit 0\n")  # the Makefile only asks whether it is 3.13
    for tool in tools.iterdir():
        tool.chmod(0o755)
    make = ["make", "--no-print-directory", "deploy", f"SAM={tools / 'sam'}", f"PY313_DIR={tools}"]
    first = subprocess.run(make, cwd=clone, env=_environment(), capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "WebhookFunction has no authentication. Is this okay?" in first.stdout  # explained before it is asked
    second = subprocess.run(make, cwd=clone, env=_environment(), capture_output=True, text=True, check=False)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "InboundUrl" in second.stdout
    outputs = "list stack-outputs --stack-name smsbridge --region eu-west-1 --output table"
    assert (clone / "sam-calls.txt").read_text().splitlines() == [
        "build", "deploy --guided", outputs,
        "build", "deploy --no-fail-on-empty-changeset", outputs,
    ]  # fmt: skip


@pytest.mark.parametrize(("ci", "returncode", "says"), [("", 0, "SKIPPED"), ("true", 2, "FAILED")])
def test_make_test_without_python_313_says_so_and_fails_only_under_ci(
    clone: Path, ci: str, returncode: int, says: str
) -> None:
    done = subprocess.run(
        ["make", "--no-print-directory", "build-check", f"PY313_DIR={clone / 'nowhere'}", f"CI={ci}"],
        cwd=clone, env=_environment(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == returncode, done.stdout + done.stderr
    assert f"{says}" in done.stdout and "sam build needs Python 3.13" in done.stdout
    assert "pyenv install 3.13" in done.stdout  # and how to get it
