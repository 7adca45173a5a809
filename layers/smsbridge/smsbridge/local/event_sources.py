"""What Lambda's event source mappings do, for the local stack: poll the tables' streams and the retry queue and
hand batches to the forwarder the way Lambda does, at least once, with its retry rules (docs/contracts.md, AWS).

Settings come from template.yaml (``local/template.py``), so the local stack cannot drift from the deployed one:

- Streams: records read from ``StartingPosition`` (``TRIM_HORIZON``: the oldest record in the shard; ``LATEST``:
  those written after the mapping first read the shard) and filtered by ``FilterCriteria``; batches of up to
  ``BatchSize`` once full or ``MaximumBatchingWindowInSeconds`` after the first record waited; up to
  ``ParallelizationFactor`` batches per shard at once, each item's records in order; a partial batch response
  checkpoints before the first failed record and retries from it; a function error or timeout retries the whole
  batch, split in two first when ``BisectBatchOnFunctionError`` (a split costs no retry); after
  ``MaximumRetryAttempts`` or ``MaximumRecordAgeInSeconds`` the records are skipped and a description of the batch
  (not the records) goes to the ``OnFailure`` destination.
- The queue: batches of up to ``BatchSize`` (after the batching window), up to ``ScalingConfig.MaximumConcurrency``
  invocations at once; only the messages the function reports done (or all, on success) are deleted; the rest
  reappear when their visibility timeout ends (SQS does that: moto here).
- The function: each concurrent invocation has its own execution environment (a fresh load of the handler); an
  invocation gets the template's ``Timeout``, a context whose remaining time is true, and one still running at the
  deadline is a timeout: its batch is retried although its side effects happened, and its environment is dropped.
  Lambda stops a timed-out invocation; a Python thread cannot be stopped, so the mapping waits for it to end (its
  context says no time is left, which the forwarder heeds) before its records are handed over again: two
  invocations of the same records never run at once, except the copies chaos hands over side by side on purpose.

``time_scale`` compresses the mapping's waits (batching windows, record age, the visibility timeout a receive gives)
for tests; 1.0 (``smsbridge serve``) waits as Lambda does. A message the function failed keeps the visibility it
last had, the receive's or one the function set (ChangeMessageVisibility): Lambda changes none.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import boto3

from smsbridge.errors import ConfigurationError
from smsbridge.local.template import (
    LocalResources,
    QueueSourceSettings,
    StreamSourceSettings,
    function_timeout,
    queue_sources,
    stream_sources,
)
from smsbridge.text import counted

if TYPE_CHECKING:
    from smsbridge.local.chaos import Chaos

Handler = Callable[[dict[str, Any], Any], Any]
REGION = "us-east-1"  # the local stack's region (moto's resources, ARNs, records' awsRegion)
ACCOUNT = "000000000000"
DEFAULT_SQS_CONCURRENCY = 5  # Lambda starts an SQS mapping with five concurrent batches (services-sqs-scaling)


class FunctionTimedOut(BaseException):
    """Raised inside a handler to end its invocation as a timeout (chaos uses it; a real timeout is the deadline)."""


@dataclass
class LambdaContext:
    """The context object a Python handler receives. With a ``deadline`` (``time.monotonic()``), the remaining
    time is true; without one (tests calling a handler directly), it reports 10 s."""

    function_name: str = "smsbridge-local-webhook"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:smsbridge-local-webhook"
    aws_request_id: str = ""
    deadline: float | None = None

    def get_remaining_time_in_millis(self) -> int:
        if self.deadline is None:
            return 10_000
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class Invocation:
    """How one invocation ended: its response, or ``error`` "Unhandled" (it raised) or "TimedOut"."""

    response: Any = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


class LocalFunction:
    """One Lambda function: a pool of execution environments (each a fresh ``load()`` of the handler, reused when
    idle, dropped after an error or a timeout) and the template's timeout. It counts its invocations, function
    errors and timeouts (``summary()``)."""

    def __init__(self, name: str, load: Callable[[], Handler], timeout: float, echo: Callable[[str], None] = print):
        self.name, self.load, self.timeout, self.echo = name, load, timeout, echo
        self.arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        self._idle: list[Handler] = []
        self._lock = threading.Lock()
        self.invocations = 0
        self.errors = 0
        self.timeouts = 0

    def invoke(self, event: dict[str, Any]) -> Invocation:
        with self._lock:
            handler = self._idle.pop() if self._idle else None
            self.invocations += 1
        if handler is None:
            handler = self.load()
        deadline = time.monotonic() + self.timeout
        context = LambdaContext(self.name, 512, self.arn, str(uuid.uuid4()), deadline)
        ended: dict[str, Any] = {}

        def run() -> None:
            try:
                ended["response"] = handler(event, context)
            except FunctionTimedOut:
                ended["error"] = "TimedOut"
            except BaseException as exc:  # whatever the handler raised ends its invocation
                ended["error"], ended["type"] = "Unhandled", type(exc).__name__

        worker = threading.Thread(target=run, name=f"{self.name}-invocation", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive() or ended.get("error") == "TimedOut":
            with self._lock:
                self.timeouts += 1
            waiting = "; its records wait for it to end (Lambda would stop it)" if worker.is_alive() else ""
            self.echo(f"{time.strftime('%H:%M:%S')} {self.name}: timed out after {self.timeout:g} s{waiting}")
            # Lambda stops the invocation at the deadline. A thread cannot be stopped: its records are not handed
            # over again (returning is what lets the mapping retry them) until it has ended. Its environment is
            # dropped.
            worker.join()
            return Invocation(error="TimedOut")
        if "error" in ended:
            with self._lock:
                self.errors += 1
            self.echo(f"{time.strftime('%H:%M:%S')} {self.name}: function error {ended['type']}")
            return Invocation(error="Unhandled")
        with self._lock:
            self._idle.append(handler)
        return Invocation(response=ended.get("response"))

    def summary(self) -> str:
        with self._lock:
            invocations, errors, timeouts = self.invocations, self.errors, self.timeouts
        return (f"{self.name}: {counted(invocations, 'invocation')} ({counted(errors, 'function error')}, "
                f"{counted(timeouts, 'timeout')})")  # fmt: skip


class _Source(Protocol):
    function: LocalFunction

    def read(self) -> None: ...
    def jobs(self) -> list[Callable[[], int]]: ...
    def pending(self) -> int: ...


def matches(pattern: Any, value: Any) -> bool:
    """Lambda event filtering: every key of ``pattern`` is in ``value``; a list of scalars is "one of these".
    Other operators (prefix, numeric, exists, anything-but) are refused loudly rather than guessed."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(k in value and matches(p, value[k]) for k, p in pattern.items())
    if isinstance(pattern, list):
        if any(isinstance(option, dict) for option in pattern):
            raise ConfigurationError(f"the local stack does not implement filter operators: {pattern!r}")
        return value in pattern
    raise ConfigurationError(f"a filter pattern's values are lists: {pattern!r}")


