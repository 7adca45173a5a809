"""Twilio error codes by whose problem they are, so CI360 journeys can branch on a class, not a number.

Twilio warns that codes change; logic keys on these classes, and an unknown code is ``unknown`` (review it). Each
code's class follows its page in Twilio's error dictionary (``https://www.twilio.com/docs/api/errors/<code>``); the
Twilio section of docs/contracts.md cites the page per code, and tests/unit/test_error_codes.py pins the table.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorClass(StrEnum):
    OPTED_OUT = "opted_out"  # 21610: the recipient opted out of this sender
    BLOCKED = "blocked"  # 30004: blocked by the recipient or the carrier
    FILTERED = "filtered"  # 30007: carrier spam filter: fix the content
    RECIPIENT_PERMANENT = "recipient_permanent"  # the number cannot receive SMS: suppress it
    RECIPIENT_TRANSIENT = "recipient_transient"  # the handset may be reachable later (off, no signal, roaming)
    SENDER_TRANSIENT = "sender_transient"  # our side, may work later: we sent faster than the sender's throughput
    SENDER_CONFIGURATION = "sender_configuration"  # our side: registration, account, permissions: alert operations
    INBOUND_INCOMPLETE = "inbound_incomplete"  # a reply arrived without all its segments: not a send's outcome
    UNKNOWN = "unknown"


ERROR_CLASSES: dict[int, ErrorClass] = {
    21610: ErrorClass.OPTED_OUT,  # Attempt to send to unsubscribed recipient
    30004: ErrorClass.BLOCKED,  # Message blocked
    30007: ErrorClass.FILTERED,  # Message filtered
    21211: ErrorClass.RECIPIENT_PERMANENT,  # Invalid 'To' Phone Number
    21614: ErrorClass.RECIPIENT_PERMANENT,  # 'To' number is not a valid mobile number
    21635: ErrorClass.RECIPIENT_PERMANENT,  # 'To' number cannot be a landline
    30005: ErrorClass.RECIPIENT_PERMANENT,  # Unknown destination handset
    30006: ErrorClass.RECIPIENT_PERMANENT,  # Landline or unreachable carrier ("do not retry the same SMS")
    30003: ErrorClass.RECIPIENT_TRANSIENT,  # Unreachable destination handset
    30001: ErrorClass.SENDER_TRANSIENT,  # Queue overflow: the sender's queue (hours of its rate) overflowed
    30008: ErrorClass.UNKNOWN,  # Unknown error: Twilio does not say whose problem it is
    30009: ErrorClass.INBOUND_INCOMPLETE,  # Missing inbound segment (a multi-part inbound message)
    21408: ErrorClass.SENDER_CONFIGURATION,  # Permission to send an SMS has not been enabled for the region
    30002: ErrorClass.SENDER_CONFIGURATION,  # Account suspended
    30010: ErrorClass.SENDER_CONFIGURATION,  # Message price exceeds max price (obsolete with MaxPrice's end of life)
    30032: ErrorClass.SENDER_CONFIGURATION,  # Toll-Free Number Has Not Been Verified
    30034: ErrorClass.SENDER_CONFIGURATION,  # US A2P 10DLC: Message from an Unregistered Number
}


def classify_error(code: int | None) -> ErrorClass | None:
    """The class of a Twilio ``ErrorCode``; None when there is no error."""
    if code is None:
        return None
    return ERROR_CLASSES.get(code, ErrorClass.UNKNOWN)
