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

A number erased on request (``smsbridge forget``, docs/erasure.md) keeps its states and history under its keyed
hash (``adapters/erasure_key.py``), with the same sort keys and without the number or the index attributes::

    pk = ERASED#<HMAC-SHA256 of the phone>   sk = SCOPE#… | EVENT#…   record_type erased_state | erased_event
    pk = AUDIT#erasure                       sk = <time>#<id>         record_type erasure: when, who, the counts

``ConsentLedger.get`` (with an erasure key) reads both keys and merges them per (account, scope). A later fact for
the number is new data and is written in clear, as for any number; the hashed items stay, superseded by the clear
state of the same (account, scope) only. The preference sync (``states_of``) reads the clear key only.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from smsbridge.adapters.change_index import CONSENT_BUCKET, CONSENT_INDEX, SHARDS, change_slot, slots_between
from smsbridge.adapters.dynamodb import CLIENT_CONFIG, Write, attributes, paged, plain, translated_errors, write_once
from smsbridge.domain.consent import ConsentCheck, ConsentEvent, ConsentStatus, scoped
from smsbridge.errors import NotConfigured, StoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from smsbridge.adapters.erasure_key import ErasureKey

CHANGES_PAGE = 500  # index entries per page of a changes read


def consent_writes(table: str, event: ConsentEvent | None, recorded_at: datetime, *, attributed: str | None = None,
                   doubtful: bool = False) -> list[Write]:  # fmt: skip
    """The history entry for ``event`` and, when it sets a state, the conditional state update. ``attributed``: the
    correlation (a callback query, "" for none) its CI360 event is credited to, as of the webhook's arrival.

    A fact waiting for Twilio's word (``event.check``) has ``verification = pending`` on its entry (the verifier's
    stream filter); a ``held`` one moves no state until confirmed (``verified_writes``). An entry from a request in
    doubt (``doubtful``: maybe re-cut) is marked so, and the first request not in doubt with the same evidence
    replaces it, as its message record is replaced: a re-cut copy arriving first never makes the genuine one a
    duplicate."""
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
        "attributed_query": attributed,
        "verification": "pending" if event.check else None,
        "check": event.check.value if event.check else None,
        "doubtful": True if doubtful else None,
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
            "ConditionExpression": "attribute_not_exists(pk)" + ("" if doubtful else " OR attribute_exists(doubtful)"),
        },
        required=True,  # evidence already in the history: the whole webhook changes nothing, at any age
    )  # fmt: skip
    if event.new_status is None or event.check is ConsentCheck.HELD:
        return [history]
    return [history, state_write(table, event, recorded_at, attributed=attributed)]


def state_write(table: str, event: ConsentEvent, recorded_at: datetime, *, attributed: str | None = None,
                replaces: str = "") -> Write:  # fmt: skip
    """The conditional update of (phone, scope)'s state to what ``event`` sets: only when it is newer than the
    event behind the state, and with ``replaces`` only while that event is still the one (a retraction)."""
    assert event.new_status is not None
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
        "attributed_query": attributed,
        "changed_at": recorded_at.isoformat(),  # when the ledger changed: what a sync to CI360 follows
        "change_slot": change_slot(recorded_at, event.phone, CONSENT_BUCKET),  # ... through the ByChange index
    }
    present = {name: value for name, value in state.items() if value is not None}
    absent = [name for name, value in state.items() if value is None]  # none of an earlier event's stays behind
    condition = "attribute_not_exists(#order_key) OR #order_key < :order_key"
    values = {f":{name}": value for name, value in attributes(present).items()}
    if replaces:
        condition = "#event_id = :replaced AND #order_key < :order_key"
        values[":replaced"] = {"S": replaces}
    return Write(
        "Update",
        {
            "TableName": table,
            "Key": state_key(event.phone, event.scope_key),
            "UpdateExpression": "SET "
            + ", ".join(f"#{name} = :{name}" for name in present)
            + (" REMOVE " + ", ".join(f"#{name}" for name in absent) if absent else ""),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {f"#{name}": name for name in [*present, *absent]},
            "ExpressionAttributeValues": values,
        },
    )


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


