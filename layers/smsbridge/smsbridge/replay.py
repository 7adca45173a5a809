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
from typing import Any

from smsbridge.adapters.queues import parked_event, parked_message


@dataclass
class ReplaySummary:
    moved: Counter[str] = field(default_factory=Counter)  # by reason
    left: Counter[str] = field(default_factory=Counter)
    not_events: int = 0
    copies: int = 0  # further copies of an event already moved (deleted, or would be)

    def lines(self, dry_run: bool) -> list[str]:
        verb = "would move" if dry_run else "moved"
        lines = [f"{verb} {sum(self.moved.values())} events to the retry queue; left {sum(self.left.values())} "
                 f"(filtered out); {self.not_events} messages are not events; {self.copies} copies of events "
                 f"{'would be ' if dry_run else ''}removed"]  # fmt: skip
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
    seen: set[str] = set()
    moved_keys: set[tuple[str, str]] = set()  # (event key, claim ticket)
    keep: list[str] = []  # receipt handles of messages left in place, made visible again at the end
    while not limit or sum(summary.moved.values()) < limit:
        batch = sqs.receive_message(QueueUrl=dead_letter_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                    WaitTimeSeconds=0).get("Messages", [])  # fmt: skip
        fresh = [message for message in batch if message["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message["MessageId"])
            try:
                parked = parked_event(message["Body"])
            except (ValueError, KeyError, TypeError):
                summary.not_events += 1
                keep.append(message["ReceiptHandle"])
                continue
            why = parked.reason
            if (parked.event.key, parked.ticket) in moved_keys:
                summary.copies += 1
                if dry_run:
                    keep.append(message["ReceiptHandle"])
                else:
                    sqs.delete_message(QueueUrl=dead_letter_queue_url, ReceiptHandle=message["ReceiptHandle"])
                continue
            wanted = reason.lower() in why.lower() and (not kind or parked.event.kind.value == kind)
            if not wanted or (limit and sum(summary.moved.values()) >= limit):
                summary.left[why] += 1
                keep.append(message["ReceiptHandle"])
                continue
            summary.moved[why] += 1
            moved_keys.add((parked.event.key, parked.ticket))
            if dry_run:
                keep.append(message["ReceiptHandle"])
            else:
                replayed = parked_message(parked.event, attempt=0, reason=f"replayed: {why}", ticket=parked.ticket)
                body = json.dumps(replayed)
                sqs.send_message(QueueUrl=retry_queue_url, MessageBody=body)
                sqs.delete_message(QueueUrl=dead_letter_queue_url, ReceiptHandle=message["ReceiptHandle"])
    for handle in keep:
        sqs.change_message_visibility(QueueUrl=dead_letter_queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return summary
