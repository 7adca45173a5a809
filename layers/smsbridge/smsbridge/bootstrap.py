"""The composition root: real adapters wired into the service, built once per container, with no I/O."""

from __future__ import annotations

from datetime import timedelta

from smsbridge.adapters.message_table import DynamoContacts, DynamoMessageStore, DynamoSentEvents
from smsbridge.adapters.queues import SqsParking
from smsbridge.adapters.secrets import SecretGatewaySource, SecretTokenSource
from smsbridge.config import Settings
from smsbridge.domain.ingress import IngressPolicy
from smsbridge.forwarder import Forwarder
from smsbridge.service import WebhookService


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
        ),
        keywords=settings.keywords,
        suppress_on_30004=settings.suppress_on_30004,
    )


def build_forwarder(settings: Settings) -> Forwarder:
    retention = timedelta(days=settings.message_retention_days)
    gateways = SecretGatewaySource(
        settings.ci360_secret, max_connections=settings.ci360_max_concurrency, timeout=settings.ci360_timeout_seconds
    )
    return Forwarder(
        mapping=settings.event_mapping,
        gateway=gateways.gateway,
        sent=DynamoSentEvents(settings.messages_table, retention=retention),
        contacts=DynamoContacts(settings.messages_table, window=timedelta(hours=settings.attribution_window_hours)),
        parking=SqsParking(settings.retry_queue_url, settings.dead_letter_queue_url),
        messages_table=settings.messages_table,
        consent_table=settings.consent_table,
        unknown_identity=settings.unknown_identity,
        max_workers=settings.ci360_max_concurrency,
        retry_base_seconds=settings.retry_base_seconds,
    )


def startup_problems(settings: Settings, *, forwarder: bool = False) -> list[str]:
    """What is wrong enough to log loudly when a container starts (read from settings only, no I/O)."""
    problems = []
    if not forwarder and not settings.auth_tokens_secret:
        problems.append("TWILIO_AUTH_TOKENS_SECRET is not set: every webhook will be refused until it is")
    if forwarder and not settings.ci360_secret:
        problems.append("CI360_SECRET is not set: events wait on the retry queue until it is")
    if forwarder and not (settings.retry_queue_url and settings.dead_letter_queue_url):
        problems.append("RETRY_QUEUE_URL or DEAD_LETTER_QUEUE_URL is not set: undeliverable events cannot be kept")
    return problems
