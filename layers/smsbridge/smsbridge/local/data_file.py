"""``smsbridge serve --data-file FILE``: the local stack's records kept across restarts.

At stop, every item of the template's tables and every message waiting in its queues is written to ``FILE``
(JSON, keyed by the template's logical ids, so a renamed prefix does not matter). At start, they are put back
before the event sources run, into moto's tables directly with the table stream paused: restored records are
history, not new changes, so the forwarder does not see them again and CI360 is not sent anything twice.
Queued messages are sent again to their queue (a retry waits as it did; a dead letter can still be replayed).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smsbridge.adapters.queues import each_message
from smsbridge.local.template import LocalResources

FORMAT = 1
_BYTES = "__base64__"


def save(resources: LocalResources, session: Any, path: Path) -> dict[str, int]:
    """Write the tables' items and the queues' messages to ``path`` (atomically); returns counts by kind."""
    dynamodb, sqs = session.client("dynamodb"), session.client("sqs")
    tables = {logical: list(_scan(dynamodb, resources.name_of(logical)))
              for logical in resources.resources_of("AWS::DynamoDB::Table")}  # fmt: skip
    queues = {logical: list(_drain(sqs, resources.refs[logical]))
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
    for logical, bodies in document["queues"].items():
        for body in bodies:
            sqs.send_message(QueueUrl=resources.refs[logical], MessageBody=body)
            messages += 1
    return {"items": items, "messages": messages}


def _scan(dynamodb: Any, table: str) -> Iterator[dict[str, Any]]:
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        yield from page["Items"]


def _drain(sqs: Any, queue_url: str) -> Iterator[str]:
    for message in each_message(sqs, queue_url, visibility_timeout=300):
        yield message["Body"]


def _encode_bytes(value: object) -> object:
    if isinstance(value, bytes):  # a binary attribute: kept as the base64 text DynamoDB's wire format uses
        return {_BYTES: base64.b64encode(value).decode("ascii")}
    raise TypeError(f"cannot store {type(value).__name__}")


def _decode_bytes(value: dict[str, Any]) -> Any:
    return value[_BYTES] if set(value) == {_BYTES} else value
