"""The preference sync's composition root (the scheduled function and `smsbridge ci360 sync-preferences`)."""

from __future__ import annotations

from smsbridge.adapters.ci360 import SecretGatewaySource
from smsbridge.adapters.consent_table import ConsentLedger
from smsbridge.adapters.sync_records import SyncRecords
from smsbridge.config import Settings
from smsbridge.preference_sync import PreferenceSync


def build_preference_sync(settings: Settings) -> PreferenceSync:
    gateways = SecretGatewaySource(settings.ci360_secret, max_connections=2, timeout=settings.ci360_timeout_seconds)
    return PreferenceSync(
        ledger=ConsentLedger(settings.consent_table),
        records=SyncRecords(settings.messages_table),
        api=gateways.gateway,
        stuck_after_seconds=settings.preference_stuck_minutes * 60,
    )
