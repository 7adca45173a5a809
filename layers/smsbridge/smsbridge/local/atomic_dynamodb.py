"""Makes moto's DynamoDB behave like the service where smsbridge depends on it: atomic requests, fast transactions.

- One request at a time: moto applies a transaction by snapshotting whole tables and restores the snapshot when a
  condition fails, so two requests running at once can undo each other, which DynamoDB never does. The local stack
  and the concurrency tests serialise DynamoDB requests (not clients: they still race between requests).
- A journal on demand (``serve --data-file``): ``journal_writes(record)`` is told each write that succeeded, before
  it is answered.
- Throttling on demand (chaos mode): ``throttle_writes(decide)`` makes a write that ``decide(action, identity)``
  picks fail with ``ProvisionedThroughputExceededException``, as DynamoDB refuses a write above a partition's
  throughput; the SDK's retries and the caller's handling are then what the test sees.
- Transactions in two phases: every condition is checked, then every write applied. Under the lock that is as
  atomic as the snapshot, without deep-copying the tables on each transaction (which made the local stack slower
  with every item it held).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler

LOCK = threading.RLock()  # held by every DynamoDB request (and by ``data_file`` while it snapshots)
_original_call_action = DynamoHandler.call_action
_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
_THROTTLED = json.dumps(
    {
        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": "The level of configured provisioned throughput for the table was exceeded (smsbridge chaos).",
    }
)
_throttle: Callable[[str, str], bool] | None = None
_journal: Callable[[str, dict[str, Any]], None] | None = None


def throttle_writes(decide: Callable[[str, str], bool] | None) -> None:
    """Refuse the writes ``decide(action, identity)`` picks (None: refuse none). ``identity`` names the table(s)
    and key(s) written, not the values, so a decision can be made again for the same write."""
    global _throttle  # noqa: PLW0603 - moto's handler is process-wide, so is this switch
    _throttle = decide


def journal_writes(record: Callable[[str, dict[str, Any]], None] | None) -> None:
    """Call ``record(action, request parameters)`` after each successful write, before it is answered (None: stop)."""
    global _journal  # noqa: PLW0603 - moto's handler is process-wide, so is this hook
    _journal = record


def _write_identity(params: dict[str, Any]) -> str:
    operations = [next(iter(item.values())) for item in params.get("TransactItems") or []] or [params]
    keys = [(op.get("TableName", ""), op.get("Key") or _key_attributes(op)) for op in operations]
    return ";".join(f"{table}:{json.dumps(key, sort_keys=True)}" for table, key in keys)


def _key_attributes(operation: dict[str, Any]) -> dict[str, Any]:
    item = operation.get("Item") or {}
    return {name: item[name] for name in ("pk", "sk") if name in item}


def _atomic_call_action(self: DynamoHandler) -> Any:
    with LOCK:
        decide = _throttle
        if decide is not None:
            action = self._get_action()
            if action in _WRITES and decide(action, _write_identity(getattr(self, "params", None) or {})):
                return 400, {"Content-Type": "application/x-amz-json-1.0"}, _THROTTLED
        answer = _original_call_action(self)
        record = _journal
        if record is not None and answer[0] == 200 and self._get_action() in _WRITES:
            record(self._get_action(), dict(getattr(self, "params", None) or {}))
        return answer


def _key_of(backend: DynamoDBBackend, kind: str, operation: dict[str, Any]) -> dict[str, Any]:
    if kind != "Put":
        return dict(operation["Key"])
    table = backend.get_table(operation["TableName"])
    attrs = operation["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _holds(backend: DynamoDBBackend, operation: dict[str, Any], key: dict[str, Any]) -> bool:
    condition = operation.get("ConditionExpression")
    if condition is None:
        return True
    names, values = operation.get("ExpressionAttributeNames"), operation.get("ExpressionAttributeValues")
    current = backend.get_item(operation["TableName"], key)
    return bool(get_filter_expression(condition, names, values).expr(current))


def _apply(backend: DynamoDBBackend, kind: str, operation: dict[str, Any], key: dict[str, Any]) -> None:
    names, values = operation.get("ExpressionAttributeNames"), operation.get("ExpressionAttributeValues")
    if kind == "Put":
        backend.put_item(operation["TableName"], operation["Item"])
    elif kind == "Update":
        backend.update_item(
            operation["TableName"],
            key,
            update_expression=operation["UpdateExpression"],
            expression_attribute_names=names or {},
            expression_attribute_values=values or {},
        )
    elif kind == "Delete":
        backend.delete_item(operation["TableName"], key)


def _two_phase_transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    prepared = []
    seen: set[tuple[str, str]] = set()
    for item in transact_items:
        kind, operation = next(iter(item.items()))
        key = _key_of(self, kind, operation)
        identity = (operation["TableName"], str(sorted(key.items())))
        if identity in seen:
            raise MultipleTransactionsException()
        seen.add(identity)
        prepared.append((kind, operation, key))
    errors = [(None, None, None) if _holds(self, operation, key)
              else ("ConditionalCheckFailed", "The conditional request failed", None)
              for _, operation, key in prepared]  # fmt: skip
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    for kind, operation, key in prepared:
        _apply(self, kind, operation, key)


def serialise_dynamodb_requests() -> None:
    """Install both behaviours (idempotent)."""
    DynamoHandler.call_action = _atomic_call_action  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = _two_phase_transact_write_items  # type: ignore[method-assign]
