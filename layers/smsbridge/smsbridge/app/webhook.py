"""The webhook service: verify, parse, classify, record. Handlers translate HTTP; this decides and writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from smsbridge.adapters.apigateway import as_http_api_event, webhook_request
from smsbridge.adapters.message_table import DynamoMessageStore
from smsbridge.adapters.secrets import SecretTokenSource
from smsbridge.clock import utc_now
from smsbridge.config import Settings
from smsbridge.domain.ci360_events import parse_correlation
from smsbridge.domain.consent import ConsentEvent
from smsbridge.domain.field_forms import unverified_reasons
from smsbridge.domain.ingress import (
    INBOUND,
    INBOUND_ROUTE,
    STATUS,
    STATUS_ROUTE,
    IngressPolicy,
    WebhookRequest,
    verified_params,
)
from smsbridge.domain.keywords import KeywordRules, ReplyClassification
from smsbridge.domain.payloads import (
    InboundMessage,
    StatusCallback,
    consent_from_reply,
    consent_from_status,
    held_for_verification,
    parse_webhook,
    reading_of,
)
from smsbridge.domain.privacy import mask_address
from smsbridge.errors import RejectedRequest, RetryableError
from smsbridge.ports import MessageStore, TokenSource

# What this module offers, the names its handler imports from elsewhere included (the handler's one import).
__all__ = [
    "INBOUND_ROUTE",
    "STATUS_ROUTE",
    "Accepted",
    "RejectedRequest",
    "RetryableError",
    "Settings",
    "W",
    "WebhookService",
    "as_http_api_event",
    "build_webhook_service",
    "startup_problems",
    "webhook_request",
]


W = TypeVar("W", InboundMessage, StatusCallback)


@dataclass(frozen=True)
class Accepted(Generic[W]):
    """A verified webhook, what it meant, and whether it changed the record (False: a duplicate or a late status)."""

    webhook: W
    recorded: bool
    consent: ConsentEvent | None = None
    reading: ReplyClassification | None = None

    @property
    def kind(self) -> str:
        return "inbound" if isinstance(self.webhook, InboundMessage) else "status"

    def log_fields(self) -> dict[str, object]:
        """What may be logged about it: masked numbers, never the text."""
        fields: dict[str, object] = {"message_sid": self.webhook.message_sid, "recorded": self.recorded,
                                     "scope": mask_address(self.webhook.scope)}  # fmt: skip
        if isinstance(self.webhook, InboundMessage):
            fields["sender"] = mask_address(self.webhook.sender)
        else:
            fields.update(recipient=mask_address(self.webhook.recipient), status=self.webhook.status.value,
                          error_code=self.webhook.error_code)  # fmt: skip
        if self.reading:
            fields.update(intent=self.reading.intent.value, rule=self.reading.rule)
        if self.webhook.unverified:
            fields.update(unverified=",".join(self.webhook.unverified),
                          consent_held=held_for_verification(self.webhook))  # fmt: skip
        if self.consent:
            fields.update(consent=self.consent.action.value, consent_source=self.consent.source.value,
                          consent_check=self.consent.check.value if self.consent.check else None)  # fmt: skip
        return fields

    def metric_names(self) -> list[str]:
        """The counters it adds to: recorded or unchanged, and the consent action it put on record."""
        outcome = "Recorded" if self.recorded else "Unchanged"
        names = [f"{self.kind.title()}{outcome}"]
        if self.recorded and self.consent:
            names.append(f"Consent_{self.consent.action.value}")
        if self.reading and self.reading.opt_out_suspected:
            names.append("OptOutSuspected")
        if self.reading and self.reading.opt_in_suspected:
            names.append("OptInSuspected")
        if self.webhook.unverified:  # alarmed (template.yaml UnverifiedWebhookAlarm)
            names += ["Unverified", *(f"Unverified_{reason}" for reason in self.webhook.unverified)]
        return names


class WebhookService:
    """Accepts Twilio's two webhooks: nothing is recorded unless the request is signed and well-formed, and a
    consent fact is on record before the webhook is answered."""

    def __init__(
        self,
        *,
        policy: IngressPolicy,
        tokens: TokenSource,
        store: MessageStore,
        keywords: KeywordRules | None = None,
        suppress_on_30004: bool = False,
        verify: bool = False,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.policy = policy
        self.tokens = tokens
        self.store = store
        self.keywords = keywords or KeywordRules()
        self.suppress_on_30004 = suppress_on_30004
        self.verify = verify  # opt-ins and doubtful facts wait for Twilio's word (app/verification.py)
        self.clock = clock

    def accept_inbound(self, request: WebhookRequest) -> Accepted[InboundMessage]:
        params = verified_params(request, self.policy, self.tokens.current(), INBOUND)
        message = parse_webhook(InboundMessage, params).flagged(unverified_reasons(params))
        received_at = self.clock()
        reading = reading_of(message, self.keywords, verify=self.verify)
        consent = consent_from_reply(message, reading, received_at, verify=self.verify)
        recorded = self.store.record_inbound(
            message, reading, consent, received_at=received_at, delivery_id=_delivery_id(request)
        )
        return Accepted(message, recorded, consent, reading)

    def accept_status(self, request: WebhookRequest) -> Accepted[StatusCallback]:
        params = verified_params(request, self.policy, self.tokens.current(), STATUS)
        callback = parse_webhook(StatusCallback, params).flagged(unverified_reasons(params))
        received_at = self.clock()
        consent = consent_from_status(callback, received_at, suppress_on_30004=self.suppress_on_30004,
                                      verify=self.verify)  # fmt: skip
        recorded = self.store.record_status(
            callback,
            consent,
            received_at=received_at,
            delivery_id=_delivery_id(request),
            callback_query=request.raw_query,
            correlation=parse_correlation(request.raw_query),
        )
        return Accepted(callback, recorded, consent)


def _delivery_id(request: WebhookRequest) -> str:
    return request.header("i-twilio-idempotency-token")[:128]


def build_webhook_service(settings: Settings) -> WebhookService:
    return WebhookService(
        policy=IngressPolicy(
            public_base_url=settings.public_base_url,
            url_fragment=settings.url_fragment,
            max_body_bytes=settings.max_body_bytes,
        ),
        tokens=SecretTokenSource(settings.auth_tokens_secret, max_age=settings.token_cache_seconds),
        store=DynamoMessageStore(
            settings.messages_table,
            consent_table=settings.consent_table,
            retention=timedelta(days=settings.message_retention_days),
            attribution_window=timedelta(hours=settings.attribution_window_hours),
        ),
        keywords=settings.keywords,
        suppress_on_30004=settings.suppress_on_30004,
        verify=settings.twilio_verification,
    )


def startup_problems(settings: Settings) -> list[str]:
    """What is wrong enough to log loudly when a webhook container starts (read from settings only, no I/O)."""
    if not settings.auth_tokens_secret:
        return ["TWILIO_AUTH_TOKENS_SECRET is not set: every webhook will be refused until it is"]
    return []
