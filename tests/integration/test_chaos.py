"""Chaos mode: each fault is injected where AWS can produce it, reproducibly from the seed, and summarised."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from smsbridge.domain.delivery import Outcome, Verdict
from smsbridge.local.atomic_dynamodb import throttle_writes
from smsbridge.local.chaos import Chaos, ChaosRates, InjectedCrash
from smsbridge.local.event_sources import FunctionTimedOut, LocalEventSources, LocalFunction, QueueSource
from smsbridge.local.template import queue_sources
from tests.integration.conftest import Stack
from tests.integration.test_event_sources import FakeFunction, messages_stream, queue_depth, run, send, write

ALWAYS = 0.999999


@pytest.fixture
def stack(server_stack: Stack) -> Stack:
    from smsbridge.local.atomic_dynamodb import serialise_dynamodb_requests

    serialise_dynamodb_requests()
    return server_stack


def test_the_same_seed_makes_the_same_decisions_and_another_seed_others() -> None:
    def decisions(seed: int) -> list[bool]:
        chaos = Chaos(seed)
        return [chaos.redeliver_stream_batch(f"batch{n}") for n in range(200)]

    assert decisions(7) == decisions(7)
    assert decisions(7) != decisions(8)
    assert 0 < sum(decisions(7)) < 200


def always_duplicating_queue(stack: Stack, fake: FakeFunction, **changes: Any) -> QueueSource:
    """The retry queue's event source (no batching window, ``changes`` to its settings) under chaos that wants to
    duplicate every batch, invoking ``fake``."""
    [settings] = queue_sources(stack.resources.template, "ForwarderFunction")
    return QueueSource(
        replace(settings, batching_window=0, **changes),
        LocalFunction("test-forwarder", lambda: fake, 5.0, echo=lambda _: None),
        queue_url=stack.resources.refs["RetryQueue"],
        queue_arn=stack.resources.arns["RetryQueue"],
        session=boto3.session.Session(),
        chaos=Chaos(1, ChaosRates(duplicate_delivery=ALWAYS)),
    )


def test_duplicate_delivery_hands_copies_to_a_concurrent_invocation(stack: Stack) -> None:
    fake = FakeFunction()
    source = always_duplicating_queue(stack, fake)
    sources = LocalEventSources([source], echo=lambda _: None)
    send(stack, 1, 2, 3)
    run(sources, lambda: queue_depth(stack) == 0)
    # THEN a second invocation got copies of some of the batch's messages, and deleting both was fine
    assert len(fake.calls) == 2
    assert set(fake.calls[1]) <= set(fake.calls[0]) == {1, 2, 3}
    assert source.chaos is not None and source.chaos.injected["duplicate_delivery"] == 1


def test_duplicates_are_counted_only_when_a_free_invocation_delivers_them(stack: Stack) -> None:
    # GIVEN two invocations at most, one message per batch, and chaos wanting to duplicate every batch
    fake = FakeFunction()
    source = always_duplicating_queue(stack, fake, batch_size=1, maximum_concurrency=2)
    sources = LocalEventSources([source], echo=lambda _: None)
    send(stack, 1, 2, 3)
    run(sources, lambda: queue_depth(stack) == 0)
    # THEN the summary counts the copies that were handed over, not those left out for want of an invocation
    assert source.chaos is not None
    assert source.chaos.injected["duplicate_delivery"] == len(fake.calls) - 3 >= 1


def test_a_successful_stream_batch_may_come_again(stack: Stack) -> None:
    fake = FakeFunction()
    sources, source = messages_stream(stack, fake, batching_window=0)
    source.chaos = Chaos(3, ChaosRates(stream_redelivery=0.5))
    write(stack, 1, 2)
    run(sources, lambda: bool(fake.calls) and not sources.pending())
    # THEN the batch came again as often as chaos lost its checkpoint, then never again
    redelivered = source.chaos.injected["stream_redelivery"]
    assert fake.calls == [[1, 2]] * (1 + redelivered)


def test_throttled_write_is_refused_with_provisioned_throughput_exceeded(stack: Stack) -> None:
    chaos = Chaos(5, ChaosRates(throttle=ALWAYS))
    client = boto3.client("dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 1}))
    throttle_writes(chaos.throttles)
    try:
        with pytest.raises(ClientError) as refused:
            client.put_item(TableName=stack.messages_table, Item={"pk": {"S": "A"}, "sk": {"S": "B"}})
        client.get_item(TableName=stack.messages_table, Key={"pk": {"S": "A"}, "sk": {"S": "B"}})  # reads pass
    finally:
        throttle_writes(None)
    assert refused.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert chaos.injected["throttle"] >= 1  # every attempt the SDK made was refused
    assert "Item" not in client.get_item(TableName=stack.messages_table, Key={"pk": {"S": "A"}, "sk": {"S": "B"}})


@pytest.mark.parametrize("seed", range(6))
def test_a_lost_answer_ends_the_invocation_after_ci360_accepted_and_is_summarised(seed: int) -> None:
    class Accepting:
        def send(self, body: dict[str, Any]) -> Verdict:
            return Verdict(Outcome.ACCEPTED, "202")

    class Forwarder:
        gateway = staticmethod(Accepting)

    chaos = Chaos(seed, ChaosRates(lost_answer=ALWAYS))
    forwarder = Forwarder()
    chaos.instrument(forwarder)
    with pytest.raises((InjectedCrash, FunctionTimedOut)):
        forwarder.gateway().send({"event_id": "reply:SM1"})
    summary = chaos.summary()
    assert summary["ambiguous_events"] == ["reply:SM1"]
    assert summary["injected"]["lost_answer"] == 1
    assert summary["injected"].get("crash_after_answer", 0) + summary["injected"].get("timeout_after_answer", 0) == 1
    assert json.dumps(summary) in chaos.describe()
