"""The consent ledger table: current state per (phone, scope) and the append-only history of consent events.

::

    pk = PHONE#<phone>   sk = SCOPE#<account>#<scope>                       the state (status, the event that set it)
    pk = PHONE#<phone>   sk = EVENT#<account>#<scope>#<event id>#<action>   one history entry per event, never changed

``<account>#`` is the AccountSid of the webhook that brought the fact. Facts that come with no account (CSV imports
without an ``account_sid`` column, ``source = import``) are keyed by the bare scope, apart from every account's.
v0.1 keyed its webhook facts that way too; ``smsbridge migrate`` (``ops/migrate.py``) rewrites them to their
account's keys, and this module reads and writes only the keys above.

A history entry is written only if it is new; the state only if the event is newer than the one that set it. Both
are written in one atomic request (after the webhook's message record, when the event came with a webhook:
``message_table.py``), and an entry already in the history cancels the whole request: evidence (a MessageSid) on
record changes nothing again, whatever has happened to the message record since (the messages table's TTL). The
history never expires. States and HELP entries carry ``change_slot`` / ``changed_at`` for the ``ByChange`` index
(``change_index.py``), which the preference sync and the recovery sweep read instead of scanning. Items written
before the indexes lack ``change_slot`` and are not in them (``smsbridge migrate`` adds it to the v0.1 states it
moves).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3

from smsbridge.adapters.change_index import CONSENT_BUCKET, CONSENT_INDEX, SHARDS, change_slot, slots_between
from smsbridge.adapters.dynamodb import CLIENT_CONFIG, Write, attributes, paged, plain, translated_errors, write_once
from smsbridge.domain.consent import ConsentEvent, ConsentStatus, scoped

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

CHANGES_PAGE = 500  # index entries per page of a changes read


def consent_writes(table: str, event: ConsentEvent | None, recorded_at: datetime) -> list[Write]:
    """The history entry for ``event`` and, when it sets a state, the conditional state update."""
    if event is None:
        return []
    entry = {
        "record_type": "event",
        "phone": event.phone,
        "scope": event.scope,
        "action": event.action.value,
        "effect": event.new_status.value if event.new_status else "none",
        "source": event.source.value,
        "occurred_at": event.occurred_at.isoformat(),
        "order_key": event.order_key,
        "event_id": event.event_id,
        "rule": event.rule or None,
        "keyword": event.keyword,
        "matcher_version": event.matcher_version,
        "account_sid": event.account_sid,
        "sender": event.sender,
        "recorded_at": recorded_at.isoformat(),
    }
    if event.action.value == "help":  # a HELP entry is an event of its own: in the change index, for the sweep
        entry |= {
            "changed_at": recorded_at.isoformat(),
            "change_slot": change_slot(recorded_at, event.phone, CONSENT_BUCKET),
        }
    history = Write(
        "Put",
        {
            "TableName": table,
            "Item": {**history_key(event), **attributes(entry)},
            "ConditionExpression": "attribute_not_exists(pk)",
        },
        required=True,  # evidence already in the history: the whole webhook changes nothing, at any age
    )  # fmt: skip
    if event.new_status is None:
        return [history]
    state: dict[str, Any] = {
        "record_type": "state",
        "phone": event.phone,
        "scope": event.scope,
        "status": event.new_status.value,
        "updated_at": event.occurred_at.isoformat(),
        "order_key": event.order_key,
        "source": event.source.value,
        "event_id": event.event_id,
        "account_sid": event.account_sid,
        "sender": event.sender,
        "changed_at": recorded_at.isoformat(),  # when the ledger changed: what a sync to CI360 follows
        "change_slot": change_slot(recorded_at, event.phone, CONSENT_BUCKET),  # ... through the ByChange index
    }
    present = {name: value for name, value in state.items() if value is not None}
    update = Write(
        "Update",
        {
            "TableName": table,
            "Key": state_key(event.phone, event.scope_key),
            "UpdateExpression": "SET " + ", ".join(f"#{name} = :{name}" for name in present),
            "ConditionExpression": "attribute_not_exists(#order_key) OR #order_key < :order_key",
            "ExpressionAttributeNames": {f"#{name}": name for name in present},
            "ExpressionAttributeValues": {f":{name}": value for name, value in attributes(present).items()},
        },
    )
    return [history, update]


def history_key(event: ConsentEvent) -> dict[str, Any]:
    return entry_key(event.phone, event.scope_key, event.event_id, event.action.value)


def entry_key(phone: str, scope_key: str, event_id: str, action: str) -> dict[str, Any]:
    """The key of one history entry; ``scope_key``: ``<AccountSid>#<scope>``, or the scope for a fact without one."""
    return _key(phone, f"EVENT#{scope_key}#{event_id}#{action}")


def state_key(phone: str, scope_key: str) -> dict[str, Any]:
    """The key of the state of (phone, scope key)."""
    return _key(phone, f"SCOPE#{scope_key}")


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _key(phone: str, sort_key: str) -> dict[str, Any]:
    return {"pk": {"S": f"PHONE#{phone}"}, "sk": {"S": sort_key}}


