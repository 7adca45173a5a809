"""The ports the core talks through; each has one real adapter and one fake in the tests."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from smsbridge.domain.ci360_events import Correlation, Flat, PendingEvent
from smsbridge.domain.consent import ConsentEvent
from smsbridge.domain.delivery import Verdict
from smsbridge.domain.keywords import ReplyClassification
from smsbridge.domain.payloads import InboundMessage, StatusCallback
from smsbridge.domain.signature import AuthTokens


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
    def was_sent(self, key: str) -> bool:
        """True when CI360 already accepted the event with this key."""
        ...

    def mark_sent(self, key: str, *, event_name: str, at: datetime) -> None: ...


class EventGateway(Protocol):
    def send(self, body: dict[str, Flat]) -> Verdict:
        """POST one event to CI360 and judge the answer."""
        ...


class ParkingQueues(Protocol):
    def retry_later(self, event: PendingEvent, *, attempt: int, delay: int, reason: str) -> None:
        """Put the event on the retry queue, visible after ``delay`` seconds."""
        ...

    def dead_letter(self, event: PendingEvent, *, reason: str, attempts: int) -> None:
        """Keep the event, whole, in the dead-letter queue with the reason."""
        ...
