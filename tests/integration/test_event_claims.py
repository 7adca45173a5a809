"""The event claim on DynamoDB (moto): the conditional writes follow ``domain/claims.py``'s rules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from smsbridge.adapters.event_claims import DynamoConsentLanes, DynamoSentEvents
from smsbridge.domain.ci360_events import EventKind, PendingEvent
from smsbridge.domain.claims import ClaimState, LaneAnswer, LaneWaiter, may_claim

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
LEASE = NOW + timedelta(seconds=40)
KEY = "reply:SM1"


@pytest.fixture
def claims() -> Iterator[DynamoSentEvents]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="messages",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )  # fmt: skip
        yield DynamoSentEvents("messages", client=client)


def test_one_claim_at_a_time_and_its_outcome(claims: DynamoSentEvents) -> None:
    first = claims.claim(KEY, owner="a", ticket="", now=NOW, lease_until=LEASE)
    assert first.granted
    second = claims.claim(KEY, owner="b", ticket="", now=NOW, lease_until=LEASE)
    assert not second.granted and second.record and second.record.state is ClaimState.CLAIMED
    assert second.record.owner == "a" and second.record.lease_until == LEASE
    # only the owner records a park; then only the parked message's ticket claims it again
    assert not claims.settle(KEY, owner="b", state=ClaimState.PARKED, at=NOW, ticket="T1")
    assert claims.settle(KEY, owner="a", state=ClaimState.PARKED, at=NOW, ticket="T1", reason="503", ambiguous=1)
    for ticket in ("", "T0"):
        assert not claims.claim(KEY, owner="c", ticket=ticket, now=NOW, lease_until=LEASE).granted
    again = claims.claim(KEY, owner="c", ticket="T1", now=NOW, lease_until=LEASE)
    assert again.granted and again.ambiguous == 1
    # CI360's acceptance is recorded whoever holds the claim, and ends it
    assert claims.settle(KEY, owner="", state=ClaimState.ACCEPTED, at=NOW, event_name="SMS Reply")
    refused = claims.claim(KEY, owner="d", ticket="T1", now=NOW + timedelta(days=3650), lease_until=LEASE)
    assert not refused.granted and refused.record and refused.record.state is ClaimState.ACCEPTED


def test_an_abandoned_claim_is_taken_over_after_its_lease(claims: DynamoSentEvents) -> None:
    assert claims.claim(KEY, owner="dead", ticket="", now=NOW, lease_until=LEASE).granted
    assert not claims.claim(KEY, owner="b", ticket="", now=LEASE - timedelta(seconds=1), lease_until=LEASE).granted
    later = LEASE + timedelta(seconds=1)
    assert claims.claim(KEY, owner="b", ticket="", now=later, lease_until=later + timedelta(seconds=40)).granted
    assert not claims.settle(KEY, owner="dead", state=ClaimState.PARKED, at=later, ticket="T")  # too late


def test_taking_over_an_abandoned_claim_counts_the_dead_claimants_attempt_as_a_lost_answer(
    claims: DynamoSentEvents,
) -> None:
    # GIVEN a claimant died after claiming (perhaps after sending: nobody saw its answer), and so did the next
    assert claims.claim(KEY, owner="dead1", ticket="", now=NOW, lease_until=LEASE).granted
    later = LEASE + timedelta(seconds=1)
    second = claims.claim(KEY, owner="dead2", ticket="", now=later, lease_until=later + timedelta(seconds=40))
    # THEN each takeover counts one attempt whose answer was lost, on the claim itself
    assert second.granted and second.ambiguous == 1
    latest = later + timedelta(seconds=60)
    third = claims.claim(KEY, owner="c", ticket="", now=latest, lease_until=latest + timedelta(seconds=40))
    assert third.granted and third.ambiguous == 2 and third.record and third.record.owner == "c"
    # AND a claim refused because it is held (its lease running) counts nothing
    refused = claims.claim(KEY, owner="d", ticket="", now=latest, lease_until=latest + timedelta(seconds=40))
    assert not refused.granted and refused.ambiguous == 2


def test_release_lets_the_next_copy_claim_at_once(claims: DynamoSentEvents) -> None:
    assert claims.claim(KEY, owner="a", ticket="", now=NOW, lease_until=LEASE).granted
    claims.release(KEY, owner="b")  # not the owner: nothing happens
    assert not claims.claim(KEY, owner="b", ticket="", now=NOW, lease_until=LEASE).granted
    claims.release(KEY, owner="a")
    assert claims.claim(KEY, owner="b", ticket="", now=NOW, lease_until=LEASE).granted


def test_a_sent_record_from_before_claims_reads_as_accepted(claims: DynamoSentEvents) -> None:
    legacy = {"pk": {"S": f"SENT#{KEY}"}, "sk": {"S": "CI360"}, "event_name": {"S": "SMS Reply"},
              "sent_at": {"S": NOW.isoformat()}, "expires_at": {"N": "1"}}  # fmt: skip
    claims.client.put_item(TableName="messages", Item=legacy)
    answer = claims.claim(KEY, owner="a", ticket="", now=NOW, lease_until=LEASE)
    assert not answer.granted and answer.record and answer.record.state is ClaimState.ACCEPTED
    assert not may_claim(answer.record, ticket="", now=NOW)


def test_claims_carry_no_expiry(claims: DynamoSentEvents) -> None:
    claims.claim(KEY, owner="a", ticket="", now=NOW, lease_until=LEASE)
    claims.settle(KEY, owner="a", state=ClaimState.ACCEPTED, at=NOW, event_name="SMS Reply")
    item = claims.client.get_item(TableName="messages", Key={"pk": {"S": f"SENT#{KEY}"}, "sk": {"S": "CI360"}})
    assert "expires_at" not in item["Item"] and item["Item"]["state"] == {"S": "accepted"}


def test_a_consent_lane_lets_one_event_in_in_ledger_order_and_never_an_older_one(claims: DynamoSentEvents) -> None:
    lanes = DynamoConsentLanes("messages", client=claims.client)
    lane = "+14155550100|+14155550199"
    for order in ("k1", "k2", "k3"):
        lanes.register(lane, order)

    def enter(owner: str, order: str, now: datetime = NOW) -> LaneAnswer:
        return lanes.enter(lane, owner=owner, order=order, now=now, lease_until=LEASE).answer

    # a later event waits while an earlier one is unsettled
    assert enter("b", "k2") is LaneAnswer.BEHIND
    assert enter("a", "k1") is LaneAnswer.ENTERED
    assert enter("b", "k2") is LaneAnswer.BUSY
    lanes.leave(lane, owner="a")  # parked, not settled: k1 still holds the others back
    assert enter("b", "k2") is LaneAnswer.BEHIND
    assert enter("a", "k1") is LaneAnswer.ENTERED
    lanes.leave(lane, owner="a", settled="k1", accepted=True)
    assert enter("b", "k2") is LaneAnswer.ENTERED
    # a holder that died is passed after its lease; what it settled late still counts
    later = LEASE + timedelta(seconds=1)
    lanes.forget(lane, "k2")
    assert enter("c", "k3", later) is LaneAnswer.ENTERED
    lanes.leave(lane, owner="c", settled="k3", accepted=True)
    lanes.leave(lane, owner="b", settled="k2", accepted=True)  # too late: k3 is newer and stays the last
    assert enter("d", "k2", later) is LaneAnswer.SUPERSEDED
    assert enter("d", "k3", later) is LaneAnswer.SUPERSEDED


def requests_made(client: Any) -> list[tuple[str, str]]:
    """Every DynamoDB request ``client`` makes from now on: (operation, partition key)."""
    made: list[tuple[str, str]] = []

    def note(params: dict[str, Any], model: Any, **_: Any) -> None:
        made.append((model.name, str(params.get("Key", {}).get("pk", {}).get("S", ""))))

    client.meta.events.register("provide-client-params.dynamodb", note)
    return made


def test_entering_a_free_lane_is_one_write_and_no_read(claims: DynamoSentEvents) -> None:
    # GIVEN a number's lane, used before (CI360 has an earlier consent event of it)
    lanes = DynamoConsentLanes("messages", client=claims.client)
    lane = "+14155550100|+14155550199"
    assert lanes.enter(lane, owner="a", order="k1", now=NOW, lease_until=LEASE).answer is LaneAnswer.ENTERED
    lanes.leave(lane, owner="a", settled="k1", accepted=True)
    made = requests_made(claims.client)
    # WHEN the next consent event of the number goes through it
    assert lanes.enter(lane, owner="b", order="k2", now=NOW, lease_until=LEASE).answer is LaneAnswer.ENTERED
    assert lanes.leave(lane, owner="b", settled="k2", accepted=True) is None
    # THEN that is two writes: entering and leaving (no read, no registration beforehand)
    assert made == [("UpdateItem", f"LANE#{lane}")] * 2


def test_a_waiting_event_is_handed_to_the_one_settling_ahead_of_it(claims: DynamoSentEvents) -> None:
    lanes = DynamoConsentLanes("messages", client=claims.client)
    lane = "+14155550100|+14155550199"
    stop = PendingEvent(EventKind.OPT_OUT, "opt_out:SM2", "+14155550100", "+14155550199", {"intent": "opt_out"},
                        order="k2")  # fmt: skip
    assert lanes.enter(lane, owner="a", order="k1", now=NOW, lease_until=LEASE).answer is LaneAnswer.ENTERED
    busy = lanes.enter(lane, owner="b", order="k2", now=NOW, lease_until=LEASE)
    assert busy.answer is LaneAnswer.BUSY
    # a note written on a lane that moved on since it was read is refused (its writer looks again)
    assert not lanes.wait(lane, LaneWaiter("k2", stop, 0, "T1"), seen=busy.version - 1)
    assert lanes.wait(lane, LaneWaiter("k2", stop, 0, "T1"), seen=busy.version)
    # the one ahead settles: the lane hands over the waiting event, whole, with its ticket
    assert lanes.leave(lane, owner="a", settled="k1", accepted=True) == LaneWaiter("k2", stop, 0, "T1")
    # it enters (its note is gone) and, settled, hands over nobody
    assert lanes.enter(lane, owner="c", order="k2", now=NOW, lease_until=LEASE).answer is LaneAnswer.ENTERED
    assert lanes.leave(lane, owner="c", settled="k2", accepted=True) is None
    item = claims.client.get_item(TableName="messages", Key={"pk": {"S": f"LANE#{lane}"}, "sk": {"S": "CONSENT"}})
    assert not [name for name in item["Item"] if name.startswith("waiting#")] and "pending" not in item["Item"]
