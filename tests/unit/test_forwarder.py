"""The forwarder with fake ports: every event ends sent, retrying, dead-lettered or held, never lost."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from smsbridge.domain.ci360_events import Correlation, EventKind, EventMapping, PendingEvent
from smsbridge.domain.delivery import MAX_ATTEMPTS, Outcome, Verdict
from smsbridge.errors import NotConfigured, StoreUnavailable
from smsbridge.forwarder import Forwarder
from tests.fakes import FakeContacts, FakeGateway, FakeParking, FakeSentLedger

CUSTOMER, OURS = "+14155550100", "+14155550199"
KNOWN = {(CUSTOMER, OURS): Correlation("DH1", "TSK_1", "RTC1")}


def reply(n: int = 1) -> PendingEvent:
    return PendingEvent(EventKind.REPLY, f"reply:SM{n}", CUSTOMER, OURS, {"message_sid": f"SM{n}", "reply_text": "hi"})


def build(
    gateway: FakeGateway | None = None, **options: Any
) -> tuple[Forwarder, FakeGateway, FakeParking, FakeSentLedger]:
    gateway = gateway or FakeGateway()
    parking, sent = options.pop("parking", FakeParking()), FakeSentLedger()
    forwarder = Forwarder(
        mapping=EventMapping(),
        gateway=lambda: gateway,
        sent=sent,
        contacts=options.pop("contacts", FakeContacts(KNOWN)),
        parking=parking,
        messages_table="messages",
        consent_table="consent",
        **options,
    )
    return forwarder, gateway, parking, sent


def sqs_batch(*events: PendingEvent, attempt: int = 0) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventSource": "aws:sqs",
                "messageId": f"m{i}",
                "body": json.dumps({"event": e.to_json(), "attempt": attempt, "reason": "x"}),
            }
            for i, e in enumerate(events)
        ]
    }


def test_accepted_event_is_recorded_and_never_sent_twice() -> None:
    forwarder, gateway, _, sent = build()
    assert forwarder.deliver(reply()) == "sent"
    assert forwarder.deliver(reply()) == "duplicate"
    assert len(gateway.bodies) == 1
    assert gateway.bodies[0]["datahub_id"] == "DH1" and gateway.bodies[0]["task_code"] == "TSK_1"
    assert sent.sent == {"reply:SM1": "SMS Reply"}


def test_retryable_answer_parks_the_event_with_a_growing_delay() -> None:
    forwarder, _, parking, sent = build(FakeGateway(Verdict(Outcome.RETRY, "503"), Verdict(Outcome.RETRY, "503")))
    assert forwarder.deliver(reply(), attempt=0) == "retrying"
    assert forwarder.deliver(reply(), attempt=1) == "retrying"
    assert [(attempt, delay) for _, attempt, delay, _ in parking.retries] == [(1, 30), (2, 60)]
    assert not sent.sent


def test_out_of_attempts_goes_to_the_dead_letter_queue_whole() -> None:
    forwarder, _, parking, _ = build(FakeGateway(Verdict(Outcome.RETRY, "503 from the gateway")))
    assert forwarder.deliver(reply(), attempt=MAX_ATTEMPTS - 1) == "dead_lettered"
    [(event, reason, attempts)] = parking.dead
    assert event == reply() and attempts == MAX_ATTEMPTS
    assert reason == f"gave up after {MAX_ATTEMPTS} attempts: 503 from the gateway"


def test_rejection_goes_to_the_dead_letter_queue_at_once() -> None:
    forwarder, _, parking, _ = build(FakeGateway(Verdict(Outcome.REJECTED, "400: event SMS Reply is not defined")))
    assert forwarder.deliver(reply()) == "dead_lettered"
    assert parking.dead[0][1] == "400: event SMS Reply is not defined" and not parking.retries


def test_unknown_number_is_held_by_default_or_sent_as_the_configured_identity() -> None:
    held, gateway, parking, _ = build(contacts=FakeContacts())
    assert held.deliver(reply()) == "held"
    assert "no CI360 identity" in parking.dead[0][1] and not gateway.bodies
    sent_anyway, gateway, _, _ = build(contacts=FakeContacts(), unknown_identity="subject_id")
    assert sent_anyway.deliver(reply()) == "sent"
    assert gateway.bodies[0]["subject_id"] == CUSTOMER


def test_ci360_not_configured_waits_on_the_retry_queue() -> None:
    parking = FakeParking()

    def unconfigured() -> FakeGateway:
        raise NotConfigured("CI360_SECRET is not set")

    forwarder = Forwarder(
        mapping=EventMapping(),
        gateway=unconfigured,
        sent=FakeSentLedger(),
        contacts=FakeContacts(KNOWN),
        parking=parking,
        messages_table="m",
        consent_table="c",
    )
    assert forwarder.deliver(reply()) == "retrying"
    assert "not configured" in parking.retries[0][3]


def test_batch_reports_only_records_whose_event_could_not_be_kept() -> None:
    forwarder, _, _, _ = build(FakeGateway(Verdict(Outcome.RETRY, "503")), parking=FakeParking(StoreUnavailable("SQS")))
    report = forwarder.handle(sqs_batch(reply()))
    assert report.response() == {"batchItemFailures": [{"itemIdentifier": "m0"}]}


def test_malformed_records_fail_alone() -> None:
    forwarder, gateway, _, _ = build()
    batch = sqs_batch(reply(1))
    batch["Records"] += [
        {"eventSource": "aws:sqs", "messageId": "bad-json", "body": "{not json"},
        {"eventSource": "aws:sqs", "messageId": "bad-event", "body": '{"event": {"kind": "x"}}'},
        {"eventSource": "aws:dynamodb", "dynamodb": {"SequenceNumber": "77"}},
    ]
    report = forwarder.handle(batch)
    assert {f["itemIdentifier"] for f in report.response()["batchItemFailures"]} == {"bad-json", "bad-event", "77"}
    assert len(gateway.bodies) == 1


def test_a_batch_is_sent_concurrently_within_the_bound() -> None:
    forwarder, gateway, _, _ = build(FakeGateway(delay=0.02), max_workers=4)
    report = forwarder.handle(sqs_batch(*[reply(n) for n in range(20)]))
    assert report.outcomes["sent"] == 20
    assert 1 < gateway.most_in_flight <= 4


def test_a_long_run_does_not_grow_memory() -> None:
    # GIVEN a forwarder that has warmed up (pools, caches, imports)
    import tracemalloc

    forwarder, _, _, sent = build()
    forwarder.handle(sqs_batch(*[reply(n) for n in range(200)]))
    sent.sent.clear()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        # WHEN it forwards many more batches (the fake ledger is emptied: only the forwarder's own memory counts)
        for round_ in range(20):
            forwarder.handle(sqs_batch(*[reply(1000 * round_ + n) for n in range(100)]))
            sent.sent.clear()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    # THEN what it holds on to does not grow with the events it forwarded
    growth = sum(stat.size_diff for stat in after.compare_to(before, "filename") if "smsbridge" in str(stat))
    assert growth < 64 * 1024, growth


records = st.one_of(
    st.dictionaries(
        st.sampled_from(["eventSource", "messageId", "body", "dynamodb", "eventSourceARN", "eventName"]),
        st.one_of(
            st.text(max_size=20),
            st.integers(),
            st.none(),
            st.just("aws:sqs"),
            st.just("aws:dynamodb"),
            st.just('{"event": {}}'),
            st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
        ),
        max_size=6,
    ),
    st.builds(lambda body: {"eventSource": "aws:sqs", "messageId": "fuzz", "body": body}, st.text(max_size=60)),
)


@settings(max_examples=150, deadline=None)
@given(junk=st.lists(records, max_size=5))
def test_malformed_records_never_break_the_batch_or_the_good_record(junk: list[Any]) -> None:
    forwarder, gateway, _, _ = build()
    batch = sqs_batch(reply(1))
    batch["Records"] = [*junk, *batch["Records"]]
    report = forwarder.handle(batch)
    assert len(gateway.bodies) == 1  # the good record went through
    assert "m0" not in {failure["itemIdentifier"] for failure in report.response()["batchItemFailures"]}
