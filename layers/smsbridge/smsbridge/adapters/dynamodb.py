"""DynamoDB plumbing shared by the table adapters: one client config, one atomic writer, one error translation."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from smsbridge.errors import StoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Twilio reads the webhook's answer for the fragment's `rt` (5 s in the one smsbridge prints) and then retries
# (`rp=5xx,ct,rt`): a throttled or unreachable DynamoDB must end, retries and all, early enough for the webhook to
# answer 503 inside it. ``client_worst_case_seconds`` is what tests/template holds against `rt` and the functions'
# timeouts (docs/capacity.md shows the sum). DynamoDB answers in milliseconds: 0.5 s is tens of times its p99.
CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, MAX_ATTEMPTS = 0.5, 0.5, 2
CLIENT_CONFIG = Config(connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=READ_TIMEOUT_SECONDS,
                       retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS})  # fmt: skip
THROTTLE_BACKOFF_BASE, MAX_BACKOFF = 1.0, 20.0  # botocore's standard retry mode: base x 2**i, jittered, capped


class LazyClient:
    """A boto3 client for ``service`` built on first use, once, even when threads ask together (boto3's default
    session is not thread-safe). For a client an invocation may never need: each costs a cold start 10-30 ms."""

    def __init__(self, service: str, client: Any = None) -> None:
        self.service = service
        self._client = client
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = boto3.client(self.service, config=CLIENT_CONFIG)  # type: ignore[call-overload]
        return self._client


def client_worst_case_seconds() -> float:
    """The longest one AWS call through ``CLIENT_CONFIG`` can take: every attempt timing out (connect, then read),
    with the longest back-off between attempts (botocore's standard mode, throttling: up to 1 s, 2 s, ...; other
    errors back off 25-50 ms). 2 x (0.5 + 0.5) + 1 = 3 s."""
    backoff = sum(min(THROTTLE_BACKOFF_BASE * 2**attempt, MAX_BACKOFF) for attempt in range(MAX_ATTEMPTS - 1))
    return float(MAX_ATTEMPTS * (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS) + backoff)


CONFLICT_RETRIES = 3
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def attribute(value: Any) -> dict[str, Any]:
    """One plain value as a DynamoDB attribute value. Handles what smsbridge stores (str, bool, int, float, dict,
    list) directly, which is several times faster than boto3's general ``TypeSerializer`` on the webhook's path."""
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is bool:
        return {"BOOL": value}
    if kind is int:
        return {"N": str(value)}
    if kind is dict:
        return {"M": {key: attribute(item) for key, item in value.items() if item is not None}}
    if kind is list:
        return {"L": [attribute(item) for item in value]}
    return dict(_serializer.serialize(value))


def attributes(values: dict[str, Any]) -> dict[str, Any]:
    """Plain values as DynamoDB attribute values, leaving out the ones that are None."""
    return {name: attribute(value) for name, value in values.items() if value is not None}


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain Python values (numbers come back as int where whole)."""
    values = {name: _deserializer.deserialize(value) for name, value in item.items()}
    return {name: int(v) if isinstance(v, Decimal) and v == int(v) else v for name, v in values.items()}


@dataclass(frozen=True)
class Write:
    """One conditional Put or Update, in the shape TransactWriteItems takes.

    ``required``: when its condition fails, nothing of the request is written (the evidence is already on record).
    Otherwise a failed condition only leaves this write out (a newer state already stored, say).
    """

    kind: Literal["Put", "Update", "ConditionCheck"]  # a ConditionCheck only in a request of several
    request: dict[str, Any]
    required: bool = False


def write_once(client: DynamoDBClient, writes: list[Write]) -> bool:
    """Apply ``writes`` atomically, the first one being the record that makes the rest happen.

    Returns False, writing nothing, when the condition of the first write or of any ``required`` write fails (the
    fact, or its evidence, is already on record). Another write whose condition fails (a newer state already
    stored, say) is left out and the rest applied.
    A single write is sent as a plain PutItem/UpdateItem, which costs half a transaction.
    """
    remaining = list(writes)
    conflicts = 0
    while True:
        try:
            _send(client, remaining)
            return True
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            if code == "ConditionalCheckFailedException":
                return False  # a single write: it was the first
            if code != "TransactionCanceledException":
                raise StoreUnavailable(f"DynamoDB refused the write: {code}") from exc
            reasons = [reason.get("Code", "None") for reason in exc.response.get("CancellationReasons", [])]
            failed = {index for index, reason in enumerate(reasons) if reason == "ConditionalCheckFailed"}
            if 0 in failed or any(remaining[index].required for index in failed):
                return False
            if failed:
                remaining = [write for index, write in enumerate(remaining) if index not in failed]
                continue
            conflicts += 1
            if "TransactionConflict" in reasons and conflicts <= CONFLICT_RETRIES:
                time.sleep(0.02 * 2**conflicts)  # another writer holds the same item: try again shortly
                continue
            raise StoreUnavailable(f"DynamoDB cancelled the write: {', '.join(sorted(set(reasons)))}") from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(f"DynamoDB could not be reached: {type(exc).__name__}") from exc


