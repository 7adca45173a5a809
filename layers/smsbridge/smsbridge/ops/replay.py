"""``smsbridge replay``: move dead letters back to the retry queue once their cause is fixed.

Each moved event starts again at attempt 0, carrying the claim ticket it was dead-lettered under, and goes
through the forwarder like any other, so one already accepted by CI360 is not sent twice. Copies of one event
(the same event key and claim ticket) are moved once: the other copies are deleted and counted; a copy under an
older ticket is moved too, and the forwarder's claim lets only the current ticket send. Messages that are not smsbridge
events (Lambda's descriptions of stream batches it gave up on) are left where they are and counted.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from smsbridge.adapters.queues import QueueWalk, parked_event, parked_message
from smsbridge.domain.privacy import mask_address
from smsbridge.text import counted


@dataclass
class ReplaySummary:
    moved: Counter[str] = field(default_factory=Counter)  # by reason
    left: Counter[str] = field(default_factory=Counter)
    not_events: int = 0
    copies: int = 0  # further copies of an event already moved (deleted, or would be)

    def lines(self, dry_run: bool) -> list[str]:
        verb = "would move" if dry_run else "moved"
        moved, left = sum(self.moved.values()), sum(self.left.values())
        odd, copies = counted(self.not_events, "message"), counted(self.copies, "copy", "copies")
        lines = [f"{verb} {counted(moved, 'event')} to the retry queue; left {left} (filtered out); {odd} not events; "
                 f"{copies} of events {'would be ' if dry_run else ''}removed"]  # fmt: skip
        lines += [f"  {count:>6}  {reason}" for reason, count in self.moved.most_common()]
        return lines


def replay(
    sqs: Any,
    *,
    dead_letter_queue_url: str,
    retry_queue_url: str,
    reason: str = "",
    kind: str = "",
    limit: int = 0,
    dry_run: bool = False,
) -> ReplaySummary:
    """Move matching dead letters (reason containing ``reason``, event kind ``kind``) to the retry queue."""
    summary = ReplaySummary()
    moved_keys: set[tuple[str, str]] = set()  # (event key, claim ticket)
    with QueueWalk(sqs, dead_letter_queue_url, visibility_timeout=60) as walk:  # what is left is put back at the end
        for message in walk:
            if limit and sum(summary.moved.values()) >= limit:
                break
            try:
                parked = parked_event(message["Body"])
            except (ValueError, KeyError, TypeError):
                summary.not_events += 1
                continue
            why = parked.reason
            if (parked.event.key, parked.ticket) in moved_keys:
                summary.copies += 1
                if not dry_run:
                    walk.remove(message)
                continue
            if reason.lower() not in why.lower() or (kind and parked.event.kind.value != kind):
                summary.left[why] += 1
                continue
            summary.moved[why] += 1
            moved_keys.add((parked.event.key, parked.ticket))
            if not dry_run:
                replayed = parked_message(parked.event, attempt=0, reason=f"replayed: {why}", ticket=parked.ticket)
                sqs.send_message(QueueUrl=retry_queue_url, MessageBody=json.dumps(replayed))
                walk.remove(message)
    return summary


@dataclass(frozen=True)
class ParkedEntry:
    """One dead letter as ``replay --list`` shows it: what event, for which message, why, since when."""

    message_id: str
    key: str  # the event's key: kind and the MessageSid (or consent event id) it came from
    kind: str
    message_sid: str
    customer: str  # masked
    reason: str
    attempts: int
    parked_at: str
    age_seconds: int

    def line(self) -> str:
        return (f"{_age(self.age_seconds):>6} ago  {self.kind:<11} {self.message_sid or '-':<34} {self.customer:<14} "
                f"attempts {self.attempts}  {self.reason}")  # fmt: skip


def _age(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parked_list(
    sqs: Any,
    *,
    dead_letter_queue_url: str,
    reason: str = "",
    kind: str = "",
    limit: int = 0,
    now: datetime | None = None,
) -> list[ParkedEntry]:
    """The dead letters (matching ``reason`` and ``kind``), oldest first, without moving any of them."""
    now = now or datetime.now(UTC)
    entries: list[ParkedEntry] = []
    with QueueWalk(sqs, dead_letter_queue_url, visibility_timeout=30) as walk:  # every one is put back
        for message in walk:
            try:
                parked = parked_event(message["Body"])
                at = str(json.loads(message["Body"]).get("at", ""))
            except (ValueError, KeyError, TypeError):
                continue
            if reason.lower() not in parked.reason.lower() or (kind and parked.event.kind.value != kind):
                continue
            age = int((now - datetime.fromisoformat(at)).total_seconds()) if at else 0
            entries.append(ParkedEntry(
                message_id=message["MessageId"], key=parked.event.key, kind=parked.event.kind.value,
                message_sid=str(parked.event.attributes.get("message_sid", "")),
                customer=mask_address(parked.event.phone), reason=parked.reason, attempts=parked.attempt,
                parked_at=at, age_seconds=max(age, 0),
            ))  # fmt: skip
    entries.sort(key=lambda entry: entry.parked_at)
    return entries[:limit] if limit else entries
