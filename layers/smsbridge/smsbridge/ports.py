"""The ports the core talks through; each has one real adapter and one fake in the tests."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from smsbridge.domain.consent import ConsentEvent
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
    ) -> bool:
        """Move the message to the callback's status (with its consent evidence); False when the stored status
        ranks the same or higher."""
        ...
