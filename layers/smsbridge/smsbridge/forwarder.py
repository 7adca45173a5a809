"""The forwarder: changes on record → CI360 events, each accepted once, none lost, none blocking the others.

A batch (DynamoDB stream records of both tables, or retry-queue messages) is mapped to events and delivered
concurrently, at most ``max_workers`` requests in flight. Each event ends in one of: ``sent`` (CI360 accepted it
and that is recorded, so a redelivered batch skips it), ``duplicate`` (accepted before), ``retrying`` (on the
retry queue with a growing delay), ``dead_lettered`` (rejected, or out of attempts: kept whole with the reason)
or ``held`` (no CI360 identity and the policy is to hold: kept in the dead-letter queue for replay). A record
fails, and Lambda retries it, only when its event could not be put anywhere (SQS or DynamoDB failing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smsbridge.adapters.dynamodb import stream_change
from smsbridge.adapters.queues import parked_event
from smsbridge.clock import utc_now
from smsbridge.domain.ci360_events import EventMapping, PendingEvent, with_identity
from smsbridge.domain.delivery import FIRST_DELAY_SECONDS, MAX_ATTEMPTS, Outcome, Verdict, retry_delay
from smsbridge.errors import NotConfigured, RetryableError
from smsbridge.ports import ContactDirectory, EventGateway, ParkingQueues, SentLedger


@dataclass(frozen=True)
class Work:
    """One event to deliver, the batch record it came from, and how many attempts it has had."""

    record_id: str
    event: PendingEvent
    attempt: int = 0


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
        self.observer = observer  # told every event's outcome (the local stack prints them)
        self.clock = clock

    def handle(self, event: Mapping[str, Any]) -> BatchReport:
        """Process a Lambda batch: DynamoDB stream records or SQS retry-queue messages."""
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
            for item, outcome in zip(work, pool.map(self._deliver_safely, work), strict=True):
                report.outcomes[outcome] += 1
                if outcome == "failed":
                    report.failed_records.append(item.record_id)
        return report

    def _work_of(self, record: Mapping[str, Any], record_id: str) -> Iterator[Work]:
        if record.get("eventSource") == "aws:sqs":
            parked = parked_event(record["body"])
            yield Work(record_id, parked.event, parked.attempt)
            return
        change = stream_change(record)
        mapper = self.tables.get(change.table) if change else None
        if change is None or mapper is None:
            return  # a deletion (TTL), or another table's stream: nothing to tell CI360
        for pending in mapper(change.new, change.old):
            yield Work(record_id, pending)

    def _deliver_safely(self, work: Work) -> str:
        try:
            outcome = self.deliver(work.event, work.attempt)
        except RetryableError:
            outcome = "failed"
        if self.observer:
            self.observer(work.event, outcome)
        return outcome

    def deliver(self, event: PendingEvent, attempt: int = 0) -> str:
        """Send one event unless CI360 has it already; park it when it cannot be sent now."""
        if self.sent.was_sent(event.key):
            return "duplicate"
        correlation = event.correlation or self.contacts.latest(
            event.phone, event.scope, now=self.clock(), account_sid=event.account_sid, sender=event.sender
        )
        addressed = with_identity(event, self.mapping, correlation, self.unknown_identity)
        if addressed is None:
            reason = "held: no CI360 identity is known for this number (UNKNOWN_IDENTITY=hold)"
            self.parking.dead_letter(event, reason=reason, attempts=attempt)
            return "held"
        try:
            verdict = self.gateway().send(addressed.body())
        except NotConfigured as problem:
            verdict = Verdict(Outcome.RETRY, f"CI360 is not configured: {problem}")
        if verdict.outcome is Outcome.ACCEPTED:
            self.sent.mark_sent(event.key, event_name=addressed.name, at=self.clock())
            return "sent"
        if verdict.outcome is Outcome.RETRY and attempt + 1 < MAX_ATTEMPTS:
            delay = retry_delay(attempt + 1, first=self.retry_base_seconds)
            self.parking.retry_later(event, attempt=attempt + 1, delay=delay, reason=verdict.reason)
            return "retrying"
        if verdict.outcome is Outcome.RETRY:
            verdict = Verdict(Outcome.REJECTED, f"gave up after {attempt + 1} attempts: {verdict.reason}")
        self.parking.dead_letter(event, reason=verdict.reason, attempts=attempt + 1)
        return "dead_lettered"


def _record_id(record: Any) -> str:
    """The id Lambda expects back for a failed record (a malformed record may have none: then "")."""
    if not isinstance(record, Mapping):
        return ""
    if record.get("eventSource") == "aws:sqs":
        return str(record.get("messageId", ""))
    change = record.get("dynamodb")
    return str(change.get("SequenceNumber", "")) if isinstance(change, Mapping) else ""
