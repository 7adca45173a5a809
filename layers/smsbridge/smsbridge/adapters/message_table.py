"""The messages table: one item per message that reached smsbridge, written once.

Items are keyed ``pk = MSG#<MessageSid>`` and ``sk = INBOUND`` (a reply) or ``sk = STATUS`` (a message the account
sent). Two more kinds of item live here: ``CONTACT#<number>`` / ``SENDER#<AccountSid>#<our number or Messaging
Service>`` (the CI360 identity last seen for a number, from status callback URLs; v0.1 keyed it ``SCOPE#<scope>``)
and ``SENT#<event key>`` / ``CI360`` (the claim on each CI360 event: who sends it, and what became of it).

Conditions make the writes idempotent: a repeated inbound webhook, or a status callback that does not rank above
the stored status, changes nothing, so the table's stream carries no duplicate. A webhook's consent
facts (consent_table) are written in the same atomic request.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from smsbridge.adapters.consent_table import consent_writes
from smsbridge.adapters.dynamodb import (
    CLIENT_CONFIG,
    Write,
    attribute,
    attributes,
    plain,
    translated_errors,
    write_once,
)
from smsbridge.domain.ci360_events import Correlation
from smsbridge.domain.claims import TICKETED, ClaimAnswer, ClaimRecord, ClaimState, Lane, LaneAnswer, enter_lane
from smsbridge.domain.consent import ConsentEvent
from smsbridge.domain.keywords import ReplyClassification
from smsbridge.domain.payloads import InboundMessage, StatusCallback
from smsbridge.domain.status import CORRECTIONS, StatusRank
from smsbridge.errors import StoreUnavailable

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


def contact_key(phone: str, label: str, account_sid: str) -> dict[str, Any]:
    """The contact memory of ``phone`` for one of ``account_sid``'s numbers or Messaging Services (``label``)."""
    return {"pk": {"S": f"CONTACT#{phone}"}, "sk": {"S": f"SENDER#{account_sid}#{label}"}}


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
        scope), then the scope (the Messaging Service, for events that carry no number)."""
        for label in dict.fromkeys(label for label in (sender, scope) if label):
            with translated_errors(f"read {self.table_name}"):
                key = contact_key(phone, label, account_sid)
                found = self.client.get_item(TableName=self.table_name, Key=key).get("Item")
            if found:
                item = plain(found)
                if datetime.fromisoformat(item["seen_at"]) < now - self.window:
                    continue
                return Correlation(
                    item["datahub_id"], item.get("task_code", ""), item.get("response_tracking_code", "")
                )
        return None


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
