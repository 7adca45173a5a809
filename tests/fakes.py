"""One fake per port: each records what it was given and can be told to fail."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from smsbridge.adapters.ci360 import JobTypeRefused
from smsbridge.adapters.queues import parked_message
from smsbridge.domain.ci360_events import Correlation, Flat, PendingEvent
from smsbridge.domain.claims import (
    ClaimAnswer,
    ClaimRecord,
    ClaimState,
    Lane,
    LaneAnswer,
    LaneEntry,
    LaneWaiter,
    enter_lane,
    may_claim,
    next_waiter,
)
from smsbridge.domain.consent import ConsentEvent
from smsbridge.domain.delivery import Outcome, Verdict
from smsbridge.domain.keywords import ReplyClassification
from smsbridge.domain.payloads import InboundMessage, StatusCallback
from smsbridge.domain.preferences import Checkpoint, JobStatus, Preference
from smsbridge.domain.signature import AuthTokens
from smsbridge.domain.status import advances
from smsbridge.errors import SmsBridgeError, StoreUnavailable


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
        self.accepted: list[dict[str, object]] = []
        self.delay = delay
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def send(self, body: dict[str, Flat]) -> Verdict:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            answer = self.answers.pop(0) if self.answers else Verdict(Outcome.ACCEPTED, "201")
            if answer.outcome is Outcome.ACCEPTED:
                self.accepted.append(dict(body))  # in the order CI360 took them
        time.sleep(self.delay)
        with self._lock:
            self.in_flight -= 1
            self.bodies.append(dict(body))
        return answer


class FakeSentLedger:
    """``SentLedger`` in memory with the claim rules of ``domain/claims.py`` (each write atomic under a lock).

    ``sent`` maps accepted keys to their event names; ``fail_settles`` refuses that many ``accepted`` records as a
    throttled DynamoDB would."""

    def __init__(self, fail_settles: int = 0) -> None:
        self.claims: dict[str, ClaimRecord] = {}
        self.sent: dict[str, str] = {}
        self.fail_settles = fail_settles
        self._lock = threading.Lock()

    def claim(self, key: str, *, owner: str, ticket: str, now: datetime, lease_until: datetime) -> ClaimAnswer:
        with self._lock:
            found = self.claims.get(key)
            if not may_claim(found, ticket=ticket, now=now):
                return ClaimAnswer(False, found)
            base = found or ClaimRecord(ClaimState.CLAIMED)
            if found is not None and found.state is ClaimState.CLAIMED:  # abandoned: its attempt ended unseen
                base = replace(base, ambiguous=base.ambiguous + 1)
            self.claims[key] = replace(base, state=ClaimState.CLAIMED, owner=owner, lease_until=lease_until)
            return ClaimAnswer(True, self.claims[key])

    def settle(self, key: str, *, owner: str, state: ClaimState, at: datetime, reason: str = "", ticket: str = "",
               event_name: str = "", ambiguous: int = 0) -> bool:  # fmt: skip
        with self._lock:
            found = self.claims.get(key)
            if state is ClaimState.ACCEPTED:
                if self.fail_settles:
                    self.fail_settles -= 1
                    raise StoreUnavailable("DynamoDB refused the write: ProvisionedThroughputExceededException")
                self.sent[key] = event_name
            elif found is None or found.owner != owner:
                return False
            base = found or ClaimRecord(state)
            self.claims[key] = replace(base, state=state, owner="", lease_until=None, reason=reason,
                                       ticket=ticket or base.ticket, ambiguous=ambiguous or base.ambiguous)  # fmt: skip
            return True

    def release(self, key: str, *, owner: str) -> None:
        with self._lock:
            if key in self.claims and self.claims[key].owner == owner:
                del self.claims[key]

    def state_of(self, key: str) -> ClaimRecord | None:
        return self.claims.get(key)

    def claims_of(self, keys: list[str]) -> dict[str, ClaimRecord]:
        return {key: self.claims[key] for key in keys if key in self.claims}


class FakeLanes:
    """``ConsentLanes`` in memory with the rules of ``domain/claims`` (``enter_lane``, ``next_waiter``), each write
    atomic under a lock. ``writes`` counts the writes by operation; ``fail_leaves`` refuses that many ``leave``s as
    a throttled DynamoDB would (the invocation that settled an event then wakes nobody)."""

    def __init__(self, fail_leaves: int = 0) -> None:
        self.lanes: dict[str, Lane] = {}
        self.writes: Counter[str] = Counter()
        self.fail_leaves = fail_leaves
        self._lock = threading.Lock()

    def register(self, lane: str, order: str) -> None:
        with self._lock:
            self._write("register", lane, pending=self._get(lane).pending | {order})

    def enter(self, lane: str, *, owner: str, order: str, now: datetime, lease_until: datetime) -> LaneEntry:
        with self._lock:
            found = self.lanes.get(lane)
            answer = enter_lane(found, order=order, now=now)
            if answer is LaneAnswer.ENTERED:
                found = found or Lane()
                waiting = {key: waiter for key, waiter in found.waiting.items() if key != order}
                self._write("enter", lane, holder=owner, lease_until=lease_until, pending=found.pending | {order},
                            waiting=waiting)  # fmt: skip
            return LaneEntry(answer, found.version if found else 0)

    def wait(self, lane: str, waiter: LaneWaiter, *, seen: int) -> bool:
        with self._lock:
            found = self._get(lane)
            if found.version != seen:
                return False
            self._write("wait", lane, pending=found.pending | {waiter.order},
                        waiting={**found.waiting, waiter.order: waiter})  # fmt: skip
            return True

    def leave(self, lane: str, *, owner: str, settled: str = "", accepted: bool = False) -> LaneWaiter | None:
        with self._lock:
            if self.fail_leaves:
                self.fail_leaves -= 1
                raise StoreUnavailable("DynamoDB refused the write: ProvisionedThroughputExceededException")
            found = self._get(lane)
            holder = ("", None) if found.holder == owner else (found.holder, found.lease_until)
            last = max(found.last_order, settled) if accepted else found.last_order
            written = self._write("leave", lane, holder=holder[0], lease_until=holder[1], last_order=last,
                                  pending=found.pending - {settled})  # fmt: skip
            return next_waiter(written)

    def forget(self, lane: str, order: str) -> LaneWaiter | None:
        with self._lock:
            found = self._get(lane)
            waiting = {key: waiter for key, waiter in found.waiting.items() if key != order}
            return next_waiter(self._write("forget", lane, pending=found.pending - {order}, waiting=waiting))

    def _get(self, lane: str) -> Lane:
        return self.lanes.get(lane, Lane())

    def _write(self, operation: str, lane: str, **changes: Any) -> Lane:
        found = self._get(lane)
        self.lanes[lane] = replace(found, version=found.version + 1, **changes)
        self.writes[operation] += 1
        return self.lanes[lane]


class FakeContacts:
    def __init__(self, known: dict[tuple[str, str], Correlation] | None = None) -> None:
        self.known = known or {}

    def latest(
        self, phone: str, scope: str, *, now: datetime, account_sid: str = "", sender: str = ""
    ) -> Correlation | None:
        return self.known.get((phone, sender)) or self.known.get((phone, scope))


class FakeParking:
    """``ParkingQueues`` in memory; ``fail_with`` makes it refuse like an SQS outage. ``messages`` and
    ``dead_messages`` hold the bodies the SQS adapter would send, to feed back to the forwarder."""

    def __init__(self, fail_with: SmsBridgeError | None = None) -> None:
        self.retries: list[tuple[PendingEvent, int, int, str]] = []
        self.dead: list[tuple[PendingEvent, str, int]] = []
        self.messages: list[dict[str, Any]] = []
        self.dead_messages: list[dict[str, Any]] = []
        self.leases: list[timedelta] = []
        self.fail_with = fail_with
        self._lock = threading.Lock()

    def retry_later(self, event: PendingEvent, *, attempt: int, delay: int, reason: str, ticket: str = "",
                    accepted: bool = False) -> None:  # fmt: skip
        if self.fail_with:
            raise self.fail_with
        with self._lock:
            self.retries.append((event, attempt, delay, reason))
            self.messages.append(parked_message(event, attempt=attempt, reason=reason, ticket=ticket,
                                                accepted=accepted))  # fmt: skip

    def dead_letter(self, event: PendingEvent, *, reason: str, attempts: int, ticket: str = "") -> None:
        if self.fail_with:
            raise self.fail_with
        with self._lock:
            self.dead.append((event, reason, attempts))
            self.dead_messages.append(parked_message(event, attempt=attempts, reason=reason, ticket=ticket))

    @contextmanager
    def hold(self, records: Sequence[Mapping[str, Any]], lease: timedelta, outcomes: Counter[str]) -> Iterator[None]:
        """Holds nothing (the in-memory queue has no visibility); notes each batch's lease in ``leases``."""
        self.leases.append(lease)
        yield

    def take(self) -> dict[str, Any]:
        """The retry queue's messages as one SQS batch for the forwarder, emptying the queue."""
        with self._lock:
            messages, self.messages = self.messages, []
        return sqs_records(messages)


