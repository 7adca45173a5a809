"""Consent facts checked with Twilio itself: the Message resource Twilio keeps, and whether it bears a fact out.

A signed webhook can be re-cut into another request with the same signature (``field_forms.py``), so a consent
change that matters is checked against ``GET /2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}.json``:
``parse_message_resource`` reads Twilio's answer, ``verify_inbound`` and ``verify_status`` judge it. Pure: the
request is ``adapters/twilio_messages.py``'s. Sources of every field and format: docs/contracts.md ("Twilio
Messages API").

A verdict's ``reason`` is one fixed word (``REASONS``), never a value from the message, so it can be logged, counted
and shown as it is.

Fields are compared exactly as Twilio stores them: Twilio documents no trimming or re-encoding of a message's text
or addresses between the webhook and the resource, so none is assumed (docs/contracts.md marks it unknown). An
account with Twilio's Message Redaction stores no text (``body`` empty) and the person's number with its last four
digits as ``XXXX``: a fact that matches but for what was redacted can be neither confirmed nor contradicted, and is
``UNVERIFIABLE`` (reason ``redacted``), so a genuine STOP is never retracted on such an account.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

from smsbridge.domain.status import MessageStatus, advances

MESSAGE_SID = re.compile(r"(?:SM|MM)[0-9a-fA-F]{32}")
ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
_DIRECTION = re.compile(r"[a-z]+(?:-[a-z]+)*")
INBOUND = "inbound"  # Twilio's directions: inbound, outbound-api, outbound-call, outbound-reply
OUTBOUND_PREFIX = "outbound"
REDACTED_DIGITS = "XXXX"  # what Message Redaction puts in place of a number's last four digits


class VerificationVerdict(StrEnum):
    CONFIRMED = "confirmed"  # Twilio's resource bears the fact out
    CONTRADICTED = "contradicted"  # Twilio has no such message, or it differs from the fact
    UNVERIFIABLE = "unverifiable"  # it matches but for what Twilio redacted: the fact can be neither


# The reasons, each a fixed word.
NOT_FOUND = "not_found"  # Twilio answered 404, or a resource of another SID
ACCOUNT_DIFFERS = "account_differs"
NOT_INBOUND = "not_inbound"
NOT_OUTBOUND = "not_outbound"
SENDER_DIFFERS = "sender_differs"
RECIPIENT_DIFFERS = "recipient_differs"
BODY_DIFFERS = "body_differs"
STATUS_DIFFERS = "status_differs"
ERROR_CODE_DIFFERS = "error_code_differs"
SERVICE_DIFFERS = "service_differs"
REDACTED = "redacted"
MATCHES = "matches"
REASONS = frozenset({NOT_FOUND, ACCOUNT_DIFFERS, NOT_INBOUND, NOT_OUTBOUND, SENDER_DIFFERS, RECIPIENT_DIFFERS,
                     BODY_DIFFERS, STATUS_DIFFERS, ERROR_CODE_DIFFERS, SERVICE_DIFFERS, REDACTED, MATCHES})  # fmt: skip


@dataclass(frozen=True)
class TwilioMessage:
    """The fields of Twilio's Message resource that a check reads (Twilio's names in the comments)."""

    sid: str  # sid: SM or MM, then 32 hex digits
    account_sid: str  # account_sid
    sender: str | None  # from: E.164, short code, sender ID or channel address; null before a service picks one
    recipient: str  # to
    body: str  # body (null read as ""; empty when redacted)
    direction: str  # direction: inbound, outbound-api, outbound-call, outbound-reply
    status: str  # status: MessageStatus's values
    error_code: int | None  # error_code: an integer, or null
    messaging_service_sid: str | None  # messaging_service_sid
    date_sent: datetime | None  # date_sent, UTC: for an inbound message, when Twilio posted the webhook
    date_created: datetime | None  # date_created, UTC

    @property
    def is_inbound(self) -> bool:
        return self.direction == INBOUND

    @property
    def is_outbound(self) -> bool:
        return self.direction.startswith(OUTBOUND_PREFIX)

    @property
    def sent_at(self) -> datetime | None:
        """When the message was sent, as Twilio's resource gives it: ``date_sent``, else ``date_created``."""
        return self.date_sent or self.date_created


