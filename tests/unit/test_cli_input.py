"""What the CLI accepts from a person: times, numbers, scopes, SIDs, counts, URLs (smsbridge/ops/inputs.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from smsbridge.ops import inputs
from smsbridge.ops.inputs import InputError

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "meant"),
    [
        ("2026-11-01", "2026-11-01T00:00:00+00:00"),
        ("2026-11-01T08:00:00Z", "2026-11-01T08:00:00+00:00"),
        ("2026-11-01T09:00:00+01:00", "2026-11-01T08:00:00+00:00"),
        ("24h", "2026-11-29T12:00:00+00:00"),
        ("7d", "2026-11-23T12:00:00+00:00"),
        ("30m", "2026-11-30T11:30:00+00:00"),
    ],
)
def test_since_takes_iso_dates_times_with_zone_and_ages(given: str, meant: str) -> None:
    assert inputs.since_time(given, now=NOW) == meant


@pytest.mark.parametrize("given", ["yesterday", "0", "2026/11/30", "", "7 days", "2026-13-01"])
def test_since_refuses_what_is_not_a_time_and_says_what_to_give(given: str) -> None:
    with pytest.raises(InputError, match=r"give an ISO 8601 date \(2026-11-01\)"):
        inputs.since_time(given, now=NOW)


def test_since_refuses_a_time_without_zone() -> None:
    with pytest.raises(InputError, match="no time zone: add Z"):
        inputs.since_time("2026-11-01T08:00:00", now=NOW)


def test_phone_numbers_in_e164_and_channel_addresses_pass() -> None:
    assert inputs.phone_number("+14155550100") == "+14155550100"
    assert inputs.phone_number("whatsapp:+14155550100") == "whatsapp:+14155550100"


@pytest.mark.parametrize(
    ("given", "suggestion"),
    [
        ("4155550100", "+14155550100"),
        ("14155550100", "+14155550100"),
        ("(415) 555-0100", "+14155550100"),
        ("+1 415 555 0100", "+14155550100"),
        ("00447700900123", "+447700900123"),
    ],
)
def test_a_number_with_one_reading_gets_did_you_mean(given: str, suggestion: str) -> None:
    with pytest.raises(InputError, match=rf"did you mean \{suggestion}\?"):
        inputs.phone_number(given)


@pytest.mark.parametrize("given", ["abc", "07700900123", "0415555010", "1234", "+0123456789"])
def test_an_ambiguous_or_impossible_number_gets_no_guess(given: str) -> None:
    with pytest.raises(InputError) as refused:
        inputs.phone_number(given)
    assert "did you mean" not in str(refused.value)
    assert "E.164" in str(refused.value)


def test_scopes_are_numbers_or_well_formed_service_sids() -> None:
    assert inputs.scope("MG" + "a" * 32) == "MG" + "a" * 32
    assert inputs.scope("+14155550199") == "+14155550199"
    with pytest.raises(InputError, match="looks like a Messaging Service SID but is not MG and 32 hex digits"):
        inputs.scope("MGxyz")
    with pytest.raises(InputError, match="not a sender number or Messaging Service SID"):
        inputs.scope("not a scope!")


def test_message_sids() -> None:
    assert inputs.message_sid("SM" + "0" * 32) == "SM" + "0" * 32
    with pytest.raises(InputError, match="not a message SID"):
        inputs.message_sid("SM123")


@pytest.mark.parametrize("given", ["0", "-1", "many"])
def test_counts_are_one_or_more(given: str) -> None:
    with pytest.raises(InputError):
        inputs.positive_count(given)
    assert inputs.positive_count("3") == 3


def test_a_time_ahead_of_now_is_refused() -> None:
    with pytest.raises(InputError, match="is in the future"):
        inputs.not_in_future(datetime(2030, 1, 1, tzinfo=UTC), now=NOW, what="updated_at")
    assert inputs.not_in_future(NOW, now=NOW, what="updated_at") == NOW


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:3000/twilio/inbound",
        "http://localhost:3000/twilio/inbound",
        "http://10.0.0.5/twilio/inbound",
        "http://192.168.1.2/x",
        "http://[::1]:3000/x",
        "http://printer.local/x",
    ],
)
def test_loopback_and_private_urls_are_named(url: str) -> None:
    assert inputs.local_host_problem(url)


def test_public_urls_pass() -> None:
    assert inputs.local_host_problem("https://abc.execute-api.us-east-1.amazonaws.com/twilio/inbound") is None
    assert inputs.local_host_problem("https://52.94.236.248/twilio/inbound") is None


def test_the_clis_own_copies_of_kinds_and_the_test_token_match_the_source() -> None:
    """cli/ spells these out so building a parser imports nothing heavy; they must not drift from the real ones."""
    from smsbridge.cli.options import TEST_TOKEN_HELP
    from smsbridge.cli.replay import EVENT_KINDS
    from smsbridge.domain.ci360_events import EventKind
    from smsbridge.ops.simulate import TEST_AUTH_TOKEN

    assert EVENT_KINDS == tuple(kind.value for kind in EventKind)
    assert TEST_TOKEN_HELP.endswith(f"{TEST_AUTH_TOKEN[:4]}…{TEST_AUTH_TOKEN[-4:]}")
