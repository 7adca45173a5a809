"""Contact memory in the messages table: the CI360 identity last seen for a number, per account and sender.

::

    pk = CONTACT#<number>   sk = SENDER#<AccountSid>#<our number or Messaging Service>

Written by the webhook once per message, from the status callbacks that carry a CI360 identity
(``DynamoMessageStore``): one item under our number (the Messaging Service when there is none), holding the
Messaging Service the send went through as ``messaging_service_sid``. Read by the forwarder to attribute a later
reply or status that carries none. Items written before issue 19 exist under both labels; both are read. v0.1
keyed it ``SCOPE#<scope>``, without the account: ``smsbridge migrate`` (``ops/migrate.py``) rewrites such items
to this key.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3

from smsbridge.adapters.dynamodb import CLIENT_CONFIG, paged, plain, translated_errors
from smsbridge.domain.ci360_events import Correlation

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def contact_key(phone: str, label: str, account_sid: str) -> dict[str, Any]:
    """The contact memory of ``phone`` for one of ``account_sid``'s numbers or Messaging Services (``label``)."""
    return {"pk": {"S": f"CONTACT#{phone}"}, "sk": {"S": f"SENDER#{account_sid}#{label}"}}


DEFAULT_ATTRIBUTION_WINDOW = timedelta(hours=168)  # the AttributionWindowHours default


class DynamoContacts:
    """``ContactDirectory`` on the messages table: the last CI360 identity seen for (number, account, sender)."""

    def __init__(self, table_name: str, *, window: timedelta, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self.window = window
        self.client: DynamoDBClient = client or boto3.client("dynamodb", config=CLIENT_CONFIG)

    def latest(
        self, phone: str, scope: str, *, now: datetime, account_sid: str = "", sender: str = ""
    ) -> Correlation | None:
        """Our number first (a reply goes to the number that messaged the person, however Twilio labels the
        scope), then the scope (the Messaging Service, for events that carry no number): the newest memory of the
        number under this account that names it, by its key or its ``messaging_service_sid``."""
        if sender:
            with translated_errors(f"read {self.table_name}"):
                key = contact_key(phone, sender, account_sid)
                found = self.client.get_item(TableName=self.table_name, Key=key).get("Item")
            if found and (correlation := self._fresh(plain(found), now)):
                return correlation
        if not scope or scope == sender:
            return None
        prefix = contact_key(phone, "", account_sid)
        request = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": prefix["pk"], ":prefix": prefix["sk"]},
        }
        named = [
            item
            for item in paged(self.client, "query", request)
            if item["sk"] == f"{prefix['sk']['S']}{scope}" or item.get("messaging_service_sid") == scope
        ]
        for item in sorted(named, key=lambda item: str(item["seen_at"]), reverse=True):
            return self._fresh(item, now)
        return None

    def _fresh(self, item: dict[str, Any], now: datetime) -> Correlation | None:
        """The memory's correlation, unless it is older than the attribution window."""
        if datetime.fromisoformat(item["seen_at"]) < now - self.window:
            return None
        return Correlation(item["datahub_id"], item.get("task_code", ""), item.get("response_tracking_code", ""))
