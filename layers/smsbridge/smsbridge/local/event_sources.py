"""What Lambda's event source mappings do, for the local stack: poll the tables' streams and the retry queue,
and hand batches to the forwarder's handler with the same event shapes and partial-failure semantics."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

Handler = Callable[[dict[str, Any]], dict[str, Any]]
STREAM_RETRIES = 10


@dataclass
class _Shard:
    stream_arn: str
    shard_id: str
    last_sequence: str = ""  # the last record handed over; polling resumes after it
    pending: list[dict[str, Any]] = field(default_factory=list)
    failures: int = 0


class LocalEventSources:
    """Polls DynamoDB streams (from the start, like ``TRIM_HORIZON``) and one SQS queue until ``stop()``."""

    def __init__(self, handler: Handler, *, tables: list[str], queue_url: str, queue_arn: str,
                 interval: float = 0.2, session: boto3.session.Session | None = None) -> None:  # fmt: skip
        session = session or boto3.session.Session()
        self.handler = handler
        self.dynamodb = session.client("dynamodb")
        self.streams = session.client("dynamodbstreams")
        self.sqs = session.client("sqs")
        self.tables = tables
        self.queue_url, self.queue_arn = queue_url, queue_arn
        self.interval = interval
        self._shards: dict[str, _Shard] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="smsbridge-event-sources", daemon=True)

    def start(self) -> None:
        self._discover_shards()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def poll_once(self) -> int:
        """One round over every shard and the queue; returns how many records were handed over."""
        self._discover_shards()
        handed = sum(self._poll_shard(shard) for shard in list(self._shards.values()))
        return handed + self._poll_queue()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.poll_once()
            except Exception as exc:
                print(f"event sources: {type(exc).__name__}: {exc}", flush=True)
                busy = 0
            if not busy:
                self._stop.wait(self.interval)

    def _discover_shards(self) -> None:
        for table in self.tables:
            stream_arn = self.dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
            description = self.streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]
            for shard in description["Shards"]:
                key = f"{stream_arn}|{shard['ShardId']}"
                if key not in self._shards:
                    self._shards[key] = _Shard(stream_arn, shard["ShardId"])

    def _poll_shard(self, shard: _Shard) -> int:
        if not shard.pending:
            # A fresh iterator each time, from the last sequence number: moto swaps a table's stream object when it
            # rolls back a cancelled transaction, which strands iterators taken before.
            position: dict[str, Any] = (
                {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": shard.last_sequence}
                if shard.last_sequence else {"ShardIteratorType": "TRIM_HORIZON"}
            )  # fmt: skip
            iterator = self.streams.get_shard_iterator(StreamArn=shard.stream_arn, ShardId=shard.shard_id, **position)
            page = self.streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=100)
            shard.pending = [{**record, "eventSourceARN": shard.stream_arn} for record in page.get("Records", [])]
            if shard.pending:
                shard.last_sequence = shard.pending[-1]["dynamodb"]["SequenceNumber"]
        if not shard.pending:
            return 0
        batch = shard.pending[:100]
        failed = self._failed_ids(self.handler({"Records": batch}))
        # Like Lambda: a failure makes the batch restart at the first failed record; after STREAM_RETRIES the
        # records are given up (the deployed stack sends their description to the dead-letter queue).
        first_failed = next((i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] in failed), None)
        if first_failed is None or shard.failures >= STREAM_RETRIES:
            shard.pending, shard.failures = shard.pending[len(batch) :], 0
        else:
            shard.pending, shard.failures = shard.pending[first_failed:], shard.failures + 1
            time.sleep(min(2.0, 0.1 * 2**shard.failures))
        return len(batch)

    def _poll_queue(self) -> int:
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        batch = messages.get("Messages", [])
        if not batch:
            return 0
        records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                    "eventSource": "aws:sqs", "eventSourceARN": self.queue_arn} for m in batch]  # fmt: skip
        failed = self._failed_ids(self.handler({"Records": records}))
        done = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(records)
                if r["messageId"] not in failed]  # fmt: skip
        if done:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=done)  # type: ignore[arg-type]
        return len(records)

    @staticmethod
    def _failed_ids(response: dict[str, Any]) -> set[str]:
        return {item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])}


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
