"""A DynamoDB write that was applied, but whose answer reached the SDK too late (after its read timeout) or not at
all. The SDK sends the request again, and that attempt fails its condition on the first attempt's own write. The
forwarder must still know that write as its own (``conditional_write``'s ``mine``).

Before this was handled, a consent event whose claim answer was lost waited as if another copy held its claim. It
never entered its number's lane, so a later consent event of the number went ahead, and the first was then
*superseded*: CI360 never heard of that opt-out. The mixed chaos test found this beside a CPU-bound process, in 2 of
25 runs of seed 42.

These tests run against moto's server on 127.0.0.1 with the functions' own client settings (``CLIENT_CONFIG``: a
0.5 s read timeout, two attempts). The server applies the chosen write, then holds its answer past the read timeout,
so botocore's own retry sends it again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto.dynamodb.responses import DynamoHandler

from smsbridge.adapters.dynamodb import READ_TIMEOUT_SECONDS
from smsbridge.adapters.event_claims import DynamoConsentLanes, DynamoSentEvents
from smsbridge.app.forwarder import Forwarder
from smsbridge.domain.ci360_events import EventMapping
from smsbridge.domain.claims import LaneAnswer, LaneWaiter
from tests.fakes import FakeContacts, FakeGateway, FakeParking
from tests.integration.conftest import Stack
from tests.unit.test_forwarder import CUSTOMER, KNOWN, consent_events

NOW = datetime.now(UTC)
LEASE = NOW + timedelta(seconds=24)


class LostAnswers:
    """Holds the answer to the ``nth`` UpdateItem request (from 1) whose key starts with ``prefix`` past the
    client's read timeout, after the server has applied it; ``held``: how many it held (0 or 1)."""

    def __init__(self, prefix: str, nth: int = 1) -> None:
        self.prefix, self.nth, self.seen, self.held = prefix, nth, 0, 0
        self._lock = threading.Lock()

    def strikes(self, handler: DynamoHandler) -> bool:
        params = getattr(handler, "params", None) or {}
        key = str(params.get("Key", {}).get("pk", {}).get("S", ""))
        if handler._get_action() != "UpdateItem" or not key.startswith(self.prefix):
            return False
        with self._lock:
            self.seen += 1
            if self.seen != self.nth:
                return False
            self.held += 1
            return True


@contextmanager
def answers_lost(monkeypatch: pytest.MonkeyPatch, prefix: str, nth: int = 1) -> Iterator[LostAnswers]:
    faults = LostAnswers(prefix, nth)
    applied = DynamoHandler.call_action

    def late_answer(handler: DynamoHandler) -> Any:
        strikes = faults.strikes(handler)
        answer = applied(handler)  # the write is applied here, whatever becomes of its answer
        if strikes:
            time.sleep(READ_TIMEOUT_SECONDS * 2)  # the fault itself: the client has given up and sent it again
        return answer

    with monkeypatch.context() as patch:
        patch.setattr(DynamoHandler, "call_action", late_answer)
        yield faults


def test_a_claim_whose_answer_was_lost_is_the_claimants(server_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    claims = DynamoSentEvents(server_stack.messages_table)
    # WHEN the claim is applied but its answer is lost, and the SDK's second attempt finds the first one's claim
    with answers_lost(monkeypatch, "SENT#") as lost:
        answer = claims.claim("opt_out:SM1", owner="a", ticket="", now=NOW, lease_until=LEASE)
    assert lost.held == 1
    # THEN the claimant has it, and nobody else
    assert answer.granted and answer.record and answer.record.owner == "a"
    assert not claims.claim("opt_out:SM1", owner="b", ticket="", now=NOW, lease_until=LEASE).granted


def test_a_takeover_whose_answer_was_lost_is_the_taker_s_and_counts_one_lost_attempt(
    server_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    claims = DynamoSentEvents(server_stack.messages_table)
    assert claims.claim("opt_out:SM1", owner="dead", ticket="", now=NOW, lease_until=LEASE).granted
    later = LEASE + timedelta(seconds=1)
    # (its first write, a fresh claim, is refused: the second takes the abandoned claim over)
    with answers_lost(monkeypatch, "SENT#", nth=2) as lost:
        answer = claims.claim("opt_out:SM1", owner="b", ticket="", now=later, lease_until=later + timedelta(seconds=24))
    assert lost.held == 1
    assert answer.granted and answer.record and answer.record.owner == "b"
    assert answer.ambiguous == 1  # the dead claimant's attempt, once: the SDK's second attempt added nothing


def test_a_lane_entry_and_a_waiting_note_whose_answers_were_lost_are_their_writers(
    server_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    lanes = DynamoConsentLanes(server_stack.messages_table)
    stop, start = consent_events(CUSTOMER, ["opted_out", "opted_in"])
    lane = f"{stop.phone}|{stop.scope}"
    with answers_lost(monkeypatch, "LANE#") as lost:
        entry = lanes.enter(lane, owner="a", order=stop.order, now=NOW, lease_until=LEASE)
    assert lost.held == 1 and entry.answer is LaneAnswer.ENTERED
    # the next event of the number finds the lane held, and notes that it waits; that answer is lost too
    behind = lanes.enter(lane, owner="b", order=start.order, now=NOW, lease_until=LEASE)
    assert behind.answer is LaneAnswer.BUSY
    with answers_lost(monkeypatch, "LANE#") as lost:
        noted = lanes.wait(lane, LaneWaiter(start.order, start, 0, "T1"), seen=behind.version)
    assert lost.held == 1 and noted
    # AND the one ahead, settling, hands the lane to it
    waiter = lanes.leave(lane, owner="a", settled=stop.order, accepted=True)
    assert waiter is not None and waiter.ticket == "T1"


def test_an_opt_out_whose_claim_answer_was_lost_still_reaches_ci360_before_the_opt_in_after_it(
    server_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a number's STOP then START, forwarded in turn
    table = server_stack.messages_table
    gateway = FakeGateway()
    forwarder = Forwarder(mapping=EventMapping(), gateway=lambda: gateway, sent=DynamoSentEvents(table),
                          lanes=DynamoConsentLanes(table), contacts=FakeContacts(KNOWN), parking=FakeParking(),
                          messages_table=table, consent_table="consent")  # fmt: skip
    stop, start = consent_events(CUSTOMER, ["opted_out", "opted_in"])
    # WHEN the opt-out's claim is applied but its answer is lost
    with answers_lost(monkeypatch, "SENT#") as lost:
        first = forwarder.deliver(stop)
    second = forwarder.deliver(start)
    # THEN CI360 gets both, in ledger order: the opt-out is neither left waiting nor superseded by the opt-in
    assert lost.held == 1
    assert (first, second) == ("sent", "sent")
    assert [body["event_id"] for body in gateway.accepted] == [stop.key, start.key]
