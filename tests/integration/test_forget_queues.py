"""`smsbridge forget` and the retry queue: it reads no message there (each receive counts toward the queue's
maxReceiveCount), retires the claims of the number's parked events, and says by when the last can be gone, from the
deployed queue's own visibility timeout and SQS's longest delay."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from smsbridge.adapters.event_claims import DynamoSentEvents
from smsbridge.adapters.queues import parked_message
from smsbridge.domain.ci360_events import EventKind, PendingEvent
from smsbridge.domain.claims import ClaimState
from smsbridge.ops.forget import Erasure, _look_at_claims, _queues

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
KEY, NUMBER = "reply:SM1", "+14155550100"


@pytest.fixture
def where() -> Iterator[Any]:
    with mock_aws():
        dynamodb, sqs = boto3.client("dynamodb", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        dynamodb.create_table(
            TableName="messages", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
        )  # fmt: skip
        retry = sqs.create_queue(QueueName="retry", Attributes={"VisibilityTimeout": "123"})["QueueUrl"]
        dead = sqs.create_queue(QueueName="dead")["QueueUrl"]
        yield SimpleNamespace(messages_table="messages", dynamodb=dynamodb, sqs=sqs, retry_queue_url=retry,
                              dead_letter_queue_url=dead)  # fmt: skip


def test_parked_events_are_retired_and_due_by_the_queues_own_visibility_timeout(where: Any) -> None:
    # GIVEN one of the number's events parked on the retry queue
    claims = DynamoSentEvents("messages", client=where.dynamodb)
    assert claims.claim(KEY, owner="a", ticket="", now=NOW, lease_until=NOW + timedelta(seconds=20)).granted
    assert claims.settle(KEY, owner="a", state=ClaimState.PARKED, at=NOW, ticket="T1")
    run = Erasure(dry_run=False, at=NOW.isoformat(), by="test")
    # WHEN forget looks at its claims
    _look_at_claims(where, ["SM1"], run, now=NOW)
    # THEN the parked copy can no longer claim it, and it is gone by SQS's longest delay plus the queue's timeout
    assert not claims.claim(KEY, owner="b", ticket="T1", now=NOW, lease_until=NOW + timedelta(seconds=20)).granted
    assert run.parked_due == 1 and run.due_by == (NOW + timedelta(seconds=900 + 123)).isoformat(timespec="seconds")


def test_forget_never_receives_from_the_retry_queue(where: Any) -> None:
    # GIVEN a parked event of the number, visible on the retry queue
    parked = parked_message(PendingEvent(EventKind.REPLY, KEY, NUMBER, "+14155550199", {}), attempt=1, reason="x")
    where.sqs.send_message(QueueUrl=where.retry_queue_url, MessageBody=json.dumps(parked))
    # WHEN forget walks the queues for the number
    _queues(where, NUMBER, dry_run=False, account="")
    # THEN the retry queue's message was not received: a receive counts toward maxReceiveCount (the redrive policy)
    [message] = where.sqs.receive_message(QueueUrl=where.retry_queue_url, AttributeNames=["ApproximateReceiveCount"],
                                          VisibilityTimeout=0)["Messages"]  # fmt: skip
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
