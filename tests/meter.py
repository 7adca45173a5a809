"""A meter on every AWS call: calls by operation, and the DynamoDB write and read units they consume.

moto answers ``ConsumedCapacity`` with fixed figures (a PutItem of any size 1.0, an UpdateItem 0.5, a transaction
nothing), so the meter computes units itself from the items, by the rules of DynamoDB's documentation (each rule
and its source is a row of docs/contracts.md, AWS section):

- an item's size is the sum of its attribute names and values (``item_size``);
- a write consumes 1 unit per 1 KB, rounded up, of the larger of the item before and after it (a Delete: the item
  before), at least 1; a write whose condition fails still consumes, by the item as stored (at least 1);
- a write inside TransactWriteItems consumes twice that (prepare and commit), a ConditionCheck too; a cancelled
  transaction is counted as if each of its writes had been applied (an upper bound: AWS does not say);
- a write also consumes, per global secondary index, 1 unit per 1 KB of the projected index item it puts, and
  again for one it deletes (an index key that changes: both);
- a strongly consistent read consumes 1 unit per 4 KB, rounded up, eventually consistent half; an item not found
  still costs the minimum; a Query or Scan adds up the items it evaluates before rounding; a transactional read twice.

It hooks botocore's ``before-parameter-build`` and ``after-call`` events (on given clients, or on a session for the
clients made after), reads each item a write touches before and after it with a client of its own (not metered), and is
meant for one caller at a time: the in-process benches and tests, not concurrent writers.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3

WRITE_BYTES, READ_BYTES = 1024, 4096
TRANSACTIONAL = 2  # units per item of a transactional write or read, against a plain one
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
# The hooks: the request's parameters as the caller gave them (``before-call`` sees them serialised already), and
# the parsed answer, error answers included (botocore emits ``after-call`` before raising a service error).
BEFORE, AFTER = "before-parameter-build", "after-call"
READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}


def value_size(value: dict[str, Any]) -> int:
    """The size DynamoDB counts for one typed attribute value (without its name)."""
    kind, content = next(iter(value.items()))
    if kind in ("S", "B", "N"):
        return number_size(str(content)) if kind == "N" else len(content.encode() if kind == "S" else content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(value_size(element) + 1 for element in content)
    if kind == "M":
        return 3 + sum(len(name.encode()) + value_size(element) + 1 for name, element in content.items())
    if kind in ("SS", "NS", "BS"):
        return sum(value_size({kind[0]: element}) for element in content)
    raise ValueError(f"unknown DynamoDB type {kind}")


def number_size(number: str) -> int:
    """1 byte per two significant digits (leading and trailing zeroes trimmed), plus 1."""
    digits = re.sub(r"[^0-9]", "", format(Decimal(number).normalize(), "f")).strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def item_size(item: dict[str, Any] | None) -> int:
    """The size of an item in bytes: its attribute names and values (0 for no item)."""
    return sum(len(name.encode()) + value_size(value) for name, value in (item or {}).items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_BYTES))


def read_units(size: int, *, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_BYTES))
    return float(units) if consistent else units / 2


@dataclass(frozen=True)
class Index:
    """A global secondary index: its key attributes and what it projects."""

    keys: tuple[str, ...]
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    included: tuple[str, ...] = ()

    def item(self, table_keys: tuple[str, ...], item: dict[str, Any] | None) -> dict[str, Any] | None:
        """The index's item for a table item (None when the item lacks an index key: a sparse index)."""
        if not item or any(key not in item for key in self.keys):
            return None
        if self.projection == "ALL":
            return item
        kept = set(table_keys) | set(self.keys) | set(self.included)
        return {name: value for name, value in item.items() if name in kept}


@dataclass
class Reading:
    """What the meter has counted since it started (or was reset)."""

    calls: Counter[str] = field(default_factory=Counter)  # "dynamodb.PutItem" → count
    write_units: dict[str, float] = field(default_factory=dict)  # table (or table/index key) → units
    read_units: dict[str, float] = field(default_factory=dict)

    def add(self, counter: dict[str, float], name: str, units: float) -> None:
        counter[name] = counter.get(name, 0.0) + units

    @property
    def writes(self) -> float:
        return float(sum(self.write_units.values()))

    @property
    def reads(self) -> float:
        return float(sum(self.read_units.values()))