@dataclass(frozen=True)
class Verification:
    """What Twilio's resource says of a fact: the verdict, one fixed word why, and when the message was sent."""

    verdict: VerificationVerdict
    reason: str
    sent_at: datetime | None = None

    @property
    def confirmed(self) -> bool:
        return self.verdict is VerificationVerdict.CONFIRMED


# -- reading Twilio's answer ---------------------------------------------------------------------------------------


def parse_message_resource(data: Mapping[str, Any]) -> TwilioMessage:
    """Read Twilio's Message resource (its JSON answer, as documented). ``ValueError`` naming the first malformed
    field (never its value) when it is not in that form."""
    if not isinstance(data, Mapping):
        raise ValueError("the resource is not a JSON object")
    return TwilioMessage(
        sid=_matching(data, "sid", MESSAGE_SID),
        account_sid=_matching(data, "account_sid", ACCOUNT_SID),
        sender=_text(data, "from", nullable=True),
        recipient=_required_text(data, "to"),
        body=_text(data, "body", nullable=True) or "",
        direction=_matching(data, "direction", _DIRECTION),
        status=_required_text(data, "status"),
        error_code=_error_code(data),
        messaging_service_sid=_optional_matching(data, "messaging_service_sid", SERVICE_SID),
        date_sent=_date(data, "date_sent"),
        date_created=_date(data, "date_created"),
    )


def _text(data: Mapping[str, Any], name: str, *, nullable: bool) -> str | None:
    value = data.get(name)
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise ValueError(f"field {name} is missing or not a string")
    return value


def _required_text(data: Mapping[str, Any], name: str) -> str:
    value = _text(data, name, nullable=False)
    if not value:
        raise ValueError(f"field {name} is empty")
    return value


def _matching(data: Mapping[str, Any], name: str, form: re.Pattern[str]) -> str:
    value = _required_text(data, name)
    if not form.fullmatch(value):
        raise ValueError(f"field {name} is not in its documented form")
    return value


def _optional_matching(data: Mapping[str, Any], name: str, form: re.Pattern[str]) -> str | None:
    return None if data.get(name) is None else _matching(data, name, form)


def _error_code(data: Mapping[str, Any]) -> int | None:
    """An integer or null, as Twilio documents it; a string of digits too (twilio-python's ``deserialize.integer``
    reads both, and older answers quoted it)."""
    value = data.get("error_code")
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise ValueError("field error_code is not an integer")


def _date(data: Mapping[str, Any], name: str) -> datetime | None:
    """An RFC 2822 date (``Thu, 30 Jul 2015 20:12:31 +0000``, in GMT) as an aware UTC datetime, or None for null."""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"field {name} is not an RFC 2822 date")
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise ValueError(f"field {name} is not an RFC 2822 date") from None
    if parsed.tzinfo is None:  # "-0000" (no zone known): Twilio documents GMT
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# -- judging a fact ------------------------------------------------------------------------------------------------


def verify_inbound(
    message: TwilioMessage | None, *, account_sid: str, message_sid: str, sender: str, recipient: str,
    body: str | None,
) -> Verification:  # fmt: skip
    """Whether an inbound webhook's fact is Twilio's: the message exists in the account, is inbound, and its
    ``from`` (``sender``: the person), ``to`` (``recipient``: our number) and text are the webhook's.

    ``body=None`` leaves the text uncompared (the caller judges Twilio's text itself)."""
    found = _identity(message, account_sid, message_sid)
    if isinstance(found, Verification):
        return found
    if not found.is_inbound:
        return _contradicted(NOT_INBOUND, found)
    checks = [(_address(found.sender, sender), SENDER_DIFFERS), (_address(found.recipient, recipient),
              RECIPIENT_DIFFERS)]  # fmt: skip
    if body is not None:
        checks.append((_body(found.body, body), BODY_DIFFERS))
    return _judge(found, checks)


