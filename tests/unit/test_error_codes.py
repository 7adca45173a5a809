"""Twilio error codes in classes, each as Twilio's error dictionary describes the code (docs/contracts.md, Twilio)."""

from __future__ import annotations

import pytest

from smsbridge.domain.error_codes import ERROR_CLASSES, ErrorClass, classify_error

# code: (title on https://www.twilio.com/docs/api/errors/<code>, the class that follows from it)
TWILIO_ERROR_PAGES = {
    21610: ("Attempt to send to unsubscribed recipient", ErrorClass.OPTED_OUT),
    30004: ("Message blocked", ErrorClass.BLOCKED),
    30007: ("Message filtered", ErrorClass.FILTERED),
    21211: ("Invalid 'To' Phone Number", ErrorClass.RECIPIENT_PERMANENT),
    21614: ("'To' number is not a valid mobile number", ErrorClass.RECIPIENT_PERMANENT),
    21635: ("'To' number cannot be a landline", ErrorClass.RECIPIENT_PERMANENT),
    30005: ("Unknown destination handset", ErrorClass.RECIPIENT_PERMANENT),
    30006: ("Landline or unreachable carrier", ErrorClass.RECIPIENT_PERMANENT),
    30003: ("Unreachable destination handset", ErrorClass.RECIPIENT_TRANSIENT),
    30001: ("Queue overflow", ErrorClass.SENDER_TRANSIENT),
    30008: ("Unknown error", ErrorClass.UNKNOWN),
    30009: ("Missing inbound segment", ErrorClass.INBOUND_INCOMPLETE),
    21408: ("Permission to send an SMS has not been enabled for the region", ErrorClass.SENDER_CONFIGURATION),
    30002: ("Account suspended", ErrorClass.SENDER_CONFIGURATION),
    30010: ("Message price exceeds max price", ErrorClass.SENDER_CONFIGURATION),
    30032: ("Toll-Free Number Has Not Been Verified", ErrorClass.SENDER_CONFIGURATION),
    30034: ("US A2P 10DLC - Message from an Unregistered Number", ErrorClass.SENDER_CONFIGURATION),
}


@pytest.mark.parametrize(("code", "page"), sorted(TWILIO_ERROR_PAGES.items()))
def test_each_code_is_in_the_class_its_twilio_page_gives(code: int, page: tuple[str, ErrorClass]) -> None:
    assert classify_error(code) is page[1], page[0]


def test_the_table_holds_exactly_the_codes_checked_against_twilio() -> None:
    assert set(ERROR_CLASSES) == set(TWILIO_ERROR_PAGES)


def test_queue_overflow_is_the_senders_problem_not_the_recipients() -> None:
    # 30001: "You tried to send too many messages too quickly and your message queue overflowed": the sender's
    # throughput, so a journey must not count it against the customer's number.
    assert classify_error(30001) is ErrorClass.SENDER_TRANSIENT


def test_missing_inbound_segment_is_not_a_delivery_outcome() -> None:
    # 30009: "One or more segments associated with your multi-part inbound message was not received."
    assert classify_error(30009) is ErrorClass.INBOUND_INCOMPLETE
    assert classify_error(30009) not in (ErrorClass.RECIPIENT_TRANSIENT, ErrorClass.RECIPIENT_PERMANENT)


def test_a_code_nobody_checked_is_unknown_and_no_error_is_none() -> None:
    assert classify_error(39999) is ErrorClass.UNKNOWN
    assert classify_error(None) is None
