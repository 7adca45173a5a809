"""The forwarder's composition root: real adapters wired into the forwarder, built once per container, no I/O."""

from __future__ import annotations

from datetime import timedelta

from smsbridge.adapters.ci360 import SecretGatewaySource
from smsbridge.adapters.message_table import DynamoContacts, DynamoSentEvents
from smsbridge.adapters.queues import SqsParking
from smsbridge.config import Settings
from smsbridge.domain.delivery import send_reserve_seconds
from smsbridge.forwarder import Forwarder


def build_forwarder(settings: Settings) -> Forwarder:
    gateways = SecretGatewaySource(
        settings.ci360_secret, max_connections=settings.ci360_max_concurrency, timeout=settings.ci360_timeout_seconds
    )
    return Forwarder(
        mapping=settings.event_mapping,
        gateway=gateways.gateway,
        sent=DynamoSentEvents(settings.messages_table),
        contacts=DynamoContacts(settings.messages_table, window=timedelta(hours=settings.attribution_window_hours)),
        parking=SqsParking(settings.retry_queue_url, settings.dead_letter_queue_url),
        messages_table=settings.messages_table,
        consent_table=settings.consent_table,
        unknown_identity=settings.unknown_identity,
        max_workers=settings.ci360_max_concurrency,
        retry_base_seconds=settings.retry_base_seconds,
        send_reserve_ms=int(send_reserve_seconds(settings.ci360_timeout_seconds) * 1000),
    )
