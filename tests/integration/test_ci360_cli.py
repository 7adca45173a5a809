"""`smsbridge ci360 events | connector-body | check`: what a user pastes into CI360, and the credential check."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest

from smsbridge.cli import main
from smsbridge.local.ci360_stub import Ci360Stub
from smsbridge.local.server import STUB_SECRET as SECRET
from smsbridge.local.server import STUB_TENANT as TENANT
from smsbridge.ops.twilio_setup import DEFAULT_URL_FRAGMENT


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
    assert code == 3 and out.startswith(f"cannot reach http://127.0.0.1:{port}")  # 3: cannot reach it


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
        "smsbridge smoke test",  # for `smsbridge smoke`: no journey listens to it
    ]
    assert "  reply_text               character" in out
    assert "  error_code               numeric" in out


def body_printed(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, str], str]:
    try:
        code = main(["ci360", "connector-body", *args])
    except SystemExit as exited:  # argparse refused an option's value
        code = int(exited.code or 0)
    out, err = capsys.readouterr()
    fields = dict(parse_qsl(out.strip())) if code == 0 else {}
    return code, fields, err


def test_connector_body_sends_through_a_messaging_service_with_the_fragment(capsys: pytest.CaptureFixture[str]) -> None:
    code, fields, _ = body_printed(capsys, "--base-url", "https://abc.execute-api.us-east-1.amazonaws.com/")
    assert code == 0 and list(fields) == ["To", "MessagingServiceSid", "Body", "StatusCallback"]
    assert fields["MessagingServiceSid"] == "{{$messagingServiceSid}}"
    callback = urlsplit(fields["StatusCallback"])
    assert callback.path == "/twilio/status" and callback.netloc == "abc.execute-api.us-east-1.amazonaws.com"
    assert callback.query == "dh={{$datahubId}}&rtc={{$responseTrackingCode}}&tc={{$taskCode}}"
    assert callback.fragment == DEFAULT_URL_FRAGMENT == "rc=2&rp=5xx,ct,rt&ct=2000&rt=5000&tt=15000"


def test_connector_body_keeps_from_when_asked_and_takes_a_service_sid(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--base-url", "https://hooks.example.com/sms"]
    _, fields, _ = body_printed(capsys, *base, "--from-number", "--fragment", "")
    assert fields["From"] == "{{$fromPhoneNumber}}" and "MessagingServiceSid" not in fields
    assert urlsplit(fields["StatusCallback"]).fragment == ""
    assert fields["StatusCallback"].startswith("https://hooks.example.com/sms/twilio/status?")
    _, fields, _ = body_printed(capsys, *base, "--messaging-service", "MG" + "a" * 32)
    assert fields["MessagingServiceSid"] == "MG" + "a" * 32


@pytest.mark.parametrize(
    ("base_url", "words"),
    [
        ("https://abc.execute-api.us-east-1.amazonaws.com/twilio/status", "give https://abc.execute-api"),
        ("https://hooks.example.com/sms/twilio/inbound", "give https://hooks.example.com/sms (without"),
        ("http://abc.execute-api.us-east-1.amazonaws.com", "must be an https URL"),
        ("abc.execute-api.us-east-1.amazonaws.com", "must be an https URL"),
        ("https://hooks.example.com/sms?x=1", "no query or fragment"),
        ("https://hooks.example.com/sms/twilio", "ends in /twilio"),
    ],
)
def test_connector_body_refuses_a_base_url_that_is_not_one(
    capsys: pytest.CaptureFixture[str], base_url: str, words: str
) -> None:
    code, _, err = body_printed(capsys, "--base-url", base_url)
    assert code == 2 and words in err  # wrong usage: nothing printed to paste


def test_connector_body_refuses_a_messaging_service_that_is_not_a_sid(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = body_printed(capsys, "--base-url", "https://h.example.com", "--messaging-service", "PN123")
    assert code == 2 and "Messaging Service SID" in err
