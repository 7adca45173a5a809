"""Forwarder throughput against the CI360 stub answering in 20 ms: the forwarder (pooled connections, bounded
concurrency) against a naive client (one request at a time, a new connection each)."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from smsbridge.adapters.ci360 import Ci360Credentials, Ci360Gateway, static_jwt
from smsbridge.app.forwarder import Forwarder
from smsbridge.domain.ci360_events import Correlation, EventKind, EventMapping, PendingEvent
from smsbridge.local.server import STUB_SECRET as SECRET
from smsbridge.local.server import STUB_TENANT as TENANT
from tests.bench.harness import Row
from tests.fakes import FakeContacts, FakeParking, FakeSentLedger

LATENCY = 0.020


def pending(count: int, prefix: str) -> list[PendingEvent]:
    return [
        PendingEvent(
            EventKind.DELIVERED,
            f"{prefix}:{n}",
            "+14155550100",
            "+14155550199",
            {"message_sid": f"SM{n}", "status": "delivered"},
            Correlation(f"DH{n}", "TSK_1", "RTC"),
        )
        for n in range(count)
    ]


def naive_send(url: str, events: list[PendingEvent]) -> None:
    """One request at a time, a new TCP connection for each (what a simple script does)."""
    parts = urlsplit(url)
    token = static_jwt(TENANT, SECRET)
    for event in events:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        body = {"eventName": "SMS Delivered", "datahub_id": event.correlation.datahub_id, **event.attributes}  # type: ignore[union-attr]
        connection.request(
            "POST",
            "/marketingGateway/events",
            json.dumps(body),
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert connection.getresponse().status == 201
        connection.close()


STUB = """
import sys
from smsbridge.local.ci360_stub import Ci360Stub
stub = Ci360Stub(tenant_id=sys.argv[1], client_secret=sys.argv[2], event_names=["SMS Delivered"])
stub.start()
stub.faults.latency = float(sys.argv[3])
print(stub.url, flush=True)
sys.stdin.read()
"""


@contextmanager
def stub_process(latency: float) -> Iterator[str]:
    """The CI360 stub in its own process, as the real gateway is elsewhere: it does not share our GIL."""
    process = subprocess.Popen(
        [sys.executable, "-c", STUB, TENANT, SECRET, str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        yield process.stdout.readline().strip()
    finally:
        process.stdin.close()
        process.wait(timeout=10)


def run(count: int = 800, concurrency: int = 16) -> list[Row]:
    with stub_process(LATENCY) as url:
        gateway = Ci360Gateway(Ci360Credentials(url, TENANT, SECRET), max_connections=concurrency)
        forwarder = Forwarder(
            mapping=EventMapping(),
            gateway=lambda: gateway,
            sent=FakeSentLedger(),
            contacts=FakeContacts(),
            parking=FakeParking(),
            messages_table="m",
            consent_table="c",
            max_workers=concurrency,
        )
        batch = {
            "Records": [
                {
                    "eventSource": "aws:sqs",
                    "messageId": str(n),
                    "body": json.dumps({"event": event.to_json(), "attempt": 0}),
                }
                for n, event in enumerate(pending(count, "fast"))
            ]
        }
        wall, cpu = time.perf_counter(), time.process_time()
        report = forwarder.handle(batch)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert report.outcomes["sent"] == count, report.outcomes
        naive_count = count // 4
        naive_wall, naive_cpu = time.perf_counter(), time.process_time()
        naive_send(url, pending(naive_count, "naive"))
        naive_wall, naive_cpu = time.perf_counter() - naive_wall, time.process_time() - naive_cpu
    return [
        Row(
            f"forwarder events/s (20 ms gateway, {concurrency} in flight)",
            count / wall,
            naive_count / naive_wall,
            "ev/s",
            ">= 10x",
            "baseline: one request at a time, new connection each",
        ),
        Row(
            "forwarder CPU per event (lower is better)",
            cpu / count * 1e3,
            naive_cpu / naive_count * 1e3,
            "ms",
            "<= 1.5x",
            "this process only; the stub runs in another",
        ),
    ]
