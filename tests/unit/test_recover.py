"""The recovery sweep's pure parts: facts back to the events the stream would have carried, and the window of a
stream-batch description Lambda sent to the dead-letter queue."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from smsbridge.app.recover import (
    DESCRIPTION_SLACK,
    Window,
    events_of_consent,
    events_of_message,
    recover,
    stream_description_window,
)
from smsbridge.domain.ci360_events import EventKind, EventMapping
from smsbridge.domain.delivery import Outcome, Verdict
from smsbridge.ports import FactPage
from tests.fakes import FakeContacts, FakeGateway
from tests.unit.test_forwarder import KNOWN, OURS, build

CUSTOMER = "+14155550100"
ALL_ON = EventMapping(names={kind: kind.value for kind in EventKind})


def status_item(*statuses: str) -> dict[str, Any]:
    history = [{"status": status, "at": f"2026-11-30T08:0{n}:00+00:00"} for n, status in enumerate(statuses)]
    return {"kind": "status", "message_sid": "SM1", "recipient": CUSTOMER, "sender": OURS, "scope": OURS,
            "status": statuses[-1], "updated_at": history[-1]["at"], "history": history}  # fmt: skip


def test_a_status_record_gives_the_event_of_every_state_in_its_history() -> None:
    events = events_of_message(ALL_ON, status_item("queued", "sent", "read"))
    assert [(e.kind, e.attributes.get("implied")) for e in events] == [
        (EventKind.SENT, None),
        (EventKind.DELIVERED, "true"),  # the read implies the delivery, as on the stream
        (EventKind.READ, None),
    ]
    corrected = events_of_message(ALL_ON, status_item("undelivered", "delivered"))
    assert [(e.kind, e.attributes.get("corrects")) for e in corrected] == [
        (EventKind.UNDELIVERED, None),
        (EventKind.DELIVERED, "undelivered"),
    ]


def test_a_consent_state_gives_its_current_event_only() -> None:
    state = {"record_type": "state", "phone": CUSTOMER, "scope": OURS, "status": "opted_out", "source": "reply_keyword",
             "order_key": "k3", "event_id": "SM3", "updated_at": "2026-11-30T08:00:00+00:00"}  # fmt: skip
    [event] = events_of_consent(EventMapping(), state)
    assert (event.kind, event.key, event.order) == (EventKind.OPT_OUT, "opt_out:SM3", "k3")


def test_the_window_of_a_stream_batch_description() -> None:
    info = {"approximateArrivalOfFirstRecord": "2026-11-30T08:00:00.000Z",
            "approximateArrivalOfLastRecord": "2026-11-30T08:05:00.000Z"}  # fmt: skip
    body = json.dumps({"DDBStreamBatchInfo": info})
    first = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert stream_description_window(body) == Window(first - DESCRIPTION_SLACK, first + timedelta(minutes=5) +
                                                     DESCRIPTION_SLACK)  # fmt: skip
    for other in ('{"event": {}}', "not json", '{"DDBStreamBatchInfo": {}}', "[]"):
        assert stream_description_window(other) is None


class ListedFacts:
    """``FactSource``: the given message records, one page each; ``checkpoint`` what was saved."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.messages = messages
        self.saved: dict[str, str] = {}

    def pages(self, window: Window, start: str = "") -> Any:
        for index in range(int(start or 0), len(self.messages)):
            after = str(index + 1) if index + 1 < len(self.messages) else ""
            yield FactPage("messages", [self.messages[index]], after)

    def checkpoint(self) -> dict[str, str]:
        return dict(self.saved)

    def save_checkpoint(self, values: dict[str, str]) -> None:
        self.saved = {name: value for name, value in values.items() if value}


def test_recover_sends_what_has_no_claim_once_however_often_it_runs() -> None:
    forwarder, gateway, _, sent = build(FakeGateway(), contacts=FakeContacts(KNOWN))
    item = {**status_item("sent", "delivered"), "callback_query": "dh=DH1"}
    window = Window(datetime(2026, 11, 30, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert recover(forwarder, ListedFacts([item]), [window], dry_run=True).outcomes == {"would_send": 1}
    assert recover(forwarder, ListedFacts([item]), [window, window]).outcomes == {"sent": 1}  # SENT is off
    assert recover(forwarder, ListedFacts([item]), [window]).outcomes == {"on_record": 1}  # read, not claimed
    assert len(gateway.bodies) == 1 and list(sent.sent) == ["delivered:SM1"]


def test_recover_leaves_parked_events_to_their_queue() -> None:
    # GIVEN the sweep found an event CI360 refused for now: it is parked
    forwarder, gateway, parking, _ = build(FakeGateway(Verdict(Outcome.RETRY, "503")), contacts=FakeContacts(KNOWN))
    item = {**status_item("delivered"), "callback_query": "dh=DH1"}
    window = Window(datetime(2026, 11, 30, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert recover(forwarder, ListedFacts([item]), [window]).outcomes == {"retrying": 1}
    # THEN the next sweep leaves it to the retry queue, which sends it
    assert recover(forwarder, ListedFacts([item]), [window]).outcomes == {"on_record": 1}
    assert forwarder.handle(parking.take()).outcomes == {"sent": 1}
    assert len(gateway.bodies) == 2  # the 503, then the one accepted
