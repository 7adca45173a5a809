"""Event claims and consent lanes in the messages table: the forwarder's exactly-once record.

::

    pk = SENT#<event key>    sk = CI360     the claim on one CI360 event: who sends it, and what became of it
    pk = LANE#<lane>         sk = CONSENT   the consent events of one number and sender, sent one at a time, and
                                            the ones waiting their turn

Rules in ``domain/claims.py``; every write is conditional. A claim, an entry and a waiting note each write a value
only their writer has (owner, holder, ticket), so a write the SDK sent twice, its first answer lost, is still known
as the writer's own when the second attempt is refused (``conditional_write``'s ``mine``).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from smsbridge.adapters.dynamodb import (
    CLIENT_CONFIG,
    Write,
    attribute,
    attributes,
    conditional_write,
    plain,
    read_many,
    translated_errors,
    write_once,
)
from smsbridge.adapters.queues import parked_event, parked_message
from smsbridge.domain.claims import (
    TICKETED,
    ClaimAnswer,
    ClaimRecord,
    ClaimState,
    Lane,
    LaneAnswer,
    LaneEntry,
    LaneWaiter,
    enter_lane,
    may_claim,
    next_waiter,
)

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
        """One conditional write: a new claim, or a ticketed one taken up again. When that fails, the claim it found
        (returned by the refused write: no read) may be an abandoned one, whose claimant died after claiming and
        perhaps after sending: taking it over is a second write that also counts that attempt as a lost answer
        (``ambiguous``), so that the copy bound holds for attempts nobody saw end."""
        condition = "attribute_not_exists(pk)"
        values: dict[str, Any] = {":owner": {"S": owner}, ":lease": attribute(_millis(lease_until)),
                                  ":at": {"S": now.isoformat()},
                                  ":claimed": {"S": ClaimState.CLAIMED.value}}  # fmt: skip
        if ticket:
            ticketed = {f":ticketed{n}": {"S": state.value} for n, state in enumerate(sorted(TICKETED))}
            condition += f" OR (#state IN ({', '.join(ticketed)}) AND #ticket = :ticket)"
            values.update({**ticketed, ":ticket": {"S": ticket}})
        granted, found = self._claim_write(key, condition, values, ticket=bool(ticket))
        if (
            granted
            or found is None
            or not may_claim(found, ticket="", now=now)
            or found.state is not ClaimState.CLAIMED
        ):
            return ClaimAnswer(granted, found)
        takeover = {":owner": values[":owner"], ":lease": values[":lease"], ":at": values[":at"],
                    ":claimed": values[":claimed"], ":now": attribute(_millis(now)), ":one": {"N": "1"},
                    ":dead": {"S": found.owner}}  # fmt: skip
        granted, taken = self._claim_write(key, "#state = :claimed AND #lease_until < :now AND #owner = :dead",
                                           takeover, ticket=False, lost=True)  # fmt: skip
        return ClaimAnswer(granted, taken)

    def _claim_write(self, key: str, condition: str, values: dict[str, Any], *, ticket: bool,
                     lost: bool = False) -> tuple[bool, ClaimRecord | None]:  # fmt: skip
        """The claim's UpdateItem: (True, the claim as written), or (False, the claim that refused it)."""
        update = "SET #state = :claimed, #owner = :owner, #lease_until = :lease, #claimed_at = :at"
        names = {"#state": "state", "#lease_until": "lease_until", "#owner": "owner", "#claimed_at": "claimed_at"}
        if ticket:
            names["#ticket"] = "ticket"
        if lost:  # the attempt of the claimant that died: its answer, if any, never came back
            update += " ADD #ambiguous :one"
            names["#ambiguous"] = "ambiguous"
        request = {"TableName": self.table_name, "Key": _sent_key(key), "UpdateExpression": update,
                   "ConditionExpression": condition, "ExpressionAttributeNames": names,
                   "ExpressionAttributeValues": values}  # fmt: skip
        ours = {"owner": values[":owner"], "state": values[":claimed"]}  # an owner is one attempt's, never reused
        written, item = conditional_write(self.client, "Update", request, "the claim", mine=ours)
        return written, _claim_record(plain(item)) if item else None

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

    def claims_of(self, keys: list[str]) -> dict[str, ClaimRecord]:
        """The claims on record for ``keys`` (BatchGetItem, eventually consistent: the recovery sweep's look, which
        a claim then settles), by event key; a key with no claim is absent."""
        found = read_many(self.client, self.table_name, [_sent_key(key) for key in dict.fromkeys(keys)])
        return {str(item["pk"]).removeprefix("SENT#"): _claim_record(item) for item in found}

    def retire_ticket(self, key: str, *, reason: str) -> bool:
        """Give a parked, held, dead-lettered or unconfirmed claim a ticket no message carries (``smsbridge
        forget``): every copy of its event, due on the retry queue or replayed, then falls away unsent. False when
        the claim is in no such state."""
        ticketed = {f":ticketed{n}": {"S": state.value} for n, state in enumerate(sorted(TICKETED))}
        request: dict[str, Any] = {
            "TableName": self.table_name, "Key": _sent_key(key),
            "UpdateExpression": "SET #ticket = :retired, #reason = :reason",
            "ConditionExpression": f"#state IN ({', '.join(ticketed)})",
            "ExpressionAttributeNames": {"#ticket": "ticket", "#reason": "reason", "#state": "state"},
            "ExpressionAttributeValues": {**ticketed, ":retired": {"S": "retired"}, ":reason": {"S": reason}},
        }  # fmt: skip
        return write_once(self.client, [Write("Update", request)])


