"""events/: the committed sample events are current, signed, and accepted by the handler as they are."""

from __future__ import annotations

import json
from typing import Any

import pytest

from smsbridge.local.sample_events import forwarder_events, sample_events
from tests.conftest import ROOT, LambdaContext
from tests.integration.conftest import Stack

EVENTS = ROOT / "events"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_committed_events_match_the_generator() -> None:
    # Regenerate with: python -m smsbridge.local.sample_events events
    expected = {**sample_events(), **forwarder_events()}
    assert {path.name: load_event(path.name) for path in EVENTS.glob("*.json")} == expected


@pytest.mark.parametrize(
    ("name", "status_code"),
    [
        ("inbound-stop.json", 200),
        ("inbound-reply.json", 200),
        ("status-delivered.json", 204),
        ("status-undelivered.json", 204),
    ],
)
def test_sample_event_is_accepted_and_recorded(stack: Stack, name: str, status_code: int) -> None:
    answer = stack.handler.lambda_handler(load_event(name), LambdaContext())
    assert answer["statusCode"] == status_code, answer["body"]
    assert len(stack.items()) == 1
