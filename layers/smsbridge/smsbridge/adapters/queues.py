"""The retry and dead-letter queues (SQS): where an event waits when CI360 cannot take it now, or at all."""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from smsbridge.adapters.dynamodb import LazyClient
from smsbridge.domain.ci360_events import PendingEvent
from smsbridge.errors import StoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


def parked_message(event: PendingEvent, *, attempt: int, reason: str, ticket: str = "",
                   accepted: bool = False) -> dict[str, Any]:  # fmt: skip
    """The JSON a queue holds for one event: the event whole, how often it was tried, why it waits, and the claim
    ticket that lets it be sent again (``domain/claims.py``); ``accepted``: only the claim's outcome is left to
    record."""
    message = {"event": event.to_json(), "attempt": attempt, "reason": reason, "at": datetime.now(UTC).isoformat()}
    if ticket:
        message["ticket"] = ticket
    if accepted:
        message["accepted"] = True
    return message


@dataclass(frozen=True)
class Parked:
    """What a queue message holds: the event, how often it was tried, and why it waits."""

    event: PendingEvent
    attempt: int
    reason: str
    ticket: str = ""
    accepted: bool = False


def parked_event(body: str) -> Parked:
    """Read a queue message written by ``parked_message`` (ValueError, KeyError or TypeError if it is not one)."""
    parked = json.loads(body)
    return Parked(PendingEvent.from_json(parked["event"]), int(parked.get("attempt", 0)), str(parked.get("reason", "")),
                  str(parked.get("ticket", "")), parked.get("accepted") is True)  # fmt: skip


class SqsParking:
    """``ParkingQueues`` on SQS."""

    def __init__(self, retry_queue_url: str, dead_letter_queue_url: str, *, client: SQSClient | None = None) -> None:
        self.retry_queue_url = retry_queue_url
        self.dead_letter_queue_url = dead_letter_queue_url
        self._client = LazyClient("sqs", client)  # most batches park nothing

    @property
    def client(self) -> SQSClient:
        client: SQSClient = self._client()
        return client

    def retry_later(self, event: PendingEvent, *, attempt: int, delay: int, reason: str, ticket: str = "",
                    accepted: bool = False) -> None:  # fmt: skip
        message = parked_message(event, attempt=attempt, reason=reason, ticket=ticket, accepted=accepted)
        self._send(self.retry_queue_url, message, delay)

    def dead_letter(self, event: PendingEvent, *, reason: str, attempts: int, ticket: str = "") -> None:
        self._send(self.dead_letter_queue_url, parked_message(event, attempt=attempts, reason=reason, ticket=ticket), 0)

    def _send(self, queue_url: str, message: dict[str, Any], delay: int) -> None:
        try:
            self.client.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message), DelaySeconds=delay)
        except (ClientError, BotoCoreError) as exc:
            raise StoreUnavailable(f"SQS did not take the message: {type(exc).__name__}") from exc

    @contextmanager
    def hold(self, records: Sequence[Mapping[str, Any]], lease: timedelta, outcomes: Counter[str]) -> Iterator[None]:
        """Keep the batch's queue messages hidden one ``lease`` at a time while the block runs
        (``VisibilityHeartbeat``), so that a crash or timeout returns them after at most one lease, not the queue's
        visibility timeout (Lambda leaves a failed batch's messages as they are). A message whose visibility could
        not be set is counted in ``outcomes`` as ``visibility_not_held`` (the queue's own timeout then applies to
        it); the batch goes on regardless. Stream records are left alone.

        Every message is renewed until the block ends, those already done included: one that stopped being renewed
        would come back while the invocation still runs, and be received and handled again as a duplicate."""
        received = {str(r.get("messageId", "")): str(r["receiptHandle"]) for r in records if isinstance(r, Mapping)
                    and r.get("eventSource") == "aws:sqs" and r.get("receiptHandle")}  # fmt: skip
        if not received:
            yield
            return
        heartbeat = VisibilityHeartbeat(self.client, self._queue_url(records), received, lease)
        heartbeat.start()
        try:
            yield
        finally:
            not_held = heartbeat.stop()
            if not_held:
                outcomes["visibility_not_held"] += len(not_held)

    def _queue_url(self, records: Sequence[Mapping[str, Any]]) -> str:
        """The retry queue's URL when the batch is from it (one event source mapping: one queue), else the URL of
        the queue its ``eventSourceARN`` names."""
        arn = next((str(r.get("eventSourceARN", "")) for r in records if isinstance(r, Mapping)), "")
        return queue_url_of(arn, known=[self.retry_queue_url, self.dead_letter_queue_url])


