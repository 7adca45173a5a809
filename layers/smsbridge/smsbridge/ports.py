"""The ports the core talks through; each has one real adapter and one fake in the tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from smsbridge.domain.ci360_events import Correlation, Flat, PendingEvent
from smsbridge.domain.claims import ClaimAnswer, ClaimRecord, ClaimState, LaneEntry, LaneWaiter
from smsbridge.domain.consent import ConsentEvent
from smsbridge.domain.delivery import Verdict
from smsbridge.domain.keywords import ReplyClassification
from smsbridge.domain.signature import AuthTokens

if TYPE_CHECKING:  # the webhook's models (pydantic): only the webhook's functions load them
    from smsbridge.domain.payloads import InboundMessage, StatusCallback


class TokenSource(Protocol):
    def current(self) -> AuthTokens:
        """The auth tokens in force now (may be cached)."""
        ...


class MessageStore(Protocol):
    def record_inbound(
        self,
        message: InboundMessage,
        reading: ReplyClassification,
        consent: ConsentEvent | None,
        *,
        received_at: datetime,
        delivery_id: str,
    ) -> bool:
        """Write the reply and its consent event at once; False when the reply was already on record."""
        ...

    def record_status(
        self,
        callback: StatusCallback,
        consent: ConsentEvent | None,
        *,
        received_at: datetime,
        delivery_id: str,
        callback_query: str,
        correlation: Correlation | None = None,
    ) -> bool:
        """Move the message to the callback's status (with its consent evidence); False when the stored status
        ranks the same or higher. With ``correlation``, also remember the number's CI360 identity."""
        ...


class ContactDirectory(Protocol):
    def latest(
        self, phone: str, scope: str, *, now: datetime, account_sid: str = "", sender: str = ""
    ) -> Correlation | None:
        """The CI360 identity and task last seen for this number from ``account_sid``'s ``sender`` number (else
        its ``scope``), within the attribution window."""
        ...


class SentLedger(Protocol):
    """Event claims, the forwarder's exactly-once record (rules: ``domain/claims.py``)."""

    def claim(self, key: str, *, owner: str, ticket: str, now: datetime, lease_until: datetime) -> ClaimAnswer:
        """Claim the event for ``owner`` until ``lease_until`` in one conditional write (``may_claim``)."""
        ...

    def settle(self, key: str, *, owner: str, state: ClaimState, at: datetime, reason: str = "", ticket: str = "",
               event_name: str = "", ambiguous: int = 0) -> bool:  # fmt: skip
        """Record the outcome on the claim ``owner`` holds; False when another copy has taken it over.
        ``accepted`` is recorded whoever holds the claim: CI360 has the event."""
        ...

    def release(self, key: str, *, owner: str) -> None:
        """Give up a claim ``owner`` still holds, so that a redelivered copy need not wait for its lease."""
        ...

    def state_of(self, key: str) -> ClaimRecord | None:
        """The event's claim, if it has one (a strongly consistent read)."""
        ...

    def claims_of(self, keys: list[str]) -> dict[str, ClaimRecord]:
        """The claims on record for ``keys``, by key, in one batched read (a key with no claim is absent)."""
        ...


class ConsentLanes(Protocol):
    """Consent events of one number and sender sent one at a time, in ledger order (``enter_lane``); an event that
    must wait leaves a note, and the one settling ahead of it hands it on (``next_waiter``)."""

    def register(self, lane: str, order: str) -> None:
        """Note a consent event as pending without entering (one put off to a later invocation): later ones wait."""
        ...

    def enter(self, lane: str, *, owner: str, order: str, now: datetime, lease_until: datetime) -> LaneEntry:
        """Hold the lane for ``owner`` until ``lease_until`` if ``enter_lane`` lets the event in; it is then pending
        (until settled) and its note, if it had one, is gone."""
        ...

    def wait(self, lane: str, waiter: LaneWaiter, *, seen: int) -> bool:
        """Note the parked ``waiter`` (pending from now on) for whoever settles the event ahead of it, if the lane's
        version is still ``seen``; False when the lane has moved on since (the event should look again now)."""
        ...

    def leave(self, lane: str, *, owner: str, settled: str = "", accepted: bool = False) -> LaneWaiter | None:
        """Free the lane; ``settled``: the order key of an event settled for good (``accepted`` by CI360, or given
        up), no longer pending. Returns the waiter to send next (``next_waiter``), if any."""
        ...

    def forget(self, lane: str, order: str) -> LaneWaiter | None:
        """The event with this order key is settled (found so by a later copy): no longer pending. Returns the
        waiter to send next, if any."""
        ...


class EventGateway(Protocol):
    def send(self, body: dict[str, Flat]) -> Verdict:
        """POST one event to CI360 and judge the answer."""
        ...


class ParkingQueues(Protocol):
    def retry_later(self, event: PendingEvent, *, attempt: int, delay: int, reason: str, ticket: str = "",
                    accepted: bool = False) -> None:  # fmt: skip
        """Put the event on the retry queue, visible after ``delay`` seconds, carrying its claim ``ticket``
        (``accepted``: CI360 has it, only the claim's outcome is still to be recorded)."""
        ...

    def dead_letter(self, event: PendingEvent, *, reason: str, attempts: int, ticket: str = "") -> None:
        """Keep the event, whole, in the dead-letter queue with the reason and its claim ``ticket``."""
        ...

    def hold(self, records: Sequence[Mapping[str, Any]], lease: timedelta,
             outcomes: Counter[str]) -> AbstractContextManager[None]:  # fmt: skip
        """While the block runs, keep the batch's queue messages among ``records`` hidden one ``lease`` at a time,
        so that an invocation that dies returns them within a lease; ``outcomes`` counts what could not be held."""
        ...


@dataclass(frozen=True)
class Window:
    """Facts recorded from ``start`` to ``end`` (ISO 8601 UTC)."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class FactPage:
    """One page of the facts recorded in a window: message records (``table`` "messages": replies, statuses) or
    consent items ("consent": states, HELP entries); ``after``: where the next page starts ("": none is left)."""

    table: str
    items: list[dict[str, Any]]
    after: str


class FactSource(Protocol):
    def pages(self, window: Window, start: str = "") -> Iterator[FactPage]:
        """The facts recorded or changed in the window, page by page, from ``start`` (a page's ``after``; "": the
        beginning): a sweep stopped at its deadline goes on from where it stopped."""
        ...

    def checkpoint(self) -> dict[str, str]:
        """What the scheduled sweep saved: ``swept_through`` and the window it stopped in (start, end, after)."""
        ...

    def save_checkpoint(self, values: dict[str, str]) -> None: ...
