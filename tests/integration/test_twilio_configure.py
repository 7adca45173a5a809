"""`smsbridge twilio configure` against a stand-in of Twilio's API: a dry run by default, the diff, then --apply."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smsbridge.cli import main
from smsbridge.ops.twilio_setup import DEFAULT_URL_FRAGMENT
from tests.twilio_api_stub import ACCOUNT, SERVICE_SID, TOKEN, TwilioApiStub

BASE = "https://abc123def4.execute-api.us-east-1.amazonaws.com"


@pytest.fixture
def twilio() -> Iterator[TwilioApiStub]:
    with TwilioApiStub() as stub:
        yield stub


def configure(twilio: TwilioApiStub, *args: str) -> int:
    return main(
        [
            "twilio",
            "configure",
            "--account-sid",
            ACCOUNT,
            "--auth-token",
            TOKEN,
            "--twilio-api-url",
            twilio.url,
            "--inbound-url",
            f"{BASE}/twilio/inbound",
            "--status-url",
            f"{BASE}/twilio/status",
            *args,
        ]
    )


def test_number_dry_run_shows_the_change_and_writes_nothing(
    twilio: TwilioApiStub, capsys: pytest.CaptureFixture[str]
) -> None:
    assert configure(twilio, "--phone-number", "+14155550199") == 0
    out = capsys.readouterr().out
    assert "would change (dry run; --apply to write)" in out
    assert f"sms_url: https://demo.twilio.com/welcome/sms/reply -> {BASE}/twilio/inbound#{DEFAULT_URL_FRAGMENT}" in out
    assert twilio.updates == []


def test_number_apply_writes_and_a_second_run_has_nothing_to_do(
    twilio: TwilioApiStub, capsys: pytest.CaptureFixture[str]
) -> None:
    assert configure(twilio, "--phone-number", "+14155550199", "--fragment", "rc=3&rp=5xx,ct,rt", "--apply") == 0
    assert twilio.number["sms_url"] == f"{BASE}/twilio/inbound#rc=3&rp=5xx,ct,rt"
    capsys.readouterr()
    assert configure(twilio, "--phone-number", "+14155550199", "--fragment", "rc=3&rp=5xx,ct,rt", "--apply") == 0
    assert "nothing to change" in capsys.readouterr().out
    assert len(twilio.updates) == 1


def test_messaging_service_gets_inbound_and_status_urls(
    twilio: TwilioApiStub, capsys: pytest.CaptureFixture[str]
) -> None:
    assert configure(twilio, "--messaging-service", SERVICE_SID, "--apply") == 0
    # the connection overrides the stack's TwilioUrlFragment defaults to, unless told otherwise
    assert twilio.service["inbound_request_url"] == f"{BASE}/twilio/inbound#{DEFAULT_URL_FRAGMENT}"
    assert twilio.service["status_callback"] == f"{BASE}/twilio/status#{DEFAULT_URL_FRAGMENT}"
    assert twilio.service["use_inbound_webhook_on_number"] is False
    assert "changed" in capsys.readouterr().out
    assert configure(twilio, "--messaging-service", SERVICE_SID, "--fragment", "", "--apply") == 0
    assert twilio.service["status_callback"] == f"{BASE}/twilio/status"


def test_unknown_number_and_bad_credentials_say_so(twilio: TwilioApiStub, capsys: pytest.CaptureFixture[str]) -> None:
    assert configure(twilio, "--phone-number", "+14155550000") == 2
    assert "has no number +14155550000" in capsys.readouterr().err
    code = main(
        [
            "twilio",
            "configure",
            "--account-sid",
            ACCOUNT,
            "--auth-token",
            "f" * 32,  # well formed, and not the account's
            "--twilio-api-url",
            twilio.url,
            "--inbound-url",
            f"{BASE}/twilio/inbound",
            "--status-url",
            f"{BASE}/twilio/status",
            "--phone-number",
            "+14155550199",
        ]
    )
    assert code == 2 and "Twilio answered 401" in capsys.readouterr().err


def test_a_loopback_url_needs_allow_local(twilio: TwilioApiStub, capsys: pytest.CaptureFixture[str]) -> None:
    local = [
        "--inbound-url",
        "http://127.0.0.1:3000/twilio/inbound",
        "--status-url",
        "http://127.0.0.1:3000/twilio/status",
    ]
    assert configure(twilio, "--phone", "+14155550199", *local, "--apply") == 2
    assert "Twilio cannot reach it" in capsys.readouterr().err and twilio.updates == []
    assert configure(twilio, "--phone", "+14155550199", *local, "--allow-local", "--apply") == 0
    assert twilio.number["sms_url"] == f"http://127.0.0.1:3000/twilio/inbound#{DEFAULT_URL_FRAGMENT}"