def verify_status(
    message: TwilioMessage | None, *, account_sid: str, message_sid: str, recipient: str, error_code: int | None,
    status: str | None = None, sender: str | None = None, messaging_service_sid: str | None = None,
) -> Verification:  # fmt: skip
    """Whether a status callback's fact (a 21610 or 30004 back-fill) is Twilio's: the message exists in the
    account, is outbound, went to ``recipient`` (the person) and carries ``error_code``.

    ``status`` (the callback's), when given, must be the resource's status or one before it in Twilio's order
    (``domain/status.py``): the resource shows where the message is now, which may be past what the callback said.
    ``sender`` (our number) and ``messaging_service_sid``, when given, must be the resource's; a resource without
    ``from`` (a Messaging Service message that failed before a sender was chosen) leaves ``sender`` uncompared."""
    found = _identity(message, account_sid, message_sid)
    if isinstance(found, Verification):
        return found
    if not found.is_outbound:
        return _contradicted(NOT_OUTBOUND, found)
    checks = [(_address(found.recipient, recipient), RECIPIENT_DIFFERS)]
    if sender is not None and found.sender is not None:
        checks.append((_address(found.sender, sender), SENDER_DIFFERS))
    if messaging_service_sid is not None:
        checks.append((_Match.YES if found.messaging_service_sid == messaging_service_sid else _Match.NO,
                       SERVICE_DIFFERS))  # fmt: skip
    if status is not None:
        checks.append((_Match.YES if _status_reached(found.status, status) else _Match.NO, STATUS_DIFFERS))
    checks.append((_Match.YES if found.error_code == error_code else _Match.NO, ERROR_CODE_DIFFERS))
    return _judge(found, checks)


class _Match(StrEnum):
    YES = "yes"
    NO = "no"
    REDACTED = "redacted"  # equal but for what Twilio redacted


def _identity(message: TwilioMessage | None, account_sid: str, message_sid: str) -> TwilioMessage | Verification:
    if message is None or message.sid != message_sid:
        return Verification(VerificationVerdict.CONTRADICTED, NOT_FOUND, None)
    if message.account_sid != account_sid:
        return _contradicted(ACCOUNT_DIFFERS, message)
    return message


def _contradicted(reason: str, message: TwilioMessage) -> Verification:
    return Verification(VerificationVerdict.CONTRADICTED, reason, message.sent_at)


def _judge(message: TwilioMessage, checks: list[tuple[_Match, str]]) -> Verification:
    """The first difference contradicts; else anything redacted leaves the fact unverifiable; else confirmed."""
    for match, reason in checks:
        if match is _Match.NO:
            return _contradicted(reason, message)
    if any(match is _Match.REDACTED for match, _ in checks):
        return Verification(VerificationVerdict.UNVERIFIABLE, REDACTED, message.sent_at)
    return Verification(VerificationVerdict.CONFIRMED, MATCHES, message.sent_at)


def _address(stored: str | None, claimed: str) -> _Match:
    """``stored`` (Twilio's) against ``claimed`` (the webhook's): exact, or the same but for the last four digits
    Message Redaction replaced with ``XXXX``."""
    if stored == claimed:
        return _Match.YES
    if (stored is not None and stored.endswith(REDACTED_DIGITS) and len(stored) == len(claimed)
            and stored[:-4] == claimed[:-4] and claimed[-4:].isdigit()):  # fmt: skip
        return _Match.REDACTED
    return _Match.NO


def _body(stored: str, claimed: str) -> _Match:
    if stored == claimed:
        return _Match.YES
    return _Match.REDACTED if stored == "" else _Match.NO


def _status_reached(stored: str, claimed: str) -> bool:
    """Whether the resource's status ``stored`` is the callback's ``claimed`` or one after it."""
    if stored == claimed:
        return True
    try:
        return advances(MessageStatus(claimed), MessageStatus(stored))
    except ValueError:  # a status Twilio has not documented: only equality can tell
        return False
