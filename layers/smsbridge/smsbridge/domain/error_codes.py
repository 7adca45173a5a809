"""Twilio error codes by whose problem they are, so CI360 journeys can branch on a class, not a number.

Twilio warns that codes change; logic keys on these classes, and an unknown code is ``unknown`` (review it).
"""

from __future__ import annotations

from enum import StrEnum


class ErrorClass(StrEnum):
    OPTED_OUT = "opted_out"  # 21610: the recipient opted out of this sender
    BLOCKED = "blocked"  # 30004: blocked by the recipient or the carrier
    FILTERED = "filtered"  # 30007: carrier spam filter: fix the content
    RECIPIENT_PERMANENT = "recipient_permanent"  # the number cannot receive SMS: suppress it
    RECIPIENT_TRANSIENT = "recipient_transient"  # may work later (handset off, queue overflow)
    SENDER_CONFIGURATION = "sender_configuration"  # our side: registration, account, price: alert operations
    UNKNOWN = "unknown"


ERROR_CLASSES: dict[int, ErrorClass] = {
    21610: ErrorClass.OPTED_OUT,
    30004: ErrorClass.BLOCKED,
    30007: ErrorClass.FILTERED,
    21211: ErrorClass.RECIPIENT_PERMANENT,  # invalid 'To'
    21614: ErrorClass.RECIPIENT_PERMANENT,  # not a mobile number
    21635: ErrorClass.RECIPIENT_PERMANENT,  # landline
    30005: ErrorClass.RECIPIENT_PERMANENT,  # unknown destination handset
    30006: ErrorClass.RECIPIENT_PERMANENT,  # landline or unreachable carrier
    30001: ErrorClass.RECIPIENT_TRANSIENT,  # queue overflow
    30003: ErrorClass.RECIPIENT_TRANSIENT,  # unreachable handset
    30008: ErrorClass.RECIPIENT_TRANSIENT,  # unknown error
    30009: ErrorClass.RECIPIENT_TRANSIENT,  # missing inbound segment
    21408: ErrorClass.SENDER_CONFIGURATION,  # region not enabled
    30002: ErrorClass.SENDER_CONFIGURATION,  # account suspended
    30010: ErrorClass.SENDER_CONFIGURATION,  # price exceeds max price
    30032: ErrorClass.SENDER_CONFIGURATION,  # toll-free number not verified
    30034: ErrorClass.SENDER_CONFIGURATION,  # unregistered 10DLC number
}


def classify_error(code: int | None) -> ErrorClass | None:
    """The class of a Twilio ``ErrorCode``; None when there is no error."""
    if code is None:
        return None
    return ERROR_CLASSES.get(code, ErrorClass.UNKNOWN)
