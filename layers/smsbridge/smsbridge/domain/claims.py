"""Event claims: who may send a CI360 event now, so that copies delivered side by side send it once.

Every event key has at most one claim record. Before sending, a copy of the event *claims* the key with a
conditional write; only the copy whose write succeeds sends, and it then records the outcome on the claim:

- ``accepted``: CI360 took it (final: nothing sends it again);
- ``parked``: on the retry queue, under a new ``ticket`` that only the parked message carries;
- ``held`` / ``dead_lettered``: in the dead-letter queue under a new ticket, for ``smsbridge replay``;
- ``unconfirmed``: CI360's answer was lost twice (timeout, dropped connection); it may have the event, so it is
  not sent a third time unless an operator replays its dead letter.

A claim in progress (``claimed``) carries its owner and a lease: when the lease has run out (the claimant
crashed or timed out), any copy may take the claim over. The claimant may have sent the event before it died, and
nobody saw CI360's answer: a takeover counts that attempt as a lost answer (``ambiguous``), so that an event is sent
at most twice whether its answers were lost on the wire or with the process, and a copy that takes over a claim
with two such attempts behind it dead-letters it as ``unconfirmed`` without sending. A parked, held,
dead-lettered or unconfirmed event may be claimed only by the message carrying its current ticket, so stale copies
of a parked message (SQS delivers at least once) and copies of a dead letter replayed twice fall away. A copy
without a ticket (a stream record, the sweep) may claim only a key that has no claim yet, or an abandoned one.

Claims carry no expiry (no TTL): a webhook replayed at any age must not send a second event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from smsbridge.domain.ci360_events import PendingEvent


class ClaimState(StrEnum):
    CLAIMED = "claimed"
    ACCEPTED = "accepted"
    PARKED = "parked"
    HELD = "held"
    DEAD_LETTERED = "dead_lettered"
    UNCONFIRMED = "unconfirmed"
    SUPERSEDED = "superseded"  # a consent event older than one CI360 already accepted for that number


# A claim's (and a consent lane's) lease: the longest one send takes (the forwarder's ``send_reserve_ms``: connect,
# read, the claim and the record), plus this for the DynamoDB calls around it at their worst (3 s each) and slack.
# Not the rest of the invocation: a claimant that crashed holds up its event, and its number's consent events behind
# it, only this long. A live claimant stalled past it can be taken over; the takeover counts its attempt as a lost
# answer, so CI360 still gets at most two copies.
LEASE_MARGIN = timedelta(seconds=15)

# States a message carrying the claim's ticket may take up again.
TICKETED = frozenset({ClaimState.PARKED, ClaimState.HELD, ClaimState.DEAD_LETTERED, ClaimState.UNCONFIRMED})
# States that end the event: no copy sends it again (``sent_at`` without a state: a record from before claims).
FINAL = frozenset({ClaimState.ACCEPTED, ClaimState.SUPERSEDED})


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


# -- consent lanes: consent events for one number and sender reach CI360 in ledger order


@dataclass(frozen=True)
class LaneWaiter:
    """A consent event parked on the retry queue to wait for its lane, as the lane notes it: whoever settles the
    event ahead of it sends it at once (claiming it with ``ticket``), instead of leaving it to its retry delay."""

    order: str
    event: PendingEvent
    attempt: int
    ticket: str


@dataclass(frozen=True)
class Lane:
    """The consent lane of one (number, sender): the ledger order keys of its consent events not yet settled
    (``pending``: each is added as it enters the lane or waits for it, and stays while it is parked), who is sending
    one now (until when), the order key of the last one CI360 accepted, and the events waiting for their turn
    (``waiting``, by order key). ``version`` changes with every write (optimistic locking)."""

    holder: str = ""
    lease_until: datetime | None = None
    last_order: str = ""
    pending: frozenset[str] = frozenset()
    version: int = 0
    waiting: Mapping[str, LaneWaiter] = field(default_factory=dict)


class LaneAnswer(StrEnum):
    ENTERED = "entered"  # this event may be sent now
    BUSY = "busy"  # another consent event of the number is being sent now: wait for it
    BEHIND = "behind"  # an earlier consent event of the number is unsettled (parked): wait for it
    SUPERSEDED = "superseded"  # CI360 already accepted a later consent event for the number: send nothing


@dataclass(frozen=True)
class LaneEntry:
    """The answer to entering a lane, and the lane's ``version`` it was decided on: a waiter's note is kept only if
    the lane has not changed since, so that an event settling meanwhile cannot leave without seeing it."""

    answer: LaneAnswer
    version: int = 0


def enter_lane(found: Lane | None, *, order: str, now: datetime) -> LaneAnswer:
    """May the consent event with ledger order key ``order`` be sent now?

    One consent event per number and sender is in flight at a time, none while an earlier one is unsettled (parked
    after a refusal, say), and none older than the last CI360 accepted: so they reach CI360 in ledger order and the
    last one CI360 accepted is always the ledger's.
    """
    if found is None:
        return LaneAnswer.ENTERED
    if found.last_order and found.last_order >= order:
        return LaneAnswer.SUPERSEDED
    if found.holder and found.lease_until is not None and found.lease_until >= now:
        return LaneAnswer.BUSY
    if any(earlier < order for earlier in found.pending):
        return LaneAnswer.BEHIND
    return LaneAnswer.ENTERED


def next_waiter(lane: Lane) -> LaneWaiter | None:
    """The event to send next once the lane is free: the earliest unsettled one, if it is waiting on the retry
    queue (else it is on its way, or parked after a refusal, and comes by itself). None while the lane is held."""
    if lane.holder or not lane.pending:
        return None
    return lane.waiting.get(min(lane.pending))


def lane_key(phone: str, scope: str) -> str:
    return f"{phone}|{scope}"