def sqs_records(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Queue message bodies as the SQS batch Lambda hands the forwarder."""
    return {"Records": [{"eventSource": "aws:sqs", "messageId": f"msg-{i}", "body": json.dumps(message)}
                        for i, message in enumerate(messages)]}  # fmt: skip


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
        self.current: tuple[Checkpoint, list[Preference]] = (Checkpoint(), [])
        self.synced: dict[str, bool] = {}
        self.lease: tuple[str, datetime] | None = None

    def checkpoint(self) -> tuple[Checkpoint, list[Preference]]:
        return self.current

    def save(self, checkpoint: Checkpoint, pending: list[Preference] | None = None) -> None:
        self.current = (checkpoint, list(pending or []))

    def record_synced(self, preferences: list[Preference], *, job: str, at: str) -> None:
        self.synced.update({p.phone: p.opted_out for p in preferences})

    def take_lease(self, owner: str, *, now: datetime, until: datetime) -> bool:
        if self.lease is not None and self.lease[0] != owner and self.lease[1] >= now:
            return False
        self.lease = (owner, until)
        return True

    def release_lease(self, owner: str) -> None:
        if self.lease is not None and self.lease[0] == owner:
            self.lease = None


class FakePreferenceApi:
    """``PreferenceApi`` whose jobs answer ``statuses`` in turn (then ``Imported``, SAS's done); job creation
    refuses the job types in ``refused_job_types`` (and records every type asked for in ``job_types``)."""

    def __init__(self, *statuses: str | JobStatus, refused_job_types: tuple[str, ...] = ()) -> None:
        self.statuses = [JobStatus(s) if isinstance(s, str) else s for s in statuses]
        self.files: list[bytes] = []
        self.jobs: list[str] = []
        self.refused_job_types = refused_job_types
        self.job_types: list[str] = []

    def file_location(self) -> str:
        return f"https://upload.example/{len(self.files)}"

    def upload(self, signed_url: str, content: bytes) -> None:
        self.files.append(content)

    def start_preference_import(self, signed_url: str, job_type: str = "CONTACT_PREFERENCE_SMS_IMPORT") -> str:
        self.job_types.append(job_type)
        if job_type in self.refused_job_types:
            raise JobTypeRefused(job_type, "400: invalid jobType")
        self.jobs.append(f"job-{len(self.jobs) + 1}")
        return self.jobs[-1]

    def job_status(self, job_id: str) -> JobStatus:
        return self.statuses.pop(0) if self.statuses else JobStatus("Imported")
