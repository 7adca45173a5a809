"""Event claims: who may send a CI360 event now, so that copies delivered side by side send it once.

Every event key has at most one claim record. Before sending, a copy of the event *claims* the key with a
conditional write; only the copy whose write succeeds sends, and it then records the outcome on the claim:

- ``accepted``: CI360 took it (final: nothing sends it again);
- ``parked``: on the retry queue, under a new ``ticket`` that only the parked message carries;
- ``held`` / ``dead_lettered``: in the dead-letter queue under a new ticket, for ``smsbridge replay``;
- ``unconfirmed``: CI360's answer was lost twice (timeout, dropped connection); it may have the event, so it is
  not sent a third time (it is dead-lettered for an operator to judge).

A claim in progress (``claimed``) carries its owner and a lease: when the lease has run out (the claimant
crashed or timed out), any copy may take the claim over. A parked, held or dead-lettered event may be claimed only
by the message carrying its current ticket, so stale copies of a parked message (SQS delivers at least once) and
copies of a dead letter replayed twice fall away. A copy without a ticket (a stream record, the sweep) may claim
only a key that has no claim yet, or an abandoned one.

Claims carry no expiry (no TTL): a webhook replayed at any age must not send a second event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ClaimState(StrEnum):
    CLAIMED = "claimed"
    ACCEPTED = "accepted"
    PARKED = "parked"
    HELD = "held"
    DEAD_LETTERED = "dead_lettered"
    UNCONFIRMED = "unconfirmed"


# States a message carrying the claim's ticket may take up again.
TICKETED = frozenset({ClaimState.PARKED, ClaimState.HELD, ClaimState.DEAD_LETTERED})
# States that end the event: no copy sends it again (``sent_at`` without a state: a record from before claims).
FINAL = frozenset({ClaimState.ACCEPTED, ClaimState.UNCONFIRMED})


@dataclass(frozen=True)
class ClaimRecord:
    """What the claims table holds for one event key."""

    state: ClaimState
    owner: str = ""
    lease_until: datetime | None = None
    ticket: str = ""
    ambiguous: int = 0  # answers lost after the request went out (timeout, dropped connection)
    reason: str = ""


@dataclass(frozen=True)
class ClaimAnswer:
    """The answer to a claim: granted (this copy sends), else the record that refused it."""

    granted: bool
    record: ClaimRecord | None

    @property
    def ambiguous(self) -> int:
        return self.record.ambiguous if self.record else 0


def may_claim(found: ClaimRecord | None, *, ticket: str, now: datetime) -> bool:
    """True when a copy carrying ``ticket`` ("" for none) may claim an event whose claim record is ``found``.

    The DynamoDB adapter states the same rule as a condition expression; tests hold both to these cases.
    """
    if found is None:
        return True
    if found.state is ClaimState.CLAIMED:
        return found.lease_until is not None and found.lease_until < now
    if found.state in TICKETED:
        return bool(ticket) and ticket == found.ticket
    return False
