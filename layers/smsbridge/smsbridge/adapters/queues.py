"""The retry and dead-letter queues (SQS): where an event waits when CI360 cannot take it now, or at all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
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


def each_message(sqs: Any, queue_url: str, *, visibility_timeout: int) -> Iterator[dict[str, Any]]:
    """Every message of a queue, once each (SQS hands a message out again once its visibility timeout ends): read in
    batches, each message hidden for ``visibility_timeout`` seconds, until a batch brings none not seen already.
    What the caller neither deletes nor makes visible again reappears after that timeout."""
    seen: set[str] = set()
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=visibility_timeout,
                                    WaitTimeSeconds=0).get("Messages", [])  # fmt: skip
        fresh = [message for message in batch if message["MessageId"] not in seen]
        if not fresh:
            return
        for message in fresh:
            seen.add(message["MessageId"])
            yield message
