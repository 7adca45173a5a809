"""``smsbridge serve --data-file FILE``: the local stack's records kept across restarts, crashes included.

Two files: ``FILE``, a snapshot of every item of the template's tables and every message waiting in its queues
(JSON, keyed by the template's logical ids, so a renamed prefix does not matter), and ``FILE.journal``, every
DynamoDB write and queue send since that snapshot, one JSON line each, written and flushed before the request is
answered (``Journal``). So a webhook answered 2xx is in one of the two before Twilio sees the answer, and a
``kill -9`` loses nothing acknowledged: the process dies, the operating system keeps what was flushed (a power
cut can lose what the disk had not yet written). The snapshot is taken every few seconds while something changed
(``LocalStack._keep_data``), with every DynamoDB request held for the moment it takes, written to disk, and then the
journal starts again empty.

At start the snapshot is put back, then the journal's writes applied again in their order, into moto's tables
directly with the table streams paused: restored records are history, not new changes. The local stack then
sweeps every restored fact as the deployed recovery sweep does (``LocalStack._resume``): an event with no claim
(its stream record was not read before the stop) is sent, one already sent or parked is not.
Every message of a queue is kept, whether visible, in flight or still delayed (read from moto itself: SQS hands
out no delayed message), with the delay it had left. Deletions are not journaled: after a crash, a message
handled since the last snapshot comes back, and its claim makes it a duplicate, not a second send.
"""

from __future__ import annotations

import base64
import json
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import ClientError

from smsbridge.local import atomic_dynamodb
from smsbridge.local.template import LocalResources

FORMAT = 1
SNAPSHOT_SECONDS = 2.0  # how often a changed stack is snapshotted (the journal covers the time in between)
_BYTES = "__base64__"


def save(resources: LocalResources, session: Any, path: Path, *, region: str,
         journal: Journal | None = None) -> dict[str, int]:  # fmt: skip
    """Write the tables' items and the queues' messages to ``path`` (atomically), read from moto itself with every
    DynamoDB request held meanwhile, and empty ``journal``, which the snapshot now covers; returns counts by kind."""
    account = session.client("sts").get_caller_identity()["Account"]
    from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415 - only the local stack has moto
    from moto.sqs.models import sqs_backends  # noqa: PLC0415

    tables_backend, queues_backend = dynamodb_backends[account][region], sqs_backends[account][region]
    with atomic_dynamodb.LOCK:
        tables = {logical: [item.to_json()["Attributes"]
                            for item in tables_backend.get_table(resources.name_of(logical)).all_items()]
                  for logical in resources.resources_of("AWS::DynamoDB::Table")}  # fmt: skip
        queues = {logical: _queued(queues_backend.get_queue(resources.name_of(logical)))
                  for logical in resources.resources_of("AWS::SQS::Queue") if logical in resources.refs}  # fmt: skip
        document = {"format": FORMAT, "tables": tables, "queues": queues}
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with partial.open("w", encoding="utf-8") as written:
            written.write(json.dumps(document, default=_encode_bytes) + "\n")
            written.flush()
            os.fsync(written.fileno())  # on disk before the journal it replaces is emptied
        os.replace(partial, path)
        if journal is not None:
            journal.truncate()
    return {"items": sum(map(len, tables.values())), "messages": sum(map(len, queues.values()))}


def restore(resources: LocalResources, session: Any, path: Path, *, region: str) -> dict[str, int]:
    """Put back what ``save`` wrote and what the journal beside it holds (nothing when neither exists); returns
    counts by kind (``writes``: the journal's)."""
    counts = {"items": 0, "messages": 0, "writes": 0}
    account = session.client("sts").get_caller_identity()["Account"]
    from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415 - only the local stack has moto

    backend = dynamodb_backends[account][region]
    logicals = resources.resources_of("AWS::DynamoDB::Table")
    tables = [backend.get_table(resources.name_of(logical)) for logical in logicals]
    shards = [table.stream_shard for table in tables]
    for table in tables:
        table.stream_shard = None  # history, not changes: nothing on the streams
    sqs = session.client("sqs")
    try:
        if path.exists():
            document = json.loads(path.read_text(encoding="utf-8"), object_hook=_decode_bytes)
            if document.get("format") != FORMAT:
                raise ValueError(f"{path} is not a smsbridge data file (format {document.get('format')!r})")
            for logical, table_items in document["tables"].items():
                table = backend.get_table(resources.name_of(logical))
                for item in table_items:
                    table.put_item(item)
                    counts["items"] += 1
            for logical, queued in document["queues"].items():
                for message in queued:
                    sqs.send_message(QueueUrl=resources.refs[logical], MessageBody=message["body"],
                                     DelaySeconds=int(message["delay_seconds"]))  # fmt: skip
                    counts["messages"] += 1
        names = {resources.name_of(logical): logical for logical in resources.resources_of("AWS::SQS::Queue")}
        counts["writes"] = _replay(journal_path(path), session.client("dynamodb"), sqs, resources, names)
        counts["released"] = _release_leases(session.client("dynamodb"), [table.name for table in tables])
    finally:
        for table, shard in zip(tables, shards, strict=True):
            table.stream_shard = shard
    return counts


def earliest_fact(path: Path) -> str:
    """When the oldest fact in the snapshot at ``path`` was recorded (ISO 8601), "" when it holds none."""
    if not path.exists():
        return ""
    document = json.loads(path.read_text(encoding="utf-8"))
    times = [str(item[name]["S"]) for items in document.get("tables", {}).values() for item in items
             for name in _RECORDED if name in item and "S" in item[name]]  # fmt: skip
    return min(times, default="")


