"""The forwarder with fake ports: every event ends sent, retrying, dead-lettered or held, never lost."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsbridge.app.forwarder import Forwarder
from smsbridge.domain.ci360_events import Correlation, EventKind, EventMapping, PendingEvent
from smsbridge.domain.claims import ClaimRecord, ClaimState, may_claim
from smsbridge.domain.delivery import MAX_ATTEMPTS, Outcome, Verdict
from smsbridge.errors import NotConfigured, StoreUnavailable
from tests.fakes import FakeContacts, FakeGateway, FakeLanes, FakeParking, FakeSentLedger, sqs_records

CUSTOMER, OURS = "+14155550100", "+14155550199"
KNOWN = {(CUSTOMER, OURS): Correlation("DH1", "TSK_1", "RTC1")}


def reply(n: int = 1) -> PendingEvent:
    return PendingEvent(EventKind.REPLY, f"reply:SM{n}", CUSTOMER, OURS, {"message_sid": f"SM{n}", "reply_text": "hi"})


def build(
    gateway: FakeGateway | None = None, **options: Any
) -> tuple[Forwarder, FakeGateway, FakeParking, FakeSentLedger]:
    gateway = gateway or FakeGateway()
    parking, sent = options.pop("parking", FakeParking()), options.pop("sent", FakeSentLedger())
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
    assert forwarder.handle(parking.take()).outcomes == {"retrying": 1}  # the parked message, under its ticket
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


# -- the claim: copies side by side send once (domain/claims.py)

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def test_claim_rules() -> None:
    lease = NOW + timedelta(seconds=30)
    assert may_claim(None, ticket="", now=NOW)
    assert not may_claim(ClaimRecord(ClaimState.CLAIMED, "a", lease), ticket="", now=NOW)  # being sent now
    assert may_claim(ClaimRecord(ClaimState.CLAIMED, "a", NOW - timedelta(seconds=1)), ticket="", now=NOW)  # died
    for state in (ClaimState.PARKED, ClaimState.HELD, ClaimState.DEAD_LETTERED, ClaimState.UNCONFIRMED):
        assert may_claim(ClaimRecord(state, ticket="T1"), ticket="T1", now=NOW)
        assert not may_claim(ClaimRecord(state, ticket="T1"), ticket="T0", now=NOW)  # a stale copy
        assert not may_claim(ClaimRecord(state, ticket="T1"), ticket="", now=NOW)  # a stream record again
    for state in (ClaimState.ACCEPTED, ClaimState.SUPERSEDED):
        assert not may_claim(ClaimRecord(state, ticket="T1"), ticket="T1", now=NOW)


def test_copies_in_one_batch_send_once() -> None:
    # GIVEN five copies of one event in a batch, handled side by side while CI360 is slow to answer
    forwarder, gateway, parking, sent = build(FakeGateway(delay=0.05), max_workers=5)
    report = forwarder.handle(sqs_batch(*[reply()] * 5))
    # THEN one copy sent it; the others wait on the retry queue in case that one died, and then fall away
    assert report.outcomes["sent"] == 1 and report.outcomes["waiting"] + report.outcomes["duplicate"] == 4
    assert forwarder.handle(parking.take()).outcomes["sent"] == 0
    assert len(gateway.bodies) == 1 and sent.sent == {"reply:SM1": "SMS Reply"}


def test_copies_of_a_parked_message_send_once() -> None:
    # GIVEN an event parked after a 503, whose retry message SQS delivers twice, to two batches at once
    forwarder, gateway, parking, _ = build(FakeGateway(Verdict(Outcome.RETRY, "503"), delay=0.05), max_workers=4)
    assert forwarder.deliver(reply()) == "retrying"
    [message] = parking.take()["Records"]
    twice = {"Records": [message, {**message, "messageId": "copy"}]}
    report = forwarder.handle(twice)
    # THEN CI360 gets it once; the other copy waits, then finds it accepted
    assert report.outcomes["sent"] == 1
    assert forwarder.handle(parking.take()).outcomes["sent"] == 0
    assert len(gateway.bodies) == 2  # the 503 and the one accepted


def test_a_stale_copy_of_an_earlier_park_falls_away() -> None:
    # GIVEN an event parked twice (two 503s): the first retry message is delivered again after the second park
    forwarder, gateway, parking, _ = build(FakeGateway(Verdict(Outcome.RETRY, "503"), Verdict(Outcome.RETRY, "503")))
    forwarder.deliver(reply())
    first = parking.take()
    assert forwarder.handle(first).outcomes == {"retrying": 1}
    # THEN the stale copy sends nothing, and the current one sends it
    assert forwarder.handle(first).outcomes == {"duplicate": 1}
    assert forwarder.handle(parking.take()).outcomes == {"sent": 1}
    assert len(gateway.bodies) == 3


def test_a_claim_whose_owner_died_is_taken_over_after_its_lease() -> None:
    # GIVEN a copy claimed the event and died before settling it
    clock = [NOW]
    sent = FakeSentLedger()
    sent.claim("reply:SM1", owner="dead", ticket="", now=NOW, lease_until=NOW + timedelta(seconds=40))
    forwarder, gateway, parking, _ = build(sent=sent, clock=lambda: clock[0], retry_base_seconds=1)
    # WHEN its record comes back: it waits until the lease has run out, once (not every retry interval: a look
    # before then can only find the claim held, and under duplicate deliveries such looks multiply)
    assert forwarder.deliver(reply()) == "waiting"
    assert [retry[2] for retry in parking.retries] == [41]
    # THEN after the lease the waiting copy takes the claim over and sends
    clock[0] = NOW + timedelta(seconds=41)
    assert forwarder.handle(parking.take()).outcomes == {"sent": 1}
    assert len(gateway.bodies) == 1


@pytest.mark.parametrize("remaining_ms", [15_000, 60_000, 900_000])
def test_a_claims_lease_covers_one_send_not_the_rest_of_the_invocation(remaining_ms: int) -> None:
    # GIVEN a forwarder whose one send (claim, send, record) takes at most 9 s
    sent = FakeSentLedger()
    leases: list[datetime | None] = []
    claim = sent.claim

    def watched(key: str, **rest: Any) -> Any:
        answer = claim(key, **rest)
        leases.append(rest["lease_until"])
        return answer

    sent.claim = watched  # type: ignore[method-assign]
    forwarder, _, _, _ = build(sent=sent, clock=lambda: NOW, send_reserve_ms=9_000)
    # WHEN it claims an event with any time left in its invocation
    forwarder.handle(sqs_batch(reply()), remaining_ms=lambda: remaining_ms)
    # THEN a crashed claimant holds the event (and its number's lane) for one send plus the margin: 9 + 15 s
    assert leases == [NOW + timedelta(seconds=24)]


def test_a_claim_abandoned_twice_is_dead_lettered_unconfirmed_not_sent_a_third_time() -> None:
    # GIVEN two copies in turn claimed the event and died (a crash or a timeout after CI360 perhaps accepted it)
    clock, sent = [NOW], FakeSentLedger()
    sent.claim("reply:SM1", owner="dead1", ticket="", now=NOW, lease_until=NOW + timedelta(seconds=40))
    later = NOW + timedelta(seconds=41)
    assert sent.claim(
        "reply:SM1", owner="dead2", ticket="", now=later, lease_until=later + timedelta(seconds=40)
    ).granted
    forwarder, gateway, parking, _ = build(sent=sent, clock=lambda: clock[0])
    # WHEN a third copy finds the claim abandoned again
    clock[0] = later + timedelta(seconds=41)
    assert forwarder.deliver(reply()) == "dead_lettered"
    # THEN it sends nothing: two attempts ended unseen, so CI360 may have it twice already; an operator decides
    assert gateway.bodies == [] and parking.dead[0][1].startswith("unconfirmed: two attempts ended")
    assert sent.claims["reply:SM1"].state is ClaimState.UNCONFIRMED


def test_a_claim_abandoned_once_is_sent_once_more_and_a_lost_answer_then_ends_it() -> None:
    # GIVEN a copy claimed the event and died; the next copy's answer from CI360 is lost too
    lost = Verdict(Outcome.RETRY, "no answer: ReadTimeoutError", ambiguous=True)
    clock, sent = [NOW], FakeSentLedger()
    sent.claim("reply:SM1", owner="dead", ticket="", now=NOW, lease_until=NOW + timedelta(seconds=40))
    forwarder, gateway, parking, _ = build(FakeGateway(lost), sent=sent, clock=lambda: clock[0])
    clock[0] = NOW + timedelta(seconds=41)
    # WHEN it takes the claim over: the dead attempt counts as one lost answer, so this is the second copy
    assert forwarder.deliver(reply()) == "dead_lettered"
    # THEN at most two copies went out (the dead one's, perhaps, and this one), and the event waits for an operator
    assert len(gateway.bodies) == 1 and parking.dead[0][1].startswith("unconfirmed: CI360's answer was lost twice")


def test_a_throttled_record_after_acceptance_does_not_resend() -> None:
    # GIVEN CI360 accepted the event and DynamoDB throttled the write recording that
    forwarder, gateway, parking, sent = build(sent=FakeSentLedger(fail_settles=1))
    assert forwarder.deliver(reply()) == "sent"
    assert parking.retries[0][3] == "accepted by CI360; recording that failed"
    # WHEN the batch is redelivered before the record is made: the claim's owner is still sending it
    assert forwarder.handle(sqs_batch(reply())).outcomes == {"waiting": 1}
    # THEN the retry queue records the outcome without sending, and every copy after it is a duplicate
    assert forwarder.handle(parking.take()).outcomes == {"recorded": 1, "duplicate": 1}
    assert forwarder.deliver(reply()) == "duplicate"
    assert len(gateway.bodies) == 1 and sent.sent == {"reply:SM1": "SMS Reply"}


def test_a_held_event_dead_lettered_twice_and_replayed_twice_sends_once() -> None:
    # GIVEN a reply held for lack of an identity, whose dead letter exists twice
    contacts = FakeContacts()
    forwarder, gateway, parking, _ = build(contacts=contacts)
    assert forwarder.deliver(reply()) == "held"
    [letter] = parking.dead_messages
    # WHEN the identity is known and both copies are replayed at once
    contacts.known.update(KNOWN)
    report = forwarder.handle(sqs_records([letter, letter]))
    forwarder.handle(parking.take())
    # THEN CI360 gets it once
    assert report.outcomes["sent"] == 1 and len(gateway.bodies) == 1


def test_an_answer_lost_after_sending_is_retried_once_then_left_for_an_operator() -> None:
    lost = Verdict(Outcome.RETRY, "no answer: ReadTimeoutError", ambiguous=True)
    forwarder, gateway, parking, _ = build(FakeGateway(lost, lost))
    assert forwarder.deliver(reply()) == "ambiguous"
    assert parking.retries[0][2] == 30  # after a delay
    assert forwarder.handle(parking.take()).outcomes == {"dead_lettered": 1}
    assert parking.dead[0][1].startswith("unconfirmed: CI360's answer was lost twice")
    assert len(gateway.bodies) == 2  # at most two copies of an event whose answers were lost
    # AND an operator who finds CI360 lacks it replays its dead letter: sent once more
    assert forwarder.handle(sqs_records(parking.dead_messages)).outcomes == {"sent": 1}
    assert forwarder.deliver(reply()) == "duplicate" and len(gateway.bodies) == 3


# -- the time budget: no send started that cannot finish before the deadline


class SlowGateway(FakeGateway):
    """Every send takes ``seconds`` of a fake clock shared with the Lambda context's remaining time."""

    def __init__(self, seconds: float, budget_ms: int) -> None:
        super().__init__()
        self.seconds, self.elapsed_ms, self.budget_ms = seconds, 0, budget_ms
        self.ended_at_ms: list[int] = []

    def send(self, body: dict[str, Any]) -> Verdict:  # type: ignore[override]
        self.elapsed_ms += int(self.seconds * 1000)
        self.ended_at_ms.append(self.elapsed_ms)
        return super().send(body)

    def remaining_ms(self) -> int:
        return self.budget_ms - self.elapsed_ms


