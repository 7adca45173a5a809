"""The webhook's composition root: real adapters wired into the service, built once per container, with no I/O.

Only what the webhook uses is imported here (its cold start matters); the forwarder's root is
``forwarder_bootstrap``.
"""

from __future__ import annotations

from datetime import timedelta

from smsbridge.adapters.message_table import DynamoMessageStore
from smsbridge.adapters.secrets import SecretTokenSource
from smsbridge.config import Settings
from smsbridge.domain.ingress import IngressPolicy
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
