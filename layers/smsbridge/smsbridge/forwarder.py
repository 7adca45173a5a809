"""The forwarder: changes on record → CI360 events, each accepted once, none lost, none blocking the others.

A batch (DynamoDB stream records of both tables, or retry-queue messages) is mapped to events and delivered
concurrently, at most ``max_workers`` requests in flight. Before a copy of an event is sent it *claims* the event
(one conditional write, ``domain/claims.py``): only the claimant sends, so copies side by side (in one batch,
across concurrent batches, from replay) send once. Each event ends in one of: ``sent`` (CI360 accepted it and
the claim says so), ``duplicate`` (accepted before, or another copy owns it), ``waiting`` (another copy holds the
claim now: this one waits on the retry queue in case that one dies), ``retrying`` (on the retry queue with a
growing delay), ``ambiguous`` (CI360's answer was lost after the request went out: tried once more, after a
delay), ``deferred`` (too little of the invocation left to finish a send: on the retry queue, not tried),
``dead_lettered`` (rejected, out of attempts, or unconfirmed twice: kept whole with the reason) or ``held`` (no
CI360 identity and the policy is to hold: kept in the dead-letter queue for replay). A record fails, and Lambda
retries it, only when its event could not be put anywhere (SQS or DynamoDB failing).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from smsbridge.adapters.dynamodb import stream_change
from smsbridge.adapters.queues import parked_event
from smsbridge.clock import utc_now
from smsbridge.domain.ci360_events import EventMapping, PendingEvent, with_identity
from smsbridge.domain.claims import ClaimRecord, ClaimState
from smsbridge.domain.delivery import (
    FIRST_DELAY_SECONDS,
    MAX_ATTEMPTS,
    MAX_DELAY_SECONDS,
    Outcome,
    Verdict,
    retry_delay,
)
from smsbridge.errors import NotConfigured, RetryableError
from smsbridge.ports import ContactDirectory, EventGateway, ParkingQueues, SentLedger


@dataclass(frozen=True)
class Work:
    """One event to deliver, the batch record it came from, and how many attempts it has had."""

    record_id: str
    event: PendingEvent
    attempt: int = 0
    ticket: str = ""  # the claim ticket a parked message carries (domain/claims.py)
    accepted: bool = False  # CI360 has it; only the claim's outcome is left to record


LEASE_MARGIN = timedelta(seconds=30)  # a claim outlives its invocation by this much before another copy may take it


@dataclass
class BatchReport:
    """What became of a batch: outcomes by name, and the records Lambda must retry."""

    outcomes: Counter[str] = field(default_factory=Counter)
    failed_records: list[str] = field(default_factory=list)

    def response(self) -> dict[str, list[dict[str, str]]]:
        """The partial-batch response Lambda expects (``ReportBatchItemFailures``)."""
        return {"batchItemFailures": [{"itemIdentifier": record} for record in dict.fromkeys(self.failed_records)]}


class Forwarder:
    def __init__(
        self,
        *,
        mapping: EventMapping,
        gateway: Callable[[], EventGateway],
        sent: SentLedger,
        contacts: ContactDirectory,
        parking: ParkingQueues,
        messages_table: str,
        consent_table: str,
        unknown_identity: str = "hold",
        max_workers: int = 16,
        retry_base_seconds: int = FIRST_DELAY_SECONDS,
        send_reserve_ms: int = 9_000,
        observer: Callable[[PendingEvent, str], None] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.mapping = mapping
        self.gateway = gateway
        self.sent = sent
        self.contacts = contacts
        self.parking = parking
        self.tables = {messages_table: mapping.message_change, consent_table: mapping.consent_change}
        self.unknown_identity = unknown_identity
        self.max_workers = max_workers
        self.retry_base_seconds = retry_base_seconds
        self.send_reserve_ms = send_reserve_ms  # the longest a claim, send and record can take (delivery.py)
        self.observer = observer  # told every event's outcome (the local stack prints them)
        self.clock = clock

    def handle(self, event: Mapping[str, Any], remaining_ms: Callable[[], int] | None = None) -> BatchReport:
        """Process a Lambda batch: DynamoDB stream records or SQS retry-queue messages. ``remaining_ms`` (the Lambda
        context's ``get_remaining_time_in_millis``) is the deadline: a send that could not finish before it is not
        started, and its event is parked for the next invocation."""
        report = BatchReport()
        work: list[Work] = []
        for record in event.get("Records") or []:
            record_id = _record_id(record)
            try:
                work.extend(self._work_of(record, record_id))
            except (KeyError, IndexError, TypeError, ValueError, AttributeError):
                report.outcomes["malformed_record"] += 1
                report.failed_records.append(record_id)
        with ThreadPoolExecutor(max_workers=max(1, min(self.max_workers, len(work)))) as pool:
            outcomes = pool.map(lambda item: self._deliver_safely(item, remaining_ms), work)
            for item, outcome in zip(work, outcomes, strict=True):
                report.outcomes[outcome] += 1
                if outcome == "failed":
                    report.failed_records.append(item.record_id)
        return report

    def _work_of(self, record: Mapping[str, Any], record_id: str) -> Iterator[Work]:
        if record.get("eventSource") == "aws:sqs":
            parked = parked_event(record["body"])
            yield Work(record_id, parked.event, parked.attempt, parked.ticket, parked.accepted)
            return
        change = stream_change(record)
        mapper = self.tables.get(change.table) if change else None
        if change is None or mapper is None:
            return  # a deletion (TTL), or another table's stream: nothing to tell CI360
        for pending in mapper(change.new, change.old):
            yield Work(record_id, pending)

    def _deliver_safely(self, work: Work, remaining_ms: Callable[[], int] | None = None) -> str:
        try:
            if remaining_ms is not None and remaining_ms() < self.send_reserve_ms:
                reason = "deferred: too little of the invocation was left to finish sending it"
                self.parking.retry_later(work.event, attempt=work.attempt, delay=1, reason=reason, ticket=work.ticket,
                                         accepted=work.accepted)  # fmt: skip
                outcome = "deferred"
            elif work.accepted:
                self.sent.settle(work.event.key, owner="", state=ClaimState.ACCEPTED, at=self.clock(),
                                 event_name=self.mapping.name_for(work.event.kind))  # fmt: skip
                outcome = "recorded"
            else:
                outcome = self.deliver(work.event, work.attempt, ticket=work.ticket, remaining_ms=remaining_ms)
        except RetryableError:
            outcome = "failed"
        if self.observer:
            self.observer(work.event, outcome)
        return outcome

    def deliver(self, event: PendingEvent, attempt: int = 0, *, ticket: str = "",
                remaining_ms: Callable[[], int] | None = None) -> str:  # fmt: skip
        """Claim the event and send it, unless CI360 has it already or another copy owns it; park it when it cannot
        be sent now. The outcome is recorded on the claim."""
        now = self.clock()
        owner = uuid.uuid4().hex
        left_ms = remaining_ms() if remaining_ms is not None else self.send_reserve_ms
        lease_until = now + timedelta(milliseconds=max(left_ms, self.send_reserve_ms)) + LEASE_MARGIN
        answer = self.sent.claim(event.key, owner=owner, ticket=ticket, now=now, lease_until=lease_until)
        if not answer.granted:
            return self._not_claimed(event, attempt, ticket, answer.record, now)
        return self._send_claimed(event, attempt, owner, answer.ambiguous)

    def _not_claimed(self, event: PendingEvent, attempt: int, ticket: str, found: ClaimRecord | None,
                     now: datetime) -> str:  # fmt: skip
        if found is None or found.state is not ClaimState.CLAIMED or found.lease_until is None:
            return "duplicate"  # accepted, or parked under another copy's ticket
        # Another copy is sending it now. Wait on the retry queue, keeping this copy's ticket, and look again (at the
        # latest when its lease ends): if that copy died, this one takes over; if it settled, this one falls away.
        wait = min(int((found.lease_until - now).total_seconds()) + 1, self.retry_base_seconds, MAX_DELAY_SECONDS)
        self.parking.retry_later(event, attempt=attempt, delay=max(1, wait),
                                 reason="waiting: another copy holds the claim", ticket=ticket)  # fmt: skip
        return "waiting"

    def _send_claimed(self, event: PendingEvent, attempt: int, owner: str, ambiguous: int) -> str:
        try:
            correlation = event.correlation or self.contacts.latest(event.phone, event.scope, now=self.clock())
        except RetryableError:
            self.sent.release(event.key, owner=owner)  # nothing went out: a redelivered copy may claim it at once
            raise
        addressed = with_identity(event, self.mapping, correlation, self.unknown_identity)
        if addressed is None:
            reason = "held: no CI360 identity is known for this number (UNKNOWN_IDENTITY=hold)"
            return self._dead_letter(event, owner, ClaimState.HELD, reason, attempt, outcome="held")
        try:
            verdict = self.gateway().send(addressed.body())
        except NotConfigured as problem:
            verdict = Verdict(Outcome.RETRY, f"CI360 is not configured: {problem}")
        if verdict.outcome is Outcome.ACCEPTED:
            self._record_accepted(event, owner, addressed.name, attempt)
            return "sent"
        if verdict.outcome is Outcome.RETRY and verdict.ambiguous:
            if ambiguous >= 1:  # its answer was lost once already: CI360 probably has it, a third copy is too many
                reason = f"unconfirmed: CI360's answer was lost twice ({verdict.reason}); it may have the event"
                return self._dead_letter(
                    event, owner, ClaimState.UNCONFIRMED, reason, attempt + 1, outcome="dead_lettered"
                )
            return self._park(event, owner, attempt, f"ambiguous: {verdict.reason}", "ambiguous", ambiguous=1)
        if verdict.outcome is Outcome.RETRY and attempt + 1 < MAX_ATTEMPTS:
            return self._park(event, owner, attempt, verdict.reason, "retrying", ambiguous=ambiguous)
        if verdict.outcome is Outcome.RETRY:
            verdict = Verdict(Outcome.REJECTED, f"gave up after {attempt + 1} attempts: {verdict.reason}")
        return self._dead_letter(
            event, owner, ClaimState.DEAD_LETTERED, verdict.reason, attempt + 1, outcome="dead_lettered"
        )

    def _record_accepted(self, event: PendingEvent, owner: str, name: str, attempt: int) -> None:
        """Record CI360's acceptance; when that write fails, leave the recording to the retry queue (never the
        send: CI360 has the event)."""
        try:
            self.sent.settle(event.key, owner=owner, state=ClaimState.ACCEPTED, at=self.clock(), event_name=name)
        except RetryableError:
            self.parking.retry_later(event, attempt=attempt, delay=self.retry_base_seconds, accepted=True,
                                     reason="accepted by CI360; recording that failed")  # fmt: skip

    def _park(self, event: PendingEvent, owner: str, attempt: int, reason: str, outcome: str, *,
              ambiguous: int) -> str:  # fmt: skip
        """On the retry queue under a new ticket first, then the claim says so (a crash in between leaves a claim
        whose lease runs out, which the parked message then takes over)."""
        ticket = uuid.uuid4().hex
        delay = retry_delay(attempt + 1, first=self.retry_base_seconds)
        self.parking.retry_later(event, attempt=attempt + 1, delay=delay, reason=reason, ticket=ticket)
        self.sent.settle(event.key, owner=owner, state=ClaimState.PARKED, at=self.clock(), reason=reason,
                         ticket=ticket, ambiguous=ambiguous)  # fmt: skip
        return outcome

    def _dead_letter(self, event: PendingEvent, owner: str, state: ClaimState, reason: str, attempts: int, *,
                     outcome: str = "dead_lettered") -> str:  # fmt: skip
        ticket = uuid.uuid4().hex
        self.parking.dead_letter(event, reason=reason, attempts=attempts, ticket=ticket)
        self.sent.settle(event.key, owner=owner, state=state, at=self.clock(), reason=reason, ticket=ticket)
        return outcome


def _record_id(record: Any) -> str:
    """The id Lambda expects back for a failed record (a malformed record may have none: then "")."""
    if not isinstance(record, Mapping):
        return ""
    if record.get("eventSource") == "aws:sqs":
        return str(record.get("messageId", ""))
    change = record.get("dynamodb")
    return str(change.get("SequenceNumber", "")) if isinstance(change, Mapping) else ""