ERASED = "ERASED#"  # the partition of an erased number: this prefix, then its keyed hash
AUDIT_PK = "AUDIT#erasure"
# What an erased item keeps (no number, no index attribute: the sync and the sweep never meet it)
_KEPT = {
    "state": ("scope", "status", "updated_at", "order_key", "source", "event_id", "account_sid", "sender"),
    "event": ("scope", "action", "effect", "source", "occurred_at", "order_key", "event_id", "rule", "keyword",
              "matcher_version", "account_sid", "sender", "recorded_at"),
}  # fmt: skip


def _partition(table: str, pk: str) -> dict[str, Any]:
    return {"TableName": table, "KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True}  # fmt: skip


def _key_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"pk": {"S": item["pk"]}, "sk": {"S": item["sk"]}}


def _erased_copy(item: dict[str, Any], digest: str, hashed: Callable[[str], str], at: datetime) -> dict[str, Any]:
    """The hashed copy of a clear state or entry (typed). An import's id (``import-<SHA-256 of the row>``, the
    number in it) is replaced by the keyed hash of that id, in the sort key and the order key too."""
    values: dict[str, Any] = {name: item.get(name) for name in _KEPT[item["record_type"]]}
    sort_key, event_id = str(item["sk"]), str(item.get("event_id", ""))
    if event_id.startswith("import-"):
        new_id = f"import-{hashed(event_id)[:24]}"
        sort_key = sort_key.replace(event_id, new_id)
        values |= {"event_id": new_id, "order_key": str(values.get("order_key", "")).replace(event_id, new_id)}
    values |= {"record_type": f"erased_{item['record_type']}", "erased_at": at.isoformat()}
    return {"pk": {"S": f"{ERASED}{digest}"}, "sk": {"S": sort_key}, **attributes(values)}


def _scope_of(item: dict[str, Any]) -> tuple[str, str]:
    """The (account, scope) a consent item is of (account "" for a fact recorded without one)."""
    return str(item.get("account_sid") or ""), str(item["scope"])


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
    erased: bool = False  # read from the number's keyed hash: ``smsbridge forget`` erased it


