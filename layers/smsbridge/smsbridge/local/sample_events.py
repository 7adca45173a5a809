"""Writes ``events/``: signed API Gateway events for ``sam local invoke`` and the tests.

Every event is signed with the documented test token for the execute-api host below, so it verifies against
a stack whose secret holds that token and whose ``PUBLIC_BASE_URL`` is empty. Run
``python -m smsbridge.local.sample_events events`` after changing a field set; a test fails if they drift.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from smsbridge.local.server import http_api_event
from smsbridge.simulate import TEST_AUTH_TOKEN, inbound_params, sign_webhook, status_params

SAMPLE_HOST = "abc123def4.execute-api.us-east-1.amazonaws.com"
SAMPLE_TIME = 1795785000000  # 2026-11-27T13:10:00Z


def sample_events() -> dict[str, dict[str, Any]]:
    """File name → event, deterministic (fixed SIDs, delivery IDs and request IDs)."""
    inbound = f"https://{SAMPLE_HOST}/twilio/inbound"
    status = f"https://{SAMPLE_HOST}/twilio/status"
    webhooks = {
        "inbound-stop.json": (inbound, inbound_params(body="STOP", message_sid="SM" + "1" * 32)),
        "inbound-reply.json": (
            inbound,
            inbound_params(body="What time does the store open?", message_sid="SM" + "2" * 32),
        ),
        "status-delivered.json": (status, status_params(status="delivered", message_sid="SM" + "3" * 32)),
        "status-undelivered.json": (
            status,
            status_params(status="undelivered", error_code="30006", message_sid="SM" + "4" * 32),
        ),
    }
    events = {}
    for number, (name, (url, params)) in enumerate(webhooks.items()):
        signed = sign_webhook(url, params, TEST_AUTH_TOKEN, delivery_id=f"00000000-0000-4000-8000-00000000000{number}")
        headers = {"Host": SAMPLE_HOST, "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443", **signed.headers}
        target = urlsplit(url).path
        events[name] = http_api_event(
            "POST", target, headers, signed.body, "54.172.60.1", request_id=f"sample-{number}", time_epoch=SAMPLE_TIME
        )
    return events


def write_sample_events(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, event in sample_events().items():
        path = folder / name
        path.write_text(json.dumps(event, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_sample_events(Path(sys.argv[1] if len(sys.argv) > 1 else "events")):
        print(path)
