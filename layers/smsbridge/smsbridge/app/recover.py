"""The recovery sweep: facts on record whose CI360 event was never sent are sent, once (``smsbridge recover``).

The tables are the source of truth, not the stream: when Lambda gives up on a stream batch (``MaximumRetryAttempts``
or ``MaximumRecordAgeInSeconds`` reached, e.g. after a bad deploy), the records are lost to the forwarder, and only a
*description* of the batch (shard, sequence numbers, arrival times) reaches the dead-letter queue. The sweep reads
the facts recorded in a time window back from the tables through their change indexes (``adapters/fact_tables.py``:
never a Scan, reads in proportion to the window), maps them to their events as the stream would have (every status
in a message's history, the current consent state, HELP entries), reads their claims in one batched read a page,
and delivers only the events with no claim, through the same claim as the forwarder (``domain/claims.py``): an
event already accepted, parked, held or dead-lettered costs a read and no write, so a sweep can run any number of
times, beside the forwarder, and sends nothing twice.

Windows come from the stream-batch descriptions in the dead-letter queue (each is deleted once its window is
swept), from the scheduled run's recent window (``[now - lookback, now - grace]``, from where the last run got to:
facts younger than the grace period are still on their way through the stream), or from ``smsbridge recover
--since``. A scheduled run that reaches its deadline saves a checkpoint (the window and the page it stopped at) and
the next run goes on from it.
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
from smsbridge.domain.claims import may_claim
from smsbridge.ports import FactSource, Window

DESCRIPTION_SLACK = timedelta(minutes=2)  # a fact is written a little before its stream record's arrival time
SWEEP_LOOKBACK = timedelta(hours=2)  # the scheduled sweep looks this far back ...
SWEEP_GRACE = timedelta(minutes=10)  # ... at facts at least this old (younger ones are still on their way)
PAGE_RESERVE_MS = 5_000  # reading one page of facts and their claims, and saving the checkpoint


@dataclass
class RecoverySummary:
    facts: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    descriptions: int = 0  # stream-batch descriptions handled (and removed from the dead-letter queue)
    unfinished: bool = False  # stopped at the deadline: what is left is swept next time

    def lines(self, dry_run: bool = False) -> list[str]:
        verb = "would send" if dry_run else "sent"
        sent = self.outcomes["would_send"] if dry_run else self.outcomes["sent"]
        # the breakdown counts events (a fact has none, one or several), so the line that heads it counts them too
        events = sum(self.outcomes.values())
        lines = [f"{self.facts} facts on record with {events} events; {verb} {sent} events CI360 was missing; "
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
    """Deliver, through the claim, every event of the facts recorded in ``windows`` that has no claim yet (each at
    most once however the windows overlap). ``dry_run``: only count them."""
    summary = summary or RecoverySummary()
    seen: set[str] = set()
    for window in windows:
        if sweep_window(forwarder, facts, window, summary, seen, dry_run=dry_run, remaining_ms=remaining_ms):
            break
    return summary


def sweep_window(
    forwarder: Forwarder,
    facts: FactSource,
    window: Window,
    summary: RecoverySummary,
    seen: set[str],
    *,
    start: str = "",
    dry_run: bool = False,
    remaining_ms: Callable[[], int] | None = None,
) -> str:
    """Sweep one window from ``start``, page by page: the events of a page's facts are looked up in one batched read
    of their claims, and only those with none (or an abandoned one, ``may_claim``) are delivered; an event on record
    costs that read and no write. Returns "" when the window is done, else where to go on from (the deadline came
    first: ``summary.unfinished``)."""
    for page in facts.pages(window, start):
        summary.facts += len(page.items)
        events_of = events_of_message if page.table == "messages" else events_of_consent
        events = {e.key: e for item in page.items for e in events_of(forwarder.mapping, item) if e.key not in seen}
        seen.update(events)
        unsent = _without_claim(forwarder, list(events.values()))
        if len(events) > len(unsent):
            summary.outcomes["on_record"] += len(events) - len(unsent)
        if unsent and dry_run:
            summary.outcomes["would_send"] += len(unsent)
        elif unsent:
            summary.outcomes.update(forwarder.deliver_all(unsent, remaining_ms))
        out_of_time = remaining_ms is not None and remaining_ms() < forwarder.send_reserve_ms + PAGE_RESERVE_MS
        if page.after and (out_of_time or summary.outcomes["deferred"]):
            summary.unfinished = True
            return page.after
    return ""


def _without_claim(forwarder: Forwarder, events: list[PendingEvent]) -> list[PendingEvent]:
    if not events:
        return []
    claims, now = forwarder.sent.claims_of([event.key for event in events]), forwarder.clock()
    return [event for event in events if may_claim(claims.get(event.key), ticket="", now=now)]


def sweep_dead_letter_descriptions(
    sqs: Any,
    dead_letter_queue_url: str,
    forwarder: Forwarder,
    facts: FactSource,
    *,
    extra: Iterable[Window] = (),
    remaining_ms: Callable[[], int] | None = None,
) -> RecoverySummary:
    """The scheduled sweep: the window a previous run stopped in (from where it stopped), then the windows of the
    stream-batch descriptions in the dead-letter queue (each deleted once its window is swept, or once the
    checkpoint holds it), then the ``extra`` windows (the recent window) from where the last sweep got to. At the
    deadline it saves a checkpoint, which the next run goes on from. Other dead letters are left for
    ``smsbridge replay``."""
    summary, seen = RecoverySummary(), set[str]()
    sweep = Sweep(forwarder, facts, summary, seen, remaining_ms)
    if not sweep.resume():
        return summary
    handled: list[str] = []
    for message in each_message(sqs, dead_letter_queue_url, visibility_timeout=60):
        window = stream_description_window(message["Body"])
        if window is None:
            continue  # an event for `smsbridge replay`: it becomes visible again after the visibility timeout
        handled.append(message["ReceiptHandle"])  # swept whole, or held by the checkpoint
        if not sweep.window(window, recent=False):
            break
        summary.descriptions += 1
    for handle in handled:
        sqs.delete_message(QueueUrl=dead_letter_queue_url, ReceiptHandle=handle)
    for window in extra if not summary.unfinished else ():
        if not sweep.window(window, recent=True):
            break
    return summary


@dataclass
class Sweep:
    """The scheduled sweep's windows, with its checkpoint (``FactSource.checkpoint``): ``swept_through``, the end of
    the last recent window swept whole, and the window a run stopped in with where to go on."""

    forwarder: Forwarder
    facts: FactSource
    summary: RecoverySummary
    seen: set[str]
    remaining_ms: Callable[[], int] | None
    swept_through: str = ""

    def resume(self) -> bool:
        """Finish the window the last run stopped in; False when the deadline came first again."""
        saved = self.facts.checkpoint()
        self.swept_through = saved.get("swept_through", "")
        if not saved.get("window_start"):
            return True
        window = Window(datetime.fromisoformat(saved["window_start"]), datetime.fromisoformat(saved["window_end"]))
        return self._sweep(window, recent=bool(saved.get("window_recent")), start=saved.get("window_after", ""))

    def window(self, window: Window, *, recent: bool) -> bool:
        """Sweep ``window`` (a recent one from ``swept_through`` on); False when the deadline came first."""
        if recent and self.swept_through:
            window = Window(max(window.start, datetime.fromisoformat(self.swept_through)), window.end)
            if window.start >= window.end:
                return True
        return self._sweep(window, recent=recent)

    def _sweep(self, window: Window, *, recent: bool, start: str = "") -> bool:
        after = sweep_window(self.forwarder, self.facts, window, self.summary, self.seen, start=start,
                             remaining_ms=self.remaining_ms)  # fmt: skip
        if recent and not after:
            self.swept_through = max(self.swept_through, window.end.isoformat())
        stopped = {"window_start": window.start.isoformat(), "window_end": window.end.isoformat(),
                   "window_after": after, "window_recent": "yes" if recent else ""}  # fmt: skip
        if after or start:  # stopped, or finished what a previous run stopped in
            self.facts.save_checkpoint({"swept_through": self.swept_through, **(stopped if after else {})})
        elif recent:
            self.facts.save_checkpoint({"swept_through": self.swept_through})
        return not after


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
