"""The ports the core talks through; each has one real adapter and one fake in the tests."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from smsbridge.domain.payloads import InboundMessage, StatusCallback
from smsbridge.domain.signature import AuthTokens


class TokenSource(Protocol):
    def current(self) -> AuthTokens:
        """The auth tokens in force now (may be cached)."""
        ...


class MessageStore(Protocol):
    def record_inbound(self, message: InboundMessage, *, received_at: datetime, delivery_id: str) -> bool:
        """Write the inbound message once; False when it was already on record."""
        ...

    def record_status(
        self, callback: StatusCallback, *, received_at: datetime, delivery_id: str, callback_query: str
    ) -> bool:
        """Move the message to the callback's status; False when the stored status ranks the same or higher."""
        ...