def reported_failures(response: Any, identifiers: list[str]) -> list[int] | None:
    """Positions of the items a partial batch response reports failed ([] for none: an empty or null response
    is a success), or None when it names an item that is not in the batch, or none at all, which Lambda treats as
    the whole batch failing."""
    failures = response.get("batchItemFailures") if isinstance(response, dict) else None
    if not failures:
        return []
    positions = []
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in identifiers:
            return None
        positions.append(identifiers.index(identifier))
    return positions


def _iso(moment: datetime, millis: bool = True) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{moment.microsecond // 1000:03d}" if millis else "") + "Z"


@dataclass
class _Record:
    record: dict[str, Any]
    sequence: str
    arrived: float  # time.monotonic() when the mapping read it (its approximate arrival)
    arrived_at: datetime


@dataclass
class _Lane:
    """One of a shard's ``ParallelizationFactor`` concurrent batch lines; an item's records always share one."""

    records: deque[_Record] = field(default_factory=deque)
    failed_invocations: int = 0  # of the batch now at the head
    halves: list[int] = field(default_factory=list)  # sizes of the pending halves after bisecting
    last_error: str = ""


@dataclass
class _Shard:
    shard_id: str
    last_sequence: str = ""
    lanes: list[_Lane] = field(default_factory=list)


class StreamSource:
    """One DynamoDB event source mapping (a ``Type: DynamoDB`` event of the function)."""

    def __init__(
        self,
        settings: StreamSourceSettings,
        function: LocalFunction,
        *,
        table: str,
        destination_url: str = "",
        session: boto3.session.Session,
        chaos: Chaos | None = None,
        time_scale: float = 1.0,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.settings, self.function, self.table = settings, function, table
        self.destination_url = destination_url
        self.dynamodb = session.client("dynamodb")
        self.streams = session.client("dynamodbstreams")
        self.sqs = session.client("sqs")
        self.chaos, self.time_scale, self.echo = chaos, time_scale, echo
        self.stream_arn = ""
        self._shards: dict[str, _Shard] = {}
        self.skipped = 0  # records given up on (described on the on-failure destination)

    def read(self) -> None:
        """Read every new record of every shard into its lane (after filtering)."""
        if not self.stream_arn:  # fixed while the table lives (describing a table counts its items on moto)
            self.stream_arn = self.dynamodb.describe_table(TableName=self.table)["Table"]["LatestStreamArn"]
        for shard in self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]:
            state = self._shards.get(shard["ShardId"])
            if state is None:
                lanes = [_Lane() for _ in range(max(1, self.settings.parallelization_factor))]
                state = self._shards[shard["ShardId"]] = _Shard(shard["ShardId"], lanes=lanes)
                if self.settings.starting_position == "LATEST":
                    self._skip_to_the_end(state)
            for record in self._new_records(state):
                if self.settings.filters and not any(matches(p, record) for p in self.settings.filters):
                    continue
                sequence = record["dynamodb"]["SequenceNumber"]
                lane = state.lanes[self._lane_of(record, len(state.lanes))]
                lane.records.append(_Record(record, sequence, time.monotonic(), datetime.now(UTC)))

    def _new_records(self, shard: _Shard) -> Iterator[dict[str, Any]]:
        # A fresh iterator each time, from the last sequence number: moto swaps a table's stream object when it
        # rolls back a cancelled transaction, which strands iterators taken before.
        position: dict[str, Any] = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": shard.last_sequence}
            if shard.last_sequence else {"ShardIteratorType": "TRIM_HORIZON"}
        )  # fmt: skip
        iterator = self.streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard.shard_id, **position)
        page = self.streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)
        for record in page.get("Records", []):
            shard.last_sequence = record["dynamodb"]["SequenceNumber"]
            yield {**record, "eventSourceARN": self.stream_arn}

    def _skip_to_the_end(self, shard: _Shard) -> None:
        """``LATEST``: start just after the shard's most recent record (those already there are not handed over)."""
        while list(self._new_records(shard)):  # a page at a time, until none is left
            pass

    @staticmethod
    def _lane_of(record: dict[str, Any], lanes: int) -> int:
        """Records of one item (its whole key) always go to the same lane, so each item's changes stay in order."""
        key = json.dumps(record["dynamodb"].get("Keys", {}), sort_keys=True).encode()
        return int.from_bytes(hashlib.sha256(key).digest()[:4], "big") % lanes

    def pending(self) -> int:
        return sum(len(lane.records) for shard in self._shards.values() for lane in shard.lanes)

    def jobs(self) -> list[Callable[[], int]]:
        return [
            partial(self._process, shard, lane)
            for shard in self._shards.values()
            for lane in shard.lanes
            if lane.records
        ]

    def _process(self, shard: _Shard, lane: _Lane) -> int:
        """Hand the lane's next batch to the function once, and apply Lambda's rules to the outcome. Returns how
        many records were handed over (0 when the batch is still gathering)."""
        settings, now = self.settings, time.monotonic()
        self._skip_expired(shard, lane, now)
        if not lane.records:
            return 0
        size = lane.halves[0] if lane.halves else settings.batch_size
        first_try = lane.failed_invocations == 0 and not lane.halves
        if first_try and len(lane.records) < size and now - lane.records[0].arrived < self._window():
            return 0  # still within the batching window
        batch = [lane.records[i] for i in range(min(size, len(lane.records)))]
        result = self.function.invoke({"Records": [item.record for item in batch]})
        failed_at = 0
        if result.ok:
            positions = (
                reported_failures(result.response, [item.sequence for item in batch])
                if settings.report_batch_item_failures else []
            )  # fmt: skip
            if positions == []:
                key = f"{self.stream_arn}|{shard.shard_id}|{batch[0].sequence}|{batch[-1].sequence}"
                if self.chaos is not None and self.chaos.redeliver_stream_batch(key):
                    return len(batch)  # the checkpoint was lost: the same batch comes again
                self._checkpoint(lane, len(batch), partial=False)
                return len(batch)
            failed_at = min(positions) if positions else 0  # retried from the lowest failed sequence number
            self._checkpoint(lane, failed_at, partial=True)
            lane.last_error = ""
        else:
            lane.last_error = "Unhandled"
            if settings.bisect_on_error and len(batch) > 1:
                if lane.halves:
                    lane.halves.pop(0)
                lane.halves[:0] = [len(batch) // 2, len(batch) - len(batch) // 2]
                return len(batch)  # splitting costs no retry
        lane.failed_invocations += 1
        retries = settings.maximum_retry_attempts
        if retries >= 0 and lane.failed_invocations > retries:
            self._discard(shard, lane, len(batch) - failed_at, "RetryAttemptsExhausted")
        return len(batch)

    def _skip_expired(self, shard: _Shard, lane: _Lane, now: float) -> None:
        """Records older than ``MaximumRecordAgeInSeconds`` are not handed over (again)."""
        if self.settings.maximum_record_age < 0:
            return
        limit = self.settings.maximum_record_age * self.time_scale
        expired = 0
        while expired < len(lane.records) and now - lane.records[expired].arrived > limit:
            expired += 1
        if expired:
            self._discard(shard, lane, expired, "RecordAgeExceeded")

    def _window(self) -> float:
        return self.settings.batching_window * self.time_scale

    @staticmethod
    def _checkpoint(lane: _Lane, count: int, *, partial: bool) -> None:
        """The first ``count`` records of the lane are done (``partial``: the rest of the batch is retried)."""
        for _ in range(count):
            lane.records.popleft()
        if lane.halves:
            lane.halves[0] -= count
            if lane.halves[0] <= 0 or not partial:
                lane.halves.pop(0)
        if not partial:
            lane.failed_invocations = 0

    def _discard(self, shard: _Shard, lane: _Lane, count: int, condition: str) -> None:
        """Skip the first ``count`` records; tell the on-failure destination which ones (not what they held)."""
        skipped = [lane.records.popleft() for _ in range(count)]
        if lane.halves:
            lane.halves.pop(0)
        description = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.function.arn,
                "condition": condition,
                "approximateInvokeCount": lane.failed_invocations,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                **({"functionError": lane.last_error} if lane.last_error else {}),
            },
            "version": "1.0",
            "timestamp": _iso(datetime.now(UTC)),
            "DDBStreamBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": skipped[0].sequence,
                "endSequenceNumber": skipped[-1].sequence,
                "approximateArrivalOfFirstRecord": _iso(skipped[0].arrived_at, millis=False),
                "approximateArrivalOfLastRecord": _iso(skipped[-1].arrived_at, millis=False),
                "batchSize": len(skipped),
                "streamArn": self.stream_arn,
            },
        }
        lane.failed_invocations, lane.last_error = 0, ""
        self.skipped += len(skipped)
        self.echo(f"{time.strftime('%H:%M:%S')} {self.settings.name}: {len(skipped)} records skipped ({condition})")
        if self.destination_url:
            self.sqs.send_message(QueueUrl=self.destination_url, MessageBody=json.dumps(description))


