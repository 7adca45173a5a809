"""Writes ``events/``: signed API Gateway events for the webhook, stream and queue batches for the forwarder, for
``sam local invoke`` and the tests.

Every event is signed with the documented test token for the execute-api host below, so it verifies against
a stack whose secret holds that token and whose ``PUBLIC_BASE_URL`` is empty. Run
``python -m smsbridge.local.sample_events events`` after changing a field set; a test fails if they drift.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from boto3.dynamodb.types import TypeSerializer

from smsbridge.domain.ci360_events import Correlation, callback_query
from smsbridge.local.server import http_api_event
from smsbridge.ops.simulate import (
    DEFAULT_CUSTOMER,
    DEFAULT_SENDER,
    TEST_ACCOUNT_SID,
    TEST_AUTH_TOKEN,
    inbound_params,
    sign_webhook,
    status_params,
)

SAMPLE_HOST = "abc123def4.execute-api.us-east-1.amazonaws.com"
SAMPLE_CORRELATION = Correlation("sample-datahub-id", "TSK_1", "RTC1")
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


def forwarder_events() -> dict[str, dict[str, Any]]:
    """A DynamoDB stream batch of each table and a retry-queue batch, as Lambda hands them to the forwarder."""
    serializer = TypeSerializer()

    def stream(table: str, name: str, new: dict[str, Any], old: dict[str, Any] | None, sequence: str) -> dict[str, Any]:
        change: dict[str, Any] = {
            "Keys": {key: serializer.serialize(new[key]) for key in ("pk", "sk")},
            "NewImage": {k: serializer.serialize(v) for k, v in new.items()},
            "SequenceNumber": sequence,
            "SizeBytes": 512,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        if old:
            change["OldImage"] = {k: serializer.serialize(v) for k, v in old.items()}
        arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/2026-11-27T13:10:00.000"
        return {
            "eventID": f"sample-{sequence}",
            "eventName": name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": change,
            "eventSourceARN": arn,
        }

    sid = "SM" + "2" * 32
    reply = {
        "pk": f"MSG#{sid}",
        "sk": "INBOUND",
        "kind": "inbound",
        "message_sid": sid,
        "account_sid": TEST_ACCOUNT_SID,
        "sender": DEFAULT_CUSTOMER,
        "recipient": DEFAULT_SENDER,
        "scope": DEFAULT_SENDER,
        "intent": "reply",
        "rule": "no_match",
        "body": "What time does the store open?",
        "received_at": "2026-11-27T13:10:00+00:00",
    }
    delivered = {
        "pk": "MSG#SM" + "3" * 32,
        "sk": "STATUS",
        "kind": "status",
        "message_sid": "SM" + "3" * 32,
        "account_sid": TEST_ACCOUNT_SID,
        "sender": DEFAULT_SENDER,
        "recipient": DEFAULT_CUSTOMER,
        "scope": DEFAULT_SENDER,
        "status": "delivered",
        "status_rank": 4,
        "updated_at": "2026-11-27T13:10:00+00:00",
        "callback_query": callback_query(SAMPLE_CORRELATION),
    }
    opted_out = {
        "pk": f"PHONE#{DEFAULT_CUSTOMER}",
        "sk": f"SCOPE#{TEST_ACCOUNT_SID}#{DEFAULT_SENDER}",
        "record_type": "state",
        "phone": DEFAULT_CUSTOMER,
        "scope": DEFAULT_SENDER,
        "account_sid": TEST_ACCOUNT_SID,
        "sender": DEFAULT_SENDER,
        "status": "opted_out",
        "source": "reply_keyword",
        "event_id": "SM" + "1" * 32,
        "order_key": f"2026-11-27T13:10:00.000000+00:00#SM{'1' * 32}",
        "updated_at": "2026-11-27T13:10:00+00:00",
    }
    parked = {
        "event": {
            "kind": "delivered",
            "key": "delivered:SM" + "3" * 32,
            "phone": DEFAULT_CUSTOMER,
            "scope": DEFAULT_SENDER,
            "attributes": {"message_sid": "SM" + "3" * 32, "status": "delivered"},
            "correlation": asdict(SAMPLE_CORRELATION),
        },
        "attempt": 1,
        "reason": "503 from the gateway",
        "at": "2026-11-27T13:10:00+00:00",
    }
    retry = {
        "messageId": "0f8e1a1e-0000-4000-8000-000000000001",
        "receiptHandle": "sample",
        "body": json.dumps(parked),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:smsbridge-RetryQueue",
        "awsRegion": "us-east-1",
    }
    return {
        "forwarder-messages-stream.json": {
            "Records": [
                stream("smsbridge-MessagesTable", "INSERT", reply, None, "100"),
                stream(
                    "smsbridge-MessagesTable",
                    "MODIFY",
                    delivered,
                    {**delivered, "status": "sent", "status_rank": 3},
                    "101",
                ),
            ]
        },
        "forwarder-consent-stream.json": {
            "Records": [stream("smsbridge-ConsentTable", "INSERT", opted_out, None, "200")]
        },
        "forwarder-retry-queue.json": {"Records": [retry]},
    }


def write_sample_events(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, event in {**sample_events(), **forwarder_events()}.items():
        path = folder / name
        path.write_text(json.dumps(event, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_sample_events(Path(sys.argv[1] if len(sys.argv) > 1 else "events")):
        print(path)
