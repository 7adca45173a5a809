"""Ambiguous answers: CI360 handles an event but its answer is lost (it answers after the client's timeout, or
drops the connection after recording the event). The forwarder sends such an event at most once more, so CI360
holds at most two copies of it, and exactly one of every other; none is lost.

The stub runs in its own process; ``LATE`` and ``DROPPED`` of its answers to ``/events`` are faulted at random."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from smsbridge.adapters.ci360 import Ci360Credentials, Ci360Gateway
from smsbridge.app.forwarder import Forwarder
from smsbridge.domain.ci360_events import Correlation, EventKind, EventMapping, Flat, PendingEvent
from smsbridge.domain.delivery import Verdict
from smsbridge.local.server import STUB_SECRET as SECRET
from smsbridge.local.server import STUB_TENANT as TENANT
from tests.fakes import FakeContacts, FakeParking, FakeSentLedger, sqs_records

TIMEOUT = 0.3  # the forwarder's read timeout (CI360_TIMEOUT_SECONDS) in this run
LATE, DROPPED = 0.1, 0.1  # shares of answers that come after the timeout, and of connections dropped after recording

STUB = """
import json, random, sys, time
from smsbridge.local.ci360_stub import Ci360Stub
late, dropped, after = float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
rng = random.Random(7)
stub = Ci360Stub(tenant_id=sys.argv[1], client_secret=sys.argv[2], event_names=["SMS Delivered"])
record = stub.record_event
def faulty_record(event):
    fault = rng.random()
    if fault < late:
        time.sleep(after)  # handled, but answered after the client gave up
    record(event)
    if late <= fault < late + dropped:
        raise ConnectionAbortedError("fault: connection dropped after the event was recorded")
stub.record_event = faulty_record
stub.start()
print(stub.url, flush=True)
sys.stdin.read()
print(json.dumps(dict(__import__("collections").Counter(e.body["event_id"] for e in stub.events()))), flush=True)
stub.stop()
"""


@contextmanager
def faulty_stub() -> Iterator[tuple[str, dict[str, Any]]]:
    """The stub's URL, and (filled in when the block ends) how many copies of each event_id it recorded."""
    process = subprocess.Popen(
        [sys.executable, "-c", STUB, TENANT, SECRET, str(LATE), str(DROPPED), str(TIMEOUT * 2)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    received: dict[str, Any] = {}
    try:
        yield process.stdout.readline().strip(), received
    finally:
        process.stdin.close()
        received.update(json.loads(process.stdout.readline() or "{}"))
        process.wait(timeout=30)


def delivered(n: int) -> PendingEvent:
    attributes: dict[str, str | int | bool] = {"message_sid": f"SM{n}", "status": "delivered"}
    return PendingEvent(EventKind.DELIVERED, f"delivered:SM{n}", "+14155550100", "+14155550199", attributes,
                        Correlation(f"DH{n}"))  # fmt: skip


class Recording:
    """The real gateway, noting every event whose answer was lost after sending. ``bounded=False`` is the baseline:
    the forwarder as it was before answers could be ambiguous (a lost answer was a plain retry, tried until one
    arrived)."""

    def __init__(self, gateway: Ci360Gateway, *, bounded: bool) -> None:
        self.gateway, self.bounded = gateway, bounded
        self.lost: set[str] = set()

    def send(self, body: dict[str, Flat]) -> Verdict:
        verdict = self.gateway.send(body)
        if verdict.ambiguous:
            self.lost.add(str(body["event_id"]))
        return verdict if self.bounded else Verdict(verdict.outcome, verdict.reason)


def run(count: int = 400, concurrency: int = 16) -> dict[str, Any]:
    figures = measure(count, concurrency, bounded=True)
    baseline = measure(count, concurrency, bounded=False)
    figures["baseline_max_copies"] = baseline["max_copies_ambiguous"]
    figures["baseline_mean_copies"] = baseline["mean_copies_ambiguous"]
    return figures


def measure(count: int, concurrency: int, *, bounded: bool) -> dict[str, Any]:
    events = [delivered(n) for n in range(count)]
    with faulty_stub() as (url, received):
        real = Ci360Gateway(Ci360Credentials(url, TENANT, SECRET), max_connections=concurrency, timeout=TIMEOUT)
        gateway = Recording(real, bounded=bounded)
        parking = FakeParking()
        forwarder = Forwarder(
            mapping=EventMapping(), gateway=lambda: gateway, sent=FakeSentLedger(), contacts=FakeContacts(),
            parking=parking, messages_table="m", consent_table="c", max_workers=concurrency,
        )  # fmt: skip
        outcomes = forwarder.handle(sqs_records([{"event": e.to_json(), "attempt": 0} for e in events])).outcomes
        while parking.messages:  # the retry queue, without its delays
            outcomes += forwarder.handle(parking.take()).outcomes
    keys = [event.key for event in events]
    copies = Counter({key: int(received.get(key, 0)) for key in keys})
    ambiguous = gateway.lost
    return {
        "events": count,
        "ambiguous": len(ambiguous),
        "unconfirmed": sum(1 for _, reason, _ in parking.dead if reason.startswith("unconfirmed")),
        "max_copies_ambiguous": max((copies[key] for key in ambiguous), default=0),
        "mean_copies_ambiguous": sum(copies[key] for key in ambiguous) / len(ambiguous) if ambiguous else 0.0,
        "others_not_once": sum(1 for key in keys if key not in ambiguous and copies[key] != 1),
        "lost": sum(1 for key in keys if copies[key] == 0),
        "outcomes": dict(outcomes),
    }


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 400), indent=2))