class ConsentLedger:
    """Reads and writes the consent table (the CLI's view; the webhook writes through ``DynamoMessageStore``)."""

    def __init__(self, table_name: str, *, client: DynamoDBClient | None = None,
                 erasure_key: ErasureKey | None = None) -> None:  # fmt: skip
        self.table_name = table_name
        self.client: DynamoDBClient = client or boto3.client("dynamodb", config=CLIENT_CONFIG)
        self.erasure_key = erasure_key  # None: erased numbers read as unknown

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
        """Every (account, scope) this number has consent facts for, each with its state and ordered history, in
        clear and, with an erasure key, what ``smsbridge forget`` kept under its keyed hash: per (account, scope),
        the clear state when there is one, else the hashed one (``erased``); the history of both. A fact recorded
        after an erasure thus supersedes the erased state of its own scope only."""
        clear = list(self._query_phone(phone))
        hashed = self._erased_items(phone) if self.erasure_key is not None else []
        records = []
        for account, scope in sorted({_scope_of(i) for i in clear + hashed}):
            mine = [i for i in clear if _scope_of(i) == (account, scope)]
            kept = [i for i in hashed if _scope_of(i) == (account, scope)]
            clear_state = next((i for i in mine if i["record_type"] == "state"), None)
            state = clear_state or next((i for i in kept if i["record_type"] == "state"), None)
            history = sorted((i for i in mine + kept if i["record_type"] == "event"), key=lambda i: i["order_key"])
            records.append(ConsentRecord(
                phone=phone, scope=scope, status=ConsentStatus(state["status"]) if state else None,
                updated_at=state["updated_at"] if state else None, source=state["source"] if state else None,
                history=history, account_sid=account or None, erased=clear_state is None and bool(kept),
            ))  # fmt: skip
        return records

    def _erased_items(self, phone: str) -> list[dict[str, Any]]:
        """The number's hashed items, shaped as clear ones; none when the deployment has no erasure key."""
        assert self.erasure_key is not None
        try:
            digest = self.erasure_key.digest(phone)
        except NotConfigured:
            return []  # a deployment from before the key: nothing was ever erased
        found = self._pages("query", _partition(self.table_name, f"{ERASED}{digest}"))
        return [{**item, "record_type": item["record_type"].removeprefix("erased_"), "phone": phone} for item in found]

    def clear_items(self, phone: str) -> list[dict[str, Any]]:
        """Every item of the number in clear: its states and history entries (strongly consistent)."""
        return list(self._query_phone(phone))

    def erase(self, items: list[dict[str, Any]], digest: str, *, hashed: Callable[[str], str],
              erased_at: datetime) -> int:  # fmt: skip
        """Move ``items`` (``clear_items``) to the number's keyed hash ``digest``: each one written there (without
        the number) and deleted in clear in one transaction. An entry's copy is written whatever is there (a
        history entry never changes); a state's only when it is newer than the hashed one, and the clear state is
        deleted only if unchanged since it was read: a webhook that changed it in between is left for the next
        pass. ``hashed`` rewrites import ids, which are plain hashes of the number. Returns how many were moved."""
        moved = 0
        for item in items:
            copy = _erased_copy(item, digest, hashed, erased_at)
            delete: dict[str, Any] = {"TableName": self.table_name, "Key": _key_of(item)}
            if item["record_type"] == "state":
                delete |= {
                    "ConditionExpression": "#order_key = :seen",
                    "ExpressionAttributeNames": {"#order_key": "order_key"},
                    "ExpressionAttributeValues": {":seen": {"S": item["order_key"]}},
                }
                put = {"TableName": self.table_name, "Item": copy, "ExpressionAttributeNames": {"#o": "order_key"},
                       "ConditionExpression": "attribute_not_exists(#o) OR #o < :seen",
                       "ExpressionAttributeValues": {":seen": {"S": item["order_key"]}}}  # fmt: skip
            else:
                put = {"TableName": self.table_name, "Item": copy}
            moved += self._move(delete, put)
        return moved

    def _move(self, delete: dict[str, Any], put: dict[str, Any]) -> bool:
        try:
            self.client.transact_write_items(TransactItems=[{"Delete": delete}, {"Put": put}])  # type: ignore[typeddict-item]
            return True
        except ClientError as exc:
            reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            if reasons[:1] == ["ConditionalCheckFailed"]:
                return False  # the clear state changed since it was read: the next pass moves it
            if reasons[1:2] != ["ConditionalCheckFailed"]:
                raise StoreUnavailable(f"DynamoDB refused the erasure: {', '.join(reasons) or exc}") from exc
        with translated_errors(f"erase in {self.table_name}"):  # a newer state is kept hashed already
            try:
                self.client.delete_item(**delete)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                return False
        return True

    def record_erasure(self, audit: dict[str, Any], *, at: datetime, erasure_id: str) -> None:
        """Keep the audit record of one erasure (no number in it)."""
        item = {"pk": {"S": AUDIT_PK}, "sk": {"S": f"{at.isoformat()}#{erasure_id}"},
                **attributes({**audit, "record_type": "erasure"})}  # fmt: skip
        with translated_errors(f"write {self.table_name}"):
            self.client.put_item(TableName=self.table_name, Item=item)

    def erasures(self) -> list[dict[str, Any]]:
        """Every erasure's audit record, oldest first."""
        return list(self._pages("query", _partition(self.table_name, AUDIT_PK)))

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
        yield from self._pages("query", _partition(self.table_name, f"PHONE#{phone}"))

    def _pages(self, operation: str, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        return paged(self.client, operation, request)
