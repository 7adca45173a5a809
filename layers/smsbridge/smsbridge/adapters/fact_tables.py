"""The facts on record, read back by time for the recovery sweep (``app/recover.py``): both tables, filtered scans."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3

from smsbridge.adapters.dynamodb import CLIENT_CONFIG, paged

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from smsbridge.ports import Window


class DynamoFacts:
    """``FactSource`` on DynamoDB. A scan reads the whole table (filtered on DynamoDB's side): a sweep costs read
    capacity in proportion to the table, not to the window."""

    def __init__(self, messages_table: str, consent_table: str, *, client: DynamoDBClient | None = None) -> None:
        self.messages_table = messages_table
        self.consent_table = consent_table
        self.client: DynamoDBClient = client or boto3.client("dynamodb", config=CLIENT_CONFIG)

    def messages_between(self, window: Window) -> Iterator[dict[str, Any]]:
        request = {
            "TableName": self.messages_table,
            "FilterExpression": "(#kind = :inbound AND #received_at BETWEEN :start AND :end) OR "
                                "(#kind = :status AND #updated_at BETWEEN :start AND :end)",
            "ExpressionAttributeNames": {"#kind": "kind", "#received_at": "received_at", "#updated_at": "updated_at"},
            "ExpressionAttributeValues": {":inbound": {"S": "inbound"}, ":status": {"S": "status"},
                                          **_window_values(window)},
        }  # fmt: skip
        return paged(self.client, "scan", request)

    def consent_between(self, window: Window) -> Iterator[dict[str, Any]]:
        request = {
            "TableName": self.consent_table,
            "FilterExpression": "(#record_type = :state AND #changed_at BETWEEN :start AND :end) OR "
                                "(#record_type = :event AND #action = :help AND #recorded_at BETWEEN :start AND :end)",
            "ExpressionAttributeNames": {"#record_type": "record_type", "#changed_at": "changed_at",
                                         "#action": "action", "#recorded_at": "recorded_at"},
            "ExpressionAttributeValues": {":state": {"S": "state"}, ":event": {"S": "event"}, ":help": {"S": "help"},
                                          **_window_values(window)},
        }  # fmt: skip
        return paged(self.client, "scan", request)


def _window_values(window: Window) -> dict[str, Any]:
    return {":start": {"S": window.start.isoformat()}, ":end": {"S": window.end.isoformat()}}
