"""Status order: callbacks arrive out of order and repeated; a message only moves forward."""

from __future__ import annotations

import itertools

import pytest

from smsbridge.domain.status import MessageStatus, StatusRank, advances

OUTBOUND_PATH = ["accepted", "queued", "sending", "sent", "delivered", "read"]


def test_every_status_has_a_rank() -> None:
    assert {status: StatusRank.of(status) for status in MessageStatus}


def test_the_documented_order() -> None:
    ranks = [StatusRank.of(MessageStatus(s)) for s in OUTBOUND_PATH]
    assert ranks == sorted(ranks)
    assert len(set(ranks)) == len(ranks)


@pytest.mark.parametrize("final", ["delivered", "undelivered", "failed", "canceled"])
def test_late_earlier_statuses_never_replace_a_final_one(final: str) -> None:
    for earlier in ("accepted", "scheduled", "queued", "sending", "sent"):
        assert not advances(MessageStatus(final), MessageStatus(earlier))


def test_first_final_status_stands() -> None:
    assert not advances(MessageStatus.DELIVERED, MessageStatus.UNDELIVERED)
    assert not advances(MessageStatus.FAILED, MessageStatus.DELIVERED)


def test_read_follows_delivered() -> None:
    assert advances(MessageStatus.DELIVERED, MessageStatus.READ)


def test_any_arrival_order_ends_at_the_highest_status() -> None:
    for order in itertools.permutations(["queued", "sent", "delivered", "read"]):
        stored: MessageStatus | None = None
        for status in map(MessageStatus, order):
            if advances(stored, status):
                stored = status
        assert stored is MessageStatus.READ


def test_a_late_delivery_receipt_corrects_undelivered_but_nothing_takes_delivered_back() -> None:
    assert advances(MessageStatus.UNDELIVERED, MessageStatus.DELIVERED)
    assert not advances(MessageStatus.DELIVERED, MessageStatus.UNDELIVERED)
    assert not advances(MessageStatus.DELIVERED, MessageStatus.DELIVERED)
    assert not advances(MessageStatus.READ, MessageStatus.DELIVERED)
