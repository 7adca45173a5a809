"""Event claims and consent lanes in the messages table: the forwarder's exactly-once record.

::

    pk = SENT#<event key>    sk = CI360     the claim on one CI360 event: who sends it, and what became of it
    pk = LANE#<lane>         sk = CONSENT   the consent events of one number and sender, sent one at a time

Rules in ``domain/claims.py``; every write is conditional.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from smsbridge.adapters.dynamodb import (
    CLIENT_CONFIG,
    Write,
    attribute,
    attributes,
    plain,
    translated_errors,
    write_once,
)
from smsbridge.domain.claims import TICKETED, ClaimAnswer, ClaimRecord, ClaimState, Lane, LaneAnswer, enter_lane
from smsbridge.errors import StoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoSentEvents:
    """``SentLedger`` on the messages table: one claim item per CI360 event (``SENT#<event key>`` / ``CI360``),
    claimed and settled with conditional writes (rules: ``domain/claims.py``). No TTL: a claim outlives the facts.

    Items written before claims existed (``sent_at`` and no ``state``) read as accepted.
    """

    def __init__(self, table_name: str, *, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self.client: DynamoDBClient = client or boto3.client("dynamodb", config=CLIENT_CONFIG)

    def claim(self, key: str, *, owner: str, ticket: str, now: datetime, lease_until: datetime) -> ClaimAnswer:
        condition = "attribute_not_exists(pk) OR (#state = :claimed AND #lease_until < :now)"
        values: dict[str, Any] = {":claimed": {"S": ClaimState.CLAIMED.value}, ":now": attribute(_millis(now)),
                                  ":owner": {"S": owner}, ":lease": attribute(_millis(lease_until)),
                                  ":at": {"S": now.isoformat()}}  # fmt: skip
        if ticket:
            ticketed = {f":ticketed{n}": {"S": state.value} for n, state in enumerate(sorted(TICKETED))}
            condition += f" OR (#state IN ({', '.join(ticketed)}) AND #ticket = :ticket)"
            values.update({**ticketed, ":ticket": {"S": ticket}})
        try:
            answer = self.client.update_item(
                TableName=self.table_name,
                Key=_sent_key(key),
                UpdateExpression="SET #state = :claimed, #owner = :owner, #lease_until = :lease, #claimed_at = :at",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#state": "state", "#lease_until": "lease_until", "#owner": "owner",
                                          "#claimed_at": "claimed_at", **({"#ticket": "ticket"} if ticket else {})},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )  # fmt: skip
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise StoreUnavailable(
                    f"DynamoDB refused the claim: {exc.response.get('Error', {}).get('Code')}"
                ) from exc
            return ClaimAnswer(False, self.state_of(key))
        except BotoCoreError as exc:
            raise StoreUnavailable(f"DynamoDB could not be reached to claim: {type(exc).__name__}") from exc
        return ClaimAnswer(True, _claim_record(plain(answer["Attributes"])))

    def settle(self, key: str, *, owner: str, state: ClaimState, at: datetime, reason: str = "", ticket: str = "",
               event_name: str = "", ambiguous: int = 0) -> bool:  # fmt: skip
        values = {"state": state.value, "settled_at": at.isoformat(), "reason": reason or None,
                  "ticket": ticket or None, "event_name": event_name or None,
                  "ambiguous": ambiguous or None}  # fmt: skip
        if state is ClaimState.ACCEPTED:
            values["sent_at"] = at.isoformat()
        present = {name: value for name, value in values.items() if value is not None}
        update = "SET " + ", ".join(f"#{name} = :{name}" for name in present) + " REMOVE #owner, #lease_until"
        request: dict[str, Any] = {
            "TableName": self.table_name, "Key": _sent_key(key), "UpdateExpression": update,
            "ExpressionAttributeNames": {f"#{name}": name for name in [*present, "owner", "lease_until"]},
            "ExpressionAttributeValues": {f":{name}": value for name, value in attributes(present).items()},
        }  # fmt: skip
        if state is not ClaimState.ACCEPTED:
            request["ConditionExpression"] = "#owner = :owner"
            request["ExpressionAttributeValues"][":owner"] = {"S": owner}
        return write_once(self.client, [Write("Update", request)])

    def release(self, key: str, *, owner: str) -> None:
        try:
            self.client.delete_item(TableName=self.table_name, Key=_sent_key(key),
                                    ConditionExpression="#owner = :owner", ExpressionAttributeNames={"#owner": "owner"},
                                    ExpressionAttributeValues={":owner": {"S": owner}})  # fmt: skip
        except (ClientError, BotoCoreError):
            pass  # best effort: the lease runs out anyway

    def state_of(self, key: str) -> ClaimRecord | None:
        with translated_errors(f"read {self.table_name}"):
            found = self.client.get_item(TableName=self.table_name, Key=_sent_key(key), ConsistentRead=True)
        return _claim_record(plain(found["Item"])) if "Item" in found else None


class DynamoConsentLanes:
    """``ConsentLanes`` on the messages table: one ``LANE#<number>|<sender>`` / ``CONSENT`` item per lane (rule:
    ``domain/claims.enter_lane``): its pending order keys (a string set), holder, lease, last accepted order key
    and a version that every write moves on, so that entering is read, decide, write-if-unchanged."""

    def __init__(self, table_name: str, *, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self.client: DynamoDBClient = client or boto3.client("dynamodb", config=CLIENT_CONFIG)

    def register(self, lane: str, order: str) -> None:
        self._update(lane, "ADD #pending :orders, #version :one", {":orders": {"SS": [order]}})

    def forget(self, lane: str, order: str) -> None:
        self._update(lane, "DELETE #pending :orders ADD #version :one", {":orders": {"SS": [order]}})

    def enter(self, lane: str, *, owner: str, order: str, now: datetime, lease_until: datetime) -> LaneAnswer:
        found = self._read(lane)
        answer = enter_lane(found, order=order, now=now)
        if answer is not LaneAnswer.ENTERED:
            return answer
        condition = "#version = :seen" if found else "attribute_not_exists(#version)"
        seen = {":seen": attribute(found.version)} if found else {}
        entered = self._update(lane, "SET #holder = :owner, #lease_until = :lease ADD #version :one",
                               {":owner": {"S": owner}, ":lease": attribute(_millis(lease_until)), **seen},
                               condition=condition)  # fmt: skip
        return LaneAnswer.ENTERED if entered else LaneAnswer.BUSY  # changed meanwhile: look again shortly

    def leave(self, lane: str, *, owner: str, settled: str = "", accepted: bool = False) -> None:
        update, condition = "REMOVE #holder, #lease_until ADD #version :one", ""
        values: dict[str, Any] = {":owner": {"S": owner}}
        if settled:
            update += " DELETE #pending :orders"
            values[":orders"] = {"SS": [settled]}
        if settled and accepted:
            update = "SET #last_order = :order " + update
            values[":order"] = {"S": settled}
            condition = " AND (attribute_not_exists(#last_order) OR #last_order < :order)"
        if self._update(lane, update, values, condition="#holder = :owner" + condition):
            return
        # Its lease ran out and another event holds the lane now: still record what is settled.
        if settled:
            self.forget(lane, settled)
        if settled and accepted:
            self._update(lane, "SET #last_order = :order", {":order": {"S": settled}},
                         condition="attribute_not_exists(#last_order) OR #last_order < :order")  # fmt: skip

    def _update(self, lane: str, update: str, values: dict[str, Any], *, condition: str = "") -> bool:
        names = {f"#{name}": name for name in ("pending", "version", "holder", "lease_until", "last_order")
                 if f"#{name}" in update + condition}  # fmt: skip
        request: dict[str, Any] = {"TableName": self.table_name, "Key": _lane_key(lane), "UpdateExpression": update,
                                   "ExpressionAttributeNames": names,
                                   "ExpressionAttributeValues": {":one": {"N": "1"}, **values}}  # fmt: skip
        if ":one" not in update:
            del request["ExpressionAttributeValues"][":one"]
        if condition:
            request["ConditionExpression"] = condition
        unused = [key for key in request["ExpressionAttributeValues"] if key not in update + condition]
        for key in unused:
            del request["ExpressionAttributeValues"][key]
        return write_once(self.client, [Write("Update", request)])

    def _read(self, lane: str) -> Lane | None:
        with translated_errors(f"read {self.table_name}"):
            found = self.client.get_item(TableName=self.table_name, Key=_lane_key(lane), ConsistentRead=True)
        if "Item" not in found:
            return None
        item = plain(found["Item"])
        lease = item.get("lease_until")
        return Lane(
            holder=str(item.get("holder", "")),
            lease_until=datetime.fromtimestamp(int(lease) / 1000, UTC) if lease is not None else None,
            last_order=str(item.get("last_order", "")),
            pending=frozenset(str(order) for order in item.get("pending", set())),
            version=int(item.get("version", 0)),
        )


def _lane_key(lane: str) -> dict[str, Any]:
    return {"pk": {"S": f"LANE#{lane}"}, "sk": {"S": "CONSENT"}}


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _claim_record(item: dict[str, Any]) -> ClaimRecord:
    lease = item.get("lease_until")
    return ClaimRecord(
        state=ClaimState(item.get("state", ClaimState.ACCEPTED.value)),
        owner=str(item.get("owner", "")),
        lease_until=datetime.fromtimestamp(int(lease) / 1000, UTC) if lease is not None else None,
        ticket=str(item.get("ticket", "")),
        ambiguous=int(item.get("ambiguous", 0)),
        reason=str(item.get("reason", "")),
    )


def _sent_key(key: str) -> dict[str, Any]:
    return {"pk": {"S": f"SENT#{key}"}, "sk": {"S": "CI360"}}
