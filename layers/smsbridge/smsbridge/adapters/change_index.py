"""The time-keyed indexes: where a fact sits in its table's change index, and which index keys a window covers.

The recovery sweep and the preference sync read what changed in a time window; a Scan would read the whole table.
So every fact is written with ``change_slot = <bucket>#<shard>``, the key of a global secondary index:

- ``<bucket>``: the time of the change, floored to the index's bucket width (``2026-11-30T08:10``);
- ``<shard>``: ``0`` to ``SHARDS - 1``, a stable hash of the item's own key. One index partition per bucket would
  take every write of the moment (an index partition takes about 1,000 write units/s, and a throttled index
  throttles the table's writes): ``SHARDS`` of them spread it. A reader queries every shard of every bucket in
  its window.

- messages table, index ``ByChangeSlot``: key ``change_slot`` alone, keys only projected, 10-minute buckets
  (message records);
- consent table, index ``ByChange``: key ``change_slot`` and sort key ``changed_at``, ``record_type`` and ``phone``
  projected, one-day buckets (states, and HELP history entries).

A message record is updated by each of its status callbacks: its index key changes (one index write to delete,
one to put) only when a callback falls in another 10-minute bucket than the one before, so most messages cost one
index write in all; the reader filters the exact times itself. A consent state's ``changed_at`` moves with every
change anyway, so it is the sort key and the reader reads exactly its range.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta

SHARDS = 8
SLOT_ATTRIBUTE = "change_slot"
MESSAGES_INDEX = "ByChangeSlot"
CONSENT_INDEX = "ByChange"
MESSAGE_BUCKET = timedelta(minutes=10)
CONSENT_BUCKET = timedelta(days=1)


def as_time(moment: datetime | str) -> datetime:
    """An aware UTC datetime from a datetime or an ISO 8601 string (one without an offset is taken as UTC)."""
    found = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


def _bucket(moment: datetime, width: timedelta) -> datetime:
    seconds = int(width.total_seconds())
    return datetime.fromtimestamp(int(moment.timestamp()) // seconds * seconds, UTC)


def change_slot(moment: datetime | str, item_key: str, width: timedelta) -> str:
    """The index key of an item whose key is ``item_key``, changed at ``moment``."""
    shard = zlib.crc32(item_key.encode()) % SHARDS  # not hash(): Python salts it per process
    return f"{_bucket(as_time(moment), width):%Y-%m-%dT%H:%M}#{shard}"


def slots_between(start: datetime | str, end: datetime | str, width: timedelta) -> list[str]:
    """Every index key that may hold a change from ``start`` to ``end``: each shard of each bucket, oldest first."""
    bucket, last = _bucket(as_time(start), width), _bucket(as_time(end), width)
    slots: list[str] = []
    while bucket <= last:
        slots += [f"{bucket:%Y-%m-%dT%H:%M}#{shard}" for shard in range(SHARDS)]
        bucket += width
    return slots