@dataclass(frozen=True)
class ConsentRecord:
    """A number's consent for one scope: its state and the history that led to it."""

    phone: str
    scope: str
    status: ConsentStatus | None
    updated_at: str | None
    source: str | None
    history: list[dict[str, Any]]
    account_sid: str | None = None


class ConsentLedger:
    """Reads and writes the consent table (the CLI's view; the webhook writes through ``DynamoMessageStore``)."""

    def __init__(self, table_name: str, *, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self.client: DynamoDBClient = client or boto3.client("dynamodb", config=CLIENT_CONFIG)

    def record(self, event: ConsentEvent, *, recorded_at: datetime) -> bool:
        """Record one event; False when it was already on record."""
        return write_once(self.client, consent_writes(self.table_name, event, recorded_at))

    def state(self, phone: str, scope: str, account_sid: str | None = None) -> dict[str, Any] | None:
        """The current state of (phone, scope) in ``account_sid`` (none: facts recorded without one), or None."""
        return self._item(state_key(phone, scoped(account_sid, scope)))

    def has_event(self, event: ConsentEvent) -> bool:
        return self._item(history_key(event)) is not None

    def _item(self, key: dict[str, Any]) -> dict[str, Any] | None:
        with translated_errors(f"read {self.table_name}"):
            found = self.client.get_item(TableName=self.table_name, Key=key, ConsistentRead=True).get("Item")
        return plain(found) if found else None

    def get(self, phone: str) -> list[ConsentRecord]:
        """Every (account, scope) this number has consent facts for, each with its state and ordered history."""
        items = list(self._query_phone(phone))
        records = []
        for account, scope in sorted({(i.get("account_sid") or "", i["scope"]) for i in items}):
            mine = [i for i in items if (i.get("account_sid") or "", i["scope"]) == (account, scope)]
            state = next((i for i in mine if i["record_type"] == "state"), None)
            history = sorted((i for i in mine if i["record_type"] == "event"), key=lambda i: i["order_key"])
            records.append(ConsentRecord(
                phone=phone, scope=scope, status=ConsentStatus(state["status"]) if state else None,
                updated_at=state["updated_at"] if state else None, source=state["source"] if state else None,
                history=history, account_sid=account or None,
            ))  # fmt: skip
        return records

    def states(self, *, scope: str | None = None) -> Iterator[dict[str, Any]]:
        """Every current state (of one scope, when given), page by page: a Scan, for the operator's listings and
        exports, which read every state anyway. Nothing scheduled or on a webhook's path calls it; an index by scope
        would cost a write unit on every consent change for a listing that reads the whole ledger regardless."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "FilterExpression": "record_type = :state" + (" AND #scope = :scope" if scope else ""),
            "ExpressionAttributeValues": {":state": {"S": "state"}, **({":scope": {"S": scope}} if scope else {})},
            **({"ExpressionAttributeNames": {"#scope": "scope"}} if scope else {}),
        }
        yield from self._pages("scan", request)

    def changed_states(self, after: str, until: str) -> Iterator[dict[str, Any]]:
        """States the ledger changed in (``after``, ``until``] (ISO times), oldest change first, read lazily through
        the ``ByChange`` index (each shard of each day, merged): ``phone``, ``changed_at`` and the keys only. Reads
        what it yields and a page more, whatever the ledger holds."""
        for day in _chunks(slots_between(after, until, CONSENT_BUCKET), SHARDS):
            shards = [self._changes(slot, after, until) for slot in day]
            yield from heapq.merge(*shards, key=lambda state: str(state["changed_at"]))

    def _changes(self, slot: str, after: str, until: str) -> Iterator[dict[str, Any]]:
        request = {
            "TableName": self.table_name,
            "IndexName": CONSENT_INDEX,
            "KeyConditionExpression": "change_slot = :slot AND changed_at BETWEEN :after AND :until",
            "FilterExpression": "record_type = :state",
            "ExpressionAttributeValues": {":slot": {"S": slot}, ":after": {"S": after}, ":until": {"S": until},
                                          ":state": {"S": "state"}},
            "Limit": CHANGES_PAGE,
        }  # fmt: skip
        return (state for state in self._pages("query", request) if state["changed_at"] != after)

    def states_of(self, phone: str) -> list[dict[str, Any]]:
        """Every current state of ``phone`` (one per sender): its states only, not its history."""
        request = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :state)",
            "ExpressionAttributeValues": {":pk": {"S": f"PHONE#{phone}"}, ":state": {"S": "SCOPE#"}},
            "ConsistentRead": True,
        }
        return list(self._pages("query", request))

    def _query_phone(self, phone: str) -> Iterator[dict[str, Any]]:
        request = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"PHONE#{phone}"}},
            "ConsistentRead": True,
        }
        yield from self._pages("query", request)

    def _pages(self, operation: str, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        return paged(self.client, operation, request)
