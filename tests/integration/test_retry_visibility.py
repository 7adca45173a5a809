"""Issue 20, item 1: one failure delays only its own event. While the forwarder works on a retry-queue batch it holds
the batch's messages hidden one lease at a time (``SqsParking.hold``), so an invocation that crashes or times out
returns them after at most one lease, not after the queue's visibility timeout (360 s). SQS on moto."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import boto3
import pytest

from smsbridge.adapters.queues import SqsParking, queue_url_of
from smsbridge.app.forwarder import Forwarder
from smsbridge.domain.ci360_events import EventMapping, Flat
from smsbridge.domain.delivery import Verdict
from smsbridge.local.chaos import InjectedCrash
from tests.fakes import FakeContacts, FakeGateway, FakeSentLedger
from tests.integration.conftest import Stack
from tests.unit.test_forwarder import KNOWN, reply

LEASE = timedelta(seconds=1)  # the lease the forwarder holds a batch for, compressed (about 24 s deployed)


class CompressedLease:
    """The parking port with the forwarder's lease shrunk to ``LEASE`` (as the loop's ``CompressedDelays`` does)."""

    def __init__(self, inner: SqsParking) -> None:
        self.inner = inner
        self.leases: list[timedelta] = []

    def hold(self, records: Any, lease: timedelta, outcomes: Counter[str]) -> Any:
        self.leases.append(lease)
        return self.inner.hold(records, LEASE, outcomes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class CrashingGateway(FakeGateway):
    """CI360 accepts everything; the invocation dies right after CI360 accepted ``crash_after`` (a lost answer)."""

    def __init__(self, crash_after: str, delay: float = 0.0) -> None:
        super().__init__(delay=delay)
        self.crash_after = crash_after

    def send(self, body: dict[str, Flat]) -> Verdict:
        verdict = super().send(body)
        if body.get("event_id") == self.crash_after:
            raise InjectedCrash(f"crashed after CI360 accepted {self.crash_after}")
        return verdict


def retry_batch(stack: Stack, parking: SqsParking, count: int) -> list[dict[str, Any]]:
    """``count`` parked replies, received as Lambda's poller receives them (hidden for the queue's visibility
    timeout), as the SQS records of one batch."""
    for n in range(1, count + 1):
        parking.retry_later(reply(n), attempt=1, delay=0, reason="503", ticket=uuid.uuid4().hex)
    sqs, url = boto3.client("sqs"), parking.retry_queue_url
    received: list[Any] = []
    while len(received) < count:
        received += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    arn = stack.resources.arns["RetryQueue"]
    return [{"eventSource": "aws:sqs", "eventSourceARN": arn, "messageId": m["MessageId"],
             "receiptHandle": m["ReceiptHandle"], "body": m["Body"]} for m in received]  # fmt: skip


def visible_again(url: str, wanted: set[str], timeout: float) -> set[str]:
    """The message ids of ``wanted`` that SQS hands out again within ``timeout`` seconds (polled)."""
    sqs, seen = boto3.client("sqs"), set[str]()
    deadline = time.monotonic() + timeout
    while seen < wanted and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
            "Messages", []
        ):
            seen.add(message["MessageId"])
        time.sleep(0.1)
    return seen


def forwarder_on(parking: Any, gateway: FakeGateway) -> Forwarder:
    return Forwarder(mapping=EventMapping(), gateway=lambda: gateway, sent=FakeSentLedger(),
                     contacts=FakeContacts(KNOWN), parking=parking, messages_table="messages",
                     consent_table="consent", max_workers=1)  # fmt: skip


@pytest.fixture
def parking(stack: Stack) -> SqsParking:
    refs = stack.resources.refs
    return SqsParking(refs["RetryQueue"], refs["DeadLetterQueue"], client=boto3.client("sqs"))


def test_a_crashed_retry_batch_comes_back_within_one_lease_not_the_queues_visibility_timeout(
    stack: Stack, parking: SqsParking
) -> None:
    # GIVEN three parked events received as one batch from the retry queue (visibility timeout 360 s)
    records = retry_batch(stack, parking, 3)
    # WHEN the invocation crashes right after CI360 accepted the first of them
    gateway = CrashingGateway(crash_after="reply:SM1")
    compressed = CompressedLease(parking)
    forwarder = forwarder_on(compressed, gateway)
    with pytest.raises(InjectedCrash):
        forwarder.handle({"Records": records})
    # THEN all three messages, the two never tried above all, are handed out again within a few leases, not after
    # the queue's 360 s
    ids = {record["messageId"] for record in records}
    assert visible_again(parking.retry_queue_url, ids, timeout=15) == ids
    # AND the batch was held for the forwarder's lease: one send plus the margin (24 s deployed, compressed here)
    assert compressed.leases == [forwarder.lease] == [timedelta(seconds=24)]


def test_a_batch_still_being_worked_on_stays_hidden_past_one_lease(stack: Stack, parking: SqsParking) -> None:
    # GIVEN a batch whose work outlasts several leases (CI360 slow: 1.2 s a send, lease 1 s)
    records = retry_batch(stack, parking, 2)
    ids = {record["messageId"] for record in records}
    gateway = FakeGateway(delay=1.2)
    forwarder = forwarder_on(CompressedLease(parking), gateway)
    # WHEN it is handled, another consumer polling all the while
    with ThreadPoolExecutor(max_workers=1) as pool:
        handled = pool.submit(forwarder.handle, {"Records": records})
        seen_meanwhile = visible_again(parking.retry_queue_url, ids, timeout=2.0)
        report = handled.result()
    # THEN the heartbeat kept them hidden until the handler ended: nobody else received them
    assert seen_meanwhile == set()
    assert report.outcomes == {"sent": 2} and report.failed_records == []


def test_a_visibility_that_cannot_be_set_is_counted_and_the_batch_goes_on(stack: Stack, parking: SqsParking) -> None:
    # GIVEN a retry-queue record whose receipt handle SQS does not know (its message deleted, or received again)
    [record] = retry_batch(stack, parking, 1)
    record["receiptHandle"] = "not-a-receipt-handle"
    gateway = FakeGateway()
    # WHEN the forwarder handles it
    report = forwarder_on(CompressedLease(parking), gateway).handle({"Records": [record]})
    # THEN the event is sent as usual, and the message is counted as not held (the queue's own timeout applies)
    assert report.outcomes == {"sent": 1, "visibility_not_held": 1} and report.failed_records == []
    assert [body["event_id"] for body in gateway.bodies] == ["reply:SM1"]


def test_the_queue_url_is_the_known_one_for_the_arn_else_sqs_standard_form() -> None:
    known = ["http://127.0.0.1:5000/000000000000/test-RetryQueue"]
    assert queue_url_of("arn:aws:sqs:us-east-1:000000000000:test-RetryQueue", known=known) == known[0]
    assert (
        queue_url_of("arn:aws:sqs:eu-west-1:123456789012:other", known=known)
        == "https://sqs.eu-west-1.amazonaws.com/123456789012/other"
    )
