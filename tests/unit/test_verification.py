"""Consent facts judged against Twilio's Message resource: each reason, each verdict, and reading the resource."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from smsbridge.domain import verification as v
from smsbridge.domain.verification import (
    TwilioMessage,
    VerificationVerdict,
    parse_message_resource,
    verify_inbound,
    verify_status,
)

ACCOUNT = "AC" + "a" * 32
OTHER_ACCOUNT = "AC" + "b" * 32
SID = "SM" + "1" * 32
PERSON = "+14155550123"
OUR_NUMBER = "+14155550199"
SERVICE = "MG" + "2" * 32


def resource(**overrides: Any) -> dict[str, Any]:
    """An inbound Message resource in the shape of Twilio's documented example (docs/contracts.md)."""
    data: dict[str, Any] = {
        "body": "STOP", "num_segments": "1", "direction": "inbound", "from": PERSON, "to": OUR_NUMBER,
        "date_updated": "Thu, 30 Jul 2015 20:12:33 +0000", "price": None, "error_message": None,
        "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{SID}.json", "account_sid": ACCOUNT, "num_media": "0",
        "status": "received", "messaging_service_sid": None, "sid": SID,
        "date_sent": "Thu, 30 Jul 2015 20:12:31 +0000", "date_created": "Thu, 30 Jul 2015 20:12:30 +0000",
        "error_code": None, "price_unit": "USD", "api_version": "2010-04-01",
        "subresource_uris": {"media": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{SID}/Media.json"},
    }  # fmt: skip
    data.update(overrides)
    return data


INBOUND = parse_message_resource(resource())
OUTBOUND_21610 = {"direction": "outbound-api", "from": None, "to": PERSON, "status": "failed", "error_code": 21610,
                  "body": "Our offer", "messaging_service_sid": SERVICE, "date_sent": None}  # fmt: skip
FAILED_21610 = parse_message_resource(resource(**OUTBOUND_21610))


def inbound(message: TwilioMessage | None, **overrides: Any) -> v.Verification:
    facts: dict[str, Any] = {"account_sid": ACCOUNT, "message_sid": SID, "sender": PERSON, "recipient": OUR_NUMBER,
                             "body": "STOP", **overrides}  # fmt: skip
    return verify_inbound(message, **facts)


def status(message: TwilioMessage | None, **overrides: Any) -> v.Verification:
    facts: dict[str, Any] = {"account_sid": ACCOUNT, "message_sid": SID, "recipient": PERSON, "error_code": 21610,
                             **overrides}  # fmt: skip
    return verify_status(message, **facts)


# -- reading the resource


def test_the_documented_resource_is_read_with_its_dates_in_utc() -> None:
    assert INBOUND.sid == SID and INBOUND.account_sid == ACCOUNT
    assert (INBOUND.sender, INBOUND.recipient, INBOUND.body) == (PERSON, OUR_NUMBER, "STOP")
    assert INBOUND.is_inbound and not INBOUND.is_outbound
    assert INBOUND.date_sent == datetime(2015, 7, 30, 20, 12, 31, tzinfo=UTC)
    assert INBOUND.date_created == datetime(2015, 7, 30, 20, 12, 30, tzinfo=UTC)
    assert INBOUND.error_code is None and INBOUND.messaging_service_sid is None


def test_other_zones_channel_addresses_and_quoted_error_codes_are_read() -> None:
    other_forms = {"date_sent": "Thu, 30 Jul 2015 22:12:31 +0200", "from": "whatsapp:+14155550123",
                   "error_code": "30007", "messaging_service_sid": SERVICE, "body": None}  # fmt: skip
    message = parse_message_resource(resource(**other_forms))
    assert message.date_sent == datetime(2015, 7, 30, 20, 12, 31, tzinfo=UTC)
    assert message.sender == "whatsapp:+14155550123"
    assert message.error_code == 30007 and message.messaging_service_sid == SERVICE
    assert message.body == ""


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sid", "SM123"), ("sid", None), ("account_sid", "PN" + "a" * 32), ("to", ""), ("to", 4155550123),
        ("from", 5), ("direction", ""), ("direction", "Inbound!"), ("status", None), ("error_code", "twelve"),
        ("error_code", True), ("error_code", 1.5), ("messaging_service_sid", "MG1"), ("date_sent", "30/07/2015"),
        ("date_created", 1438287151),
    ],
)  # fmt: skip
def test_a_malformed_resource_names_the_field_never_the_value(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field) as raised:
        parse_message_resource(resource(**{field: value}))
    if isinstance(value, str) and value:
        assert value not in str(raised.value)


def test_an_answer_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="not a JSON object"):
        parse_message_resource([])  # type: ignore[arg-type]


# -- inbound facts


def test_an_inbound_fact_twilio_holds_is_confirmed_with_when_it_was_sent() -> None:
    verdict = inbound(INBOUND)
    assert verdict == v.Verification(VerificationVerdict.CONFIRMED, v.MATCHES, INBOUND.date_sent)
    assert verdict.confirmed


def test_sent_at_falls_back_to_date_created() -> None:
    assert inbound(replace(INBOUND, date_sent=None)).sent_at == INBOUND.date_created
    assert inbound(replace(INBOUND, date_sent=None, date_created=None)).sent_at is None