def test_a_batch_against_a_slow_gateway_ends_inside_the_deadline_with_the_rest_parked() -> None:
    # GIVEN a gateway taking 4 s an event and an invocation with 30 s left, a send needing up to 9 s
    gateway = SlowGateway(4.0, budget_ms=30_000)
    forwarder, _, parking, sent = build(gateway, max_workers=1, send_reserve_ms=9_000)
    report = forwarder.handle(sqs_batch(*[reply(n) for n in range(20)]), gateway.remaining_ms)
    # THEN every send ended before the deadline, and what was left is parked for the next invocation, not failed
    assert max(gateway.ended_at_ms) <= 30_000
    assert report.outcomes["sent"] == 6 and report.outcomes["deferred"] == 14 and not report.failed_records
    assert all(reason.startswith("deferred") for _, _, _, reason in parking.retries)
    # AND the next invocation sends them, each once
    gateway.elapsed_ms = 0
    gateway.budget_ms = 10**9
    assert forwarder.handle(parking.take(), gateway.remaining_ms).outcomes == {"sent": 14}
    assert len(sent.sent) == 20 and len(gateway.bodies) == 20


# -- consent in ledger order per number


def consent_events(number: str, statuses: list[str], mapping: EventMapping | None = None) -> list[PendingEvent]:
    """The consent events of ``number`` changing to each of ``statuses`` in turn, a second apart."""
    mapping = mapping or EventMapping()
    events: list[PendingEvent] = []
    old: dict[str, Any] | None = None
    for step, status in enumerate(statuses):
        new = {"record_type": "state", "phone": number, "scope": OURS, "status": status, "source": "reply_keyword",
               "order_key": f"2026-11-27T13:00:0{step}+00:00#SM{number}{step}", "event_id": f"SM{number}{step}",
               "updated_at": f"2026-11-27T13:00:0{step}+00:00"}  # fmt: skip
        events += mapping.consent_change(new, old)
        old = new
    return events


