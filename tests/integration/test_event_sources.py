"""The local event sources follow Lambda's rules for DynamoDB streams and SQS (docs/contracts.md, AWS rows).

Each test drives one rule with a fake function on moto's server: records written to the template's messages table
or messages put on its retry queue, and the fake records what it was handed.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from smsbridge.app.recover import stream_description_window
from smsbridge.errors import ConfigurationError
from smsbridge.local.atomic_dynamodb import serialise_dynamodb_requests
from smsbridge.local.event_sources import (
    LambdaContext,
    LocalEventSources,
    LocalFunction,
    QueueSource,
    StreamSource,
)
from smsbridge.local.template import function_timeout, queue_sources, stream_sources
from tests.integration.conftest import Stack

Behaviour = Callable[[list[int], list[dict[str, Any]], LambdaContext], Any]


class FakeFunction:
    """A handler that records the item numbers of each batch it is handed, then does what ``behaviour`` says."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or (lambda numbers, records, context: None)
        self.calls: list[list[int]] = []
        self.active = 0
        self.most_active = 0
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: LambdaContext) -> Any:
        records = event["Records"]
        numbers = [number_of(record) for record in records]
        with self._lock:
            self.calls.append(numbers)
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            return self.behaviour(numbers, records, context)
        finally:
            with self._lock:
                self.active -= 1


def number_of(record: dict[str, Any]) -> int:
    if record.get("eventSource") == "aws:sqs":
        return int(json.loads(record["body"])["n"])
    return int(record["dynamodb"]["NewImage"]["n"]["N"])


