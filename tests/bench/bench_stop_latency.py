"""STOP → CI360 latency on the local stack (issue 19 item 6): how long after Twilio has its answer to a STOP does
CI360 accept the opt-out, for a single STOP and for the last STOP of a STOP/START/STOP burst.

The loop of tests/integration/test_ci360_loop.py (``open_loop``, as its ``deployed_loop`` fixture opens it): the
webhook and the forwarder in process, DynamoDB, its streams and SQS on moto's server, the template's event sources
polling in the background as the local stack's do, the CI360 stub, real time and the deployed retry delay (30 s).
Each STOP, and each burst, is on its own number CI360 messaged first; each is sent after the one before reached
CI360. Latency: from the webhook's answer to the stub's acceptance of the consent event.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass

import pytest

from smsbridge.local.template import load_template
from smsbridge.ops.simulate import inbound_params, status_params
from tests.bench.harness import percentile
from tests.conftest import ROOT
from tests.integration.conftest import build_server_stack, running_moto_server
from tests.integration.test_ci360_loop import OURS, TIME_SCALE, Loop, correlation, open_loop

BURST_GAP_SECONDS = 0.3  # between the webhooks of one burst
WAIT_SECONDS = 120.0  # for one consent event: beyond four deployed retry delays
CONSENT_EVENTS = {"opted_out": "SMS Opt-Out", "opted_in": "SMS Opt-In"}


@contextmanager
def deployed_loop(seed: int | None = None, *, deployed: bool = True, polling: bool = True,
                  time_scale: float = TIME_SCALE, lost_answer: float = 0.3) -> Iterator[Loop]:  # fmt: skip
    """The ``deployed_loop`` fixture's loop outside pytest (with ``seed`` and not ``deployed``: the chaos loop of
    the ``loop`` fixture, compressed by ``time_scale``), its event sources polling on their own thread unless not
    ``polling`` (the functions' metric lines, printed, are kept off the report)."""
    with running_moto_server() as url, pytest.MonkeyPatch.context() as monkeypatch, redirect_stdout(io.StringIO()):
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                            ("AWS_DEFAULT_REGION", "us-east-1")):  # fmt: skip
            monkeypatch.setenv(name, value)  # moto only: no AWS is reached
        stack = build_server_stack(load_template(ROOT / "template.yaml"), monkeypatch, url)
        with contextmanager(open_loop)(
            stack, monkeypatch, seed=seed, deployed=deployed, time_scale=time_scale, lost_answer=lost_answer
        ) as loop:
            if polling:
                loop.sources.start()
            try:
                yield loop
            finally:
                if polling:
                    loop.sources.stop()


def datahub(number: str) -> str:
    return f"DH{number[1:]}"


def arrival(loop: Loop, event_id: str) -> float:
    """When the stub accepted ``event_id`` (time.time()), waiting for it."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = [event.received_at for event in loop.stub.events() if event.body["event_id"] == event_id]
        if found:
            return found[0]
        time.sleep(0.005)
    raise TimeoutError(f"{event_id} did not reach CI360 in {WAIT_SECONDS:.0f} s")


def send(loop: Loop, body: str, number: str, sid: str) -> float:
    """One inbound webhook; the time its answer came back."""
    status = loop.post("/twilio/inbound", inbound_params(body=body, sender=number, recipient=OURS, message_sid=sid))
    assert status < 300, f"the webhook answered {status}"
    return time.time()


@dataclass(frozen=True)
class Latencies:
    """Seconds from webhook answer to CI360 acceptance: each single STOP, and each burst's last STOP; and how many
    numbers end with CI360's last consent event other than the ledger's state."""

    singles: list[float]
    bursts: list[float]
    differing: int


def measure(singles: int, bursts: int) -> Latencies:
    single_numbers = [f"+1415557{n:04d}" for n in range(singles)]
    burst_numbers = [f"+1415558{n:04d}" for n in range(bursts)]
    with deployed_loop() as loop:
        for n, number in enumerate(single_numbers + burst_numbers):  # CI360 messaged each: replies have an identity
            params = status_params(status="queued", recipient=number, sender=OURS, message_sid=f"SMa{n:031x}")
            loop.post("/twilio/status", params, correlation(datahub(number)))
        single_latencies = []
        for n, number in enumerate(single_numbers):
            sid = f"SMb{n:031x}"
            answered = send(loop, "STOP", number, sid)
            single_latencies.append(arrival(loop, f"opt_out:{sid}") - answered)
        burst_latencies = []
        for n, number in enumerate(burst_numbers):
            sids = [f"SMc{n:028x}{k:03x}" for k in range(3)]
            for k, (body, sid) in enumerate(zip(("STOP", "START", "STOP"), sids, strict=True)):
                if k:
                    time.sleep(BURST_GAP_SECONDS)  # the burst's spacing: input timing, not a wait for a result
                answered = send(loop, body, number, sid)
            burst_latencies.append(arrival(loop, f"opt_out:{sids[2]}") - answered)
        loop.sources.stop()  # then run them here until nothing is left to send: a late copy would show below
        loop.drain(timeout=WAIT_SECONDS)
        ledger = {
            item["phone"]: item["status"] for item in loop.stack.consent_items() if item["record_type"] == "state"
        }
        last: dict[str, str] = {}
        for event in loop.stub.events():
            if event.body["eventName"] in CONSENT_EVENTS.values():
                last[str(event.body["datahub_id"])] = str(event.body["eventName"])
        numbers = single_numbers + burst_numbers
        differing = sum(last.get(datahub(number)) != CONSENT_EVENTS.get(ledger.get(number, "")) for number in numbers)
    return Latencies(single_latencies, burst_latencies, differing)


def report(measured: Latencies) -> list[str]:
    """The section of docs/benchmarks.md."""
    singles, bursts, differing = measured.singles, measured.bursts, measured.differing

    def figures(samples: list[float]) -> str:
        return f"p50 {percentile(samples, 0.5):.2f} s, p99 {percentile(samples, 0.99):.2f} s (max {max(samples):.2f} s)"

    return [
        "## STOP → CI360 on the local stack, deployed retry delay (issue 19)",
        "",
        "The webhook and the forwarder in process, moto's server, the template's event sources polling in the",
        "background, the CI360 stub; real time, the deployed 30 s retry delay. From the webhook's answer to CI360",
        "accepting the opt-out, each STOP or burst on its own number, one after the other. The consent stream's",
        "batching window (1 s, template.yaml) is most of a single STOP's wait; a burst's last STOP lands in a window",
        "its first one opened.",
        "",
        f"- {len(singles)} single STOPs: {figures(singles)}",
        f"- {len(bursts)} STOP/START/STOP bursts ({BURST_GAP_SECONDS * 1000:.0f} ms between webhooks), the last "
        f"STOP: {figures(bursts)}",
        f"- numbers whose last consent event at CI360 is not the ledger's state: **{differing} of "
        f"{len(singles) + len(bursts)}**",
        "",
    ]


def run(quick: bool) -> list[str]:
    return report(measure(5, 3) if quick else measure(50, 20))


if __name__ == "__main__":
    print("\n".join(run(True)))