class QueueSource:
    """One SQS event source mapping (a ``Type: SQS`` event of the function)."""

    def __init__(
        self,
        settings: QueueSourceSettings,
        function: LocalFunction,
        *,
        queue_url: str,
        queue_arn: str,
        session: boto3.session.Session,
        chaos: Chaos | None = None,
        time_scale: float = 1.0,
    ) -> None:
        self.settings, self.function = settings, function
        self.queue_url, self.queue_arn = queue_url, queue_arn
        self.sqs = session.client("sqs")
        self.chaos, self.time_scale = chaos, time_scale
        attributes = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])
        self.visibility_timeout = int(attributes["Attributes"]["VisibilityTimeout"])
        self.concurrency = settings.maximum_concurrency or DEFAULT_SQS_CONCURRENCY
        self._held: list[dict[str, Any]] = []  # received, waiting for the batch to fill or the window to pass
        self._held_since = 0.0

    def read(self) -> None:
        """Receive what the next batches take. Under time compression a receive hides each message for the queue's
        visibility timeout compressed (what the queue's own timeout does at full time)."""
        wanted = self.settings.batch_size * self.concurrency
        scaled: dict[str, Any] = {} if self.time_scale == 1.0 else {"VisibilityTimeout": self._scaled_visibility()}
        while len(self._held) < wanted:
            found = self.sqs.receive_message(QueueUrl=self.queue_url, WaitTimeSeconds=0, AttributeNames=["All"],
                                             MaxNumberOfMessages=min(10, wanted - len(self._held)),
                                             **scaled)  # fmt: skip
            messages = found.get("Messages", [])
            if not messages:
                break
            if not self._held:
                self._held_since = time.monotonic()
            self._held.extend(dict(message) for message in messages)

    def pending(self) -> int:
        return len(self._held)

    def jobs(self) -> list[Callable[[], int]]:
        size = self.settings.batch_size
        window_passed = time.monotonic() - self._held_since >= self.settings.batching_window * self.time_scale
        ready = len(self._held) if window_passed else len(self._held) // size * size  # full batches go at once
        batches = [self._held[i : i + size] for i in range(0, ready, size)][: self.concurrency]
        if not batches:
            return []
        self._held = self._held[sum(len(batch) for batch in batches) :]
        if window_passed:  # what is left has waited as long as the rest
            self._held_since = time.monotonic()
        jobs: list[Callable[[], int]] = [partial(self._process, batch) for batch in batches]
        if self.chaos is not None:
            for batch in batches:
                if len(jobs) >= self.concurrency:  # no invocation free for a copy: none is drawn, none counted
                    break
                copies = self.chaos.duplicate_delivery([message["Body"] for message in batch])
                if copies:
                    twin = [message for message in batch if message["Body"] in copies]
                    jobs.append(partial(self._process, twin))
        return jobs

    def _process(self, batch: list[dict[str, Any]]) -> int:
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": self.queue_arn,
                "awsRegion": REGION,
            }
            for m in batch
        ]
        result = self.function.invoke({"Records": records})
        identifiers = [record["messageId"] for record in records]
        positions = reported_failures(result.response, identifiers) if result.ok else None
        if not self.settings.report_batch_item_failures and result.ok:
            positions = []
        failed = set(identifiers) if positions is None else {identifiers[p] for p in positions}
        done = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(records)
                if r["messageId"] not in failed]  # fmt: skip
        if done:  # a copy delivered twice may be deleted twice: SQS accepts that
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=done)  # type: ignore[arg-type]
        # The failed ones are left as they are: visible again when the visibility they were last given ends, the
        # queue's from the receive or whatever the function set since (Lambda changes none).
        return len(records)

    def _scaled_visibility(self) -> int:
        """The queue's visibility timeout compressed, in whole seconds; at least 1 (0 would hand it out again at
        once)."""
        return max(1, round(self.visibility_timeout * self.time_scale))