class Meter:
    """Counts AWS calls and DynamoDB units. ``attach(client)`` meters a client; ``watch(session)`` meters every
    client the session makes afterwards (a client copies its session's event hooks when it is made)."""

    def __init__(self) -> None:
        self.reading = Reading()
        self._inspector: Any = None
        self._tables: dict[str, tuple[tuple[str, ...], list[Index]]] = {}
        self._watched: list[Any] = []
        self.active = True

    # ---- hooking up

    def attach(self, *clients: Any) -> Meter:
        for client in clients:
            client.meta.events.register(BEFORE, self._before, unique_id=f"meter-before-{id(self)}")
            client.meta.events.register(AFTER, self._after, unique_id=f"meter-after-{id(self)}")
        return self

    def watch(self, session: boto3.session.Session | None = None) -> Meter:
        """Meter the clients ``session`` (boto3's default one when None) makes from now on."""
        if session is None:
            if boto3.DEFAULT_SESSION is None:
                boto3.setup_default_session()
            session = boto3.DEFAULT_SESSION
        assert session is not None
        session.events.register(BEFORE, self._before, unique_id=f"meter-before-{id(self)}")
        session.events.register(AFTER, self._after, unique_id=f"meter-after-{id(self)}")
        self._watched.append(session)
        return self

    def close(self) -> None:
        """Stop counting (clients already made keep the hook, which then does nothing)."""
        self.active = False
        for session in self._watched:
            session.events.unregister(BEFORE, unique_id=f"meter-before-{id(self)}")
            session.events.unregister(AFTER, unique_id=f"meter-after-{id(self)}")

    def __enter__(self) -> Meter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def reset(self) -> Reading:
        """Start counting afresh; returns what was counted until now."""
        counted, self.reading = self.reading, Reading()
        return counted

    # ---- the hooks

    def _before(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if not self.active:
            return
        service = model.service_model.service_name
        if service == "dynamodb" and model.name in WRITES:
            context["meter_before"] = {
                (request["TableName"], _frozen(key)): self._get(request["TableName"], key)
                for _, request in _actions(model.name, params)
                for key in [_key_of(self._keys(request["TableName"]), request)]
            }
        context["meter_params"] = params

    def _after(self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if not self.active or "meter_params" not in context:
            return
        service, operation = model.service_model.service_name, model.name
        self.reading.calls[f"{service}.{operation}"] += 1
        if service != "dynamodb":
            return
        params = context["meter_params"]
        if operation in WRITES:
            self._count_writes(operation, params, context.get("meter_before", {}))
        elif operation in READS:
            self._count_reads(operation, params, parsed)

    # ---- writes

    def _count_writes(self, operation: str, params: dict[str, Any], before: dict[_Key, Any]) -> None:
        factor = TRANSACTIONAL if operation == "TransactWriteItems" else 1
        for kind, request in _actions(operation, params):
            table = request["TableName"]
            key = _key_of(self._keys(table), request)
            old = before.get((table, _frozen(key)))
            new = self._get(table, key)
            if kind == "Put":
                sizes = [item_size(old), item_size(request["Item"])]
            elif kind in ("Delete", "ConditionCheck"):
                sizes = [item_size(old)]
            else:
                sizes = [item_size(old), item_size(new)]
            self.reading.add(self.reading.write_units, table, factor * write_units(max(sizes)))
            if kind != "ConditionCheck":
                self._count_index_writes(table, old, new if kind != "Put" or new else request["Item"])

    def _count_index_writes(self, table: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        table_keys, indexes = self._schema(table)
        for index in indexes:
            before, after = index.item(table_keys, old), index.item(table_keys, new)
            if before == after:
                continue  # nothing the index holds changed: no index write
            same_key = before and after and all(before[key] == after[key] for key in index.keys)
            units = 0
            if before and not same_key:
                units += write_units(item_size(before))  # the old index item goes
            if after:
                units += write_units(item_size(after))
            self.reading.add(self.reading.write_units, f"{table}/{index.keys[0]}", units)

    # ---- reads

    def _count_reads(self, operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        if operation == "GetItem":
            size = item_size(parsed.get("Item"))
            units = read_units(size, consistent=bool(params.get("ConsistentRead")))
            self.reading.add(self.reading.read_units, params["TableName"], units)
        elif operation == "BatchGetItem":
            for table, items in parsed.get("Responses", {}).items():
                consistent = bool(params["RequestItems"][table].get("ConsistentRead"))
                units = sum(read_units(item_size(item), consistent=consistent) for item in items)
                self.reading.add(self.reading.read_units, table, units)
        elif operation == "TransactGetItems":
            for request, found in zip(params["TransactItems"], parsed.get("Responses", []), strict=False):
                table = request["Get"]["TableName"]
                units = TRANSACTIONAL * read_units(item_size(found.get("Item")), consistent=True)
                self.reading.add(self.reading.read_units, table, units)
        else:  # Query, Scan: the items evaluated, before any filter, added up and then rounded
            evaluated = self._evaluated(operation, params)
            size = sum(item_size(item) for item in evaluated)
            units = read_units(size, consistent=bool(params.get("ConsistentRead")))
            self.reading.add(self.reading.read_units, params["TableName"], units)

    def _evaluated(self, operation: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """The items a Query or Scan read: the same request without its filter or projection (which DynamoDB
        applies after reading), sent again by the meter's own client."""
        applied_after = ("FilterExpression", "ProjectionExpression", "Select", "ReturnConsumedCapacity")
        request = {name: value for name, value in params.items() if name not in applied_after}
        expressions = " ".join(str(request.get(name, "")) for name in ("KeyConditionExpression",))
        if "ExpressionAttributeNames" in request:
            names = {k: v for k, v in request["ExpressionAttributeNames"].items() if k in expressions}
            request["ExpressionAttributeNames"] = names
            if not names:
                del request["ExpressionAttributeNames"]
        if "ExpressionAttributeValues" in request:
            values = {k: v for k, v in request["ExpressionAttributeValues"].items() if k in expressions}
            request["ExpressionAttributeValues"] = values
            if not values:
                del request["ExpressionAttributeValues"]
        method = self._client().query if operation == "Query" else self._client().scan
        return list(method(**request).get("Items", []))

    # ---- the meter's own view of the tables

    def _client(self) -> Any:
        if self._inspector is None:
            self._inspector = boto3.session.Session().client("dynamodb")  # a session of its own: not metered
        return self._inspector

    def _schema(self, table: str) -> tuple[tuple[str, ...], list[Index]]:
        if table not in self._tables:
            described = self._client().describe_table(TableName=table)["Table"]
            keys = tuple(element["AttributeName"] for element in described["KeySchema"])
            indexes = [
                Index(tuple(element["AttributeName"] for element in index["KeySchema"]),
                      index["Projection"]["ProjectionType"], tuple(index["Projection"].get("NonKeyAttributes", [])))
                for index in described.get("GlobalSecondaryIndexes", [])
            ]  # fmt: skip
            self._tables[table] = (keys, indexes)
        return self._tables[table]

    def _keys(self, table: str) -> tuple[str, ...]:
        return self._schema(table)[0]

    def _get(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        found = self._client().get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return dict(found) if found else None


_Key = tuple[str, Any]


def _frozen(key: dict[str, Any]) -> Any:
    return tuple(sorted((name, tuple(value.items())) for name, value in key.items()))


def _actions(operation: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Each item write of a request: (Put, Update, Delete or ConditionCheck, its request with ``TableName``)."""
    if operation == "TransactWriteItems":
        return [(kind, request) for action in params["TransactItems"] for kind, request in action.items()]
    if operation == "BatchWriteItem":
        return [
            ("Put", {"TableName": table, **entry["PutRequest"]}) if "PutRequest" in entry
            else ("Delete", {"TableName": table, **entry["DeleteRequest"]})
            for table, entries in params["RequestItems"].items() for entry in entries
        ]  # fmt: skip
    return [({"PutItem": "Put", "UpdateItem": "Update", "DeleteItem": "Delete"}[operation], params)]


def _key_of(keys: tuple[str, ...], request: dict[str, Any]) -> dict[str, Any]:
    source = request.get("Key") or request["Item"]
    return {name: source[name] for name in keys}
