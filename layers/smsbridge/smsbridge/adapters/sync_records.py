"""What the contact-preference sync keeps in the messages table: its checkpoint, and what CI360 was last told
per number (for ``smsbridge consent reconcile``).

::

    pk = SYNC#ci360-preferences   sk = CHECKPOINT     through, pending job (id, through, since, numbers), the last
                                                      job's outcome, the job type CI360 took (and one it refused),
                                                      the sms_id form written
    pk = SYNC#ci360-preferences   sk = LEASE          owner, lease_until (epoch seconds): one run at a time
    pk = PREF#<number>            sk = CI360          opted_out, synced_at, job
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3

from smsbridge.adapters.dynamodb import CLIENT_CONFIG, Write, attributes, paged, plain, translated_errors, write_once
from smsbridge.domain.preferences import Checkpoint, Preference

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

CHECKPOINT_KEY = {"pk": {"S": "SYNC#ci360-preferences"}, "sk": {"S": "CHECKPOINT"}}
LEASE_KEY = {"pk": {"S": "SYNC#ci360-preferences"}, "sk": {"S": "LEASE"}}


class SyncRecords:
    def __init__(self, table_name: str, *, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self.client: DynamoDBClient = client or boto3.client("dynamodb", config=CLIENT_CONFIG)

    def checkpoint(self) -> tuple[Checkpoint, list[Preference]]:
        """The checkpoint, and the numbers of the pending job (if any)."""
        with translated_errors(f"read {self.table_name}"):
            found = self.client.get_item(TableName=self.table_name, Key=CHECKPOINT_KEY, ConsistentRead=True)
        item = plain(found.get("Item", {}))
        pending = [Preference(phone, bool(value)) for phone, value in json.loads(item.get("pending_numbers", "[]"))]
        fields = ("through", "pending_job", "pending_through", "pending_since", "last_job", "last_outcome",
                  "job_type", "job_type_refused", "sms_id_format")  # fmt: skip
        return Checkpoint(**{name: str(item.get(name, "")) for name in fields}), pending

    def save(self, checkpoint: Checkpoint, pending: list[Preference] | None = None) -> None:
        numbers = json.dumps([[p.phone, p.opted_out] for p in pending or []], separators=(",", ":"))
        item = {**CHECKPOINT_KEY, **attributes({**checkpoint.__dict__, "pending_numbers": numbers})}
        with translated_errors(f"write {self.table_name}"):
            self.client.put_item(TableName=self.table_name, Item=item)

    def take_lease(self, owner: str, *, now: datetime, until: datetime) -> bool:
        """Hold the sync's lease until ``until`` unless another owner holds one that has not expired (one
        conditional write: of two runs racing, one wins)."""
        item = {**LEASE_KEY, "owner": {"S": owner}, "lease_until": {"N": str(until.timestamp())},
                "taken_at": {"S": now.isoformat()}}  # fmt: skip
        return write_once(self.client, [Write("Put", {
            "TableName": self.table_name, "Item": item,
            "ConditionExpression": "attribute_not_exists(pk) OR lease_until < :now OR #owner = :owner",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {":now": {"N": str(now.timestamp())}, ":owner": {"S": owner}},
        })])  # fmt: skip

    def release_lease(self, owner: str) -> None:
        """Give the lease back, if this owner still holds it (else it expired and another run took it over)."""
        with translated_errors(f"write {self.table_name}"):
            try:
                self.client.delete_item(TableName=self.table_name, Key=LEASE_KEY, ConditionExpression="#owner = :owner",
                                        ExpressionAttributeNames={"#owner": "owner"},
                                        ExpressionAttributeValues={":owner": {"S": owner}})  # fmt: skip
            except self.client.exceptions.ConditionalCheckFailedException:
                pass

    def record_synced(self, preferences: list[Preference], *, job: str, at: str) -> None:
        """Remember what CI360 now holds for each number (25 per request)."""
        for start in range(0, len(preferences), 25):
            requests: Any = [
                {"PutRequest": {"Item": {"pk": {"S": f"PREF#{p.phone}"}, "sk": {"S": "CI360"},
                                         **attributes({"opted_out": p.opted_out, "synced_at": at, "job": job})}}}
                for p in preferences[start : start + 25]
            ]  # fmt: skip
            with translated_errors(f"write {self.table_name}"):
                unprocessed = self.client.batch_write_item(RequestItems={self.table_name: requests})
            while unprocessed.get("UnprocessedItems"):
                with translated_errors(f"write {self.table_name}"):
                    unprocessed = self.client.batch_write_item(RequestItems=unprocessed["UnprocessedItems"])

    def synced(self) -> Iterator[tuple[str, bool, str]]:
        """Every number CI360 was told about: (number, opted out, when)."""
        request = {
            "TableName": self.table_name,
            "FilterExpression": "begins_with(pk, :pref)",
            "ExpressionAttributeValues": {":pref": {"S": "PREF#"}},
        }
        for item in paged(self.client, "scan", request):
            yield item["pk"].removeprefix("PREF#"), bool(item["opted_out"]), str(item["synced_at"])

    def blocked_by_twilio(self) -> Iterator[dict[str, Any]]:
        """Status records with error 21610: Twilio refuses these numbers for that sender."""
        request = {
            "TableName": self.table_name,
            "FilterExpression": "begins_with(pk, :msg) AND sk = :status AND error_code = :code",
            "ExpressionAttributeValues": {":msg": {"S": "MSG#"}, ":status": {"S": "STATUS"}, ":code": {"N": "21610"}},
        }
        return paged(self.client, "scan", request)
