"""The forwarder: changes on record → CI360 events, each accepted once, none lost, none blocking the others.

A batch (DynamoDB stream records of both tables, or retry-queue messages) is mapped to events and delivered
concurrently, at most ``max_workers`` requests in flight. Before a copy of an event is sent it *claims* the event
(one conditional write, ``domain/claims.py``): only the claimant sends, so copies side by side (in one batch,
across concurrent batches, from replay) send once. Each event ends in one of: ``sent`` (CI360 accepted it and
the claim says so), ``duplicate`` (accepted before, or another copy owns it), ``waiting`` (another copy holds the
claim now: this one waits on the retry queue in case that one dies), ``retrying`` (on the retry queue with a
growing delay), ``ambiguous`` (CI360's answer was lost after the request went out: tried once more, after a
delay), ``deferred`` (too little of the invocation left to finish a send: on the retry queue, not tried),
``dead_lettered`` (rejected, out of attempts, or unconfirmed twice: kept whole with the reason), ``held`` (no
CI360 identity and the policy is to hold: kept in the dead-letter queue for replay) or ``superseded`` (a consent
event older than one CI360 already accepted for the number: not sent, so CI360's last one matches the ledger).
A record fails, and Lambda retries it, only when its event could not be put anywhere (SQS or DynamoDB failing).

Consent events (opt-out, opt-in: those with a ledger ``order``) go through their number's lane, one at a time and in
ledger order. A batch's consent events for one number are sent one after another, in that order, so none waits for
another of its batch. One that must wait (an earlier one is being sent, or parked after a refusal) parks on the
retry queue with the ordinary retry delay and leaves a note in the lane; the invocation that settles the event ahead
of it sends it at once (``next_waiter``), and so on down the lane. If that invocation dies first, the parked message
still sends it after its retry delay. Other events carry no lane bookkeeping.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3

from smsbridge.adapters.ci360 import SecretGatewaySource
from smsbridge.adapters.contacts import DynamoContacts
from smsbridge.adapters.dynamodb import CLIENT_CONFIG, LazyClient, stream_change
from smsbridge.adapters.event_claims import DynamoConsentLanes, DynamoSentEvents
from smsbridge.adapters.fact_tables import DynamoFacts
from smsbridge.adapters.queues import SqsParking, parked_event
from smsbridge.clock import utc_now
from smsbridge.config import Settings
from smsbridge.domain.ci360_events import (
    Ci360Event,
    EventKind,
    EventMapping,
    PendingEvent,
    correlation_for,
    with_identity,
)
from smsbridge.domain.claims import LEASE_MARGIN, ClaimRecord, ClaimState, LaneAnswer, LaneEntry, LaneWaiter, lane_key
from smsbridge.domain.delivery import (
    FIRST_DELAY_SECONDS,
    MAX_ATTEMPTS,
    MAX_DELAY_SECONDS,
    Outcome,
    Verdict,
    retry_delay,
    send_reserve_seconds,
)
from smsbridge.errors import NotConfigured, RetryableError
from smsbridge.ports import ConsentLanes, ContactDirectory, EventGateway, ParkingQueues, SentLedger

# What this module offers, the names its handler imports from elsewhere included (the handler's one import).
__all__ = ["BatchReport", "Forwarder", "Settings", "Work", "build_forwarder",
           "build_forwarder_function", "build_sweep", "startup_problems"]  # fmt: skip

if TYPE_CHECKING:
    from smsbridge.app.recover import RecoverySummary
    from smsbridge.domain.ci360_events import Ci360Event


@dataclass(frozen=True)
class Work:
    """One event to deliver, the batch record it came from, and how many attempts it has had."""

    record_id: str
    event: PendingEvent
    attempt: int = 0
    ticket: str = ""  # the claim ticket a parked message carries (domain/claims.py)
    accepted: bool = False  # CI360 has it; only the claim's outcome is left to record
    fresh: bool = False  # first seen (a stream record, or found by the sweep), not a parked copy
    woken: bool = False  # a waiting consent event this invocation sends because the one ahead of it settled


@dataclass
class BatchReport:
    """What became of a batch: outcomes by name, and the records Lambda must retry."""

    outcomes: Counter[str] = field(default_factory=Counter)
    failed_records: list[str] = field(default_factory=list)
    opt_out_seconds: list[float] = field(default_factory=list)  # STOP received → CI360 accepted its opt-out

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
        lanes: ConsentLanes | None = None,
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
        self.lease = timedelta(milliseconds=send_reserve_ms) + LEASE_MARGIN  # a claim's: one send, not the invocation
        self.lanes = lanes  # consent events in ledger order per number (None: no ordering)
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
        if remaining_ms is not None and remaining_ms() < self.send_reserve_ms:
            remaining_ms = None  # not one send fits even in a fresh invocation: deferring would never end
        with self.parking.hold(event.get("Records") or [], self.lease, report.outcomes):  # a crash: back in a lease
            for item, outcome in self._run(work, remaining_ms):
                report.outcomes[outcome] += 1
                if outcome == "failed" and not item.woken:  # a woken event that failed is still parked: nothing lost
                    report.failed_records.append(item.record_id)
                if outcome == "sent" and item.event.kind is EventKind.OPT_OUT:
                    report.opt_out_seconds.append(item.event.age_seconds(self.clock()))
        return report

    def deliver_all(self, events: list[PendingEvent], remaining_ms: Callable[[], int] | None = None) -> Counter[str]:
        """Deliver events found outside a batch (the recovery sweep) as a batch's are: claimed, concurrently, within
        the deadline. Outcomes by name."""
        return Counter(outcome for _, outcome in self._run([Work("", e, fresh=True) for e in events], remaining_ms))

    def _run(self, work: list[Work], remaining_ms: Callable[[], int] | None) -> list[tuple[Work, str]]:
        """Deliver ``work`` concurrently, each event with the ones its settling woke. The consent events of one lane
        make one task, in ledger order: sent one after another, none waits for another of the batch."""
        tasks: dict[str, list[Work]] = {}
        for index, item in enumerate(work):
            ordered = self.lanes is not None and item.event.order
            tasks.setdefault(lane_key(item.event.phone, item.event.scope) if ordered else f"#{index}", []).append(item)
        in_order = [sorted(items, key=lambda item: item.event.order) for items in tasks.values()]

        def run_task(items: list[Work]) -> list[tuple[Work, str]]:
            return [done for item in items for done in self._deliver_safely(item, remaining_ms)]

        with ThreadPoolExecutor(max_workers=max(1, min(self.max_workers, len(in_order)))) as pool:
            return [done for task in pool.map(run_task, in_order) for done in task]

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
            yield Work(record_id, pending, fresh=True)

    def _deliver_safely(self, work: Work, remaining_ms: Callable[[], int] | None = None) -> list[tuple[Work, str]]:
        """Deliver one event, then each consent event its settling woke, in turn: (event, outcome) for each."""
        done: list[tuple[Work, str]] = []
        current: Work | None = work
        while current is not None:
            try:
                outcome, woken = self._deliver_one(current, remaining_ms)
            except RetryableError:
                outcome, woken = "failed", None
            done.append((current, outcome))
            if self.observer:
                self.observer(current.event, outcome)
            current = woken
        return done

    def _deliver_one(self, work: Work, remaining_ms: Callable[[], int] | None) -> tuple[str, Work | None]:
        if remaining_ms is not None and remaining_ms() < self.send_reserve_ms:
            if work.fresh and work.event.order and self.lanes is not None:  # hold its number's later ones back
                self.lanes.register(lane_key(work.event.phone, work.event.scope), work.event.order)
            reason = "deferred: too little of the invocation was left to finish sending it"
            self.parking.retry_later(work.event, attempt=work.attempt, delay=1, reason=reason, ticket=work.ticket,
                                     accepted=work.accepted)  # fmt: skip
            return "deferred", None
        if work.accepted:
            self.sent.settle(work.event.key, owner="", state=ClaimState.ACCEPTED, at=self.clock(),
                             event_name=self.mapping.name_for(work.event.kind))  # fmt: skip
            return "recorded", None
        return self._deliver(work.event, work.attempt, work.ticket, remaining_ms, woken=work.woken)

    def deliver(self, event: PendingEvent, attempt: int = 0, *, ticket: str = "",
                remaining_ms: Callable[[], int] | None = None) -> str:  # fmt: skip
        """Claim the event and send it, unless CI360 has it already or another copy owns it; park it when it cannot
        be sent now. The outcome is recorded on the claim. A consent event whose turn its settling brings is sent
        next (its outcome goes to the observer)."""
        outcome, woken = self._deliver(event, attempt, ticket, remaining_ms)
        if woken is not None:
            self._deliver_safely(woken, remaining_ms)
        return outcome

    def _deliver(self, event: PendingEvent, attempt: int, ticket: str, remaining_ms: Callable[[], int] | None, *,
                 woken: bool = False) -> tuple[str, Work | None]:  # fmt: skip
        """``deliver`` for one event: its outcome, and the waiting consent event to send next, if any."""
        now = self.clock()
        owner = uuid.uuid4().hex
        lease_until = now + self.lease
        answer = self.sent.claim(event.key, owner=owner, ticket=ticket, now=now, lease_until=lease_until)
        if not answer.granted:
            return self._not_claimed(event, attempt, ticket, answer.record, now, woken=woken)
        if not event.order or self.lanes is None:
            return self._send_claimed(event, attempt, owner, answer.ambiguous), None
        return self._send_in_lane(event, attempt, owner, answer.ambiguous, now=now, lease_until=lease_until)

    def _send_in_lane(self, event: PendingEvent, attempt: int, owner: str, ambiguous: int, *, now: datetime,
                      lease_until: datetime) -> tuple[str, Work | None]:  # fmt: skip
        """A consent event: sent only inside its number's lane, one at a time and never after a later one. Settling
        it hands the lane to the next event waiting there."""
        assert self.lanes is not None
        lane = lane_key(event.phone, event.scope)
        entry = self.lanes.enter(lane, owner=owner, order=event.order, now=now, lease_until=lease_until)
        if entry.answer is LaneAnswer.SUPERSEDED:
            reason = "superseded: CI360 already has a later consent event for this number"
            self.sent.settle(event.key, owner=owner, state=ClaimState.SUPERSEDED, at=self.clock(), reason=reason)
            return "superseded", _woken(self.lanes.forget(lane, event.order))
        if entry.answer is not LaneAnswer.ENTERED:
            return self._wait_in_lane(event, attempt, owner, ambiguous, lane=lane, entry=entry)
        outcome, waiter = "failed", None
        try:
            outcome = self._send_claimed(event, attempt, owner, ambiguous)
        finally:
            settled = event.order if outcome in ("sent", "dead_lettered", "held") else ""
            try:
                waiter = self.lanes.leave(lane, owner=owner, settled=settled, accepted=outcome == "sent")
            except RetryableError:
                pass  # the lane's lease runs out; the one waiting goes after its retry delay
        return outcome, _woken(waiter)

    def _wait_in_lane(self, event: PendingEvent, attempt: int, owner: str, ambiguous: int, *, lane: str,
                      entry: LaneEntry) -> tuple[str, Work | None]:  # fmt: skip
        """Park the event with the ordinary retry delay (its way out if nobody wakes it), then note it in the lane
        for the event ahead of it to send on settling. If the lane moved on since it was read (that event may have
        settled without seeing the note), look again at once."""
        assert self.lanes is not None
        reason = ("waiting: another consent event for this number is being sent" if entry.answer is LaneAnswer.BUSY
                  else "waiting: an earlier consent event for this number is not settled yet")  # fmt: skip
        ticket = uuid.uuid4().hex
        self._park(event, owner, attempt, reason, "waiting", ambiguous=ambiguous, next_attempt=attempt,
                   delay=self.retry_base_seconds, ticket=ticket)  # fmt: skip
        try:
            noted = self.lanes.wait(lane, LaneWaiter(event.order, event, attempt, ticket), seen=entry.version)
        except RetryableError:
            noted = True  # not noted, but parked: it goes after its retry delay
        return "waiting", None if noted else Work("", event, attempt, ticket, woken=True)

    def _not_claimed(self, event: PendingEvent, attempt: int, ticket: str, found: ClaimRecord | None,
                     now: datetime, *, woken: bool = False) -> tuple[str, Work | None]:  # fmt: skip
        if found is not None and found.state is not ClaimState.CLAIMED:
            if self.lanes and event.order and found.state is not ClaimState.PARKED:  # settled: pending no more
                return "duplicate", _woken(self.lanes.forget(lane_key(event.phone, event.scope), event.order))
            return "duplicate", None  # accepted, given up, or parked under another copy's ticket
        if woken:
            return "duplicate", None  # its own parked message is being sent now (if that copy dies, SQS retries it)
        # Another copy is sending it now. Wait on the retry queue, keeping this copy's ticket, and look again when
        # its lease ends: if that copy died, this one takes over; if it settled, this one falls away. Looking any
        # earlier can only find it still held, and each look is a write and a queue message (under duplicate
        # deliveries they multiply). A consent event is noted in its lane first: that copy may not have entered it
        # yet, and a later consent event of the number must not go ahead of it (it would supersede this one). If that
        # copy settled in between, the note outlives it until this copy comes back and finds the claim settled
        # (``forget`` above): the number's later events wait one lease at most.
        if self.lanes is not None and event.order:
            self.lanes.register(lane_key(event.phone, event.scope), event.order)
        lease_left = int((found.lease_until - now).total_seconds()) + 1 if found and found.lease_until else 1
        wait = min(lease_left, MAX_DELAY_SECONDS)
        self.parking.retry_later(event, attempt=attempt, delay=max(1, wait),
                                 reason="waiting: another copy holds the claim", ticket=ticket)  # fmt: skip
        return "waiting", None

    def _send_claimed(self, event: PendingEvent, attempt: int, owner: str, ambiguous: int) -> str:
        try:
            ask, now = self.contacts.latest, self.clock()
            correlation = correlation_for(
                event,
                lambda: ask(event.phone, event.scope, now=now, account_sid=event.account_sid, sender=event.sender),
            )
        except RetryableError:
            self.sent.release(event.key, owner=owner)  # nothing went out: a redelivered copy may claim it at once
            raise
        addressed = with_identity(event, self.mapping, correlation, self.unknown_identity)
        if addressed is None:
            reason = "held: no CI360 identity is known for this number (UNKNOWN_IDENTITY=hold)"
            return self._dead_letter(event, owner, ClaimState.HELD, reason, attempt, outcome="held")
        if ambiguous >= 2:  # two attempts ended unseen (lost answers, or senders that died): CI360 may have it
            reason = "unconfirmed: two attempts ended without CI360's answer; it may have the event"
            return self._dead_letter(event, owner, ClaimState.UNCONFIRMED, reason, attempt, outcome="dead_lettered")
        return self._send_addressed(event, addressed, attempt, owner, ambiguous)

    def _send_addressed(self, event: PendingEvent, addressed: Ci360Event, attempt: int, owner: str,
                        ambiguous: int) -> str:  # fmt: skip
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

    def _park(self, event: PendingEvent, owner: str, attempt: int, reason: str, outcome: str, *, ambiguous: int,
              next_attempt: int | None = None, delay: int | None = None, ticket: str = "") -> str:  # fmt: skip
        """On the retry queue under a new ticket first, then the claim says so (a crash in between leaves a claim
        whose lease runs out, which the parked message then takes over). By default it counts as an attempt and
        waits the growing retry delay."""
        ticket = ticket or uuid.uuid4().hex
        next_attempt = attempt + 1 if next_attempt is None else next_attempt
        delay = retry_delay(attempt + 1, first=self.retry_base_seconds) if delay is None else delay
        self.parking.retry_later(event, attempt=next_attempt, delay=delay, reason=reason, ticket=ticket)
        self.sent.settle(event.key, owner=owner, state=ClaimState.PARKED, at=self.clock(), reason=reason,
                         ticket=ticket, ambiguous=ambiguous)  # fmt: skip
        return outcome

    def _dead_letter(self, event: PendingEvent, owner: str, state: ClaimState, reason: str, attempts: int, *,
                     outcome: str = "dead_lettered") -> str:  # fmt: skip
        ticket = uuid.uuid4().hex
        self.parking.dead_letter(event, reason=reason, attempts=attempts, ticket=ticket)
        self.sent.settle(event.key, owner=owner, state=state, at=self.clock(), reason=reason, ticket=ticket)
        return outcome


def _woken(waiter: LaneWaiter | None) -> Work | None:
    """The waiting consent event a lane handed on, as work for this invocation (its parked message stays as the
    fallback: whichever copy claims it first under its ticket sends it)."""
    return Work("", waiter.event, waiter.attempt, waiter.ticket, woken=True) if waiter else None


def _record_id(record: Any) -> str:
    """The id Lambda expects back for a failed record (a malformed record may have none: then "")."""
    if not isinstance(record, Mapping):
        return ""
    if record.get("eventSource") == "aws:sqs":
        return str(record.get("messageId", ""))
    change = record.get("dynamodb")
    return str(change.get("SequenceNumber", "")) if isinstance(change, Mapping) else ""


def build_forwarder(settings: Settings, *, dynamodb: Any = None, sqs: Any = None, secrets: Any = None) -> Forwarder:
    """The forwarder on the settings' resources (``dynamodb``, ``sqs``, ``secrets``: clients to use instead of
    the default ones, e.g. the CLI's for another region or the local stack). Its adapters share one client per
    service: each client costs a cold start time to build."""
    dynamodb = dynamodb or boto3.client("dynamodb", config=CLIENT_CONFIG)
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


def build_forwarder_function(settings: Settings) -> tuple[Forwarder, Callable[[Callable[[], int]], RecoverySummary]]:
    """The forwarder function's two jobs, stream and queue batches and the scheduled sweep, one client a service."""
    dynamodb = boto3.client("dynamodb", config=CLIENT_CONFIG)
    forwarder = build_forwarder(settings, dynamodb=dynamodb)
    return forwarder, build_sweep(settings, forwarder, dynamodb=dynamodb)


