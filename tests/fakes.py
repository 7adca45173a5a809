"""One fake per port: each records what it was given and can be told to fail."""

from __future__ import annotations

from datetime import datetime

from smsbridge.domain.ci360_events import Correlation
from smsbridge.domain.consent import ConsentEvent
from smsbridge.domain.keywords import ReplyClassification
from smsbridge.domain.payloads import InboundMessage, StatusCallback
from smsbridge.domain.signature import AuthTokens
from smsbridge.domain.status import advances
from smsbridge.errors import SmsBridgeError


class StaticTokens:
    """``TokenSource`` holding fixed tokens."""

    def __init__(self, tokens: AuthTokens) -> None:
        self.tokens = tokens

    def current(self) -> AuthTokens:
        return self.tokens


class FakeMessageStore:
    """``MessageStore`` in memory, with the same idempotency and ordering as the DynamoDB adapter."""

    def __init__(self, fail_with: SmsBridgeError | None = None) -> None:
        self.inbound: dict[str, InboundMessage] = {}
        self.status: dict[str, StatusCallback] = {}
        self.consent: list[ConsentEvent] = []
        self.fail_with = fail_with

    def record_inbound(
        self,
        message: InboundMessage,
        reading: ReplyClassification,
        consent: ConsentEvent | None,
        *,
        received_at: datetime,
        delivery_id: str,
    ) -> bool:
        if self.fail_with:
            raise self.fail_with
        if message.message_sid in self.inbound:
            return False
        self.inbound[message.message_sid] = message
        self.consent += [consent] if consent else []
        return True

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
        if self.fail_with:
            raise self.fail_with
        stored = self.status.get(callback.message_sid)
        if not advances(stored.status if stored else None, callback.status):
            return False
        self.status[callback.message_sid] = callback
        self.consent += [consent] if consent else []
        return True