class LocalEventSources:
    """A function's event source mappings from the template, polled until ``stop()``."""

    def __init__(self, sources: list[_Source], interval: float = 0.2, echo: Callable[[str], None] = print) -> None:
        self.sources = sources
        self.interval = interval
        self.echo = echo
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="smsbridge-event-sources", daemon=True)

    @classmethod
    def from_template(
        cls,
        resources: LocalResources,
        function: str,
        load: Callable[[], Handler],
        *,
        session: boto3.session.Session | None = None,
        chaos: Chaos | None = None,
        time_scale: float = 1.0,
        interval: float = 0.2,
        echo: Callable[[str], None] = print,
    ) -> LocalEventSources:
        """The event sources template.yaml gives ``function`` (a logical ID), handing batches to environments
        made by ``load``, on the resources the local stack created."""
        session = session or boto3.session.Session()
        template = resources.template
        lambda_function = LocalFunction(
            f"{resources.prefix}-{function}", load, function_timeout(template, function) * 1.0, echo
        )
        common: dict[str, Any] = {"session": session, "chaos": chaos, "time_scale": time_scale}
        sources: list[_Source] = [
            StreamSource(
                settings,
                lambda_function,
                table=resources.name_of(settings.table),
                destination_url=resources.refs.get(settings.on_failure, "") if settings.on_failure else "",
                echo=echo,
                **common,
            )
            for settings in stream_sources(template, function, resources.parameters)
        ]
        sources += [
            QueueSource(
                settings,
                lambda_function,
                queue_url=resources.refs[settings.queue],
                queue_arn=resources.arns[settings.queue],
                **common,
            )
            for settings in queue_sources(template, function, resources.parameters)
        ]
        return cls(sources, interval, echo)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def pending(self) -> int:
        """Records read and not yet done with (gathering, or waiting to be retried)."""
        return sum(source.pending() for source in self.sources)

    def _functions(self) -> list[LocalFunction]:
        return list({id(source.function): source.function for source in self.sources}.values())

    def _skipped(self) -> int:
        return sum(source.skipped for source in self.sources if isinstance(source, StreamSource))

    @property
    def went_wrong(self) -> bool:
        """True once an invocation failed or timed out, or stream records were given up on."""
        return self._skipped() > 0 or any(function.errors or function.timeouts for function in self._functions())

    def summary(self) -> str:
        """One console line: each function's invocations, function errors and timeouts, and the stream records
        given up on."""
        described = f"{counted(self._skipped(), 'stream record')} skipped (described on the on-failure destination)"
        return "; ".join([*(function.summary() for function in self._functions()), described])

    def poll_once(self) -> int:
        """Read every source, then run every batch that is ready, concurrently as Lambda would; returns how many
        records were handed over."""
        for source in self.sources:
            source.read()
        jobs = [job for source in self.sources for job in source.jobs()]
        if not jobs:
            return 0
        with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="smsbridge-esm") as pool:
            return sum(pool.map(lambda job: job(), jobs))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.poll_once()
            except Exception as exc:
                self.echo(f"event sources: {type(exc).__name__}: {exc}")
                busy = 0
            if not busy:
                self._stop.wait(self.interval)


class Every:
    """Calls ``action`` every ``seconds`` on a daemon thread until ``stop()`` (what an EventBridge schedule does)."""

    def __init__(self, seconds: float, action: Callable[[], None], name: str) -> None:
        self.seconds, self.action = seconds, action
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                self.action()
            except Exception as exc:  # keep the schedule alive, as EventBridge would; say what happened
                print(f"{self._thread.name}: {type(exc).__name__}: {exc}", flush=True)
