"""One fake per port: each records what it was given and can be told to fail."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

from smsbridge.domain.ci360_events import Correlation, Flat, PendingEvent
from smsbridge.domain.consent import ConsentEvent
from smsbridge.domain.delivery import Outcome, Verdict
from smsbridge.domain.keywords import ReplyClassification
from smsbridge.domain.payloads import InboundMessage, StatusCallback
from smsbridge.domain.preferences import Checkpoint, Preference
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
        if message.message_sid in self.inbound or self._on_record(consent):
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
        if not advances(stored.status if stored else None, callback.status) or self._on_record(consent):
            return False
        self.status[callback.message_sid] = callback
        self.consent += [consent] if consent else []
        return True

    def _on_record(self, consent: ConsentEvent | None) -> bool:
        """Evidence already in the history: the whole webhook changes nothing (as the consent table's condition)."""
        return consent is not None and any(
            (event.scope_key, event.event_id, event.action) == (consent.scope_key, consent.event_id, consent.action)
            for event in self.consent
        )


class FakeGateway:
    """``EventGateway`` that answers from a script (default: accepted) and records every body it was given."""

    def __init__(self, *answers: Verdict, delay: float = 0.0) -> None:
        self.answers = list(answers)
        self.bodies: list[dict[str, object]] = []
        self.delay = delay
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def send(self, body: dict[str, Flat]) -> Verdict:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            answer = self.answers.pop(0) if self.answers else Verdict(Outcome.ACCEPTED, "201")
        time.sleep(self.delay)
        with self._lock:
            self.in_flight -= 1
            self.bodies.append(dict(body))
        return answer


class FakeSentLedger:
    def __init__(self) -> None:
        self.sent: dict[str, str] = {}

    def was_sent(self, key: str) -> bool:
        return key in self.sent

    def mark_sent(self, key: str, *, event_name: str, at: datetime) -> None:
        self.sent[key] = event_name


class FakeContacts:
    def __init__(self, known: dict[tuple[str, str], Correlation] | None = None) -> None:
        self.known = known or {}

    def latest(
        self, phone: str, scope: str, *, now: datetime, account_sid: str = "", sender: str = ""
    ) -> Correlation | None:
        return self.known.get((phone, sender)) or self.known.get((phone, scope))


class FakeParking:
    """``ParkingQueues`` in memory; ``fail_with`` makes it refuse like an SQS outage."""

    def __init__(self, fail_with: SmsBridgeError | None = None) -> None:
        self.retries: list[tuple[PendingEvent, int, int, str]] = []
        self.dead: list[tuple[PendingEvent, str, int]] = []
        self.fail_with = fail_with

    def retry_later(self, event: PendingEvent, *, attempt: int, delay: int, reason: str) -> None:
        if self.fail_with:
            raise self.fail_with
        self.retries.append((event, attempt, delay, reason))

    def dead_letter(self, event: PendingEvent, *, reason: str, attempts: int) -> None:
        if self.fail_with:
            raise self.fail_with
        self.dead.append((event, reason, attempts))


class FakeConsentChanges:
    """``ConsentChanges``: ledger states as a list, each with phone, scope, status and changed_at."""

    def __init__(self, states: list[dict[str, Any]] | None = None) -> None:
        self.states = states or []

    def changed_states(self, after: str, until: str) -> list[dict[str, Any]]:
        found = [s for s in self.states if after < s["changed_at"] <= until]
        return sorted(found, key=lambda s: s["changed_at"])

    def states_of(self, phone: str) -> list[dict[str, Any]]:
        return [s for s in self.states if s["phone"] == phone]


class FakeSyncLog:
    def __init__(self) -> None:
        self.current = (Checkpoint(), [])
        self.synced: dict[str, bool] = {}

    def checkpoint(self) -> tuple[Checkpoint, list[Preference]]:
        return self.current

    def save(self, checkpoint: Checkpoint, pending: list[Preference] | None = None) -> None:
        self.current = (checkpoint, list(pending or []))

    def record_synced(self, preferences: list[Preference], *, job: str, at: str) -> None:
        self.synced.update({p.phone: p.opted_out for p in preferences})


class FakePreferenceApi:
    """``PreferenceApi`` whose jobs answer ``statuses`` in turn (default: Completed at once)."""

    def __init__(self, *statuses: str) -> None:
        self.statuses = list(statuses)
        self.files: list[bytes] = []
        self.jobs: list[str] = []

    def file_location(self) -> str:
        return f"https://upload.example/{len(self.files)}"

    def upload(self, signed_url: str, content: bytes) -> None:
        self.files.append(content)

    def start_preference_import(self, signed_url: str) -> str:
        self.jobs.append(f"job-{len(self.jobs) + 1}")
        return self.jobs[-1]

    def job_status(self, job_id: str) -> str:
        return self.statuses.pop(0) if self.statuses else "Completed"
