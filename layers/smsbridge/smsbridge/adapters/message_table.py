"""The messages table: one item per message that reached smsbridge, written once.

Items are keyed ``pk = MSG#<MessageSid>`` and ``sk = INBOUND`` (a reply) or ``sk = STATUS`` (a message the account
sent). Two more kinds of item live in this table, each with its own adapter: the contact memory (``contacts.py``:
the CI360 identity last seen for a number, from status callback URLs) and the forwarder's event claims and consent
lanes (``event_claims.py``).

Conditions make the writes idempotent: a repeated inbound webhook, or a status callback that does not rank above
the stored status, changes nothing, so the table's stream carries no duplicate. A webhook flagged ``unverified``
(``domain/field_forms.py``: perhaps a re-cut copy) is recorded only where nothing is, with the flag, and never
stands in the way of the request Twilio sent: a verified copy replaces it (its consent facts written then), and a
callback's query (CI360 correlation) and contact memory are taken from verified callbacks only.

A message record expires (TTL); a consent fact's history entry never does, and cancels any later copy of its
message. A reply that left no consent fact but begins like a keyword (``Start Fresh``, ``Yes please``) could be
re-cut into one (``Body=Start `` + ``Fresh=``) once its record has expired, so it leaves a tombstone
(``sk = SEEN``: the MessageSid and a date, no text or number, no TTL) that any later copy of it must not find.

An inbound webhook's consent facts (consent_table) follow its record, in one atomic request of their own
(``record_inbound``); a status callback's are written in the same atomic request as its record. The contact memory
is written once per message, before its record (``_contact_memory_due``), in writes of its own: a transaction
costs twice the units.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3

from smsbridge.adapters.change_index import MESSAGE_BUCKET, change_slot
from smsbridge.adapters.consent_table import consent_writes
from smsbridge.adapters.contacts import DEFAULT_ATTRIBUTION_WINDOW, DynamoContacts, contact_key
from smsbridge.adapters.dynamodb import (
    CLIENT_CONFIG,
    Write,
    attributes,
    conditional_write,
    plain,
    translated_errors,
    write_once,
)
from smsbridge.domain.ci360_events import Correlation, callback_query, parse_correlation
from smsbridge.domain.consent import ConsentEvent
from smsbridge.domain.keywords import ReplyClassification
from smsbridge.domain.payloads import InboundMessage, StatusCallback, in_doubt
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
        attribution_window: timedelta = DEFAULT_ATTRIBUTION_WINDOW,
        client: DynamoDBClient | None = None,
    ) -> None:
        self.table_name = table_name
        self.consent_table = consent_table
        self.retention = retention
        self.client: DynamoDBClient = client or boto3.client("dynamodb", config=CLIENT_CONFIG)
        self.contacts = DynamoContacts(table_name, window=attribution_window, client=self.client)

    def attribution(self, message: InboundMessage, received_at: datetime) -> str:
        """The CI360 correlation of the newest message this account sent the person from the number (or service)
        they answered, as Twilio had reported it when the reply arrived, as a callback query ("" for none): stored
        with the reply and its consent facts, so that no later message and no forwarding delay changes whom it is
        credited to (one read of the contact memory per inbound message)."""
        found = self.contacts.latest(message.sender, message.scope, now=received_at, account_sid=message.account_sid,
                                     sender=message.recipient)  # fmt: skip
        return callback_query(found) if found else ""

    def record_inbound(
        self,
        message: InboundMessage,
        reading: ReplyClassification,
        consent: ConsentEvent | None,
        *,
        received_at: datetime,
        delivery_id: str,
    ) -> bool:
        replied = reading.intent.value == "reply"
        doubtful = in_doubt(message)  # a request that may be re-cut: recorded flagged, giving way to another copy
        unverified, unusual = _flags(message.unverified, doubtful)
        attributed = "" if doubtful else self.attribution(message, received_at)  # its sender is in doubt: nobody
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
            # the sweep's index, for a reply only: a keyword's record carries no event (its consent state does)
            "change_slot": change_slot(received_at, message.message_sid, MESSAGE_BUCKET) if replied else None,
            "unverified": unverified,
            "unusual": unusual,
            "attributed_query": attributed,  # whom CI360 credits the reply to ("": nobody), as of its arrival
        }
        put = Write(
            "Put",
            {
                "TableName": self.table_name,
                "Item": {**message_key(message.message_sid, "INBOUND"), **attributes(item)},
                # a verified copy replaces an unverified one; an unverified one is recorded only where nothing is
                "ConditionExpression": "attribute_not_exists(pk)"
                + ("" if doubtful else " OR attribute_exists(unverified)"),
            },
        )
        consent_facts = consent_writes(
            self.consent_table, consent, received_at, attributed=attributed, doubtful=doubtful
        )
        if not consent_facts:
            writes = [put]
            if reading.starts_like_keyword:
                writes.append(self._tombstone(message.message_sid, received_at, check_only=doubtful))
            return write_once(self.client, writes)
        # A consent keyword: its record first, alone (a transaction costs twice a plain write per item), then its
        # history entry and state in one transaction, the entry required. A record already on file stops it, unless
        # it is this same keyword's (a copy that died before its consent was written): then the history decides.
        written, found = conditional_write(self.client, "Put", put.request, "the message record")
        if not written and (plain(found).get("intent"), plain(found).get("keyword")) != (
            item["intent"],
            item["keyword"],
        ):
            return False
        return write_once(self.client, consent_facts)

    def _tombstone(self, message_sid: str, received_at: datetime, *, check_only: bool) -> Write:
        """The message's tombstone, required absent: written by a verified record, checked by an unverified one
        (which must not stand in the way of the verified request that may follow)."""
        key = message_key(message_sid, "SEEN")
        condition = {"TableName": self.table_name, "ConditionExpression": "attribute_not_exists(pk)"}
        if check_only:
            return Write("ConditionCheck", {**condition, "Key": key}, required=True)
        item = {**key, **attributes({"seen_at": received_at.date().isoformat()})}
        return Write("Put", {**condition, "Item": item}, required=True)

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
        doubtful = in_doubt(callback)  # a request that may be re-cut: flagged, and its correlation not kept
        unverified, unusual = _flags(callback.unverified, doubtful)
        values = {
            **_common(callback, received_at, self.retention),
            "kind": "status",
            "status": callback.status.value,
            "status_rank": int(StatusRank.of(callback.status)),
            "error_code": callback.error_code,
            "raw_dlr_done_date": callback.raw_dlr_done_date,
            "callback_query": None if doubtful else (callback_query or None),
            "updated_at": received_at.isoformat(),
            "delivery_id": delivery_id or None,
            # the sweep's index: unchanged (no index write) while the callbacks stay in one 10-minute bucket
            "change_slot": change_slot(received_at, callback.message_sid, MESSAGE_BUCKET),
            "unverified": unverified,
            "unusual": unusual,
        }
        update = Write("Update", {"TableName": self.table_name, **_status_update(callback, values, received_at)})
        if correlation and not doubtful and self._contact_memory_due(callback, correlation):
            write_once(self.client, [self._contact_write(callback, correlation, received_at)])  # False: a newer one
        attributed = callback_query if correlation and not doubtful else None  # a 21610 is this message's
        consent_facts = consent_writes(
            self.consent_table, consent, received_at, attributed=attributed, doubtful=doubtful
        )
        return write_once(self.client, [update, *consent_facts])

    def _contact_memory_due(self, callback: StatusCallback, correlation: Correlation) -> bool:
        """Whether this callback writes the contact memory: once per message, not once per callback.

        The memory is written before the message record that carries its correlation, so a record holding this
        callback's correlation, number and Messaging Service says the memory was written (by this message's first
        callback, or a copy of it). A callback that finds no such record writes it: one retried after a failure
        half-way, one overtaken by a later callback of its message, copies side by side. The read may be stale
        (eventually consistent, half the units): a stale answer only writes the memory once more.
        """
        names = {"#query": "callback_query", "#sender": "sender", "#service": "messaging_service_sid"}
        with translated_errors(f"read {self.table_name}"):
            found = self.client.get_item(
                TableName=self.table_name,
                Key=message_key(callback.message_sid, "STATUS"),
                ProjectionExpression=", ".join(names),
                ExpressionAttributeNames=names,
            ).get("Item")
        if not found:
            return True
        stored = plain(found)
        return (
            parse_correlation(stored.get("callback_query", "")) != correlation
            or stored.get("sender", "") != callback.sender
            or stored.get("messaging_service_sid", "") != (callback.messaging_service_sid or "")
        )

    def _contact_write(self, callback: StatusCallback, correlation: Correlation, seen_at: datetime) -> Write:
        """Remember who this number is in CI360 and which task last messaged it from this account's number, with
        the Messaging Service the send went through (one item: ``DynamoContacts.latest`` finds it by either), so
        a later reply can be attributed whichever way Twilio labels its scope (only ever moved forward in time)."""
        values = {
            "messaging_service_sid": callback.messaging_service_sid or None,
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
                "Key": contact_key(
                    callback.recipient, callback.sender or callback.messaging_service_sid or "", callback.account_sid
                ),
                "UpdateExpression": "SET " + ", ".join(f"#{name} = :{name}" for name in present),
                "ConditionExpression": "attribute_not_exists(#seen_at) OR #seen_at <= :seen_at",
                "ExpressionAttributeNames": {f"#{name}": name for name in present},
                "ExpressionAttributeValues": {f":{name}": value for name, value in attributes(present).items()},
            },
        )


def _flags(reasons: tuple[str, ...], doubtful: bool) -> tuple[str | None, str | None]:
    """The record's ``unverified`` (a request in doubt: another copy may replace it) and ``unusual`` (only a name
    Twilio does not document: recorded as any other) attributes."""
    text = ",".join(reasons) or None
    return (text, None) if doubtful else (None, text)


def _status_update(callback: StatusCallback, values: dict[str, Any], received_at: datetime) -> dict[str, Any]:
    present = {name: value for name, value in values.items() if value is not None}
    absent = [name for name, value in values.items() if value is None]
    entry = {"status": callback.status.value, "at": received_at.isoformat(), "error_code": callback.error_code}
    update = "SET " + ", ".join(f"#{name} = :{name}" for name in present)
    update += ", #history = list_append(if_not_exists(#history, :empty), :entry)"
    if absent:
        update += " REMOVE " + ", ".join(f"#{name}" for name in absent)
    condition = "attribute_not_exists(#status_rank)"  # an unverified callback: recorded only where nothing is
    extra: dict[str, Any] = {}
    if not in_doubt(callback):  # ranks above the stored status, or replaces an unverified copy
        condition += " OR #status_rank < :status_rank OR attribute_exists(#unverified)"
        corrected = CORRECTIONS.get(callback.status)
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
        "sender": message.sender or None,  # none: a status callback of a Messaging Service without a sender
        "recipient": message.recipient,
        "messaging_service_sid": message.messaging_service_sid,
        "scope": message.scope,
        "fields": {name: value for name, value in message.fields.items() if value != ""} or None,
        "expires_at": int((received_at + retention).timestamp()),
    }
