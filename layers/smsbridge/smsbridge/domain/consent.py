"""Consent: the events that change whether a number may be messaged, and the rule that orders them.

State is kept per (phone, account, scope); scope is what Twilio applies an opt-out to (the Messaging Service, else
the sender number) and the account is the AccountSid whose token signed the evidence: one account's webhooks can
never move another account's consent. Every event is kept in an append-only history. An event changes the state
only when it is newer than the event that set it (ordered by when it happened, then by event id), so duplicates and
late arrivals never flip a state backwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from smsbridge.domain.keywords import Intent, ReplyClassification
from smsbridge.domain.payloads import InboundMessage, StatusCallback

OPTED_OUT_AT_TWILIO = 21610  # "Attempt to send to unsubscribed recipient"
BLOCKED_BY_CARRIER = 30004  # "Message blocked": the recipient or the carrier blocks us


class ConsentStatus(StrEnum):
    OPTED_OUT = "opted_out"
    OPTED_IN = "opted_in"


class ConsentAction(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    BLOCKED = "blocked"  # evidence from a 30004 status callback


class ConsentSource(StrEnum):
    REPLY_KEYWORD = "reply_keyword"
    TWILIO_OPT_OUT_TYPE = "twilio_opt_out_type"
    TWILIO_21610 = "twilio_21610"
    TWILIO_30004 = "twilio_30004"
    IMPORT = "import"
    MANUAL = "manual"


@dataclass(frozen=True)
class ConsentEvent:
    """One fact about a person's consent, with where it came from and the rule that read it."""

    phone: str
    scope: str
    action: ConsentAction
    occurred_at: datetime
    source: ConsentSource
    event_id: str
    rule: str = ""
    keyword: str | None = None
    matcher_version: str | None = None
    account_sid: str | None = None
    suppresses: bool = False  # BLOCKED only: whether this evidence opts the number out
    sender: str | None = None  # our number the person wrote to or was messaged from (identity lookup)

    @property
    def scope_key(self) -> str:
        """The scope the ledger keys this event by: ``<AccountSid>#<scope>``, or the bare scope for facts that
        came with no account (CSV imports, and everything recorded by v0.1)."""
        return scoped(self.account_sid, self.scope)

    @property
    def new_status(self) -> ConsentStatus | None:
        """The state this event sets, if it sets one (HELP and non-suppressing evidence do not)."""
        if self.action is ConsentAction.OPT_OUT or (self.action is ConsentAction.BLOCKED and self.suppresses):
            return ConsentStatus.OPTED_OUT
        if self.action is ConsentAction.OPT_IN:
            return ConsentStatus.OPTED_IN
        return None

    @property
    def order_key(self) -> str:
        """Sorts events by when they happened, then by id; a state only moves to a greater key."""
        return f"{self.occurred_at.isoformat(timespec='microseconds')}#{self.event_id}"


def scoped(account_sid: str | None, scope: str) -> str:
    return f"{account_sid}#{scope}" if account_sid else scope


_ACTIONS = {Intent.OPT_OUT: ConsentAction.OPT_OUT, Intent.OPT_IN: ConsentAction.OPT_IN, Intent.HELP: ConsentAction.HELP}


def consent_from_reply(
    message: InboundMessage, reading: ReplyClassification, received_at: datetime
) -> ConsentEvent | None:
    """The consent event a reply carries (STOP, START, HELP and their kin), or None for a plain reply."""
    action = _ACTIONS.get(reading.intent)
    if action is None:
        return None
    source = ConsentSource.TWILIO_OPT_OUT_TYPE if reading.rule == "twilio_opt_out_type" else ConsentSource.REPLY_KEYWORD
    return ConsentEvent(
        phone=message.sender, scope=message.scope, action=action, occurred_at=received_at, source=source,
        event_id=message.message_sid, rule=reading.rule, keyword=reading.keyword,
        matcher_version=reading.matcher_version, account_sid=message.account_sid, sender=message.recipient,
    )  # fmt: skip


def consent_from_status(
    callback: StatusCallback, received_at: datetime, *, suppress_on_30004: bool = False
) -> ConsentEvent | None:
    """A status callback's evidence: 21610 means Twilio already blocks this recipient for this sender (back-fill
    the opt-out); 30004 means the message was blocked (an opt-out only if so configured)."""
    if callback.error_code == OPTED_OUT_AT_TWILIO:
        action, source, suppresses = ConsentAction.OPT_OUT, ConsentSource.TWILIO_21610, True
    elif callback.error_code == BLOCKED_BY_CARRIER:
        action, source, suppresses = ConsentAction.BLOCKED, ConsentSource.TWILIO_30004, suppress_on_30004
    else:
        return None
    return ConsentEvent(
        phone=callback.recipient, scope=callback.scope, action=action, occurred_at=received_at, source=source,
        event_id=callback.message_sid, rule=f"error_code_{callback.error_code}", account_sid=callback.account_sid,
        suppresses=suppresses, sender=callback.sender,
    )  # fmt: skip


def supersedes(event: ConsentEvent, stored_order_key: str | None) -> bool:
    """True when ``event`` sets a state and is newer than the event behind the stored state (if any).

    The consent table's conditional update is this rule: ``attribute_not_exists(order_key) OR order_key < :key``.
    """
    return event.new_status is not None and (stored_order_key is None or event.order_key > stored_order_key)