def test_stop_start_stop_races_leave_ci360s_last_consent_event_matching_the_ledger() -> None:
    # GIVEN 30 numbers each sending STOP, START, STOP; their consent events handled in two batches side by side, CI360
    # refusing some at random so that later ones overtake earlier ones
    import random
    from concurrent.futures import ThreadPoolExecutor

    from smsbridge.domain.delivery import Outcome as O

    rng = random.Random(12)
    numbers = [f"+1415555{n:04d}" for n in range(30)]
    events = [event for number in numbers for event in consent_events(number, ["opted_out", "opted_in", "opted_out"])]
    answers = [Verdict(O.RETRY, "503") if rng.random() < 0.3 else Verdict(O.ACCEPTED, "201") for _ in range(2000)]
    contacts = FakeContacts({(number, OURS): Correlation(f"DH{number}") for number in numbers})
    forwarder, gateway, parking, _ = build(FakeGateway(*answers), contacts=contacts, lanes=FakeLanes(), max_workers=16)
    rng.shuffle(events)
    outcomes: Counter[str] = Counter()
    batches = [sqs_batch(*events[:45]), sqs_batch(*events[45:])]
    while batches:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for report in pool.map(forwarder.handle, batches):
                outcomes += report.outcomes
        records = parking.take()["Records"]
        rng.shuffle(records)
        batches = [{"Records": part} for part in (records[::2], records[1::2]) if part]
    # THEN for every number the last consent event CI360 accepted is the ledger's last state; each was accepted once,
    # and in ledger order
    last = {body["datahub_id"]: body["eventName"] for body in gateway.accepted}
    assert len(last) == 30 and set(last.values()) == {"SMS Opt-Out"}
    accepted = [(str(body["datahub_id"]), str(body["occurred_at"])) for body in gateway.accepted]
    assert len(accepted) == len(set(accepted))
    for number in numbers:
        times = [at for datahub, at in accepted if datahub == f"DH{number}"]
        assert times == sorted(times), number
    assert outcomes["waiting"] > 0  # the race happened: later events waited for earlier ones