def queue_url_of(arn: str, *, known: Sequence[str] = ()) -> str:
    """The URL of the queue ``arn:aws:sqs:<region>:<account>:<name>`` names: one of ``known`` ending in its account and
    name, else SQS's standard form."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        return next(iter(known), "")
    region, account, name = parts[3], parts[4], parts[5]
    return next((url for url in known if url.endswith(f"/{account}/{name}")),
                f"https://sqs.{region}.amazonaws.com/{account}/{name}")  # fmt: skip


class VisibilityHeartbeat:
    """Holds received SQS messages hidden for ``lease`` (whole seconds, at least 1) from each renewal, renewed every
    third of that until ``stop()``: a consumer that dies stops renewing, and its messages come back at most one lease
    later. ``ChangeMessageVisibility`` counts its timeout from the call, not from the receive (SQS API Reference).
    Calls are ``ChangeMessageVisibilityBatch``, ten messages each. A failed call is tried again at the next renewal
    (the message is still hidden for two thirds of a lease); a message SQS refuses by entry (deleted, or received
    again by another consumer: its handle is no longer in flight) is no longer renewed."""

    BATCH = 10  # entries per ChangeMessageVisibilityBatch call (SQS's limit)

    def __init__(self, sqs: Any, queue_url: str, received: Mapping[str, str], lease: timedelta) -> None:
        self.sqs, self.queue_url = sqs, queue_url
        self.seconds = max(1, math.ceil(lease.total_seconds()))
        self._held = dict(received)  # receipt handles by message id, still renewed
        self._not_held: set[str] = set()  # message ids whose visibility was not set at least once
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqs-visibility-heartbeat", daemon=True)

    def start(self) -> None:
        """Hold the messages now (before any work on them), then renew in the background."""
        self.renew()
        self._thread.start()

    def stop(self) -> set[str]:
        """Stop renewing (the handler is done: Lambda deletes what succeeded; the rest comes back within a lease).
        Returns the ids of the messages whose visibility was not set at least once."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return set(self._not_held)

    def _run(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            self.renew()

    def renew(self) -> None:
        held = list(self._held.items())
        for start in range(0, len(held), self.BATCH):
            chunk = dict(held[start : start + self.BATCH])
            entries = [{"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": self.seconds}
                       for i, handle in enumerate(chunk.values())]  # fmt: skip
            ids = list(chunk)
            try:
                answer = self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)
            except (ClientError, BotoCoreError):
                self._not_held.update(ids)
                continue
            for failed in answer.get("Failed", []):
                message_id = ids[int(failed["Id"])]
                self._not_held.add(message_id)
                self._held.pop(message_id, None)


def each_message(
    sqs: Any, queue_url: str, *, visibility_timeout: int, settle_seconds: int = 0
) -> Iterator[dict[str, Any]]:
    """Every message of a queue, once each (SQS hands a message out again once its visibility timeout ends): read in
    batches, each message hidden for ``visibility_timeout`` seconds, until a batch brings none not seen already.
    What the caller neither deletes nor makes visible again reappears after that timeout; what it makes visible
    again at once is handed out again and ends the walk early (``QueueWalk`` puts messages back after the walk).
    ``settle_seconds``: before ending, one more receive waits that long (a long poll, which asks every SQS server;
    a short poll samples some, and may answer none for a queue of few messages)."""
    seen: set[str] = set()
    settled = settle_seconds == 0
    while True:
        wait = settle_seconds if settled else 0
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=visibility_timeout,
                                    WaitTimeSeconds=wait).get("Messages", [])  # fmt: skip
        fresh = [message for message in batch if message["MessageId"] not in seen]
        if not fresh:
            if settled:
                return
            settled = True
            continue
        settled = settle_seconds == 0
        for message in fresh:
            seen.add(message["MessageId"])
            yield message


class QueueWalk:
    """Look at every message of a queue once, then put back the ones not removed::

        with QueueWalk(sqs, url, visibility_timeout=60) as walk:
            for message in walk:
                if ...:
                    walk.remove(message)

    Each message looked at stays hidden until the walk ends, so SQS hands out the next ones; the kept ones are made
    visible again only after the whole walk (or after ``visibility_timeout`` if the process dies first). Every
    receive counts toward a queue's ``maxReceiveCount``: walk only a queue without a redrive policy (the dead-letter
    queue), never the retry queue, whose messages it would push to the dead-letter queue."""

    def __init__(self, sqs: Any, queue_url: str, *, visibility_timeout: int, settle_seconds: int = 1) -> None:
        self.sqs, self.queue_url = sqs, queue_url
        self._visibility_timeout, self._settle_seconds = visibility_timeout, settle_seconds
        self._kept: dict[str, str] = {}  # receipt handles of the messages looked at and not removed, by message id

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for message in each_message(self.sqs, self.queue_url, visibility_timeout=self._visibility_timeout,
                                    settle_seconds=self._settle_seconds):  # fmt: skip
            self._kept[message["MessageId"]] = message["ReceiptHandle"]
            yield message

    def remove(self, message: dict[str, Any]) -> None:
        """Delete ``message`` (one this walk handed out) from the queue."""
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        self._kept.pop(message["MessageId"], None)

    def put_back(self) -> None:
        """Make every message looked at and not removed visible again at once."""
        for handle in self._kept.values():
            self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
        self._kept.clear()

    def __enter__(self) -> QueueWalk:
        return self

    def __exit__(self, *_: object) -> None:
        self.put_back()
