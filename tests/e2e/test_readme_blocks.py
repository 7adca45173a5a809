"""Every command block of the README and docs/ that needs no AWS or Twilio account runs as written, from the root of
a fresh clone of the committed checkout, and exits as the page says. Each block runs in one shell, so the variables it
sets hold for its later commands. Commands that need an account, and `make test` itself, are left out with the
reason."""

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
from tests.documents import bash_blocks

pytestmark = [pytest.mark.e2e, pytest.mark.readme]
# Commands left out, by what they contain, and why.
LEFT_OUT = {
    "make test": "recurses into make test, which runs this test",
    "make deploy": "needs an AWS account (its flow is tested with a stand-in SAM CLI in test_make_deploy.py)",
    "make serve": "runs until stopped: the test starts `make serve` once, before the blocks",
    "--stack": "reads a deployed stack: needs an AWS account",
    "sam delete": "deletes a deployed stack: needs an AWS account",
    "TWILIO_ACCOUNT_SID": "a Twilio account's credentials, for twilio configure: needs a Twilio account",
    "read -r": "asks for an account's secret or value at the terminal",
}
AWS_CLI = re.compile(r"(^|[\s;|&({])aws ")  # the AWS CLI, with the reader's credentials
PLACEHOLDER = re.compile(r"<[^<>\n]+>")  # a <value to fill in> (tests/unit/test_documents.py keeps blocks free of them)
SERVE = "make serve"  # runs until stopped: started in the background, and the commands after it use it
MARK = "@@smsbridge-test-exit"


def left_out(command: str) -> str | None:
    command = shlex.join(shlex.split(command, comments=True))  # what runs: a comment may say anything
    if PLACEHOLDER.search(command):
        return "takes values from a deployed stack (its outputs, its token): needs an AWS account"
    if AWS_CLI.search(command):
        return "calls AWS with the reader's credentials: needs an AWS account"
    return next((reason for text, reason in LEFT_OUT.items() if text in command), None)


def defined_by(command: str) -> set[str]:
    """The shell variables and functions a command sets (`NAME=…`, `NAME() {…}`, `read … NAME`)."""
    names = set()
    for segment in re.split(r"&&|;|\|\|", command):
        words = segment.split()
        if words and words[0] == "read":
            names.add(words[-1])
        elif found := re.match(r"\s*(?:export\s+)?(\w+)(=|\s*\(\))", segment):
            names.add(found.group(1))
    return names


def runnable(block: list[str]) -> list[str]:
    """The commands of a block the test runs: not left out, and using nothing only a left-out command sets."""
    unset: set[str] = set()
    kept = []
    for command in block:
        if left_out(command) or any(re.search(rf"\$\{{?\(?{name}\b", command) for name in unset):
            unset |= defined_by(command)
        else:
            kept.append(command)
    return kept


def expected_answer(command: str) -> int | None:
    """The HTTP status the page's comment says a command gets (`# 403`), if it says one."""
    found = re.search(r"#\s*(\d{3})\b", command)
    return int(found.group(1)) if found else None


def run_block(commands: list[str], cwd: Path) -> list[tuple[str, int, str]]:
    """(command, exit status, output) of each command, run one after another in one bash, as a reader pastes them."""
    script = "".join(f"{command}\nprintf '\\n{MARK} %s\\n' \"$?\"\n" for command in commands)
    done = subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=_environment(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=300, check=False,
    )  # fmt: skip
    parts = re.split(rf"\n{MARK} (\d+)\n", done.stdout)
    outputs, statuses = parts[0:-1:2], [int(status) for status in parts[1::2]]
    assert len(statuses) == len(commands), done.stdout
    return list(zip(commands, statuses, outputs, strict=True))


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of the committed checkout. Its .venv is new (the clone's own smsbridge, editable) and sees the
    checkout's installed dependencies through a path file, and .venv-tools links to the checkout's SAM CLI: the
    test checks the documents' commands, not pip's download of ~840 MB (the CI run bootstraps from nothing)."""
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
            pytest.skip("port 3000, which the documents' commands use, is taken on this machine")
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


def test_the_documents_show_commands_and_leave_out_only_what_needs_an_account_or_recurses() -> None:
    blocks = bash_blocks()
    assert SERVE in [command.split("#")[0].strip() for command in blocks[0][1]]  # the README's first block
    commands = [command for _, block in blocks for command in block]
    assert sum(len(runnable(block)) for _, block in blocks) >= 20, commands
    for command in commands:
        words = shlex.split(command, comments=True)
        # A fresh machine has neither on its PATH: the pages spell out .venv/bin/smsbridge and .venv-tools/bin/sam.
        assert (words or [""])[0] not in ("smsbridge", "sam"), command


def test_document_commands_run_as_written_in_a_fresh_clone(clone: Path, served: subprocess.Popen[str]) -> None:
    ran = []
    for page, block in bash_blocks():
        commands = runnable(block)
        if not commands:
            continue
        started = time.monotonic()
        for command, status, output in run_block(commands, clone):
            if command.startswith("make build") and "needs Python 3.13" in output:
                continue  # as docs/deploy.md says it does without Python 3.13; this machine has none
            answer = expected_answer(command)
            if answer is not None and answer >= 400:
                assert status == 1, (page, command, output)  # simulate exits 1 on a refusal
                assert f"HTTP {answer}" in output, (page, command, output)
            else:
                assert status == 0, (page, command, output)
        ran.append((page, commands[0].splitlines()[0], round(time.monotonic() - started, 1)))
    assert any("simulate inbound" in command for _, command, _ in ran), ran
    assert {page for page, _, _ in ran} >= {"README.md", "docs/ci360.md", "docs/operations.md"}, ran
    assert served.poll() is None, "make serve stopped while the commands ran"


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
