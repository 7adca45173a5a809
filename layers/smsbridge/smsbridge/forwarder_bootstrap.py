"""The forwarder's composition root: real adapters wired into the forwarder, built once per container, no I/O."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import boto3

from smsbridge.adapters.ci360 import SecretGatewaySource
from smsbridge.adapters.dynamodb import CLIENT_CONFIG
from smsbridge.adapters.fact_tables import DynamoFacts
from smsbridge.adapters.message_table import DynamoConsentLanes, DynamoContacts, DynamoSentEvents
from smsbridge.adapters.queues import SqsParking
from smsbridge.clock import utc_now
from smsbridge.config import Settings
from smsbridge.domain.delivery import send_reserve_seconds
from smsbridge.forwarder import Forwarder
from smsbridge.recover import (
    SWEEP_GRACE,
    SWEEP_LOOKBACK,
    RecoverySummary,
    Window,
    recent_window,
    recover,
    sweep_dead_letter_descriptions,
)


def build_forwarder(settings: Settings, *, dynamodb: Any = None, sqs: Any = None, secrets: Any = None) -> Forwarder:
    """The forwarder on the settings' resources (``dynamodb``, ``sqs``, ``secrets``: clients to use instead of
    the default ones, e.g. the CLI's for another region or the local stack)."""
    gateways = SecretGatewaySource(
        settings.ci360_secret, max_connections=settings.ci360_max_concurrency, timeout=settings.ci360_timeout_seconds,
        client=secrets,
    )  # fmt: skip
    return Forwarder(
        mapping=settings.event_mapping,
        gateway=gateways.gateway,
        sent=DynamoSentEvents(settings.messages_table, client=dynamodb),
        lanes=DynamoConsentLanes(settings.messages_table, client=dynamodb),
        contacts=DynamoContacts(
            settings.messages_table, window=timedelta(hours=settings.attribution_window_hours), client=dynamodb
        ),
        parking=SqsParking(settings.retry_queue_url, settings.dead_letter_queue_url, client=sqs),
        messages_table=settings.messages_table,
        consent_table=settings.consent_table,
        unknown_identity=settings.unknown_identity,
        max_workers=settings.ci360_max_concurrency,
        retry_base_seconds=settings.retry_base_seconds,
        send_reserve_ms=int(send_reserve_seconds(settings.ci360_timeout_seconds) * 1000),
    )


def build_sweep(settings: Settings, forwarder: Forwarder) -> Callable[[Callable[[], int]], RecoverySummary]:
    """The scheduled recovery sweep: the stream-batch descriptions in the dead-letter queue, and the recent window."""
    facts = DynamoFacts(settings.messages_table, settings.consent_table)
    sqs = boto3.client("sqs", config=CLIENT_CONFIG)

    def sweep(remaining_ms: Callable[[], int]) -> RecoverySummary:
        window = recent_window(utc_now(), lookback=SWEEP_LOOKBACK, grace=SWEEP_GRACE)
        return sweep_dead_letter_descriptions(sqs, settings.dead_letter_queue_url, forwarder, facts, extra=[window],
                                              remaining_ms=remaining_ms)  # fmt: skip

    return sweep


def run_recovery(
    where: dict[str, Any], *, since: datetime, until: datetime | None = None, dry_run: bool = False
) -> RecoverySummary:
    """``smsbridge recover``: ``where`` maps messages, consent, dead, retry and secret to located resources
    (``adapters/deployment.Location``: a name and a client maker); the window's times come checked from the CLI."""
    start, end = since, until or utc_now()
    environment = {**os.environ, "MESSAGES_TABLE": where["messages"].name, "CONSENT_TABLE": where["consent"].name,
                   "DEAD_LETTER_QUEUE_URL": where["dead"].name, "RETRY_QUEUE_URL": where["retry"].name,
                   "CI360_SECRET": where["secret"].name}  # fmt: skip
    dynamodb = where["messages"].client("dynamodb")
    forwarder = build_forwarder(Settings.from_env(environment), dynamodb=dynamodb, sqs=where["retry"].client("sqs"),
                                secrets=where["secret"].client("secretsmanager"))  # fmt: skip
    facts = DynamoFacts(where["messages"].name, where["consent"].name, client=dynamodb)
    return recover(forwarder, facts, [Window(start, end)], dry_run=dry_run)
