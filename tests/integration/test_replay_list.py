"""`smsbridge replay --list` shows what waits in the dead-letter queue, with reasons and ages, and moves nothing;
`trace` finds a message's dead letters."""

from __future__ import annotations

import json

import boto3
import pytest

from smsbridge.adapters.queues import parked_message
from smsbridge.cli import main
from smsbridge.domain.ci360_events import EventKind, PendingEvent
from tests.integration.conftest import Stack

SID = "SM" + "5a" * 16


def park(queue_url: str, kind: EventKind, key: str, reason: str, attempts: int) -> None:
    event = PendingEvent(kind, key, "+14155550123", "+14155550199", {"message_sid": SID})
    body = json.dumps(parked_message(event, attempt=attempts, reason=reason))
    boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody=body)


def test_list_shows_parked_events_and_moves_nothing(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    dead = stack.resources.refs["DeadLetterQueue"]
    park(dead, EventKind.REPLY, f"reply:{SID}", "400: event SMS Reply is not defined", 5)
    park(dead, EventKind.DELIVERED, "delivered:SM" + "0" * 32, "held: no CI360 identity", 0)
    boto3.client("sqs").send_message(QueueUrl=dead, MessageBody="a Lambda stream failure description")
    where = ["--dead-letter-queue-url", dead]
    assert main(["replay", "--list", *where]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "2 parked events"
    assert any("reply" in line and SID in line and "attempts 5  400: event SMS Reply is not defined" in line
               for line in out)  # fmt: skip
    assert "+14155550123" not in "\n".join(out)  # masked
    # AND filtered, as JSON, the same messages are still there
    assert main(["replay", "--list", "--reason", "not defined", "--json", *where]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["count"] == 1
    [entry] = listed["parked"]
    assert (entry["kind"], entry["message_sid"], entry["attempts"]) == ("reply", SID, 5)
    assert entry["age_seconds"] >= 0 and entry["customer"] == "+1********23"


def test_trace_shows_a_dead_letter_with_attempts_and_last_error(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = stack.resources.refs["DeadLetterQueue"]
    park(dead, EventKind.REPLY, f"reply:{SID}", "400: event SMS Reply is not defined", 5)
    where = ["--consent-table", stack.consent_table, "--messages-table", stack.messages_table]
    assert main(["trace", SID, *where, "--dead-letter-queue-url", dead, "--json"]) == 0
    [step] = json.loads(capsys.readouterr().out)["steps"]
    assert (step["type"], step["outcome"], step["attempts"]) == ("dead_letter", "dead_lettered", 5)
    assert step["last_error"] == "400: event SMS Reply is not defined"


def test_trace_of_an_unknown_message_says_so(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    where = ["--consent-table", stack.consent_table, "--messages-table", stack.messages_table]
    code = main(["trace", SID, *where, "--dead-letter-queue-url", stack.resources.refs["DeadLetterQueue"]])
    assert code == 1
    assert "nothing on record" in capsys.readouterr().out


def test_a_queue_that_does_not_exist_is_named_as_wrong_input(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    missing = stack.resources.refs["DeadLetterQueue"] + "-typo"
    assert main(["replay", "--list", "--dead-letter-queue-url", missing]) == 2
    assert capsys.readouterr().err == (
        "smsbridge: The specified queue does not exist: check the name (or --stack and --region)\n"
    )
