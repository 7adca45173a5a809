"""``smsbridge serve --data-file FILE``: the local stack's records kept across restarts.

At stop, every item of the template's tables and every message waiting in its queues is written to ``FILE``
(JSON, keyed by the template's logical ids, so a renamed prefix does not matter). At start, they are put back
before the event sources run, into moto's tables directly with the table stream paused: restored records are
history, not new changes, so the forwarder does not see them again and CI360 is not sent anything twice.
Every message of a queue is kept, whether visible, in flight or still delayed (read from moto itself: SQS hands
out no delayed message), with the delay it had left; at start each is sent again with that delay, so a retry
waits as it did and a dead letter can still be replayed.
"""

from __future__ import annotations

import base64
import json
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smsbridge.local.template import LocalResources

FORMAT = 1
_BYTES = "__base64__"


def save(resources: LocalResources, session: Any, path: Path, *, region: str) -> dict[str, int]:
    """Write the tables' items and the queues' messages to ``path`` (atomically); returns counts by kind."""
    dynamodb = session.client("dynamodb")
    tables = {logical: list(_scan(dynamodb, resources.name_of(logical)))
              for logical in resources.resources_of("AWS::DynamoDB::Table")}  # fmt: skip
    from moto.sqs.models import sqs_backends  # noqa: PLC0415 - only the local stack has moto

    backend = sqs_backends[session.client("sts").get_caller_identity()["Account"]][region]
    queues = {logical: _queued(backend.get_queue(resources.name_of(logical)))
              for logical in resources.resources_of("AWS::SQS::Queue") if logical in resources.refs}  # fmt: skip
    document = {"format": FORMAT, "tables": tables, "queues": queues}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, default=_encode_bytes) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return {"items": sum(map(len, tables.values())), "messages": sum(map(len, queues.values()))}


def restore(resources: LocalResources, session: Any, path: Path, *, region: str) -> dict[str, int]:
    """Put back what ``save`` wrote (nothing when ``path`` does not exist); returns counts by kind."""
    if not path.exists():
        return {"items": 0, "messages": 0}
    document = json.loads(path.read_text(encoding="utf-8"), object_hook=_decode_bytes)
    if document.get("format") != FORMAT:
        raise ValueError(f"{path} is not a smsbridge data file (format {document.get('format')!r})")
    from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415 - only the local stack has moto

    backend = dynamodb_backends[session.client("sts").get_caller_identity()["Account"]][region]
    items = 0
    for logical, table_items in document["tables"].items():
        table = backend.get_table(resources.name_of(logical))
        shard, table.stream_shard = table.stream_shard, None  # history, not changes: nothing on the stream
        try:
            for item in table_items:
                table.put_item(item)
                items += 1
        finally:
            table.stream_shard = shard
    sqs, messages = session.client("sqs"), 0
    for logical, queued in document["queues"].items():
        for message in queued:
            sqs.send_message(QueueUrl=resources.refs[logical], MessageBody=message["body"],
                             DelaySeconds=int(message["delay_seconds"]))  # fmt: skip
            messages += 1
    return {"items": items, "messages": messages}


def _scan(dynamodb: Any, table: str) -> Iterator[dict[str, Any]]:
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        yield from page["Items"]


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
