"""The messages table (DynamoDB): one item per webhook'd message, written with one conditional request.

Items are keyed ``pk = MSG#<MessageSid>`` and ``sk = INBOUND`` (a reply) or ``sk = STATUS`` (a message the account
sent). The condition makes the write idempotent: a repeated inbound webhook, or a status callback that does not
rank above the stored status, changes nothing, so the table's stream carries no duplicate.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from boto3.dynamodb.types import TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from smsbridge.domain.payloads import InboundMessage, StatusCallback
from smsbridge.domain.status import StatusRank
from smsbridge.errors import StoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Twilio waits 15 s for an answer; a slow write must fail early enough to answer 5xx within that.
CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=4, retries={"mode": "standard", "max_attempts": 3})
_serializer = TypeSerializer()


def message_key(message_sid: str, kind: str) -> dict[str, Any]:
    return {"pk": {"S": f"MSG#{message_sid}"}, "sk": {"S": kind}}


class DynamoMessageStore:
    """``MessageStore`` on DynamoDB."""

    def __init__(self, table_name: str, *, retention: timedelta, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self.retention = retention
        self.client: DynamoDBClient = client or boto3.client("dynamodb", config=CLIENT_CONFIG)

    def record_inbound(self, message: InboundMessage, *, received_at: datetime, delivery_id: str) -> bool:
        item = {
            **_common(message, received_at, self.retention),
            "kind": "inbound",
            "body": message.body,
            "num_media": message.num_media,
            "opt_out_type": message.opt_out_type,
            "received_at": received_at.isoformat(),
            "delivery_id": delivery_id or None,
        }
        return self._write(
            lambda: self.client.put_item(
                TableName=self.table_name,
                Item={**message_key(message.message_sid, "INBOUND"), **_attributes(item)},
                ConditionExpression="attribute_not_exists(pk)",
            )
        )

    def record_status(
        self, callback: StatusCallback, *, received_at: datetime, delivery_id: str, callback_query: str
    ) -> bool:
        rank = int(StatusRank.of(callback.status))
        values = {
            **_common(callback, received_at, self.retention),
            "kind": "status",
            "status": callback.status.value,
            "status_rank": rank,
            "error_code": callback.error_code,
            "raw_dlr_done_date": callback.raw_dlr_done_date,
            "callback_query": callback_query or None,
            "updated_at": received_at.isoformat(),
            "delivery_id": delivery_id or None,
        }
        present = {name: value for name, value in values.items() if value is not None}
        absent = [name for name, value in values.items() if value is None]
        entry = {"status": callback.status.value, "at": received_at.isoformat(), "error_code": callback.error_code}
        names = {f"#{name}": name for name in present} | {f"#{name}": name for name in absent}
        assignments = ", ".join(f"#{name} = :{name}" for name in present)
        update = f"SET {assignments}, #history = list_append(if_not_exists(#history, :empty), :entry)"
        if absent:
            update += " REMOVE " + ", ".join(f"#{name}" for name in absent)
        return self._write(
            lambda: self.client.update_item(
                TableName=self.table_name,
                Key=message_key(callback.message_sid, "STATUS"),
                UpdateExpression=update,
                ConditionExpression="attribute_not_exists(#status_rank) OR #status_rank < :status_rank",
                ExpressionAttributeNames={**names, "#history": "history"},
                ExpressionAttributeValues={
                    **{f":{name}": _serializer.serialize(value) for name, value in present.items()},
                    ":empty": {"L": []},
                    ":entry": {"L": [_serializer.serialize(_drop_none(entry))]},
                },
            )
        )

    def _write(self, request: Any) -> bool:
        try:
            request()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            if code == "ConditionalCheckFailedException":
                return False
            raise StoreUnavailable(f"DynamoDB refused the write to {self.table_name}: {code}") from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(f"DynamoDB could not be reached: {type(exc).__name__}") from exc
        return True


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


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def _attributes(values: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in _drop_none(values).items()}
