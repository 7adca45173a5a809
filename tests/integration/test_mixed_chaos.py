"""Issue 20's property, on the whole loop under chaos: the mixed workload, every event once, in time, to the right
journey.

For each chaos seed, ``MIXED_NUMBERS`` numbers (10 in ``make test``, about 100 webhooks a seed;
``SMSBRIDGE_MIXED_NUMBERS`` sets more), each messaged by CI360 one to three times (status callbacks
sent/delivered/undelivered/read, a random subset in a random order, some repeated, with ``dh``/``rtc``/``tc`` in the
callback URL), answering with replies and STOP/START bursts, and for some numbers a new message right after a
reply. The numbers' webhooks are interleaved at random (``random.Random(seed)``: a failure reproduces) while the
event sources run beside them, as ``serve`` runs them.
Then, for each seed:

- 0 lost: every event the mapping rules give (``domain/ci360_events.py``) reached the CI360 stub, the only
  allowed absences being events dead-lettered ``unconfirmed`` whose answers chaos lost; nothing else arrived, and
  nothing else was dead-lettered;
- copies <= 2, and more than 1 only for events whose answer chaos lost;
- CI360's last consent event per number is the ledger's state (the consent table);
- every reply's, opt-out's and opt-in's ``response_tracking_code`` is that of the newest message Twilio reported to
  that number before the reply came in;
- consent settles in time (see ``settle_budget``).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from smsbridge.domain.status import MessageStatus, advances
from smsbridge.local.chaos import ChaosRates
from smsbridge.ops.simulate import inbound_params, status_params
from tests.bench.harness import percentile
from tests.integration.conftest import Stack
from tests.integration.test_ci360_loop import OURS, Loop, open_loop

MIXED_NUMBERS = int(os.environ.get("SMSBRIDGE_MIXED_NUMBERS", "10"))
# `make test` runs two seeds (each takes 15-30 s); SMSBRIDGE_MIXED_SEEDS=7,11,15,23,42 runs the five of issue 20.
CHAOS_SEEDS = [int(seed) for seed in os.environ.get("SMSBRIDGE_MIXED_SEEDS", "7,42").split(",")]
# The loop's waits compressed 10 times, not the 50 of the other loop tests: the work itself is not compressed, and at
# 50 times a second of it stands for 50 s deployed, which hides what the waits do (a retry batch hidden for the
# queue's 360 s, 36 s here, made seeds 7 and 11 settle 34-40 s after the last webhook; at 50 times they passed).
MIXED_TIME_SCALE = 0.1
# CI360's answers lost as often as `smsbridge serve --chaos` loses them (10 %: the rate issue 20 measured with). At
# three times that (the other loop tests' rate) seed 42 loses the answers of several consent events of one number in
# a row, and each holds the next one in its number's lane until its claim's lease ends (about 24 s deployed): it then
# settles 9.3-12.4 s after the last webhook here, over the budget (docs/benchmarks.md). At 10 % every seed settles in
# time; the code before issue 20's item 1 did not (seed 42: 41 s, a consent event behind a crashed retry batch).
MIXED_LOST_ANSWER = ChaosRates().lost_answer
DEPLOYED_SETTLE_SECONDS = 60.0  # issue 20's goal: CI360 matches the ledger within 60 s of the last webhook
STATUSES = ["sent", "delivered", "undelivered", "read"]
REPLIES = ["Is the sale on?", "What time do you open?", "Thanks!", "Can I bring a friend?"]
CONSENT_NAMES = {"opted_out": "SMS Opt-Out", "opted_in": "SMS Opt-In"}


@dataclass
class Webhook:
    route: str
    params: list[tuple[str, str]]
    query: str = ""
    number: str = ""
    consent: bool = False  # a STOP or START: the settle time of its number counts from the last one


@dataclass
class Workload:
    """The webhooks in the order they are sent, and what CI360 should end up with."""

    chunks: list[list[Webhook]] = field(default_factory=list)  # each posted as one run, numbers interleaved
    expected: set[str] = field(default_factory=set)  # event ids
    tracking: dict[str, str] = field(default_factory=dict)  # reply/consent event id → the rtc it is credited to
    consent: dict[str, str] = field(default_factory=dict)  # number → the state its last keyword leaves
    datahub: dict[str, str] = field(default_factory=dict)  # datahub id → number

    @property
    def size(self) -> int:
        return sum(len(chunk) for chunk in self.chunks)


def message_sid(rng: random.Random) -> str:
    return f"SM{rng.getrandbits(128):032x}"


def number_script(rng: random.Random, index: int, workload: Workload) -> list[list[Webhook]]:
    """One number's webhooks, as chunks (a chunk is posted without another number's webhooks in between)."""
    number, datahub = f"+1415557{index:04d}", f"DH{index}"
    workload.datahub[datahub] = number
    chunks: list[list[Webhook]] = []
    state, newest_rtc, bursts = "", "", 0
    messages = rng.randint(1, 3)
    for k in range(messages):
        sid, rtc = message_sid(rng), f"RTC-{index}-{k}"
        query = f"dh={datahub}&rtc={rtc}&tc=TSK-{k}"
        statuses = rng.sample(STATUSES, rng.randint(1, len(STATUSES)))
        if rng.random() < 0.3:
            statuses.append(rng.choice(statuses))  # Twilio repeats one
        rng.shuffle(statuses)
        stored: list[str] = []
        callbacks = []
        for status in statuses:
            if advances(MessageStatus(stored[-1]) if stored else None, MessageStatus(status)):
                stored.append(status)
            params = status_params(status=status, recipient=number, sender=OURS, message_sid=sid)
            callbacks.append(Webhook("/twilio/status", params, query, number))
        kinds = set(stored) | ({"delivered"} if "read" in stored else set())
        workload.expected |= {f"{kind}:{sid}" for kind in kinds}
        if chunks and chunks[-1] and chunks[-1][-1].route == "/twilio/inbound" and rng.random() < 0.7:
            chunks[-1].append(callbacks.pop(0))  # a new message right after the reply: attribution as of arrival
        newest_rtc = rtc  # the first callback of a message writes the contact memory
        chunks.append(callbacks)
        inbound: list[str] = [rng.choice(REPLIES) for _ in range(rng.randint(0, 2))]
        if rng.random() < 0.6 or (k == messages - 1 and not bursts):
            bursts += 1
            inbound += [rng.choice(["STOP", "START"]) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.5:
            inbound.reverse()  # a reply after the burst as often as before it
        burst: list[Webhook] = []
        for body in inbound:
            sid = message_sid(rng)
            params = inbound_params(body=body, sender=number, recipient=OURS, message_sid=sid)
            keyword = body in ("STOP", "START")
            burst.append(Webhook("/twilio/inbound", params, number=number, consent=keyword))
            if not keyword:
                workload.expected.add(f"reply:{sid}")
                workload.tracking[f"reply:{sid}"] = newest_rtc
                continue
            new_state = "opted_out" if body == "STOP" else "opted_in"
            if new_state != state:  # a repeat that changes nothing sends nothing
                kind = "opt_out" if body == "STOP" else "opt_in"
                workload.expected.add(f"{kind}:{sid}")
                workload.tracking[f"{kind}:{sid}"] = newest_rtc
            state = new_state
        if burst:
            chunks.append(burst)  # the burst's keywords within a fraction of a second
    workload.consent[number] = state
    return chunks


def mixed_workload(seed: int, numbers: int) -> Workload:
    rng = random.Random(seed)
    workload = Workload()
    scripts = [number_script(rng, index, workload) for index in range(numbers)]
    while any(scripts):
        script = rng.choice([script for script in scripts if script])
        workload.chunks.append(script.pop(0))
    return workload


def post(loop: Loop, webhook: Webhook) -> None:
    """Post until answered 2xx: Twilio sends a webhook answered 5xx again (chaos throttles the webhook's writes)."""
    for _ in range(4):
        status = loop.post(webhook.route, webhook.params, webhook.query)
        if status < 500:
            break
    assert status < 300, f"{webhook.route} answered {status}"


def settled_at(events: list[Any], datahub: str, ledger_name: str) -> float | None:
    """When CI360's last consent event for ``datahub`` became the ledger's for good (None: it is not, at the end)."""
    matched, since = False, None
    for event in events:
        if event.body.get("datahub_id") != datahub or event.body["eventName"] not in CONSENT_NAMES.values():
            continue
        now_matched = event.body["eventName"] == ledger_name
        if now_matched and not matched:
            since = event.received_at
        matched = now_matched
    return since if matched else None


class SqsCalls:
    """The SQS calls made through boto3's default session from now on (the forwarder's, and the test's own), by
    operation; ``send_retry``: messages parked on the retry queue."""

    def __init__(self, retry_queue_url: str) -> None:
        self.retry_queue_url = retry_queue_url
        self.counts: Counter[str] = Counter()
        self.events = boto3._get_default_session().events
        self.events.register("provide-client-params.sqs", self._count)

    def _count(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        parked = model.name == "SendMessage" and params.get("QueueUrl") == self.retry_queue_url
        self.counts["send_retry" if parked else model.name] += 1

    def close(self) -> dict[str, Any]:
        self.events.unregister("provide-client-params.sqs", self._count)
        holds = self.counts["ChangeMessageVisibilityBatch"]
        return {"parked": self.counts["send_retry"], "visibility_calls": holds,
                "visibility_calls_per_parked": round(holds / max(1, self.counts["send_retry"]), 2)}  # fmt: skip


def settle_budget(time_scale: float = MIXED_TIME_SCALE) -> float:
    """The real seconds consent may take to settle after the last webhook on the compressed loop.

    The loop compresses its waits (batching windows, visibility timeouts, retry delays, leases) by ``time_scale``,
    so the deployed goal of 60 s is ``60 * time_scale`` = 6 s of those waits here. Two things are not compressed
    that far: SQS delays are whole seconds (a wait shorter than that compressed, such as a lease, takes one),
    and the work itself (moto, one DynamoDB request at a time, 2 cores) runs at its real speed. So the budget is
    the compressed goal, plus one whole-second retry, plus 2 s of real work: the calm loop with this workload
    settles 0.2-0.3 s after its last webhook (0.8 s at most per number, measured), and chaos adds copies and
    retries to do on the same 2 cores. The figure compared is the time from the last webhook to the arrival of the
    last consent event that made CI360's last consent event per number the ledger's for good (``settled_at``);
    numbers settled before the last webhook count 0. The old code's failure, a consent event hidden behind a
    crashed batch for the retry queue's visibility timeout (360 s, 36 s compressed), is well outside it.
    """
    return DEPLOYED_SETTLE_SECONDS * time_scale + 1.0 + 2.0


def run_mixed(loop: Loop, numbers: int, drain_timeout: float = 120.0) -> tuple[dict[str, str], dict[str, Any]]:
    """The mixed workload of ``numbers`` numbers on a chaos loop, posted while the event sources run, then drained:
    the parts that failed (by name: lost, copies, consent, attribution, settle) and the run's figures. Shared with
    ``make bench`` (tests/bench/bench_mixed_chaos.py)."""
    assert loop.chaos is not None
    workload = mixed_workload(loop.chaos.seed, numbers)
    # GIVEN the event sources running beside the webhooks, as `serve` runs them
    loop.sources.interval = 0.01  # an idle poll waits 0.5 s compressed (Lambda polls a stream about every 0.25 s)
    loop.sources.start()
    last_consent: dict[str, float] = {}
    stops: dict[str, float] = {}  # opt-out event id → when its STOP was answered
    sqs_calls = SqsCalls(loop.env["RETRY_QUEUE_URL"])
    started = time.time()
    try:
        # WHEN the mixed workload's webhooks arrive
        for chunk in workload.chunks:
            for webhook in chunk:
                post(loop, webhook)
                if webhook.consent:
                    last_consent[webhook.number] = time.time()
                    fields = dict(webhook.params)
                    if fields["Body"] == "STOP":
                        stops[f"opt_out:{fields['MessageSid']}"] = time.time()
        last_webhook = time.time()
    finally:
        loop.sources.stop()
    loop.drain(timeout=drain_timeout)
    drained = time.time()
    sqs_figures = sqs_calls.close()
    events = loop.stub.events()
    # THEN (every part checked, each failure named, so a run says which parts hold for its seed)
    failed: dict[str, str] = {}
    ambiguous = loop.chaos.ambiguous_events
    letters = loop.dead_letters()
    unconfirmed = {
        str(letter["event"]["key"])
        for letter in letters
        if str(letter.get("reason", "")).startswith("unconfirmed") and letter["event"]["key"] in ambiguous
    }
    counts = Counter(str(event.body["event_id"]) for event in events)
    # 0 lost: every expected event arrived, or was dead-lettered `unconfirmed` after chaos lost its answers; nothing
    # unexpected arrived, and nothing else was dead-lettered
    lost = sorted(workload.expected - set(counts) - unconfirmed)
    unexpected = sorted(set(counts) - workload.expected)
    unexplained = [(letter.get("reason"), letter.get("event", {}).get("key")) for letter in letters
                   if letter.get("event", {}).get("key") not in unconfirmed]  # fmt: skip
    if lost or unexpected or unexplained:
        failed["lost"] = f"lost {lost}; unexpected {unexpected}; dead-lettered {unexplained}"
    # copies <= 2, and more than 1 only for events whose answer chaos lost
    thrice = sorted(event_id for event_id, count in counts.items() if count > 2)
    twice_unexplained = sorted(
        event_id for event_id, count in counts.items() if count > 1 and event_id not in ambiguous
    )
    if thrice or twice_unexplained:
        failed["copies"] = f"3+ copies {thrice}; 2 copies without a lost answer {twice_unexplained}"
    # CI360's last consent event for every number is the ledger's state
    ledger = {item["phone"]: item["status"] for item in loop.stack.consent_items() if item["record_type"] == "state"}
    settled = {datahub: settled_at(events, datahub, CONSENT_NAMES[ledger[number]]) if number in ledger else None
               for datahub, number in workload.datahub.items()}  # fmt: skip
    disagree = sorted(datahub for datahub, at in settled.items() if at is None)
    if ledger != workload.consent or disagree:
        failed["consent"] = f"CI360's last consent event is not the ledger's for {disagree}"
    # every reply's and consent event's response_tracking_code is that of the newest message sent before the reply
    credited = {str(event.body["event_id"]): event.body.get("response_tracking_code") for event in events}
    wrong = {event_id: (credited[event_id], rtc) for event_id, rtc in workload.tracking.items()
             if event_id in credited and credited[event_id] != rtc}  # fmt: skip
    if wrong:
        failed["attribution"] = f"{len(wrong)} of {len(workload.tracking)} credited elsewhere (got, wanted): {wrong}"
    # consent settled within the deployed 60 s, compressed (settle_budget)
    after_last = max(0.0, max((at for at in settled.values() if at is not None), default=drained) - last_webhook)
    own = [max(0.0, (at or drained) - last_consent[workload.datahub[datahub]]) for datahub, at in settled.items()]
    budget = settle_budget(loop.time_scale)
    if after_last > budget:
        failed["settle"] = f"consent settled {after_last:.2f} s after the last webhook (budget {budget:.1f} s)"
    first_arrival = {str(event.body["event_id"]): event.received_at for event in reversed(events)}
    stop_seconds = [first_arrival[event_id] - at for event_id, at in stops.items() if event_id in first_arrival]
    figures = {
        "webhooks": workload.size, "events": len(workload.expected), "posting_s": round(last_webhook - started, 2),
        "drain_s": round(drained - last_webhook, 2), "settle_after_last_webhook_s": round(after_last, 2),
        "settle_own_p50_s": round(statistics.median(own), 2), "settle_own_max_s": round(max(own), 2),
        "settle_own_p99_s": round(percentile(own, 0.99), 2),
        "stop_to_ci360_p50_s": round(percentile(stop_seconds, 0.5), 2) if stop_seconds else None,
        "stop_to_ci360_p99_s": round(percentile(stop_seconds, 0.99), 2) if stop_seconds else None,
        "two_copies": sum(count == 2 for count in counts.values()), "unconfirmed": len(unconfirmed),
        **sqs_figures, "failed": sorted(failed),
    }  # fmt: skip
    return failed, figures


@pytest.fixture
def loop(server_stack: Stack, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Loop]:
    """The whole loop (webhook → tables → streams → forwarder → CI360 stub) under chaos with the seed of the
    ``indirect`` parametrization, its waits compressed by ``MIXED_TIME_SCALE``."""
    yield from open_loop(
        server_stack, monkeypatch, seed=request.param, time_scale=MIXED_TIME_SCALE, lost_answer=MIXED_LOST_ANSWER
    )


@pytest.mark.parametrize("loop", CHAOS_SEEDS, ids=[f"seed{seed}" for seed in CHAOS_SEEDS], indirect=True)
def test_the_mixed_workload_under_chaos_reaches_ci360_once_in_time_to_the_right_journey(loop: Loop) -> None:
    assert loop.chaos is not None
    seed = loop.chaos.seed
    failed, figures = run_mixed(loop, MIXED_NUMBERS)
    # (sys.__stdout__: a forwarder environment loaded on an event source's thread may leave sys.stdout redirected)
    print(f"mixed chaos, seed {seed}: {figures}", file=sys.__stdout__)
    assert failed == {}, f"seed {seed}: {failed}; figures {figures}; chaos {loop.chaos_summary()}"
