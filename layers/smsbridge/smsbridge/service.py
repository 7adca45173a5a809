"""The webhook service: verify, parse, record. Handlers translate HTTP; this decides and writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from smsbridge.domain.ingress import IngressPolicy, WebhookRequest, verified_params
from smsbridge.domain.payloads import InboundMessage, StatusCallback, parse_webhook
from smsbridge.ports import MessageStore, TokenSource

W = TypeVar("W", InboundMessage, StatusCallback)


@dataclass(frozen=True)
class Accepted(Generic[W]):
    """A verified webhook and whether it changed the record (False: a duplicate or an out-of-order status)."""

    webhook: W
    recorded: bool


def utc_now() -> datetime:
    return datetime.now(UTC)


class WebhookService:
    """Accepts Twilio's two webhooks: nothing is recorded unless the request is signed and well-formed."""

    def __init__(
        self,
        *,
        policy: IngressPolicy,
        tokens: TokenSource,
        store: MessageStore,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.policy = policy
        self.tokens = tokens
        self.store = store
        self.clock = clock

    def accept_inbound(self, request: WebhookRequest) -> Accepted[InboundMessage]:
        message = parse_webhook(InboundMessage, verified_params(request, self.policy, self.tokens.current()))
        recorded = self.store.record_inbound(message, received_at=self.clock(), delivery_id=_delivery_id(request))
        return Accepted(message, recorded)

    def accept_status(self, request: WebhookRequest) -> Accepted[StatusCallback]:
        callback = parse_webhook(StatusCallback, verified_params(request, self.policy, self.tokens.current()))
        recorded = self.store.record_status(
            callback,
            received_at=self.clock(),
            delivery_id=_delivery_id(request),
            callback_query=request.raw_query,
        )
        return Accepted(callback, recorded)


def _delivery_id(request: WebhookRequest) -> str:
    return request.header("i-twilio-idempotency-token")[:128]
