"""The facts on record, read back by time for the recovery sweep (``app/recover.py``), through the tables' change
indexes (``change_index.py``), and the sweep's checkpoint in the messages table::

    pk = SWEEP#recovery   sk = CHECKPOINT   swept_through; the window a run stopped in (start, end, after)

A window is read index key by index key (each shard of each bucket: the messages table's, then the consent
table's), a page of keys at a time, and the pages' items are read whole with BatchGetItem. A sweep costs reads in
proportion to the facts of its window, whatever the tables hold besides. Items written before the indexes existed
carry no ``change_slot`` and are not found (docs/upgrade.md, "Items written before the change indexes").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3

from smsbridge.adapters.change_index import (
    CONSENT_BUCKET,
    CONSENT_INDEX,
    MESSAGE_BUCKET,
    MESSAGES_INDEX,
    slots_between,
)
from smsbridge.adapters.dynamodb import (
    CLIENT_CONFIG,
    Write,
    attributes,
    plain,
    read_many,
    translated_errors,
    write_once,
)
from smsbridge.ports import FactPage

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from smsbridge.ports import Window

CHECKPOINT_KEY = {"pk": {"S": "SWEEP#recovery"}, "sk": {"S": "CHECKPOINT"}}
CHECKPOINT_FIELDS = ("swept_through", "window_start", "window_end", "window_after", "window_recent")
INDEX_PAGE = 100  # index keys per page: one BatchGetItem of the facts, a few of their claims


class DynamoFacts:
    """``FactSource`` on DynamoDB: both tables' change indexes, and the sweep's checkpoint."""

    def __init__(self, messages_table: str, consent_table: str, *, client: DynamoDBClient | None = None) -> None:
        self.messages_table = messages_table
        self.consent_table = consent_table
        self.client: DynamoDBClient = client or boto3.client("dynamodb", config=CLIENT_CONFIG)

    def pages(self, window: Window, start: str = "") -> Iterator[FactPage]:
        slots = [("messages", slot) for slot in slots_between(window.start, window.end, MESSAGE_BUCKET)]
        slots += [("consent", slot) for slot in slots_between(window.start, window.end, CONSENT_BUCKET)]
        position: dict[str, Any] = json.loads(start) if start else {"slot": 0, "key": None}
        index, key = int(position["slot"]), position.get("key")
        while index < len(slots):
            table, slot = slots[index]
            request = self._index_query(table, slot, window)
            if key:
                request["ExclusiveStartKey"] = key
            with translated_errors(f"read the change index of {request['TableName']}"):
                answer = self.client.query(**request)
            key = answer.get("LastEvaluatedKey")
            if key is None:
                index += 1
            after = json.dumps({"slot": index, "key": key}) if index < len(slots) else ""
            keys = [{"pk": item["pk"], "sk": item["sk"]} for item in answer.get("Items", [])]
            yield FactPage(table, self._facts(table, keys, window), after)

    def _index_query(self, table: str, slot: str, window: Window) -> dict[str, Any]:
        if table == "messages":
            return {"TableName": self.messages_table, "IndexName": MESSAGES_INDEX, "Limit": INDEX_PAGE,
                    "KeyConditionExpression": "change_slot = :slot",
                    "ExpressionAttributeValues": {":slot": {"S": slot}}}  # fmt: skip
        return {"TableName": self.consent_table, "IndexName": CONSENT_INDEX, "Limit": INDEX_PAGE,
                "KeyConditionExpression": "change_slot = :slot AND changed_at BETWEEN :start AND :end",
                "ExpressionAttributeValues": {":slot": {"S": slot}, **_window_values(window)}}  # fmt: skip

    def _facts(self, table: str, keys: list[dict[str, Any]], window: Window) -> list[dict[str, Any]]:
        """The items under ``keys`` that are facts of the window (a message bucket holds more than the window)."""
        if not keys:
            return []
        start, end = window.start.isoformat(), window.end.isoformat()
        if table == "messages":
            items = read_many(self.client, self.messages_table, keys)
            return [item for item in items
                    if (item.get("kind") == "inbound" and start <= str(item.get("received_at")) <= end)
                    or (item.get("kind") == "status" and start <= str(item.get("updated_at")) <= end)]  # fmt: skip
        items = read_many(self.client, self.consent_table, keys)
        return [item for item in items
                if item.get("record_type") == "state"
                or (item.get("record_type") == "event" and item.get("action") == "help")]  # fmt: skip

    def checkpoint(self) -> dict[str, str]:
        with translated_errors(f"read {self.messages_table}"):
            found = self.client.get_item(TableName=self.messages_table, Key=CHECKPOINT_KEY, ConsistentRead=True)
        item = plain(found.get("Item", {}))
        return {name: str(item[name]) for name in CHECKPOINT_FIELDS if name in item}

    def save_checkpoint(self, values: dict[str, str]) -> None:
        present = {name: values[name] for name in CHECKPOINT_FIELDS if values.get(name)}
        absent = [name for name in CHECKPOINT_FIELDS if not values.get(name)]
        update = ("SET " + ", ".join(f"#{name} = :{name}" for name in present) if present else "") + (
            " REMOVE " + ", ".join(f"#{name}" for name in absent) if absent else ""
        )
        request: dict[str, Any] = {
            "TableName": self.messages_table, "Key": CHECKPOINT_KEY, "UpdateExpression": update.strip(),
            "ExpressionAttributeNames": {f"#{name}": name for name in CHECKPOINT_FIELDS},
        }  # fmt: skip
        if present:
            request["ExpressionAttributeValues"] = {f":{name}": v for name, v in attributes(present).items()}
        write_once(self.client, [Write("Update", request)])


def _window_values(window: Window) -> dict[str, Any]:
    return {":start": {"S": window.start.isoformat()}, ":end": {"S": window.end.isoformat()}}
