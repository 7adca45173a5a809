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


class ConsentStatus(StrEnum):
    OPTED_OUT = "opted_out"
    OPTED_IN = "opted_in"


class ConsentAction(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    BLOCKED = "blocked"  # evidence from a 30004 status callback


class ConsentCheck(StrEnum):
    """How a fact waits for Twilio's own word (its Messages API: ``app/verification.py``, docs/consent.md)."""

    HELD = "held"  # in the history at once; moves the state only once Twilio confirms the message (every opt-in)
    APPLIED = "applied"  # moves the state at once (no STOP waits); retracted if Twilio contradicts it


class ConsentSource(StrEnum):
    REPLY_KEYWORD = "reply_keyword"
    TWILIO_OPT_OUT_TYPE = "twilio_opt_out_type"
    TWILIO_21610 = "twilio_21610"
    TWILIO_30004 = "twilio_30004"
    IMPORT = "import"
    MANUAL = "manual"
    RETRACTION = "retraction"  # the state a fact Twilio contradicted had replaced, put back


# Evidence a signed webhook brought: it always names its account (AccountSid is required), so a fact from these
# sources keyed without one was recorded by v0.1. IMPORT and MANUAL facts may have no account by design.
WEBHOOK_SOURCES = frozenset({ConsentSource.REPLY_KEYWORD, ConsentSource.TWILIO_OPT_OUT_TYPE,
                             ConsentSource.TWILIO_21610, ConsentSource.TWILIO_30004})  # fmt: skip


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
    check: ConsentCheck | None = None  # None: acted on as it came (a verified request, or verification is off)

    @property
    def scope_key(self) -> str:
        """The scope the ledger keys this event by: ``<AccountSid>#<scope>``, or the bare scope for a fact that
        came with no account (a CSV import without ``account_sid``)."""
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


def supersedes(event: ConsentEvent, stored_order_key: str | None) -> bool:
    """True when ``event`` sets a state and is newer than the event behind the stored state (if any).

    The consent table's conditional update is this rule: ``attribute_not_exists(order_key) OR order_key < :key``.
    """
    return event.new_status is not None and (stored_order_key is None or event.order_key > stored_order_key)