_RECORDED = ("received_at", "updated_at", "changed_at")  # when a message record or a consent state was written


def journal_path(path: Path) -> Path:
    return path.with_name(path.name + ".journal")


class Journal:
    """Every successful DynamoDB write and queue send, appended to a file and flushed before its request is
    answered. ``install()`` hooks moto (process-wide); ``uninstall()`` unhooks it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.changed = threading.Event()  # set by each entry, cleared by a snapshot
        self._lock = threading.Lock()
        self._file: IO[str] | None = None

    def install(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")
        atomic_dynamodb.journal_writes(self.dynamodb_write)
        _hook_queue_sends(self.queue_send)

    def uninstall(self) -> None:
        atomic_dynamodb.journal_writes(None)
        _hook_queue_sends(None)
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def dynamodb_write(self, action: str, request: dict[str, Any]) -> None:
        self._append({"dynamodb": action, "request": request})

    def queue_send(self, queue_name: str, body: str, delay_seconds: int) -> None:
        self._append({"queue": queue_name, "body": body, "delay_seconds": delay_seconds, "at": time.time()})

    def truncate(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.seek(0)
                self._file.truncate()
                self._file.flush()
            self.changed.clear()

    def _append(self, entry: dict[str, Any]) -> None:
        with self._lock:
            if self._file is not None:
                self._file.write(json.dumps(entry, default=_encode_bytes) + "\n")
                self._file.flush()
            self.changed.set()


def _replay(path: Path, dynamodb: Any, sqs: Any, resources: LocalResources, queues: dict[str, str]) -> int:
    """Apply the journal's entries again, in order; a torn last line (the process died mid-write) ends it."""
    if not path.exists():
        return 0
    replayed = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line, object_hook=_decode_bytes)
        except json.JSONDecodeError:
            break
        if "dynamodb" in entry:
            operation = _SNAKE.get(entry["dynamodb"], "")
            if operation:
                try:
                    getattr(dynamodb, operation)(**entry["request"])
                except ClientError:
                    pass  # its condition held when first applied: a snapshot taken since already holds its result
        elif entry.get("queue") in queues:
            left = entry["delay_seconds"] - (time.time() - entry["at"])
            sqs.send_message(QueueUrl=resources.refs[queues[entry["queue"]]], MessageBody=entry["body"],
                             DelaySeconds=max(0, min(900, math.ceil(left))))  # fmt: skip
        replayed += 1
    return replayed


def _release_leases(dynamodb: Any, tables: list[str]) -> int:
    """End the lease of every claim and consent lane held when the stack stopped: whoever held it died with the
    process (in a deployment its batch comes back and waits out the lease; here nothing comes back), so the resume
    sweep and the retry queue may take them over at once. Claims: ``adapters/event_claims.py``."""
    released = 0
    for table in tables:
        for page in dynamodb.get_paginator("scan").paginate(
            TableName=table, FilterExpression="attribute_exists(lease_until)"
        ):
            for item in page["Items"]:
                dynamodb.update_item(
                    TableName=table,
                    Key={"pk": item["pk"], "sk": item["sk"]},
                    UpdateExpression="SET lease_until = :ended",
                    ExpressionAttributeValues={":ended": {"N": "0"}},
                )
                released += 1
    return released


_SNAKE = {"PutItem": "put_item", "UpdateItem": "update_item", "DeleteItem": "delete_item",
          "BatchWriteItem": "batch_write_item", "TransactWriteItems": "transact_write_items"}  # fmt: skip
_original_send_message: Any = None


def _hook_queue_sends(record: Callable[[str, str, int], None] | None) -> None:
    """Wrap moto's SQS ``send_message`` (a batch sends through it too) to call ``record`` after each send."""
    global _original_send_message  # noqa: PLW0603 - moto's backend is process-wide, so is this hook
    from moto.sqs.models import SQSBackend  # noqa: PLC0415

    if _original_send_message is None:
        _original_send_message = SQSBackend.send_message
    if record is None:
        SQSBackend.send_message = _original_send_message  # type: ignore[method-assign]
        return
    original = _original_send_message

    def send_message(self: Any, queue_name: str, message_body: str, *args: Any, **kwargs: Any) -> Any:
        with atomic_dynamodb.LOCK:  # in the journal's order with the writes, and never between a snapshot's parts
            message = original(self, queue_name, message_body, *args, **kwargs)
            delay = kwargs.get("delay_seconds", args[1] if len(args) > 1 else None)
            record(queue_name, message_body, int(delay or 0))
        return message

    SQSBackend.send_message = send_message  # type: ignore[method-assign]


def _queued(queue: Any) -> list[dict[str, Any]]:
    """Each message of a moto queue not yet deleted, with the whole seconds of delay it has left."""
    now = time.time() * 1000
    return [{"body": message.body, "delay_seconds": max(0, math.ceil((message.delayed_until - now) / 1000))}
            for message in queue._messages]  # fmt: skip


def _encode_bytes(value: object) -> object:
    if isinstance(value, bytes):  # a binary attribute: kept as the base64 text DynamoDB's wire format uses
        return {_BYTES: base64.b64encode(value).decode("ascii")}
    raise TypeError(f"cannot store {type(value).__name__}")


def _decode_bytes(value: dict[str, Any]) -> Any:
    return value[_BYTES] if set(value) == {_BYTES} else value