def build_sweep(
    settings: Settings, forwarder: Forwarder, *, dynamodb: Any = None, sqs: Any = None
) -> Callable[[Callable[[], int]], RecoverySummary]:
    """The scheduled recovery sweep: the stream-batch descriptions in the dead-letter queue, and the recent window."""
    from smsbridge.app.recover import SWEEP_GRACE, SWEEP_LOOKBACK, recent_window, sweep_dead_letter_descriptions  # noqa: PLC0415 - recover imports this module

    facts = DynamoFacts(settings.messages_table, settings.consent_table, client=dynamodb)
    queues = LazyClient("sqs", sqs)

    def sweep(remaining_ms: Callable[[], int]) -> RecoverySummary:
        window = recent_window(utc_now(), lookback=SWEEP_LOOKBACK, grace=SWEEP_GRACE)
        return sweep_dead_letter_descriptions(queues(), settings.dead_letter_queue_url, forwarder, facts,
                                              extra=[window], remaining_ms=remaining_ms)  # fmt: skip

    return sweep


def startup_problems(settings: Settings) -> list[str]:
    """What is wrong enough to log loudly when a forwarder container starts (read from settings only, no I/O)."""
    problems = []
    if not settings.ci360_secret:
        problems.append("CI360_SECRET is not set: events wait on the retry queue until it is")
    if not (settings.retry_queue_url and settings.dead_letter_queue_url):
        problems.append("RETRY_QUEUE_URL or DEAD_LETTER_QUEUE_URL is not set: undeliverable events cannot be kept")
    return problems
