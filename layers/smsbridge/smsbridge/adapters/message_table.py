"""The messages table: one item per message that reached smsbridge, written once.

Items are keyed ``pk = MSG#<MessageSid>`` and ``sk = INBOUND`` (a reply) or ``sk = STATUS`` (a message the account
sent). Two more kinds of item live in this table, each with its own adapter: the contact memory (``contacts.py``:
the CI360 identity last seen for a number, from status callback URLs) and the forwarder's event claims and consent
lanes (``event_claims.py``).

Conditions make the writes idempotent: a repeated inbound webhook, or a status callback that does not rank above
the stored status, changes nothing, so the table's stream carries no duplicate. A webhook's consent
facts (consent_table) are written in the same atomic request.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3

from smsbridge.adapters.consent_table import consent_writes
from smsbridge.adapters.contacts import contact_key
from smsbridge.adapters.dynamodb import CLIENT_CONFIG, Write, attributes, write_once
from smsbridge.domain.ci360_events import Correlation
from smsbridge.domain.consent import ConsentEvent
from smsbridge.domain.keywords import ReplyClassification
from smsbridge.domain.payloads import InboundMessage, StatusCallback
from smsbridge.domain.status import CORRECTIONS, StatusRank

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def message_key(message_sid: str, kind: str) -> dict[str, Any]:
    return {"pk": {"S": f"MSG#{message_sid}"}, "sk": {"S": kind}}


class DynamoMessageStore:
    """``MessageStore`` on DynamoDB: the messages table, and the consent ledger for the facts a webhook carries."""

    def __init__(
        self,
        table_name: str,
        *,
        consent_table: str,
        retention: timedelta,
        client: DynamoDBClient | None = None,
    ) -> None:
        self.table_name = table_name
        self.consent_table = consent_table
        self.retention = retention
        self.client: DynamoDBClient = client or boto3.client("dynamodb", config=CLIENT_CONFIG)

    def record_inbound(
        self,
        message: InboundMessage,
        reading: ReplyClassification,
        consent: ConsentEvent | None,
        *,
        received_at: datetime,
        delivery_id: str,
    ) -> bool:
        item = {
            **_common(message, received_at, self.retention),
            "kind": "inbound",
            # A keyword reply is kept as its keyword only; the text of other replies is what CI360 receives.
            "body": None if reading.is_keyword else message.body,
            "num_media": message.num_media,
            "opt_out_type": message.opt_out_type,
            "intent": reading.intent.value,
            "keyword": reading.keyword,
            "rule": reading.rule,
            "matcher_version": reading.matcher_version,
            "opt_out_suspected": reading.opt_out_suspected or None,
            "opt_in_suspected": reading.opt_in_suspected or None,
            "received_at": received_at.isoformat(),
            "delivery_id": delivery_id or None,
        }
        put = Write(
            "Put",
            {
                "TableName": self.table_name,
                "Item": {**message_key(message.message_sid, "INBOUND"), **attributes(item)},
                "ConditionExpression": "attribute_not_exists(pk)",
            },
        )
        return write_once(self.client, [put, *consent_writes(self.consent_table, consent, received_at)])

    def record_status(
        self,
        callback: StatusCallback,
        consent: ConsentEvent | None,
        *,
        received_at: datetime,
        delivery_id: str,
        callback_query: str,
        correlation: Correlation | None = None,
    ) -> bool:
        values = {
            **_common(callback, received_at, self.retention),
            "kind": "status",
            "status": callback.status.value,
            "status_rank": int(StatusRank.of(callback.status)),
            "error_code": callback.error_code,
            "raw_dlr_done_date": callback.raw_dlr_done_date,
            "callback_query": callback_query or None,
            "updated_at": received_at.isoformat(),
            "delivery_id": delivery_id or None,
        }
        update = Write("Update", {"TableName": self.table_name, **_status_update(callback, values, received_at)})
        writes = [update, *consent_writes(self.consent_table, consent, received_at)]
        if correlation:
            labels = dict.fromkeys(label for label in (callback.sender, callback.messaging_service_sid) if label)
            writes += [self._contact_write(callback, label, correlation, received_at) for label in labels]
        return write_once(self.client, writes)

    def _contact_write(
        self, callback: StatusCallback, label: str, correlation: Correlation, seen_at: datetime
    ) -> Write:
        """Remember who this number is in CI360 and which task last messaged it from this account's number (and
        Messaging Service, when the send went through one), so a later reply can be attributed whichever way
        Twilio labels its scope (only ever moved forward in time)."""
        values = {
            "datahub_id": correlation.datahub_id,
            "task_code": correlation.task_code or None,
            "response_tracking_code": correlation.response_tracking_code or None,
            "message_sid": callback.message_sid,
            "seen_at": seen_at.isoformat(),
            "expires_at": int((seen_at + self.retention).timestamp()),
        }
        present = {name: value for name, value in values.items() if value is not None}
        return Write(
            "Update",
            {
                "TableName": self.table_name,
                "Key": contact_key(callback.recipient, label, callback.account_sid),
                "UpdateExpression": "SET " + ", ".join(f"#{name} = :{name}" for name in present),
                "ConditionExpression": "attribute_not_exists(#seen_at) OR #seen_at <= :seen_at",
                "ExpressionAttributeNames": {f"#{name}": name for name in present},
                "ExpressionAttributeValues": {f":{name}": value for name, value in attributes(present).items()},
            },
        )


def _status_update(callback: StatusCallback, values: dict[str, Any], received_at: datetime) -> dict[str, Any]:
    present = {name: value for name, value in values.items() if value is not None}
    absent = [name for name, value in values.items() if value is None]
    entry = {"status": callback.status.value, "at": received_at.isoformat(), "error_code": callback.error_code}
    update = "SET " + ", ".join(f"#{name} = :{name}" for name in present)
    update += ", #history = list_append(if_not_exists(#history, :empty), :entry)"
    if absent:
        update += " REMOVE " + ", ".join(f"#{name}" for name in absent)
    condition = "attribute_not_exists(#status_rank) OR #status_rank < :status_rank"
    corrected = CORRECTIONS.get(callback.status)
    extra: dict[str, Any] = {}
    if corrected:  # a delivered correcting an undelivered (domain/status.py)
        condition += " OR #status = :corrected"
        extra[":corrected"] = {"S": corrected.value}
    return {
        "Key": message_key(callback.message_sid, "STATUS"),
        "UpdateExpression": update,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {f"#{name}": name for name in [*present, *absent, "history"]},
        "ExpressionAttributeValues": {
            **{f":{name}": value for name, value in attributes(present).items()},
            ":empty": {"L": []},
            ":entry": {"L": [{"M": attributes(entry)}]},
            **extra,
        },
    }


def _common(message: InboundMessage | StatusCallback, received_at: datetime, retention: timedelta) -> dict[str, Any]:
    return {
        "message_sid": message.message_sid,
        "account_sid": message.account_sid,
        "sender": message.sender,
        "recipient": message.recipient,
        "messaging_service_sid": message.messaging_service_sid,
        "scope": message.scope,
        "fields": {name: value for name, value in message.fields.items() if value != ""} or None,
        "expires_at": int((received_at + retention).timestamp()),
    }
