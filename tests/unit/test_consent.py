"""Consent events: what a reply or a status callback puts on record, and which event wins."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from smsbridge.domain.consent import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    supersedes,
)
from smsbridge.domain.keywords import KeywordRules, classify_reply
from smsbridge.domain.payloads import (
    InboundMessage,
    StatusCallback,
    consent_from_reply,
    consent_from_status,
    parse_webhook,
)
from smsbridge.ops.simulate import inbound_params, status_params

T0 = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
SERVICE = "MG" + "2" * 32


def reply(body: str, **fields: str) -> ConsentEvent | None:
    message = parse_webhook(InboundMessage, inbound_params(body=body, **fields))
    return consent_from_reply(message, classify_reply(body, KeywordRules(), message.opt_out_type), T0)


def test_stop_is_an_opt_out_for_the_number_and_our_sender() -> None:
    event = reply("STOP", sender="+14155550100", recipient="+14155550199")
    assert event is not None
    assert (event.phone, event.scope, event.action) == ("+14155550100", "+14155550199", ConsentAction.OPT_OUT)
    assert event.new_status is ConsentStatus.OPTED_OUT
    assert (event.source, event.rule, event.keyword) == (ConsentSource.REPLY_KEYWORD, "keyword_exact", "STOP")


def test_scope_is_the_messaging_service_when_there_is_one() -> None:
    event = reply("STOP", messaging_service_sid=SERVICE)
    assert event is not None and event.scope == SERVICE


def test_help_is_recorded_without_changing_state() -> None:
    event = reply("HELP")
    assert event is not None and event.action is ConsentAction.HELP and event.new_status is None


def test_plain_reply_carries_no_consent() -> None:
    assert reply("See you Tuesday") is None


def test_advanced_opt_out_type_is_the_source() -> None:
    event = reply("Stop it now", opt_out_type="STOP")
    assert event is not None and event.source is ConsentSource.TWILIO_OPT_OUT_TYPE


def status(error_code: str, status: str = "failed") -> StatusCallback:
    return parse_webhook(StatusCallback, status_params(status=status, error_code=error_code, recipient="+14155550100"))


def test_21610_back_fills_an_opt_out_for_the_recipient() -> None:
    event = consent_from_status(status("21610"), T0)
    assert event is not None
    assert (event.phone, event.source, event.new_status) == (
        "+14155550100",
        ConsentSource.TWILIO_21610,
        ConsentStatus.OPTED_OUT,
    )


def test_30004_is_evidence_and_suppresses_only_when_configured() -> None:
    evidence = consent_from_status(status("30004", "undelivered"), T0)
    assert evidence is not None and evidence.action is ConsentAction.BLOCKED and evidence.new_status is None
    suppressing = consent_from_status(status("30004", "undelivered"), T0, suppress_on_30004=True)
    assert suppressing is not None and suppressing.new_status is ConsentStatus.OPTED_OUT


@pytest.mark.parametrize("code", ["", "30003", "30006", "30007"])
def test_other_outcomes_carry_no_consent(code: str) -> None:
    assert consent_from_status(status(code, "undelivered" if code else "delivered"), T0) is None


def event(action: ConsentAction, minutes: int, event_id: str = "SM1") -> ConsentEvent:
    return ConsentEvent(
        "+14155550100", "+14155550199", action, T0 + timedelta(minutes=minutes), ConsentSource.MANUAL, event_id
    )


def test_newer_event_wins_in_any_arrival_order() -> None:
    events = [
        event(ConsentAction.OPT_OUT, 1, "a"),
        event(ConsentAction.OPT_IN, 2, "b"),
        event(ConsentAction.OPT_OUT, 3, "c"),
        event(ConsentAction.HELP, 4, "d"),
    ]
    for order in itertools.permutations(events):
        stored: ConsentEvent | None = None
        for incoming in order:
            if supersedes(incoming, stored.order_key if stored else None):
                stored = incoming
        assert stored is not None and stored.event_id == "c"


def test_same_instant_is_ordered_by_event_id_and_a_repeat_changes_nothing() -> None:
    first, second = event(ConsentAction.OPT_OUT, 0, "a"), event(ConsentAction.OPT_IN, 0, "b")
    assert supersedes(second, first.order_key) and not supersedes(first, second.order_key)
    assert not supersedes(first, first.order_key)
