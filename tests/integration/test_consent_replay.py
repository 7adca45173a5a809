"""Replays of genuine webhooks at any age: the consent history is the evidence, and evidence already on record
changes nothing, even after the message record that came with it has expired (the messages table's TTL)."""

from __future__ import annotations

from typing import Any

from smsbridge.adapters.message_table import message_key
from smsbridge.ops.migrate import migrate
from smsbridge.ops.simulate import TEST_ACCOUNT_SID, inbound_params, status_params
from tests.integration import test_ci360_loop
from tests.integration.test_ci360_loop import CUSTOMER, OURS, Loop, correlation

loop = test_ci360_loop.loop  # the whole loop's fixture: webhook → tables → streams → forwarder → CI360 stub

START_SID, STOP_SID = "SM" + "a" * 32, "SM" + "b" * 32


def consent_state(loop: Loop) -> dict[str, Any]:
    [state] = [item for item in loop.stack.consent_items() if item["record_type"] == "state"]
    return state


def test_start_replayed_after_its_message_record_expired_changes_no_consent_and_sends_no_event(loop: Loop) -> None:
    # GIVEN CI360 messaged the customer, who then sent START and later STOP
    loop.post("/twilio/status", status_params(status="delivered", recipient=CUSTOMER, sender=OURS), correlation("DH1"))
    start = inbound_params(body="START", sender=CUSTOMER, recipient=OURS, message_sid=START_SID)
    assert loop.post("/twilio/inbound", start) == 200
    assert loop.post("/twilio/inbound", inbound_params(body="STOP", sender=CUSTOMER, recipient=OURS,
                                                       message_sid=STOP_SID)) == 200  # fmt: skip
    loop.drain()
    sent_before = sorted(body["eventName"] for body in loop.received())
    assert sent_before == ["SMS Delivered", "SMS Opt-In", "SMS Opt-Out"]
    assert consent_state(loop)["status"] == "opted_out"
    # AND the START's message record has expired, as the messages table's TTL deletes it
    loop.stack.dynamodb.delete_item(TableName=loop.stack.messages_table, Key=message_key(START_SID, "INBOUND"))
    # WHEN the genuine START is replayed byte for byte
    assert loop.post("/twilio/inbound", start) == 200
    loop.drain()
    # THEN consent stays opted out, the history holds one entry per message, and no event left (the keyword's
    # record may come back: it is written before the history is consulted, and carries no event)
    assert consent_state(loop)["status"] == "opted_out"
    assert consent_state(loop)["event_id"] == STOP_SID
    events = [item for item in loop.stack.consent_items() if item["record_type"] == "event"]
    assert sorted(item["event_id"] for item in events) == [START_SID, STOP_SID]
    assert sorted(body["eventName"] for body in loop.received()) == sent_before


def test_consent_history_and_state_carry_no_expiry(loop: Loop) -> None:
    loop.post("/twilio/inbound", inbound_params(body="STOP", sender=CUSTOMER, recipient=OURS))
    loop.post("/twilio/status", status_params(status="failed", error_code="21610", recipient=CUSTOMER, sender=OURS))
    items = loop.stack.consent_items()
    assert {item["record_type"] for item in items} == {"event", "state"}
    assert all("expires_at" not in item for item in items)
    ttl = loop.stack.dynamodb.describe_time_to_live(TableName=loop.stack.consent_table)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "DISABLED"


def test_evidence_recorded_by_v0_1_without_the_account_stops_a_replay_once_migrated(loop: Loop) -> None:
    # GIVEN v0.1 recorded a START's history entry keyed without the account, and the number is opted out since
    v01_entry = {
        "pk": {"S": f"PHONE#{CUSTOMER}"},
        "sk": {"S": f"EVENT#{OURS}#{START_SID}#opt_in"},
        "record_type": {"S": "event"},
        "phone": {"S": CUSTOMER},
        "scope": {"S": OURS},
        "action": {"S": "opt_in"},
        "effect": {"S": "opted_in"},
        "source": {"S": "reply_keyword"},
        "event_id": {"S": START_SID},
        "order_key": {"S": "2026-01-01#x"},
        "account_sid": {"S": TEST_ACCOUNT_SID},
    }
    loop.stack.dynamodb.put_item(TableName=loop.stack.consent_table, Item=v01_entry)
    stop = inbound_params(body="STOP", sender=CUSTOMER, recipient=OURS, message_sid=STOP_SID)
    assert loop.post("/twilio/inbound", stop) == 200
    # AND the upgrade's migration has rewritten it under the account
    report = migrate(loop.stack.consent_table, loop.stack.messages_table, loop.stack.dynamodb)
    assert report.history == 1
    # WHEN that START is replayed THEN nothing changes
    start = inbound_params(body="START", sender=CUSTOMER, recipient=OURS, message_sid=START_SID)
    assert loop.post("/twilio/inbound", start) == 200
    assert consent_state(loop)["status"] == "opted_out"
