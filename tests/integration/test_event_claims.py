"""The event claim on DynamoDB (moto): the conditional writes follow ``domain/claims.py``'s rules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from smsbridge.adapters.event_claims import DynamoConsentLanes, DynamoSentEvents
from smsbridge.domain.claims import ClaimState, LaneAnswer, may_claim

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
    # a later event waits while an earlier one is unsettled
    assert lanes.enter(lane, owner="b", order="k2", now=NOW, lease_until=LEASE) is LaneAnswer.BEHIND
    assert lanes.enter(lane, owner="a", order="k1", now=NOW, lease_until=LEASE) is LaneAnswer.ENTERED
    assert lanes.enter(lane, owner="b", order="k2", now=NOW, lease_until=LEASE) is LaneAnswer.BUSY
    lanes.leave(lane, owner="a")  # parked, not settled: k1 still holds the others back
    assert lanes.enter(lane, owner="b", order="k2", now=NOW, lease_until=LEASE) is LaneAnswer.BEHIND
    assert lanes.enter(lane, owner="a", order="k1", now=NOW, lease_until=LEASE) is LaneAnswer.ENTERED
    lanes.leave(lane, owner="a", settled="k1", accepted=True)
    assert lanes.enter(lane, owner="b", order="k2", now=NOW, lease_until=LEASE) is LaneAnswer.ENTERED
    # a holder that died is passed after its lease; what it settled late still counts
    later = LEASE + timedelta(seconds=1)
    lanes.forget(lane, "k2")
    assert lanes.enter(lane, owner="c", order="k3", now=later, lease_until=later) is LaneAnswer.ENTERED
    lanes.leave(lane, owner="c", settled="k3", accepted=True)
    lanes.leave(lane, owner="b", settled="k2", accepted=True)  # too late: k3 is newer and stays the last
    assert lanes.enter(lane, owner="d", order="k2", now=later, lease_until=later) is LaneAnswer.SUPERSEDED
    assert lanes.enter(lane, owner="d", order="k3", now=later, lease_until=later) is LaneAnswer.SUPERSEDED
