"""`smsbridge smoke --local` against the local stack (run in this process, so a test can stop its CI360 stub or
its forwarder): it passes on a healthy stack and names the failing hop, with a fix, when one is broken."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from smsbridge.cli import main
from smsbridge.domain.ci360_events import SMOKE_EVENT_NAME
from smsbridge.local.server import LocalStack
from smsbridge.ops.simulate import TEST_AUTH_TOKEN

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    saved = dict(os.environ)  # the local stack points boto3 at its moto server through the environment
    running = LocalStack(auth_token=TEST_AUTH_TOKEN, port=0, state_file=tmp_path_factory.mktemp("smoke") / "local.json",
                         sync_seconds=0, retry_base_seconds=1, echo=lambda _: None)  # fmt: skip
    running.start()
    try:
        yield running
    finally:
        running.stop()
        os.environ.clear()
        os.environ.update(saved)


def smoke(stack: LocalStack, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = main(["smoke", "--local", "--state-file", str(stack.state_file), *args])
    return code, capsys.readouterr().out.splitlines()


def hop(lines: list[str], name: str) -> str:
    [line] = [line for line in lines if line[6:].startswith(name)]
    return line


def test_smoke_passes_hop_by_hop_on_a_healthy_stack(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = smoke(stack, capsys)
    assert code == 0, "\n".join(lines)
    for name in ("webhook status callback", "webhook reply", "records in DynamoDB", "CI360 credentials",
                 "forwarder -> CI360", "preference sync"):  # fmt: skip
        assert hop(lines, name).startswith("ok  "), name
    assert lines[-1] == "all hops passed"
    assert f"delivered, reply sent to CI360 as {SMOKE_EVENT_NAME!r}" in hop(lines, "forwarder -> CI360")  # house word
    # the events went to the smoke event, addressed to an identity CI360 does not have, and to nothing else
    assert stack.stub is not None
    bodies = [event.body for event in stack.stub.events()]
    assert {(body["eventName"], body["datahub_id"]) for body in bodies} == {(SMOKE_EVENT_NAME, "smsbridge-smoke")}


def test_a_wrong_token_fails_at_the_webhook_with_the_fix(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = smoke(stack, capsys, "--auth-token", "f" * 32)
    assert code == 1
    assert hop(lines, "webhook status callback").startswith("FAIL") and "HTTP 403" in "\n".join(lines)
    [fix] = [line for line in lines if "fix: the signature was refused" in line][:1]
    # the fix names what a local run has (smsbridge serve's options), not a deployed stack's secret or outputs
    assert "--auth-token is not the token `smsbridge serve` verifies with" in fix
    assert not any(aws in fix for aws in ("AuthTokensSecret", "PublicBaseUrl", "stack's secret"))
    assert hop(lines, "records in DynamoDB").startswith("skip")
    assert lines[-1].startswith("failed: webhook status callback, webhook reply")


def test_ci360_down_fails_the_credentials_and_forwarder_hops(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stack.stub is not None
    stack.stub.faults.down = True
    try:
        code, lines = smoke(stack, capsys, "--wait", "3")
    finally:
        stack.stub.faults.down = False
    assert code == 1
    assert hop(lines, "webhook reply").startswith("ok  ") and hop(lines, "records in DynamoDB").startswith("ok  ")
    assert hop(lines, "CI360 credentials").startswith("FAIL") and "cannot reach" in hop(lines, "CI360 credentials")
    forwarder = hop(lines, "forwarder -> CI360")
    # still waiting, or parked with the reason (a dropped connection is an ambiguous answer: tried twice, then parked)
    assert forwarder.startswith("FAIL") and ("no outcome after 3 s" in forwarder or "parked: " in forwarder)
    assert any(line.strip().startswith("fix: ") for line in lines[lines.index(forwarder) + 1 :][:1]), lines


def test_a_stopped_forwarder_is_named(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    sources = stack._sources  # the local stack's event sources: stopped, as a disabled event source mapping
    assert sources is not None
    sources.stop()  # for good: this is the module's last test on the stack
    code, lines = smoke(stack, capsys, "--wait", "2")
    assert code == 1
    assert hop(lines, "CI360 credentials").startswith("ok  ")
    assert hop(lines, "forwarder -> CI360").startswith("FAIL")
    [fix] = [line for line in lines if "fix: the forwarder is not turning records into events" in line]
    assert "`make serve`'s console" in fix and "ForwarderErrorsAlarm" not in fix


def test_smoke_without_a_deployment_says_where_to_point_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["smoke", "--local", "--state-file", str(tmp_path / "none.json"), "--wait", "0"])
    err = capsys.readouterr().err
    assert code == 3 and "the local stack is not running" in err and err.count("\n") == 1  # one line, cannot reach
