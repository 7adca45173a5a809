"""Items read by one recovery-sweep run and one preference-sync run, with 10 times more stored history: both read
through the tables' change indexes, so what they read follows what changed, not what the tables hold (goal: the
larger history costs at most 1.2x the reads of the smaller).

On moto, tables made from template.yaml. Items read: what DynamoDB evaluates and returns (a Query's or Scan's
``ScannedCount``, a GetItem's item, a BatchGetItem's responses), counted by a botocore hook on the client.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from moto import mock_aws

from smsbridge.adapters.change_index import CONSENT_BUCKET, MESSAGE_BUCKET, change_slot
from smsbridge.adapters.consent_table import ConsentLedger, state_key
from smsbridge.adapters.dynamodb import attributes
from smsbridge.adapters.event_claims import DynamoSentEvents
from smsbridge.adapters.fact_tables import DynamoFacts
from smsbridge.adapters.message_table import message_key
from smsbridge.app.forwarder import Forwarder
from smsbridge.app.preferences import PreferenceSync
from smsbridge.app.recover import recover
from smsbridge.domain.ci360_events import EventKind, EventMapping
from smsbridge.domain.consent import scoped
from smsbridge.domain.preferences import Checkpoint
from smsbridge.local.template import LocalResources, create_resources, load_template
from smsbridge.ports import Window
from tests.bench.harness import Row
from tests.conftest import ROOT
from tests.fakes import FakeContacts, FakeGateway, FakeParking, FakePreferenceApi, FakeSyncLog

ACCOUNT = "AC" + "a" * 32
OURS = "+14155550199"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
WINDOW = Window(NOW - timedelta(hours=2), NOW - timedelta(minutes=10))  # the scheduled sweep's
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


class ItemsRead:
    """Calls by operation, and items read, on one DynamoDB client (a botocore ``after-call`` hook)."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self.items = 0
        client.meta.events.register("after-call.dynamodb", self._count)

    def _count(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        self.calls[model.name] += 1
        if model.name in ("Query", "Scan"):
            self.items += int(parsed.get("ScannedCount", len(parsed.get("Items", []))))
        elif model.name == "GetItem":
            self.items += int("Item" in parsed)
        elif model.name == "BatchGetItem":
            self.items += sum(len(found) for found in parsed.get("Responses", {}).values())

    @property
    def writes(self) -> int:
        return sum(count for operation, count in self.calls.items() if operation in WRITES)

    def reset(self) -> None:
        self.calls.clear()
        self.items = 0


def tables(prefix: str = "bench") -> tuple[Any, str, str]:
    """A DynamoDB client and the messages and consent tables, created from template.yaml on the current moto."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # a bench run has no test fixture to set it
    resources = LocalResources(prefix=prefix, template=load_template(ROOT / "template.yaml"))
    create_resources(resources, boto3.session.Session())
    return boto3.client("dynamodb"), resources.name_of("MessagesTable"), resources.name_of("ConsentTable")


def put_all(client: Any, table: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        client.batch_write_item(RequestItems={table: requests})


def status_records(count: int, start: datetime, spacing: timedelta, prefix: str = "") -> list[dict[str, Any]]:
    """Status records (sent, then delivered) as the webhook writes them, one every ``spacing`` from ``start``."""
    records = []
    for n in range(count):
        sid, at = f"SM{prefix}{n:0{32 - len(prefix)}d}", (start + n * spacing).isoformat()
        history = [{"status": "sent", "at": at}, {"status": "delivered", "at": at}]
        values = {"kind": "status", "message_sid": sid, "recipient": f"+1415{n % 10_000_000:07d}", "sender": OURS,
                  "scope": OURS, "account_sid": ACCOUNT, "status": "delivered", "status_rank": 4, "updated_at": at,
                  "callback_query": f"dh=DH{n}", "history": history,
                  "change_slot": change_slot(at, sid, MESSAGE_BUCKET)}  # fmt: skip
        records.append({**message_key(sid, "STATUS"), **attributes(values)})
    return records


def ledger_states(count: int, changed_at: datetime, first: int = 0) -> list[dict[str, Any]]:
    """Opt-out states as the ledger keeps them (``consent_writes``), all changed at ``changed_at``: written in
    batches, as moto takes seconds a transaction on a large table."""
    states = []
    for n in range(first, first + count):
        phone, at = f"+1628{n:07d}", changed_at.isoformat()
        values = {"record_type": "state", "phone": phone, "scope": OURS, "status": "opted_out", "updated_at": at,
                  "order_key": f"{at}#SM{n}", "source": "reply_keyword", "event_id": f"SM{n}",
                  "account_sid": ACCOUNT, "changed_at": at,
                  "change_slot": change_slot(at, phone, CONSENT_BUCKET)}  # fmt: skip
        states.append({**state_key(phone, scoped(ACCOUNT, OURS)), **attributes(values)})
    return states


def forwarder_on(client: Any, messages: str, consent: str) -> tuple[Forwarder, FakeGateway]:
    gateway = FakeGateway()
    forwarder = Forwarder(
        mapping=EventMapping(names={kind: kind.value for kind in EventKind}),
        gateway=lambda: gateway,
        sent=DynamoSentEvents(messages, client=client),
        contacts=FakeContacts({}),
        parking=FakeParking(),
        messages_table=messages,
        consent_table=consent,
        clock=lambda: NOW,
    )
    return forwarder, gateway


def sweep_reads(in_window: int, history: int) -> tuple[int, Counter[str]]:
    """Items read by a sweep of the scheduled window holding ``in_window`` facts CI360 already has, with ``history``
    older facts stored (the sweep of a steady state: everything on record)."""
    with mock_aws():
        client, messages, consent = tables()
        older = WINDOW.start - timedelta(hours=1) - history * timedelta(seconds=1)  # all before the window
        put_all(client, messages, status_records(history, older, timedelta(seconds=1), "H"))
        put_all(client, messages, status_records(in_window, WINDOW.start, (WINDOW.end - WINDOW.start) / in_window))
        forwarder, _ = forwarder_on(client, messages, consent)
        facts = DynamoFacts(messages, consent, client=client)
        recover(forwarder, facts, [WINDOW])  # CI360 gets them
        meter = ItemsRead(client)
        summary = recover(forwarder, facts, [WINDOW])
        assert summary.outcomes == {"on_record": 2 * in_window}, summary.outcomes
        return meter.items, meter.calls


def sync_reads(changed: int, history: int) -> tuple[int, Counter[str], int]:
    """Items read by a sync of ``changed`` changes since its checkpoint, with ``history`` older states stored.
    Also the numbers the job carried."""
    with mock_aws():
        client, _, consent = tables()
        put_all(client, consent, ledger_states(history, NOW - timedelta(days=2)))
        put_all(client, consent, ledger_states(changed, NOW - timedelta(minutes=5), first=history))
        ledger = ConsentLedger(consent, client=client)
        records, api = FakeSyncLog(), FakePreferenceApi()
        records.current = (Checkpoint(through=(NOW - timedelta(hours=1)).isoformat()), [])
        sync = PreferenceSync(ledger=ledger, records=records, api=lambda: api, settle_seconds=0, clock=lambda: NOW,
                              sleep=lambda _: None)  # fmt: skip
        meter = ItemsRead(client)
        report = sync.run()
        assert report.outcome == "done", report
        return meter.items, meter.calls, len(report.preferences)


def run(quick: bool) -> list[Row]:
    """The two ratios: items read with 10x the history against items read with 1x."""
    in_window, history, changed, ledger = (100, 1_000, 100, 5_000) if quick else (500, 10_000, 100, 100_000)
    small_sweep, _ = sweep_reads(in_window, history)
    large_sweep, _ = sweep_reads(in_window, 10 * history)
    small_sync, _, _ = sync_reads(changed, ledger // 10)
    large_sync, _, _ = sync_reads(changed, ledger)
    return [
        Row(f"sweep reads, {in_window} facts in its window, {10 * history:,} stored vs {history:,}", large_sweep,
            small_sweep, "items", "<= 1.2x", f"{large_sweep / (2 * in_window):.1f} items per event on record"),
        Row(f"sync reads, {changed} changes, {ledger:,} ledger states vs {ledger // 10:,}", large_sync, small_sync,
            "items", "<= 1.2x", f"{large_sync / changed:.1f} items per changed number"),
    ]  # fmt: skip