def conditional_write(client: DynamoDBClient, kind: Literal["Put", "Update"], request: dict[str, Any],
                      what: str, *, mine: Mapping[str, Any] | None = None) -> tuple[bool, dict[str, Any]]:  # fmt: skip
    """One conditional PutItem or UpdateItem: (True, the item as written: an update's new image, {} for a put), or
    (False, the item its condition found, {} when there was none), read in the same request
    (``ReturnValuesOnConditionCheckFailure``: no extra read, no extra units). ``what`` names the write in errors.

    ``mine``: attribute values only this request writes (a unique owner, holder or ticket). The SDK sends a request
    again when its answer is late or lost (the read timeout), and the first attempt may have been applied all the
    same: the second then fails the condition on the first one's write. A refusal whose item holds every one of
    them is that write, and counts as written: (True, the item found)."""
    request = (
        {**request, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"} if "ConditionExpression" in request else request
    )
    try:
        if kind == "Put":
            client.put_item(**request)
            return True, {}
        answer: dict[str, Any] = dict(client.update_item(**request, ReturnValues="ALL_NEW"))
        return True, dict(answer.get("Attributes") or {})
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        if code != "ConditionalCheckFailedException":
            raise StoreUnavailable(f"DynamoDB refused {what}: {code}") from exc
        found: dict[str, Any] = dict(exc.response.get("Item") or {})  # type: ignore[call-overload]
        return bool(mine) and all(found.get(name) == value for name, value in (mine or {}).items()), found
    except BotoCoreError as exc:
        raise StoreUnavailable(f"DynamoDB could not be reached for {what}: {type(exc).__name__}") from exc


def _send(client: DynamoDBClient, writes: list[Write]) -> None:
    if len(writes) > 1:
        client.transact_write_items(TransactItems=[{write.kind: write.request} for write in writes])  # type: ignore[misc]
    elif writes[0].kind == "Put":
        client.put_item(**writes[0].request)
    else:
        client.update_item(**writes[0].request)


@contextmanager
def translated_errors(operation: str) -> Iterator[None]:
    """Turn a read's AWS errors into ``StoreUnavailable`` naming ``operation``."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        raise StoreUnavailable(f"DynamoDB refused to {operation}: {code}") from exc
    except BotoCoreError as exc:
        raise StoreUnavailable(f"DynamoDB could not be reached to {operation}: {type(exc).__name__}") from exc


def paged(client: Any, operation: str, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every item of a ``query`` or ``scan``, page after page, as plain values."""
    while True:
        with translated_errors(f"read {request['TableName']}"):
            page = getattr(client, operation)(**request)
        for item in page.get("Items", []):
            yield plain(item)
        if "LastEvaluatedKey" not in page:
            return
        request = {**request, "ExclusiveStartKey": page["LastEvaluatedKey"]}


BATCH_GET_KEYS = 100  # BatchGetItem's most keys per request


def read_many(client: Any, table: str, keys: list[dict[str, Any]], *, projection: str = "") -> list[dict[str, Any]]:
    """The items found under ``keys`` (typed key maps), as plain values, in no order: BatchGetItem, 100 keys per
    request, asking again for the keys DynamoDB left unprocessed (it does under throttling) after a short wait."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), BATCH_GET_KEYS):
        wanted: dict[str, Any] = {"Keys": keys[start : start + BATCH_GET_KEYS]}
        if projection:
            wanted |= {"ProjectionExpression": projection}
        attempt = 0
        while wanted:
            with translated_errors(f"read {table}"):
                answer = client.batch_get_item(RequestItems={table: wanted})
            found += [plain(item) for item in answer.get("Responses", {}).get(table, [])]
            wanted = answer.get("UnprocessedKeys", {}).get(table, {})
            if wanted:
                attempt += 1
                time.sleep(min(0.05 * 2**attempt, 1.0))
    return found


@dataclass(frozen=True)
class StreamChange:
    """One DynamoDB stream record: the table it came from, and the item after (and before) the change."""

    table: str
    new: dict[str, Any]
    old: dict[str, Any] | None


def stream_change(record: Mapping[str, Any]) -> StreamChange | None:
    """The change a Lambda stream record carries; None for deletions (TTL expiry), which carry no new item.
    A record missing what every insert or modify has raises KeyError, IndexError or TypeError."""
    change = record["dynamodb"]
    table = str(record["eventSourceARN"]).split(":table/", 1)[1].split("/", 1)[0]
    if record.get("eventName") == "REMOVE":
        return None
    old = plain(change["OldImage"]) if "OldImage" in change else None
    return StreamChange(table, plain(change["NewImage"]), old)