class DynamoConsentLanes:
    """``ConsentLanes`` on the messages table: one ``LANE#<number>|<sender>`` / ``CONSENT`` item per lane (rules:
    ``domain/claims.enter_lane`` and ``next_waiter``): its pending order keys (a string set), holder, lease, last
    accepted order key, a version that every write moves on, and one ``waiting#<order key>`` attribute
    per waiting event (the parked message, as the retry queue holds it).

    Entering is one conditional write when the lane is free and nothing else is pending (the usual case: no read);
    otherwise the refused write's old item (``ReturnValuesOnConditionCheckFailure``) is decided on and the entry
    written only if the version is unchanged. Leaving and forgetting return the lane as written, so the caller
    learns in the same request whom to send next.
    """

    def __init__(self, table_name: str, *, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self.client: DynamoDBClient = client or boto3.client("dynamodb", config=CLIENT_CONFIG)

    def register(self, lane: str, order: str) -> None:
        self._update(lane, "ADD #pending :orders, #version :one", {":orders": {"SS": [order]}})

    def enter(self, lane: str, *, owner: str, order: str, now: datetime, lease_until: datetime) -> LaneEntry:
        take = "SET #holder = :owner, #lease_until = :lease REMOVE #note ADD #version :one, #pending :orders"
        values: dict[str, Any] = {":owner": {"S": owner}, ":lease": attribute(_millis(lease_until)),
                                  ":orders": {"SS": [order]}, ":order": {"S": order},
                                  ":now": attribute(_millis(now))}  # fmt: skip
        free = (
            "(attribute_not_exists(#holder) OR #lease_until < :now)"
            " AND (attribute_not_exists(#last_order) OR #last_order < :order)"
            " AND (attribute_not_exists(#pending) OR (size(#pending) = :one AND contains(#pending, :order)))"
        )
        held = {"holder": {"S": owner}}
        entered, old = self._update(lane, take, values, condition=free, note=order, mine=held)
        if entered:
            return LaneEntry(LaneAnswer.ENTERED)
        found = _lane(old) if old is not None else self._read(lane)
        answer = enter_lane(found, order=order, now=now)
        seen = found.version if found else 0
        if answer is not LaneAnswer.ENTERED:
            return LaneEntry(answer, seen)
        # The rule lets it in though the quick condition did not (only later events pending): enter if unchanged.
        unchanged = "#version = :seen" if found else "attribute_not_exists(#version)"
        entered, _ = self._update(lane, take, {**values, ":seen": attribute(seen)}, condition=unchanged, note=order,
                                  mine=held)  # fmt: skip
        return LaneEntry(LaneAnswer.ENTERED if entered else LaneAnswer.BUSY, seen)  # changed: the note will fail

    def wait(self, lane: str, waiter: LaneWaiter, *, seen: int) -> bool:
        message = parked_message(waiter.event, attempt=waiter.attempt, reason="waiting for its lane",
                                 ticket=waiter.ticket)  # fmt: skip
        values = {":waiter": {"S": json.dumps(message)}, ":orders": {"SS": [waiter.order]}, ":seen": attribute(seen)}
        noted, _ = self._update(lane, "SET #note = :waiter ADD #pending :orders, #version :one", values,
                                condition="#version = :seen", note=waiter.order,
                                mine={WAITING + waiter.order: values[":waiter"]})  # fmt: skip
        return noted

    def leave(self, lane: str, *, owner: str, settled: str = "", accepted: bool = False) -> LaneWaiter | None:
        update, condition = "REMOVE #holder, #lease_until ADD #version :one", "#holder = :owner"
        values: dict[str, Any] = {":owner": {"S": owner}}
        if settled:
            update += " DELETE #pending :orders"
            values[":orders"] = {"SS": [settled]}
        if settled and accepted:
            update = "SET #last_order = :order " + update
            values[":order"] = {"S": settled}
            condition += " AND (attribute_not_exists(#last_order) OR #last_order < :order)"
        left, item = self._update(lane, update, values, condition=condition)
        if left:
            return next_waiter(_lane(item or {}))
        # Its lease ran out and another event holds the lane now: still record what is settled.
        waiter = self.forget(lane, settled) if settled else None
        if settled and accepted:
            self._update(lane, "SET #last_order = :order", {":order": {"S": settled}},
                         condition="attribute_not_exists(#last_order) OR #last_order < :order")  # fmt: skip
        return waiter

    def forget(self, lane: str, order: str) -> LaneWaiter | None:
        _, item = self._update(lane, "DELETE #pending :orders REMOVE #note ADD #version :one",
                               {":orders": {"SS": [order]}}, note=order)  # fmt: skip
        return next_waiter(_lane(item or {}))

    def _update(
        self,
        lane: str,
        update: str,
        values: dict[str, Any],
        *,
        condition: str = "",
        note: str = "",
        mine: dict[str, Any] | None = None,
    ) -> tuple[bool, dict[str, Any] | None]:
        """One UpdateItem: (True, the item as written), or (False, the item as it was) when ``condition`` failed.
        ``note``: the order key whose waiting attribute ``#note`` names; ``mine``: as ``conditional_write``'s."""
        text = update + " " + condition
        names = {name: _LANE_ATTRIBUTES.get(name, "") for name in set(re.findall(r"#\w+", text))}
        if "#note" in names:
            names["#note"] = WAITING + note
        every = {":one": {"N": "1"}, **values}
        used = {key: every[key] for key in set(re.findall(r":\w+", text))}
        request: dict[str, Any] = {"TableName": self.table_name, "Key": _lane_key(lane), "UpdateExpression": update,
                                   "ExpressionAttributeNames": names, "ExpressionAttributeValues": used}  # fmt: skip
        if condition:
            request["ConditionExpression"] = condition
        written, item = conditional_write(self.client, "Update", request, "the lane write", mine=mine)
        return written, item if written or item else None

    def _read(self, lane: str) -> Lane | None:
        with translated_errors(f"read {self.table_name}"):
            found = self.client.get_item(TableName=self.table_name, Key=_lane_key(lane), ConsistentRead=True)
        return _lane(found["Item"]) if "Item" in found else None


WAITING = "waiting#"  # the attribute holding a waiting event's note: this prefix, then its order key
_LANE_ATTRIBUTES = {f"#{name}": name for name in ("pending", "version", "holder", "lease_until", "last_order")}


def _lane(item: dict[str, Any]) -> Lane:
    """A lane item (DynamoDB JSON) as the rules see it."""
    plain_item = plain(item)
    lease = plain_item.get("lease_until")
    waiting = {}
    for name, value in plain_item.items():
        if name.startswith(WAITING):
            order, parked = name.removeprefix(WAITING), parked_event(str(value))
            waiting[order] = LaneWaiter(order, parked.event, parked.attempt, parked.ticket)
    return Lane(
        holder=str(plain_item.get("holder", "")),
        lease_until=datetime.fromtimestamp(int(lease) / 1000, UTC) if lease is not None else None,
        last_order=str(plain_item.get("last_order", "")),
        pending=frozenset(str(order) for order in plain_item.get("pending", set())),
        version=int(plain_item.get("version", 0)),
        waiting=waiting,
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