def test_a_consent_event_waiting_for_its_lane_goes_as_soon_as_the_one_ahead_settles() -> None:
    # GIVEN a STOP that CI360 refused (parked for a retry), and the START after it, which must wait for the STOP
    stop, start = consent_events(CUSTOMER, ["opted_out", "opted_in"])
    lanes = FakeLanes()
    forwarder, gateway, parking, _ = build(FakeGateway(Verdict(Outcome.RETRY, "503")), lanes=lanes)
    assert forwarder.deliver_all([stop]) == {"retrying": 1}
    assert forwarder.deliver_all([start]) == {"waiting": 1}
    [(_, _, start_delay, _)] = [retry for retry in parking.retries if retry[0] == start]
    assert start_delay == 30  # its own way out, should nobody wake it: the ordinary retry delay
    stop_retry = [message for message in parking.messages if message["event"]["key"] == stop.key]
    start_parked = [message for message in parking.messages if message["event"]["key"] == start.key]
    # WHEN the STOP's retry is delivered and CI360 takes it
    report = forwarder.handle(sqs_records(stop_retry))
    # THEN the same invocation sends the START at once, after the STOP: no retry delay
    assert report.outcomes == {"sent": 2} and not report.failed_records
    assert [body["eventName"] for body in gateway.accepted] == ["SMS Opt-Out", "SMS Opt-In"]
    # AND the START's own parked message, when it comes, sends nothing again
    assert forwarder.handle(sqs_records(start_parked)).outcomes == {"duplicate": 1}
    assert len(gateway.accepted) == 2 and not lanes.lanes[f"{CUSTOMER}|{OURS}"].pending