def sequence_of(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


@pytest.fixture
def stack(server_stack: Stack) -> Stack:
    serialise_dynamodb_requests()
    return server_stack


def write(stack: Stack, *numbers: int, item: str = "", kind: str = "inbound") -> None:
    for n in numbers:
        stack.dynamodb.put_item(
            TableName=stack.messages_table,
            Item={"pk": {"S": f"MSG#{item or n}"}, "sk": {"S": "INBOUND"}, "kind": {"S": kind}, "n": {"N": str(n)}},
        )


def messages_stream(stack: Stack, fake: FakeFunction, *, timeout: float = 5.0, time_scale: float = 1.0,
                    **changes: Any) -> tuple[LocalEventSources, StreamSource]:  # fmt: skip
    """The template's MessagesStream mapping (with ``changes``; one batch per shard at a time unless they say
    otherwise, so batches come in order) handing batches to ``fake``."""
    [settings] = [
        s for s in stream_sources(stack.resources.template, "ForwarderFunction") if s.table == "MessagesTable"
    ]
    function = LocalFunction("test-forwarder", lambda: fake, timeout, echo=lambda _: None)
    source = StreamSource(
        replace(settings, **{"parallelization_factor": 1, **changes}),
        function,
        table=stack.messages_table,
        destination_url=stack.resources.refs["DeadLetterQueue"],
        session=boto3.session.Session(),
        time_scale=time_scale,
        echo=lambda _: None,
    )
    return LocalEventSources([source], echo=lambda _: None), source


def retry_queue(stack: Stack, fake: FakeFunction, *, timeout: float = 5.0, **changes: Any) -> LocalEventSources:
    [settings] = queue_sources(stack.resources.template, "ForwarderFunction")
    function = LocalFunction("test-forwarder", lambda: fake, timeout, echo=lambda _: None)
    source = QueueSource(
        replace(settings, **changes),
        function,
        queue_url=stack.resources.refs["RetryQueue"],
        queue_arn=stack.resources.arns["RetryQueue"],
        session=boto3.session.Session(),
    )
    return LocalEventSources([source], echo=lambda _: None)


def run(sources: LocalEventSources, until: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "the event sources did not get there in time"
        if not sources.poll_once():
            time.sleep(0.02)


def dead_letters(stack: Stack) -> list[dict[str, Any]]:
    found = boto3.client("sqs").receive_message(
        QueueUrl=stack.resources.refs["DeadLetterQueue"], MaxNumberOfMessages=10, WaitTimeSeconds=0
    )
    return [json.loads(message["Body"]) for message in found.get("Messages", [])]


def send(stack: Stack, *numbers: int) -> None:
    for n in numbers:
        boto3.client("sqs").send_message(QueueUrl=stack.resources.refs["RetryQueue"], MessageBody=json.dumps({"n": n}))


def test_settings_are_read_from_the_template(template: dict[str, Any]) -> None:
    messages, consent = stream_sources(template, "ForwarderFunction")
    assert (messages.table, consent.table) == ("MessagesTable", "ConsentTable")
    assert (messages.batch_size, messages.batching_window, messages.maximum_retry_attempts) == (50, 1.0, 10)
    assert messages.report_batch_item_failures and messages.bisect_on_error
    assert (messages.on_failure, messages.parallelization_factor, messages.maximum_record_age) == (
        "DeadLetterQueue",
        2,  # the StreamParallelizationFactor parameter's default
        3600,
    )
    assert messages.filters == ({"dynamodb": {"NewImage": {"kind": {"S": ["inbound", "status"]}}}},)
    assert messages.starting_position == consent.starting_position == "TRIM_HORIZON"
    [retries] = queue_sources(template, "ForwarderFunction")
    assert (retries.queue, retries.batch_size, retries.batching_window, retries.maximum_concurrency) == (
        "RetryQueue",
        50,
        5.0,
        5,
    )
    assert retries.report_batch_item_failures
    # settings given as parameters follow the deployment's overrides (serve --parameter-overrides)
    [overridden] = queue_sources(template, "ForwarderFunction", {"RetryQueueMaximumConcurrency": "9"})
    assert overridden.maximum_concurrency == 9
    assert function_timeout(template, "ForwarderFunction") == 60
    assert function_timeout(template, "WebhookFunction") == 10  # from Globals


def test_stream_batches_are_cut_at_batch_size_and_a_short_one_waits_for_the_window(stack: Stack) -> None:
    fake = FakeFunction()
    sources, _ = messages_stream(stack, fake, batch_size=3, batching_window=0.5)
    write(stack, *range(1, 8))
    sources.poll_once()
    sources.poll_once()
    # THEN the two full batches went at once, in order, and the seventh record waits for the window
    assert fake.calls == [[1, 2, 3], [4, 5, 6]]
    assert sources.pending() == 1
    time.sleep(0.6)
    sources.poll_once()
    assert fake.calls[-1] == [7]


def test_trim_horizon_hands_over_the_records_written_before_the_mapping_first_read(stack: Stack) -> None:
    fake = FakeFunction()
    sources, _ = messages_stream(stack, fake, batching_window=0, starting_position="TRIM_HORIZON")
    write(stack, 1, 2)
    run(sources, lambda: bool(fake.calls) and not sources.pending())
    write(stack, 3)
    run(sources, lambda: sum(len(call) for call in fake.calls) == 3 and not sources.pending())
    assert [n for call in fake.calls for n in call] == [1, 2, 3]
    assert not sources.went_wrong  # `serve` prints no summary when it stops


@pytest.mark.parametrize("before", [(), (1, 2)], ids=["empty", "records-before"])
def test_latest_hands_over_only_the_records_written_after_the_mapping_first_read(
    stack: Stack, before: tuple[int, ...]
) -> None:
    fake = FakeFunction()
    sources, _ = messages_stream(stack, fake, batching_window=0, starting_position="LATEST")
    write(stack, *before)
    sources.poll_once()  # the mapping reads the shard for the first time: it starts after its last record
    write(stack, 3, 4)
    run(sources, lambda: sum(len(call) for call in fake.calls) >= 2 and not sources.pending())
    assert [n for call in fake.calls for n in call] == [3, 4]  # records come in order: 1 and 2 would be first


@pytest.mark.parametrize("position", [None, "AT_TIMESTAMP", "latest"])
def test_a_stream_event_without_a_dynamodb_starting_position_is_refused(
    template: dict[str, Any], position: str | None
) -> None:
    changed = copy.deepcopy(template)
    properties = changed["Resources"]["ForwarderFunction"]["Properties"]["Events"]["MessagesStream"]["Properties"]
    properties.pop("StartingPosition")
    if position is not None:
        properties["StartingPosition"] = position
    with pytest.raises(ConfigurationError, match="MessagesStream needs StartingPosition TRIM_HORIZON or LATEST"):
        stream_sources(changed, "ForwarderFunction")


def test_records_outside_the_filter_criteria_are_never_handed_over(stack: Stack) -> None:
    fake = FakeFunction()
    sources, _ = messages_stream(stack, fake, batching_window=0)
    write(stack, 1, kind="bookkeeping")
    write(stack, 2)
    run(sources, lambda: bool(fake.calls) and not sources.pending())
    assert fake.calls == [[2]]


def test_partial_batch_response_retries_from_the_first_failed_record(stack: Stack) -> None:
    def fail_two_and_four_once(numbers: list[int], records: list[dict[str, Any]], _: Any) -> Any:
        if len(fake.calls) > 1:
            return {"batchItemFailures": []}
        failed = [sequence_of(r) for r in records if number_of(r) in (4, 2)]
        return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}

    fake = FakeFunction(fail_two_and_four_once)
    sources, _ = messages_stream(stack, fake, batching_window=0)
    write(stack, 1, 2, 3, 4, 5)
    run(sources, lambda: len(fake.calls) >= 2 and not sources.pending())
    # THEN the retry starts at the lowest failed sequence number: 2 and everything after it comes again
    assert fake.calls == [[1, 2, 3, 4, 5], [2, 3, 4, 5]]


def test_a_partial_response_naming_no_record_of_the_batch_fails_the_whole_batch(stack: Stack) -> None:
    fake = FakeFunction(
        lambda numbers, records, _: {"batchItemFailures": [{"itemIdentifier": ""}]} if len(fake.calls) == 1 else None
    )
    sources, _ = messages_stream(stack, fake, batching_window=0)
    write(stack, 1, 2)
    run(sources, lambda: len(fake.calls) >= 2 and not sources.pending())
    assert fake.calls == [[1, 2], [1, 2]]


def test_function_error_retries_the_whole_batch_then_sends_a_description_not_the_records(stack: Stack) -> None:
    def always_fail(*_: Any) -> Any:
        raise RuntimeError("poison")

    fake = FakeFunction(always_fail)
    sources, source = messages_stream(stack, fake, batching_window=0, bisect_on_error=False, maximum_retry_attempts=2)
    write(stack, 1, 2, 3)
    run(sources, lambda: bool(fake.calls) and not sources.pending())
    # THEN the batch was invoked once and retried twice, whole, and then skipped
    assert fake.calls == [[1, 2, 3]] * 3
    [description] = dead_letters(stack)
    assert description["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert description["requestContext"]["approximateInvokeCount"] == 3
    assert description["requestContext"]["functionArn"].endswith(":function:test-forwarder")
    assert description["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    info = description["DDBStreamBatchInfo"]
    assert info["batchSize"] == 3 and info["streamArn"] == source.stream_arn
    assert info["shardId"].startswith("shardId-")
    assert int(info["startSequenceNumber"]) < int(info["endSequenceNumber"])
    assert {"approximateArrivalOfFirstRecord", "approximateArrivalOfLastRecord"} <= set(info)
    assert "NewImage" not in json.dumps(description)  # a description of the batch, not its records
    assert sources.summary() == (
        "test-forwarder: 3 invocations (3 function errors, 0 timeouts); "
        "3 stream records skipped (described on the on-failure destination)"
    )


def test_the_recovery_sweep_reads_the_window_of_a_skipped_batch_from_its_description(stack: Stack) -> None:
    def always_fail(*_: Any) -> Any:
        raise RuntimeError("poison")

    fake = FakeFunction(always_fail)
    sources, _ = messages_stream(stack, fake, batching_window=0, bisect_on_error=False, maximum_retry_attempts=0)
    before = datetime.now(UTC)
    write(stack, 1)
    run(sources, lambda: bool(fake.calls) and not sources.pending())
    [message] = boto3.client("sqs").receive_message(QueueUrl=stack.resources.refs["DeadLetterQueue"])["Messages"]
    window = stream_description_window(message["Body"])
    # THEN the sweep finds the skipped record's time inside the window the description gives
    assert window is not None and window.start <= before <= window.end


def test_function_error_bisects_the_batch_and_only_the_poison_record_is_skipped(stack: Stack) -> None:
    def poison_three(numbers: list[int], *_: Any) -> Any:
        if 3 in numbers:
            raise RuntimeError("poison")

    fake = FakeFunction(poison_three)
    sources, _ = messages_stream(stack, fake, batching_window=0, maximum_retry_attempts=0)
    write(stack, 1, 2, 3, 4)
    run(sources, lambda: bool(fake.calls) and not sources.pending())
    # THEN halves are tried until the poison record is alone; splitting spent no retry (MaximumRetryAttempts 0)
    assert fake.calls == [[1, 2, 3, 4], [1, 2], [3, 4], [3], [4]]
    [description] = dead_letters(stack)
    info = description["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1 and info["startSequenceNumber"] == info["endSequenceNumber"]


def test_a_timed_out_invocation_is_retried_although_its_side_effects_happened(stack: Stack) -> None:
    side_effects: list[list[int]] = []
    remaining: list[int] = []

    def slow_first_time(numbers: list[int], _: Any, context: LambdaContext) -> Any:
        remaining.append(context.get_remaining_time_in_millis())
        side_effects.append(numbers)  # e.g. CI360 accepted the event
        if len(side_effects) == 1:
            time.sleep(1.0)  # still running at the deadline

    fake = FakeFunction(slow_first_time)
    sources, _ = messages_stream(stack, fake, timeout=0.3, batching_window=0)
    write(stack, 1)
    run(sources, lambda: len(fake.calls) >= 2 and not sources.pending())
    assert side_effects[:2] == [[1], [1]]
    assert 0 < remaining[0] <= 300  # the context tells the truth about the template's timeout
    assert sources.went_wrong and sources.summary() == (
        "test-forwarder: 2 invocations (0 function errors, 1 timeout); "
        "0 stream records skipped (described on the on-failure destination)"
    )


def test_a_timed_out_stream_batch_is_handed_over_again_only_once_its_invocation_ended(stack: Stack) -> None:
    # GIVEN an invocation that runs on well past its deadline (Lambda would stop it; a thread cannot be stopped)
    fake = FakeFunction(lambda numbers, records, context: time.sleep(1.0) if len(fake.calls) == 1 else None)
    sources, _ = messages_stream(stack, fake, timeout=0.2, batching_window=0)
    write(stack, 1)
    run(sources, lambda: len(fake.calls) >= 2 and not sources.pending())
    # THEN the retry waited for it: two invocations of the same records never ran at once
    assert fake.calls == [[1], [1]]
    assert fake.most_active == 1


def test_a_timed_out_queue_message_is_handed_over_again_only_once_its_invocation_ended(stack: Stack) -> None:
    # GIVEN a visibility timeout (1 s) shorter than an invocation that runs on past its deadline (0.2 s)
    fake = FakeFunction(lambda numbers, records, context: time.sleep(1.5) if len(fake.calls) == 1 else None)
    sqs = boto3.client("sqs")
    sqs.set_queue_attributes(QueueUrl=stack.resources.refs["RetryQueue"], Attributes={"VisibilityTimeout": "1"})
    sources = retry_queue(stack, fake, timeout=0.2, batching_window=0)
    send(stack, 1)
    run(sources, lambda: len(fake.calls) >= 2 and queue_depth(stack) == 0)
    # THEN the message came back, visible again, only after the first invocation had ended
    assert fake.calls == [[1], [1]]
    assert fake.most_active == 1


def test_records_older_than_the_maximum_record_age_are_skipped_with_a_description(stack: Stack) -> None:
    def always_fail(*_: Any) -> Any:
        raise RuntimeError("down")

    fake = FakeFunction(always_fail)
    # maximum age 10 s, compressed to 0.2 s; retries without limit, so the age is what ends them
    sources, _ = messages_stream(stack, fake, time_scale=0.02, batching_window=0, maximum_record_age=10,
                                 maximum_retry_attempts=-1, bisect_on_error=False)  # fmt: skip
    write(stack, 1)
    run(sources, lambda: bool(fake.calls) and not sources.pending())
    [description] = dead_letters(stack)
    assert description["requestContext"]["condition"] == "RecordAgeExceeded"
    assert description["DDBStreamBatchInfo"]["batchSize"] == 1


def test_parallelization_factor_runs_batches_of_a_shard_concurrently_each_item_in_order(stack: Stack) -> None:
    seen: list[tuple[str, int]] = []

    def slow(numbers: list[int], records: list[dict[str, Any]], _: Any) -> Any:
        time.sleep(0.2)
        seen.extend((r["dynamodb"]["Keys"]["pk"]["S"], number_of(r)) for r in records)

    fake = FakeFunction(slow)
    sources, _ = messages_stream(stack, fake, batching_window=0, batch_size=1, parallelization_factor=4)
    for version in range(1, 4):  # three changes to each of eight items
        for item in range(8):
            write(stack, version * 100 + item, item=f"item{item}")
    run(sources, lambda: len(seen) == 24 and not sources.pending())
    assert 1 < fake.most_active <= 4
    for item in range(8):
        assert [n for key, n in seen if key == f"MSG#item{item}"] == [100 + item, 200 + item, 300 + item]


def test_queue_message_not_deleted_reappears_after_the_visibility_timeout(stack: Stack) -> None:
    def fail_first(numbers: list[int], *_: Any) -> Any:
        if len(fake.calls) == 1:
            raise RuntimeError("crash")

    fake = FakeFunction(fail_first)
    sqs = boto3.client("sqs")
    sqs.set_queue_attributes(QueueUrl=stack.resources.refs["RetryQueue"], Attributes={"VisibilityTimeout": "1"})
    sources = retry_queue(stack, fake, batching_window=0)
    send(stack, 1)
    sources.poll_once()
    sources.poll_once()
    assert fake.calls == [[1]]  # in flight: invisible until the visibility timeout passes
    run(sources, lambda: len(fake.calls) == 2)
    assert fake.calls == [[1], [1]]
    run(sources, lambda: queue_depth(stack) == 0)  # the successful delivery deleted it


def queue_depth(stack: Stack) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    found = boto3.client("sqs").get_queue_attributes(QueueUrl=stack.resources.refs["RetryQueue"], AttributeNames=names)
    return sum(int(value) for value in found["Attributes"].values())


def test_queue_partial_batch_response_deletes_all_but_the_failed_messages(stack: Stack) -> None:
    def fail_two_once(numbers: list[int], records: list[dict[str, Any]], _: Any) -> Any:
        failed = [r["messageId"] for r in records if number_of(r) == 2 and len(fake.calls) == 1]
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}

    fake = FakeFunction(fail_two_once)
    sources = retry_queue(stack, fake, batching_window=0)
    sources.sources[0].time_scale = 0.01  # type: ignore[attr-defined]  # 180 s visibility timeout: 2 s
    send(stack, 1, 2, 3)
    run(sources, lambda: len(fake.calls) >= 1)
    assert sorted(fake.calls[0]) == [1, 2, 3]
    run(sources, lambda: len(fake.calls) >= 2 and queue_depth(stack) == 0)
    assert fake.calls[1:] == [[2]]  # only the failed message came back


def test_queue_batches_go_when_full_and_a_short_one_waits_for_the_window(stack: Stack) -> None:
    fake = FakeFunction()
    sources = retry_queue(stack, fake, batch_size=2, batching_window=0.5)
    send(stack, 1, 2, 3)
    sources.poll_once()
    assert [len(call) for call in fake.calls] == [2]  # the full batch went at once; the third message waits
    run(sources, lambda: len(fake.calls) == 2)
    assert sorted(n for call in fake.calls for n in call) == [1, 2, 3]


def test_queue_maximum_concurrency_bounds_concurrent_invocations(stack: Stack) -> None:
    fake = FakeFunction(lambda *_: time.sleep(0.2))
    sources = retry_queue(stack, fake, batching_window=0, batch_size=1, maximum_concurrency=2)
    send(stack, *range(6))
    run(sources, lambda: queue_depth(stack) == 0)
    assert sorted(n for call in fake.calls for n in call) == list(range(6))
    assert fake.most_active == 2  # several at once, never more than the mapping allows
