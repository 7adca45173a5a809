"""The recovery sweep and the preference sync read what changed, through the tables' change indexes: never a Scan,
no write for what CI360 already has, reads that follow the changes and not the ledger, and a sweep stopped at its
deadline that goes on from its checkpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from smsbridge.adapters.consent_table import ConsentLedger
from smsbridge.adapters.fact_tables import DynamoFacts
from smsbridge.app.preferences import PreferenceSync
from smsbridge.app.recover import recover, sweep_dead_letter_descriptions
from smsbridge.domain.preferences import Checkpoint
from smsbridge.ports import Window
from tests.bench.bench_reads import NOW, ItemsRead, forwarder_on, ledger_states, put_all, status_records
from tests.fakes import FakePreferenceApi, FakeSyncLog
from tests.integration.conftest import Stack
from tests.integration.test_preference_sync import reply

WINDOW = Window(NOW - timedelta(hours=2), NOW - timedelta(minutes=10))


def test_the_sweep_and_the_sync_make_no_scan_and_find_what_the_webhook_wrote(stack: Stack) -> None:
    # GIVEN a STOP and a reply through the webhook (message records and a consent state, written as a webhook does)
    since = datetime.now(UTC) - timedelta(minutes=1)
    reply(stack, "STOP")
    reply(stack, "Thanks!", sender="+14155550123")
    meter = ItemsRead(stack.dynamodb)
    # WHEN the sweep reads the window and the sync the changes
    forwarder, _ = forwarder_on(stack.dynamodb, stack.messages_table, stack.consent_table)
    summary = recover(forwarder, DynamoFacts(stack.messages_table, stack.consent_table, client=stack.dynamodb),
                      [Window(since, datetime.now(UTC) + timedelta(minutes=1))], dry_run=True)  # fmt: skip
    sync = PreferenceSync(ledger=ConsentLedger(stack.consent_table, client=stack.dynamodb), records=FakeSyncLog(),
                          api=FakePreferenceApi, settle_seconds=0, sleep=lambda _: None)  # fmt: skip
    report = sync.run(dry_run=True, since=since.isoformat())
    # THEN both found them through the indexes, and neither scanned
    # the reply and the opt-out state (a keyword's own record carries no event: it is not in the index)
    assert summary.facts == 2 and summary.outcomes == {"would_send": 2}
    assert [p.phone for p in report.preferences] == ["+14155550100"]
    assert meter.calls["Scan"] == 0 and meter.calls["Query"] > 0


def test_a_sweep_over_facts_ci360_already_has_writes_nothing(stack: Stack) -> None:
    put_all(stack.dynamodb, stack.messages_table, status_records(30, WINDOW.start, timedelta(minutes=3)))
    forwarder, gateway = forwarder_on(stack.dynamodb, stack.messages_table, stack.consent_table)
    facts = DynamoFacts(stack.messages_table, stack.consent_table, client=stack.dynamodb)
    assert recover(forwarder, facts, [WINDOW]).outcomes == {"sent": 60}  # sent and delivered of each
    meter = ItemsRead(stack.dynamodb)
    # WHEN the sweep runs again over the same facts
    summary = recover(forwarder, facts, [WINDOW])
    # THEN it reads their claims and writes nothing: no claim attempt, no checkpoint, nothing sent
    assert summary.outcomes == {"on_record": 60}
    assert meter.writes == 0 and meter.calls["Scan"] == 0
    assert len(gateway.bodies) == 60


def test_a_sync_reads_the_changes_not_the_ledger(stack: Stack) -> None:
    # GIVEN a ledger of 5,000 states (100,000 in `make bench`), 100 of them changed since the checkpoint
    put_all(stack.dynamodb, stack.consent_table, ledger_states(5_000, NOW - timedelta(days=2)))
    put_all(stack.dynamodb, stack.consent_table, ledger_states(100, NOW - timedelta(minutes=5), first=5_000))
    records, api = FakeSyncLog(), FakePreferenceApi()
    records.current = (Checkpoint(through=(NOW - timedelta(hours=1)).isoformat()), [])
    sync = PreferenceSync(ledger=ConsentLedger(stack.consent_table, client=stack.dynamodb), records=records,
                          api=lambda: api, settle_seconds=0, clock=lambda: NOW, sleep=lambda _: None)  # fmt: skip
    meter = ItemsRead(stack.dynamodb)
    report = sync.run()
    # THEN it sends the 100, reading about two items each (the index entry, the number's state), not 5,100
    assert report.outcome == "done" and len(report.preferences) == 100
    assert meter.items <= 2 * 100 + 10 and meter.calls["Scan"] == 0
    assert report.backlog_seconds == 0


def test_a_sync_drains_a_backlog_over_several_runs_without_starving(stack: Stack) -> None:
    # GIVEN 250 changes, at five distinct times, and a job of at most 100 numbers
    for minute in range(5):
        states = ledger_states(50, NOW - timedelta(minutes=50 - minute), first=50 * minute)
        put_all(stack.dynamodb, stack.consent_table, states)
    records, api = FakeSyncLog(), FakePreferenceApi()
    records.current = (Checkpoint(through=(NOW - timedelta(hours=1)).isoformat()), [])
    sync = PreferenceSync(ledger=ConsentLedger(stack.consent_table, client=stack.dynamodb), records=records,
                          api=lambda: api, settle_seconds=0, max_numbers=100, clock=lambda: NOW,
                          sleep=lambda _: None)  # fmt: skip
    # WHEN it runs until nothing is left THEN each run sends at most its limit, reports the backlog, and every
    # number goes once
    reports = [sync.run() for _ in range(4)]
    assert [len(r.preferences) for r in reports] == [100, 100, 50, 0]
    assert [r.backlog_seconds for r in reports] == [49 * 60, 47 * 60, 0, 0]
    assert len({line for file in api.files for line in file.splitlines()[1:]}) == 250


def test_a_sweep_at_its_deadline_goes_on_from_its_checkpoint_and_sends_each_fact_once(stack: Stack) -> None:
    # GIVEN 80 facts CI360 never got, in the window's first 10-minute bucket (over every shard of it)
    put_all(stack.dynamodb, stack.messages_table, status_records(80, WINDOW.start, timedelta(seconds=5)))
    forwarder, gateway = forwarder_on(stack.dynamodb, stack.messages_table, stack.consent_table)
    facts = DynamoFacts(stack.messages_table, stack.consent_table, client=stack.dynamodb)
    dead = stack.resources.function_environment("ForwarderFunction")["DEAD_LETTER_QUEUE_URL"]
    sqs = boto3.client("sqs")

    def sweep(left_ms: int) -> Any:
        return sweep_dead_letter_descriptions(sqs, dead, forwarder, facts, extra=[WINDOW], remaining_ms=lambda: left_ms)

    # WHEN a run has time for one page only
    first = sweep(forwarder.send_reserve_ms + 1)
    # THEN it stops with a checkpoint, having sent what it read
    saved = facts.checkpoint()
    assert first.unfinished and 0 < first.outcomes["sent"] < 160
    assert saved["window_start"] == WINDOW.start.isoformat() and saved["window_after"]
    # AND the next run goes on from there and finishes: every event sent once, none twice
    second = sweep(600_000)
    assert not second.unfinished and first.outcomes["sent"] + second.outcomes["sent"] == 160
    assert second.outcomes["on_record"] < first.outcomes["sent"]  # it did not read the window again from the start
    keys = [(body["eventName"], body["message_sid"]) for body in gateway.bodies]
    assert len(keys) == len(set(keys)) == 160
    assert facts.checkpoint() == {"swept_through": WINDOW.end.isoformat()}
    # AND a third run starts where the last window ended: nothing left to read
    assert sweep(600_000).facts == 0
