"""The write budget of issue 19, counted by the meter (tests/meter.py): what a message costs in DynamoDB units, and
the contact memory written once per message without losing what it is for."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from smsbridge.domain.ci360_events import Correlation
from tests.bench.bench_capacity import MessageRig, Units, measure
from tests.meter import Meter


@pytest.fixture
def rig(template: dict[str, Any]) -> Iterator[MessageRig]:
    with mock_aws():
        yield MessageRig(template)


@pytest.fixture
def table() -> Iterator[Any]:
    """A table with a sparse global secondary index projecting everything, and a metered client."""
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName="t",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in ("pk", "g")],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[{"IndexName": "ByG", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                     "Projection": {"ProjectionType": "ALL"}}],
        )  # fmt: skip
        yield client


def text(size: int) -> dict[str, str]:
    return {"S": "x" * size}


def test_the_meter_counts_units_by_dynamodbs_rules(table: Any) -> None:
    meter = Meter().attach(table)
    # a new item of 2 + 1 + 1 + 1500 = 1504 bytes: 2 write units
    table.put_item(TableName="t", Item={"pk": {"S": "a"}, "b": text(1500)})
    assert meter.reset().write_units == {"t": 2}
    # an update is counted by the larger of the item before (1504 bytes) and after (9 bytes): 2 units
    table.update_item(TableName="t", Key={"pk": {"S": "a"}}, UpdateExpression="SET b = :b",
                      ExpressionAttributeValues={":b": text(5)})  # fmt: skip
    assert meter.reset().write_units == {"t": 2}
    # a write whose condition fails still costs its unit
    with pytest.raises(table.exceptions.ConditionalCheckFailedException):
        table.put_item(TableName="t", Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk)")
    assert meter.reset().write_units == {"t": 1}
    # a transaction of two small items: twice a unit each; one of them in the index (1 unit, put once)
    table.transact_write_items(TransactItems=[
        {"Put": {"TableName": "t", "Item": {"pk": {"S": "b"}, "g": {"S": "1"}}}},
        {"Put": {"TableName": "t", "Item": {"pk": {"S": "c"}}}},
    ])  # fmt: skip
    assert meter.reset().write_units == {"t": 4, "t/g": 1}
    # an index key that changes: the old index item deleted, the new one put
    table.update_item(TableName="t", Key={"pk": {"S": "b"}}, UpdateExpression="SET g = :g",
                      ExpressionAttributeValues={":g": {"S": "2"}})  # fmt: skip
    assert meter.reset().write_units == {"t": 1, "t/g": 2}
    # reads: a 5,000-byte item is 2 units strongly consistent, 1 eventually; a missing item costs the minimum
    table.put_item(TableName="t", Item={"pk": {"S": "d"}, "b": text(5000)})
    meter.reset()
    table.get_item(TableName="t", Key={"pk": {"S": "d"}}, ConsistentRead=True)
    table.get_item(TableName="t", Key={"pk": {"S": "d"}})
    table.get_item(TableName="t", Key={"pk": {"S": "missing"}})
    reading = meter.reset()
    assert reading.read_units == {"t": 2 + 1 + 0.5}
    assert reading.calls == {"dynamodb.GetItem": 3}
    # a Query adds up the items it reads before rounding (one item here) and before its filter
    table.query(TableName="t", KeyConditionExpression="pk = :pk", FilterExpression="attribute_exists(nothing)",
                ExpressionAttributeValues={":pk": {"S": "d"}})  # fmt: skip
    assert meter.reset().read_units == {"t": 1}


def test_sent_and_delivered_costs_at_most_6_write_units_webhook_and_forwarder_together(rig: MessageRig) -> None:
    units = measure(rig, "sent + delivered", 3)
    assert units.writes <= 6, units
    assert len(rig.gateway.accepted) == 3  # each message's delivered event reached CI360


def reply_identity(rig: MessageRig, number: str) -> Any:
    rig.inbound("What time does the store open?", number)
    rig.forward()
    [reply] = [body for body in rig.gateway.accepted if body["eventName"] == "SMS Reply"]
    return reply.get("datahub_id"), reply.get("task_code")


@pytest.mark.parametrize("service", ["MG" + "5" * 32, ""], ids=["messaging-service", "own-number"])
def test_out_of_order_and_repeated_callbacks_write_the_contact_memory_once_and_a_reply_finds_it(
    rig: MessageRig, service: str
) -> None:
    # GIVEN a message's callbacks out of order (delivered before sent), and each of them twice
    number, correlation = "+14155550123", Correlation("DH-1", "TSK_9", "RTC-1")
    for status in ("delivered", "delivered", "sent", "sent"):
        rig.status(status, "SM" + "1" * 32, number, correlation, service=service)
    rig.forward()
    # THEN the contact memory was written by the first callback alone: 1 write, beside the 4 of the message record
    assert rig.webhook_meter.reading.calls["dynamodb.UpdateItem"] == 1 + 4
    # AND a later reply to that number is attributed to the message's CI360 identity and task
    assert reply_identity(rig, number) == ("DH-1", "TSK_9")


def test_a_late_callback_of_an_older_message_does_not_take_the_contact_memory_back(rig: MessageRig) -> None:
    # GIVEN CI360 messaged a number twice; the older message's delivered callback arrives after the newer one's
    number = "+14155550124"
    older, newer = Correlation("DH-OLD", "TSK_OLD", ""), Correlation("DH-NEW", "TSK_NEW", "")
    rig.status("sent", "SM" + "2" * 32, number, older)
    rig.status("sent", "SM" + "3" * 32, number, newer)
    rig.status("delivered", "SM" + "3" * 32, number, newer)
    rig.status("delivered", "SM" + "2" * 32, number, older)
    rig.forward()
    # THEN a reply is attributed to the newer message, the last one sent to that number from that sender
    assert reply_identity(rig, number) == ("DH-NEW", "TSK_NEW")


def test_dollars_per_million_messages_are_the_units_at_the_stated_list_prices() -> None:
    units = Units("sent + delivered", 4, 2, 1, 0, {})
    assert units.usd_per_million == 6 * 0.625 + 1 * 0.125
