"""`smsbridge ci360 events | connector-body | check`: what a user pastes into CI360, and the credential check."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from smsbridge.cli import main
from smsbridge.local.ci360_stub import Ci360Stub
from smsbridge.local.server import STUB_SECRET as SECRET
from smsbridge.local.server import STUB_TENANT as TENANT


@pytest.fixture
def stub() -> Iterator[Ci360Stub]:
    with Ci360Stub(tenant_id=TENANT, client_secret=SECRET, event_names=["SMS Reply"]) as running:
        yield running


def check(capsys: pytest.CaptureFixture[str], url: str, tenant: str = TENANT, secret: str = SECRET) -> tuple[int, str]:
    code = main(["ci360", "check", "--url", url, "--tenant", tenant, "--secret", secret])
    return code, capsys.readouterr().out


def test_check_says_all_is_well(stub: Ci360Stub, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(capsys, stub.url)
    assert code == 0 and out.startswith("OK:")


def test_check_names_a_wrong_secret(stub: Ci360Stub, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(capsys, stub.url, secret="d3Jvbmc=" * 6)
    assert code == 1 and "client secret does not match" in out


def test_check_names_an_unknown_tenant_or_region(stub: Ci360Stub, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(capsys, stub.url, tenant="ffffffffffffffffffffffff")
    assert code == 1 and "does not know this tenant" in out and "region" in out


def test_check_names_an_unreachable_host(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, out = check(capsys, f"http://127.0.0.1:{port}")
    assert code == 1 and out.startswith(f"cannot reach http://127.0.0.1:{port}")


def test_events_lists_each_enabled_event_with_its_attributes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENT_NAME_READ", "")
    assert main(["ci360", "events"]) == 0
    out = capsys.readouterr().out
    names = [line.split("  (")[0] for line in out.splitlines() if not line.startswith(" ")]
    assert names == [
        "SMS Reply",
        "SMS Opt-Out",
        "SMS Opt-In",
        "SMS Help",
        "SMS Delivered",
        "SMS Undelivered",
        "SMS Failed",
    ]
    assert "  reply_text               character" in out
    assert "  error_code               numeric" in out


def test_connector_body_points_at_the_stack(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ci360", "connector-body", "--base-url", "https://abc.execute-api.us-east-1.amazonaws.com/"]) == 0
    body = capsys.readouterr().out.strip()
    assert body.startswith("To={{$toPhoneNumber}}&From={{$fromPhoneNumber}}&Body={{$messageBody}}&StatusCallback=")
    assert "https%3A%2F%2Fabc.execute-api.us-east-1.amazonaws.com%2Ftwilio%2Fstatus%3Fdh%3D{{$datahubId}}" in body
