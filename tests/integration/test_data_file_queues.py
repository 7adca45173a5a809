"""`serve --data-file`: a queue's messages survive a restart whatever their state, a parked retry with the delay it
had left (SQS hands out no delayed message, so reading the queue would have lost it)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3

from smsbridge.local import data_file
from tests.integration.conftest import Stack

REGION = "us-east-1"


def depths(url: str) -> tuple[int, int]:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"]
    found = boto3.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]  # type: ignore[arg-type]
    return int(found["ApproximateNumberOfMessages"]), int(found["ApproximateNumberOfMessagesDelayed"])


def test_visible_in_flight_and_delayed_messages_survive_with_their_delay(server_stack: Stack, tmp_path: Path) -> None:
    # GIVEN a retry queue with a parked retry due in 10 minutes, one handed to an invocation, and one waiting
    sqs, url = boto3.client("sqs"), server_stack.resources.refs["RetryQueue"]
    sqs.send_message(QueueUrl=url, MessageBody="parked", DelaySeconds=600)
    sqs.send_message(QueueUrl=url, MessageBody="in flight")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, VisibilityTimeout=300)["Messages"]] == ["in flight"]
    sqs.send_message(QueueUrl=url, MessageBody="waiting")
    # WHEN serve stops (saving) and starts again on empty queues (restoring)
    path = tmp_path / "local-data.json"
    saved = data_file.save(server_stack.resources, boto3.session.Session(), path, region=REGION)
    sqs.purge_queue(QueueUrl=url)
    assert depths(url) == (0, 0)
    restored = data_file.restore(server_stack.resources, boto3.session.Session(), path, region=REGION)
    # THEN all three are back: two to be handed out now, the parked one still delayed, by what it had left
    assert saved["messages"] == restored["messages"] == 3
    assert depths(url) == (2, 1)
    kept = {m["body"]: m["delay_seconds"] for m in json.loads(path.read_text())["queues"]["RetryQueue"]}
    assert kept["in flight"] == kept["waiting"] == 0 and 590 <= kept["parked"] <= 600