def test_a_consent_event_held_by_another_copy_outside_the_lane_holds_back_the_numbers_later_ones() -> None:
    # GIVEN a STOP whose claim another copy holds before entering the lane (stalled, or its answer still coming)
    stop, start = consent_events(CUSTOMER, ["opted_out", "opted_in"])
    lanes, sent = FakeLanes(), FakeSentLedger()
    forwarder, gateway, parking, _ = build(lanes=lanes, sent=sent, clock=lambda: NOW)
    assert sent.claim(stop.key, owner="stalled", ticket="", now=NOW, lease_until=NOW + timedelta(seconds=24)).granted
    # WHEN a copy of the STOP meets that claim, and then the START comes
    assert forwarder.deliver(stop) == "waiting"
    assert forwarder.deliver(start) == "waiting"
    # THEN the START waits for the STOP, whose copy that met the claim noted it in the lane
    assert gateway.accepted == []
    # AND once the claimant is gone, the STOP's parked copy takes over and sends it, and the START follows it: CI360
    # gets both, in ledger order, and the STOP is not superseded
    forwarder.clock = lambda: NOW + timedelta(seconds=60)
    for _ in range(5):  # each round hands the retry queue's messages over once
        forwarder.handle(parking.take())
    assert not parking.messages
    assert [body["eventName"] for body in gateway.accepted] == ["SMS Opt-Out", "SMS Opt-In"]
    assert not lanes.lanes[f"{CUSTOMER}|{OURS}"].pending


