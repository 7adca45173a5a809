"""The webhook models: what Twilio sends is accepted, unknown fields are kept, malformed fields are named."""

from __future__ import annotations

import pytest

from smsbridge.domain.payloads import InboundMessage, StatusCallback, parse_webhook
from smsbridge.domain.status import MessageStatus
from smsbridge.errors import InvalidPayload
from smsbridge.ops.simulate import inbound_params, status_params

SERVICE_SID = "MG" + "1" * 32


@pytest.mark.parametrize(
    "address",
    [
        "+14155550100",
        "+447700900123",
        "+33612345678",
        "53079",
        "898211",
        "whatsapp:+14155550100",
        "messenger:1234567890",
        "rcs:+14155550100",
        "MyBrand",
        "ACME Inc",
    ],
)
def test_addresses_twilio_uses_are_accepted(address: str) -> None:
    message = parse_webhook(InboundMessage, inbound_params(sender=address))
    assert message.sender == address


@pytest.mark.parametrize("address", ["", "14155550100x", "+0123456789", "+1 415 555 0100", "12", "<script>", "a" * 30])
def test_malformed_addresses_are_refused_by_name(address: str) -> None:
    with pytest.raises(InvalidPayload, match="From"):
        parse_webhook(InboundMessage, inbound_params(sender=address))


def test_unknown_and_blank_fields_are_kept() -> None:
    message = parse_webhook(InboundMessage, [*inbound_params(), ("NewTwilioField", "v"), ("ProfileName", "")])
    assert message.fields["NewTwilioField"] == "v"
    assert message.fields["ProfileName"] == ""
    assert message.fields["FromCity"] == ""


def test_inbound_scope_is_messaging_service_when_present_else_our_number() -> None:
    assert parse_webhook(InboundMessage, inbound_params(recipient="+14155550199")).scope == "+14155550199"
    with_service = parse_webhook(InboundMessage, inbound_params(messaging_service_sid=SERVICE_SID))
    assert with_service.scope == SERVICE_SID


def test_status_scope_is_our_sending_number() -> None:
    callback = parse_webhook(StatusCallback, status_params(sender="+14155550199", recipient="+14155550100"))
    assert callback.scope == "+14155550199"


def test_mms_without_text_has_an_empty_body() -> None:
    params = [(n, v) for n, v in inbound_params() if n != "Body"] + [("NumMedia", "1")]
    params = [p for p in params if p != ("NumMedia", "0")]
    message = parse_webhook(InboundMessage, params)
    assert message.body == ""
    assert message.num_media == 1


def test_opt_out_type_is_read_case_insensitively_and_blank_is_none() -> None:
    assert parse_webhook(InboundMessage, inbound_params(opt_out_type="STOP")).opt_out_type == "STOP"
    assert parse_webhook(InboundMessage, [*inbound_params(), ("OptOutType", "")]).opt_out_type is None
    with pytest.raises(InvalidPayload, match="OptOutType"):
        parse_webhook(InboundMessage, [*inbound_params(), ("OptOutType", "MAYBE")])


def test_status_callback_fields() -> None:
    callback = parse_webhook(StatusCallback, status_params(status="undelivered", error_code="30006"))
    assert callback.status is MessageStatus.UNDELIVERED
    assert callback.error_code == 30006
    assert callback.raw_dlr_done_date == "2611271310"


def test_unknown_status_is_refused_with_the_value_named() -> None:
    with pytest.raises(InvalidPayload, match="MessageStatus"):
        parse_webhook(StatusCallback, status_params(status="teleported"))


def test_legacy_sms_sid_alone_is_enough() -> None:
    params = [(n, v) for n, v in status_params() if n not in ("MessageSid",)]
    assert parse_webhook(StatusCallback, params).message_sid.startswith("SM")


def test_declared_field_given_twice_is_refused() -> None:
    with pytest.raises(InvalidPayload, match="From is given more than once"):
        parse_webhook(InboundMessage, [*inbound_params(), ("From", "+14155550111")])


def test_missing_fields_are_all_named() -> None:
    with pytest.raises(InvalidPayload) as raised:
        parse_webhook(StatusCallback, [("ApiVersion", "2010-04-01")])
    for name in ("MessageSid", "AccountSid", "To", "MessageStatus"):
        assert f"{name} is required" in str(raised.value)


def test_a_status_callback_without_from_is_read_with_the_messaging_service_as_its_scope() -> None:
    # a Messaging Service message that failed before a sender was chosen (21610 at service level): no From
    service = "MG" + "c" * 32
    params = [pair for pair in status_params(status="failed", error_code="21610", messaging_service_sid=service)
              if pair[0] != "From"]  # fmt: skip
    callback = parse_webhook(StatusCallback, params)
    assert callback.sender == "" and callback.scope == service
    with pytest.raises(InvalidPayload, match="From is required when there is no MessagingServiceSid"):
        parse_webhook(StatusCallback, [pair for pair in status_params(status="failed") if pair[0] != "From"])
