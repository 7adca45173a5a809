"""The order of Twilio message statuses, so that late or repeated callbacks never move a message backwards.

Twilio does not deliver status callbacks in order and may repeat them. A message only moves to a status of a
higher rank: ``accepted/scheduled < queued < sending < sent < delivered/undelivered/failed/canceled < read``.
Statuses of equal rank do not replace each other (the first terminal status stands), with one exception: a
``delivered`` replaces an ``undelivered`` (a carrier's late delivery receipt correcting an earlier one: see
``CORRECTIONS``), so the journey waiting for a delivery hears of it.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class MessageStatus(StrEnum):
    """Every ``MessageStatus`` value Twilio documents for messages."""

    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELED = "canceled"
    PARTIALLY_DELIVERED = "partially_delivered"
    READ = "read"
    RECEIVING = "receiving"
    RECEIVED = "received"


class StatusRank(IntEnum):
    """How far a message has gone; only a higher rank may replace a stored status."""

    CREATED = 0
    QUEUED = 1
    SENDING = 2
    SENT = 3
    FINAL = 4
    READ = 5

    @classmethod
    def of(cls, status: MessageStatus) -> StatusRank:
        return _RANKS[status]


_RANKS: dict[MessageStatus, StatusRank] = {
    MessageStatus.ACCEPTED: StatusRank.CREATED,
    MessageStatus.SCHEDULED: StatusRank.CREATED,
    MessageStatus.QUEUED: StatusRank.QUEUED,
    MessageStatus.SENDING: StatusRank.SENDING,
    MessageStatus.SENT: StatusRank.SENT,
    MessageStatus.DELIVERED: StatusRank.FINAL,
    MessageStatus.UNDELIVERED: StatusRank.FINAL,
    MessageStatus.FAILED: StatusRank.FINAL,
    MessageStatus.CANCELED: StatusRank.FINAL,
    MessageStatus.PARTIALLY_DELIVERED: StatusRank.FINAL,
    MessageStatus.READ: StatusRank.READ,
    # Inbound messages: ``receiving`` then ``received`` (final).
    MessageStatus.RECEIVING: StatusRank.SENDING,
    MessageStatus.RECEIVED: StatusRank.FINAL,
}


# incoming status → the stored status of the same rank it corrects
CORRECTIONS: dict[MessageStatus, MessageStatus] = {MessageStatus.DELIVERED: MessageStatus.UNDELIVERED}


def advances(stored: MessageStatus | None, incoming: MessageStatus) -> bool:
    """True when ``incoming`` may replace ``stored`` (nothing stored yet, a strictly higher rank, or a correction)."""
    if stored is None or StatusRank.of(incoming) > StatusRank.of(stored):
        return True
    return CORRECTIONS.get(incoming) is stored
