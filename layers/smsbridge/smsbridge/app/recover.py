"""The recovery sweep: facts on record whose CI360 event was never sent are sent, once (``smsbridge recover``).

The tables are the source of truth, not the stream: when Lambda gives up on a stream batch (``MaximumRetryAttempts``
or ``MaximumRecordAgeInSeconds`` reached, e.g. after a bad deploy), the records are lost to the forwarder, and only a
*description* of the batch (shard, sequence numbers, arrival times) reaches the dead-letter queue. The sweep reads
the facts recorded in a time window back from the tables, maps them to their events as the stream would have
(every status in a message's history, the current consent state, HELP entries) and delivers each through the same
claim as the forwarder (``domain/claims.py``): an event already accepted, parked, held or dead-lettered is left as
it is, so a sweep can run any number of times, beside the forwarder, and sends nothing twice.

Windows come from the stream-batch descriptions in the dead-letter queue (each is deleted once its window is
swept), from the scheduled run's recent window (``[now - lookback, now - grace]``: facts younger than the grace
period are still on their way through the stream), or from ``smsbridge recover --since``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from smsbridge.adapters.fact_tables import DynamoFacts
from smsbridge.adapters.queues import each_message
from smsbridge.app.forwarder import Forwarder, build_forwarder
from smsbridge.clock import utc_now
from smsbridge.config import Settings
from smsbridge.domain.ci360_events import EventMapping, PendingEvent
from smsbridge.ports import FactSource, Window

DESCRIPTION_SLACK = timedelta(minutes=2)  # a fact is written a little before its stream record's arrival time
SWEEP_LOOKBACK = timedelta(hours=2)  # the scheduled sweep looks this far back ...
SWEEP_GRACE = timedelta(minutes=10)  # ... at facts at least this old (younger ones are still on their way)


@dataclass
class RecoverySummary:
    facts: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    descriptions: int = 0  # stream-batch descriptions handled (and removed from the dead-letter queue)
    unfinished: bool = False  # stopped at the deadline: what is left is swept next time

    def lines(self, dry_run: bool = False) -> list[str]:
        verb = "would send" if dry_run else "sent"
        sent = self.outcomes["would_send"] if dry_run else self.outcomes["sent"]
        lines = [f"{self.facts} facts on record; {verb} {sent} events CI360 was missing; "
                 f"{self.descriptions} stream-batch descriptions handled"]  # fmt: skip
        lines += [f"  {count:>6}  {outcome}" for outcome, count in sorted(self.outcomes.items())]
        if self.unfinished:
            lines.append("stopped at the deadline: run it again for the rest")
        return lines


def events_of_message(mapping: EventMapping, item: dict[str, Any]) -> list[PendingEvent]:
    """The events the stream would have carried for a message record: a reply's, and one per status moved
    through (the ``history``), each with the image before it, as the stream hands them over."""
    if item.get("kind") == "inbound":
        return mapping.message_change(item, None)
    if item.get("kind") != "status":
        return []
    history = [entry for entry in item.get("history") or [] if isinstance(entry, dict)]
    if not history:
        return mapping.message_change(item, None)
    events: list[PendingEvent] = []
    before: dict[str, Any] | None = None
    for count, entry in enumerate(history, start=1):
        image = {**item, "status": entry.get("status"), "history": history[:count],
                 "updated_at": entry.get("at") or item.get("updated_at"),
                 "error_code": entry.get("error_code")}  # fmt: skip
        events += mapping.message_change(image, before)
        before = image
    return events


def events_of_consent(mapping: EventMapping, item: dict[str, Any]) -> list[PendingEvent]:
    """A consent state's current event (earlier states are superseded: CI360 needs the last) or a HELP entry's."""
    return mapping.consent_change(item, None)


def stream_description_window(body: str) -> Window | None:
    """The time window of a stream batch Lambda gave up on, from the description it sent to the on-failure
    destination (``DDBStreamBatchInfo``); None when the message is not one."""
    try:
        info = json.loads(body)["DDBStreamBatchInfo"]
        first = datetime.fromisoformat(str(info["approximateArrivalOfFirstRecord"]).replace("Z", "+00:00"))
        last = datetime.fromisoformat(str(info["approximateArrivalOfLastRecord"]).replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError):
        return None
    return Window(first - DESCRIPTION_SLACK, last + DESCRIPTION_SLACK)


def recover(
    forwarder: Forwarder,
    facts: FactSource,
    windows: Iterable[Window],
    *,
    dry_run: bool = False,
    remaining_ms: Callable[[], int] | None = None,
    summary: RecoverySummary | None = None,
) -> RecoverySummary:
    """Deliver, through the claim, every event of the facts recorded in ``windows`` (each event at most once
    however the windows overlap). ``dry_run``: only count the events that have no claim yet."""
    summary = summary or RecoverySummary()
    seen: set[str] = set()
    for window in windows:
        events: list[PendingEvent] = []
        for item in facts.messages_between(window):
            summary.facts += 1
            events += events_of_message(forwarder.mapping, item)
        for item in facts.consent_between(window):
            summary.facts += 1
            events += events_of_consent(forwarder.mapping, item)
        fresh = [event for event in events if event.key not in seen]
        seen.update(event.key for event in fresh)
        if dry_run:
            summary.outcomes.update("would_send" if forwarder.sent.state_of(e.key) is None else "on_record"
                                    for e in fresh)  # fmt: skip
            continue
        summary.outcomes.update(forwarder.deliver_all(fresh, remaining_ms))
        if summary.outcomes["deferred"]:
            summary.unfinished = True
            break
    return summary


def sweep_dead_letter_descriptions(
    sqs: Any,
    dead_letter_queue_url: str,
    forwarder: Forwarder,
    facts: FactSource,
    *,
    extra: Iterable[Window] = (),
    remaining_ms: Callable[[], int] | None = None,
) -> RecoverySummary:
    """The scheduled sweep: the windows of the stream-batch descriptions in the dead-letter queue (each deleted once
    its window is swept whole) and ``extra`` windows. Other dead letters are left for ``smsbridge replay``."""
    summary = recover(forwarder, facts, extra, remaining_ms=remaining_ms)
    handled: list[str] = []
    messages = each_message(sqs, dead_letter_queue_url, visibility_timeout=60) if not summary.unfinished else ()
    for message in messages:
        window = stream_description_window(message["Body"])
        if window is None:
            continue  # an event for `smsbridge replay`: it becomes visible again after the visibility timeout
        recover(forwarder, facts, [window], remaining_ms=remaining_ms, summary=summary)
        if summary.unfinished:
            break
        handled.append(message["ReceiptHandle"])
        summary.descriptions += 1
    for handle in handled:
        sqs.delete_message(QueueUrl=dead_letter_queue_url, ReceiptHandle=handle)
    return summary


def recent_window(now: datetime, *, lookback: timedelta, grace: timedelta) -> Window:
    """The scheduled sweep's own window: facts old enough to have been sent, young enough to be worth a look."""
    return Window(now - lookback, now - grace)


def run_recovery(
    where: dict[str, Any], *, since: datetime, until: datetime | None = None, dry_run: bool = False
) -> RecoverySummary:
    """``smsbridge recover``: ``where`` maps messages, consent, dead, retry and secret to located resources
    (``adapters/deployment.Location``: a name and a client maker); the window's times come checked from the CLI."""
    start, end = since, until or utc_now()
    environment = {**os.environ, "MESSAGES_TABLE": where["messages"].name, "CONSENT_TABLE": where["consent"].name,
                   "DEAD_LETTER_QUEUE_URL": where["dead"].name, "RETRY_QUEUE_URL": where["retry"].name,
                   "CI360_SECRET": where["secret"].name}  # fmt: skip
    dynamodb = where["messages"].client("dynamodb")
    forwarder = build_forwarder(Settings.from_env(environment), dynamodb=dynamodb, sqs=where["retry"].client("sqs"),
                                secrets=where["secret"].client("secretsmanager"))  # fmt: skip
    facts = DynamoFacts(where["messages"].name, where["consent"].name, client=dynamodb)
    return recover(forwarder, facts, [Window(start, end)], dry_run=dry_run)