def test_a_batchs_consent_events_for_one_number_go_in_ledger_order_without_waiting() -> None:
    # GIVEN STOP, START, STOP from one number in one batch (in any order), CI360 slow to answer
    lanes = FakeLanes()
    forwarder, gateway, parking, _ = build(FakeGateway(delay=0.02), lanes=lanes, max_workers=8)
    events = consent_events(CUSTOMER, ["opted_out", "opted_in", "opted_out"])
    # WHEN the forwarder handles them
    outcomes = forwarder.deliver_all([events[2], events[0], events[1]])
    # THEN all three reach CI360 now, in ledger order, none parked to wait for another
    assert outcomes == {"sent": 3} and not parking.retries
    assert [body["eventName"] for body in gateway.accepted] == ["SMS Opt-Out", "SMS Opt-In", "SMS Opt-Out"]
    # AND each cost two lane writes (entering, leaving) and no registration; a reply costs none
    assert forwarder.deliver(reply()) == "sent"
    assert lanes.writes == {"enter": 3, "leave": 3}


def test_if_the_invocation_settling_the_one_ahead_dies_the_waiting_event_goes_after_its_retry_delay() -> None:
    # GIVEN a START waiting for its lane behind a STOP that CI360 refused
    stop, start = consent_events(CUSTOMER, ["opted_out", "opted_in"])
    forwarder, gateway, parking, _ = build(FakeGateway(Verdict(Outcome.RETRY, "503")), lanes=FakeLanes())
    assert forwarder.deliver_all([stop]) == {"retrying": 1}
    assert forwarder.deliver_all([start]) == {"waiting": 1}
    stop_retry = [message for message in parking.messages if message["event"]["key"] == stop.key]
    start_parked = [message for message in parking.messages if message["event"]["key"] == start.key]

    # WHEN the invocation sending the STOP dies once it is settled, before it can send the START
    def die_after_the_stop(event: PendingEvent, outcome: str) -> None:
        if event == stop:
            raise RuntimeError("the invocation died")

    forwarder.observer = die_after_the_stop
    with pytest.raises(RuntimeError):
        forwarder.handle(sqs_records(stop_retry))
    forwarder.observer = None
    assert [body["eventName"] for body in gateway.accepted] == ["SMS Opt-Out"]
    # THEN the START's parked message, after its ordinary retry delay, sends it
    assert forwarder.handle(sqs_records(start_parked)).outcomes == {"sent": 1}
    assert [body["eventName"] for body in gateway.accepted] == ["SMS Opt-Out", "SMS Opt-In"]


def test_a_function_timeout_shorter_than_one_send_does_not_defer_forever() -> None:
    # GIVEN a misconfiguration: each invocation starts with less time than one send may take
    forwarder, gateway, parking, _ = build(send_reserve_ms=9_000)
    report = forwarder.handle(sqs_batch(reply(1), reply(2)), lambda: 5_000)
    assert len(gateway.bodies) == 2
    # THEN the events are sent (deferring them would put them back into the same too-short invocations forever)
    assert report.outcomes == {"sent": 2} and not parking.retries


def test_the_stop_to_ci360_time_of_each_opt_out_sent_is_reported() -> None:
    # GIVEN an opt-out recorded at 12:00:00 and sent at 12:00:42, and a reply (not an opt-out)
    opt_out = PendingEvent(EventKind.OPT_OUT, "opt_out:SM7", CUSTOMER, OURS, {"occurred_at": NOW.isoformat()})
    forwarder, _, _, _ = build(clock=lambda: NOW + timedelta(seconds=42))
    report = forwarder.handle(sqs_batch(opt_out, reply(1)))
    # THEN the report carries the opt-out's 42 s, for the p99 alarm, and nothing for the reply
    assert report.outcomes == {"sent": 2} and report.opt_out_seconds == [42.0]