@pytest.mark.parametrize(
    ("message", "facts", "reason"),
    [
        (None, {}, v.NOT_FOUND),
        (INBOUND, {"message_sid": "SM" + "9" * 32}, v.NOT_FOUND),
        (INBOUND, {"account_sid": OTHER_ACCOUNT}, v.ACCOUNT_DIFFERS),
        (replace(INBOUND, direction="outbound-api"), {}, v.NOT_INBOUND),
        (replace(INBOUND, direction="outbound-reply"), {}, v.NOT_INBOUND),
        (INBOUND, {"sender": "+16285550106"}, v.SENDER_DIFFERS),
        (INBOUND, {"sender": "whatsapp:" + PERSON}, v.SENDER_DIFFERS),
        (INBOUND, {"recipient": "+14155550100"}, v.RECIPIENT_DIFFERS),
        (INBOUND, {"body": "START"}, v.BODY_DIFFERS),
        (INBOUND, {"body": "STOP "}, v.BODY_DIFFERS),  # compared exactly: Twilio documents no trimming
        (INBOUND, {"body": "stop"}, v.BODY_DIFFERS),
    ],
)  # fmt: skip
def test_each_difference_contradicts_an_inbound_fact(message: TwilioMessage | None, facts: dict[str, Any],
                                                     reason: str) -> None:  # fmt: skip
    verdict = inbound(message, **facts)
    assert (verdict.verdict, verdict.reason) == (VerificationVerdict.CONTRADICTED, reason)
    assert verdict.reason in v.REASONS


def test_the_issue_s_recut_into_a_victim_s_start_is_contradicted() -> None:
    # The attacker's own SMS, re-cut: Body=START, From=<victim>. Twilio holds the attacker's message as sent.
    attacker = replace(INBOUND, sender="+16285550106", body="STARTFrom+14155550123MessageSidSM" + "f" * 32)
    verdict = inbound(attacker, sender=PERSON, body="START")
    assert (verdict.verdict, verdict.reason) == (VerificationVerdict.CONTRADICTED, v.SENDER_DIFFERS)


def test_body_none_leaves_the_text_to_the_caller() -> None:
    assert inbound(replace(INBOUND, body="Start Fresh"), body=None).verdict is VerificationVerdict.CONFIRMED


def test_what_message_redaction_hides_is_unverifiable_not_contradicted() -> None:
    redacted = replace(INBOUND, sender="+1415555XXXX", body="")
    verdict = inbound(redacted)
    assert (verdict.verdict, verdict.reason) == (VerificationVerdict.UNVERIFIABLE, v.REDACTED)
    assert inbound(replace(INBOUND, body="")).verdict is VerificationVerdict.UNVERIFIABLE
    # What redaction keeps still contradicts: another prefix, another account, another direction.
    assert inbound(replace(INBOUND, sender="+1628555XXXX")).reason == v.SENDER_DIFFERS
    assert inbound(redacted, recipient="+14155550100").reason == v.RECIPIENT_DIFFERS


def test_a_contradiction_wins_over_what_is_redacted() -> None:
    verdict = inbound(replace(INBOUND, body=""), sender="+16285550106")
    assert (verdict.verdict, verdict.reason) == (VerificationVerdict.CONTRADICTED, v.SENDER_DIFFERS)


# -- status callbacks (21610 / 30004 back-fills)


def test_a_21610_back_fill_twilio_holds_is_confirmed_without_a_sender() -> None:
    verdict = status(FAILED_21610, status="failed", sender=OUR_NUMBER, messaging_service_sid=SERVICE)
    assert (verdict.verdict, verdict.reason) == (VerificationVerdict.CONFIRMED, v.MATCHES)
    assert verdict.sent_at == FAILED_21610.date_created  # never sent: the creation time


@pytest.mark.parametrize(
    ("message", "facts", "reason"),
    [
        (None, {}, v.NOT_FOUND),
        (FAILED_21610, {"message_sid": "SM" + "9" * 32}, v.NOT_FOUND),
        (FAILED_21610, {"account_sid": OTHER_ACCOUNT}, v.ACCOUNT_DIFFERS),
        (INBOUND, {"recipient": OUR_NUMBER}, v.NOT_OUTBOUND),
        (FAILED_21610, {"recipient": "+16285550106"}, v.RECIPIENT_DIFFERS),
        (replace(FAILED_21610, sender=OUR_NUMBER), {"sender": "+14155550100"}, v.SENDER_DIFFERS),
        (FAILED_21610, {"messaging_service_sid": "MG" + "3" * 32}, v.SERVICE_DIFFERS),
        (FAILED_21610, {"error_code": 30004}, v.ERROR_CODE_DIFFERS),
        (replace(FAILED_21610, error_code=None, status="delivered"), {}, v.ERROR_CODE_DIFFERS),
        (replace(FAILED_21610, status="queued", error_code=None), {"status": "failed"}, v.STATUS_DIFFERS),
        (replace(FAILED_21610, status="delivered"), {"status": "failed"}, v.STATUS_DIFFERS),
        (replace(FAILED_21610, status="something_new"), {"status": "failed"}, v.STATUS_DIFFERS),
    ],
)  # fmt: skip
def test_each_difference_contradicts_a_status_fact(message: TwilioMessage | None, facts: dict[str, Any],
                                                   reason: str) -> None:  # fmt: skip
    verdict = status(message, **facts)
    assert (verdict.verdict, verdict.reason) == (VerificationVerdict.CONTRADICTED, reason)


@pytest.mark.parametrize(
    ("callback", "resource_status"),
    [("failed", "failed"), ("sent", "undelivered"), ("queued", "failed"), ("undelivered", "delivered")],
)
def test_the_resource_may_be_past_the_callback_s_status(callback: str, resource_status: str) -> None:
    message = replace(FAILED_21610, status=resource_status)
    assert status(message, status=callback).verdict is VerificationVerdict.CONFIRMED


def test_a_status_fact_s_redacted_recipient_is_unverifiable() -> None:
    verdict = status(replace(FAILED_21610, recipient="+1415555XXXX"))
    assert (verdict.verdict, verdict.reason) == (VerificationVerdict.UNVERIFIABLE, v.REDACTED)
