"""The local stack under load: 20,000 signed webhooks over loopback (statuses with duplicates and reordering,
replies, STOPs) → every expected CI360 event at the stub, none lost, none twice. With a chaos seed the stack
delivers like AWS at its worst (``smsbridge serve --chaos``): then an event may arrive twice only when chaos lost
CI360's answer to it (counted as ``ambiguous``), and a webhook answered 5xx is sent again, as Twilio does with the
``#rp=5xx`` override."""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from smsbridge.domain.ci360_events import DEFAULT_EVENT_NAMES
from smsbridge.local.ci360_stub import Ci360Stub
from smsbridge.local.server import STUB_SECRET as SECRET
from smsbridge.local.server import STUB_TENANT as TENANT
from smsbridge.ops.simulate import TEST_AUTH_TOKEN, inbound_params, sign_webhook, status_params
from tests.bench.harness import percentile
from tests.conftest import ROOT

OURS = "+14155550199"


def plan(messages: int, replies: int, stops: int, duplicates: int, seed: int = 7) -> tuple[list, list, int]:
    """Two phases of (path, params): statuses (shuffled, some repeated), then replies and STOPs. And how many
    CI360 events they must produce: one final state per message, one per reply, one per STOP."""
    rng = random.Random(seed)
    statuses = []
    for n in range(messages):
        sid, customer = f"SM{n:032x}", f"+1416{n:07d}"
        final = "undelivered" if n % 10 == 0 else "delivered"
        query = f"dh=DH{n}&rtc=RTC{n}&tc=TSK_{n % 5}"
        for state in ("sent", final):
            code = "30006" if state == "undelivered" else ""
            statuses.append(
                (
                    f"/twilio/status?{query}",
                    status_params(status=state, error_code=code, message_sid=sid, recipient=customer, sender=OURS),
                )
            )
    statuses += rng.sample(statuses, duplicates)
    rng.shuffle(statuses)  # Twilio does not keep the order
    second = [
        ("/twilio/inbound", inbound_params(body="What time do you open?", sender=f"+1416{n:07d}", recipient=OURS))
        for n in range(replies)
    ]
    second += [
        ("/twilio/inbound", inbound_params(body="STOP", sender=f"+1416{n:07d}", recipient=OURS))
        for n in range(replies, replies + stops)
    ]
    rng.shuffle(second)
    return statuses, second, messages + replies + stops


def webhook_count(messages: int, replies: int, stops: int, duplicates: int) -> int:
    """How many webhooks ``plan`` makes: two status callbacks per message, the repeats, the replies and STOPs."""
    return 2 * messages + duplicates + replies + stops


def post_all(base_url: str, webhooks: list, workers: int) -> tuple[list[float], Counter[int]]:
    local = threading.local()
    parts = urlsplit(base_url)
    latencies: list[float] = []
    codes: Counter[int] = Counter()
    lock = threading.Lock()

    def post(item: tuple[str, list[tuple[str, str]]]) -> None:
        path, params = item
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        signed = sign_webhook(base_url + path, params, TEST_AUTH_TOKEN)
        start = time.perf_counter()
        for _ in range(3):  # Twilio sends a 5xx-answered webhook again with the #rp=5xx override
            local.connection.request("POST", path, signed.body, signed.headers)
            response = local.connection.getresponse()
            response.read()
            if response.status < 500:
                break
        with lock:
            latencies.append(time.perf_counter() - start)
            codes[response.status] += 1

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(post, webhooks))
    return latencies, codes


def run(
    messages: int = 8000,
    replies: int = 2000,
    stops: int = 1000,
    duplicates: int = 1000,
    workers: int = 8,
    wait: float = 600,
    chaos: int | None = None,
    time_scale: float = 0.1,
) -> dict:
    statuses, second, expected = plan(messages, replies, stops, duplicates)
    assert len(statuses) + len(second) == webhook_count(messages, replies, stops, duplicates)
    names = [name for name in DEFAULT_EVENT_NAMES.values() if name]
    with Ci360Stub(tenant_id=TENANT, client_secret=SECRET, event_names=names) as stub:
        state = Path(ROOT / ".smsbridge" / "bench-local.json")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        extra = [] if chaos is None else ["--chaos", str(chaos)]
        if chaos is not None:  # the queue's 360 s visibility timeout would dominate the run: compressed 10 times
            env["SMSBRIDGE_TIME_SCALE"] = str(time_scale)
        serve = subprocess.Popen([str(Path(sys.executable).parent / "smsbridge"), "serve", "--port", "0",
                                  "--state-file", str(state), "--ci360-url", stub.url, "--ci360-tenant", TENANT,
                                  "--ci360-secret", SECRET, *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, env=env)  # fmt: skip
        assert serve.stdout is not None
        base, console = "", []
        for line in serve.stdout:
            console.append(line)
            found = re.search(r"inbound webhook:\s+(http://127\.0\.0\.1:\d+)", line)
            base = found.group(1) if found else base
            if line.strip() == "ready":
                break
        if not base:
            serve.wait(timeout=30)
            raise RuntimeError("smsbridge serve did not start:\n" + "".join(console))
        console = []
        reader = threading.Thread(target=lambda: console.extend(serve.stdout or []), daemon=True)  # drains it
        reader.start()
        try:
            start = time.perf_counter()
            first_latencies, first_codes = post_all(base, statuses, workers)
            second_latencies, second_codes = post_all(base, second, workers)
            posted = time.perf_counter() - start
            deadline = time.monotonic() + wait
            while len({event.body["event_id"] for event in stub.events()}) < expected and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(3)  # anything more arriving would be a duplicate
            done = time.perf_counter() - start
        finally:
            serve.send_signal(signal.SIGTERM)  # as `kill`: serve stops cleanly (chaos summary), removes its state
            serve.wait(timeout=120)
            reader.join(timeout=10)
            serve.stdout.close()
            state.unlink(missing_ok=True)
        received = stub.events()
    summaries = [line.split("; summary ", 1)[1] for line in console if line.startswith("chaos (seed")]
    summary = json.loads(summaries[0]) if summaries else {"injected": {}, "ambiguous_events": []}
    latencies = first_latencies + second_latencies
    keys = Counter(event.body["event_id"] for event in received)
    twice = {key for key, count in keys.items() if count > 1}
    ambiguous = set(summary["ambiguous_events"])
    return {
        "webhooks": len(statuses) + len(second),
        "answers": dict(first_codes + second_codes),
        "webhooks_per_second": (len(statuses) + len(second)) / posted,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "expected_events": expected,
        "received_events": len(received),
        "lost": expected - len(keys),
        "duplicated": sum(count - 1 for count in keys.values()),
        "duplicated_unambiguous": len(twice - ambiguous),
        "ambiguous": len(ambiguous),
        "chaos_injected": summary["injected"],
        "seconds_to_last_event": done,
    }
