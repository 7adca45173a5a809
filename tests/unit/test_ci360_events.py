"""The CI360 event mapping: which change becomes which event, with which identity and attributes."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from smsbridge.config import event_mapping_from_env
from smsbridge.domain.ci360_events import (
    EVENT_ATTRIBUTES,
    SMOKE_EVENT_NAME,
    SMOKE_TASK_CODE,
    AttributeShape,
    Correlation,
    EventKind,
    EventMapping,
    PendingEvent,
    connector_body,
    event_definitions,
    parse_correlation,
    with_identity,
)
from smsbridge.domain.signature import SignedContent, candidate_urls, compute_signature, signature_matches
from smsbridge.domain.status import MessageStatus, advances
from smsbridge.errors import ConfigurationError

CUSTOMER, OURS = "+14155550100", "+14155550199"


def inbound(intent: str = "reply", **extra: Any) -> dict[str, Any]:
    return {
        "kind": "inbound",
        "message_sid": "SM1",
        "sender": CUSTOMER,
        "recipient": OURS,
        "scope": OURS,
        "intent": intent,
        "body": "See you",
        "keyword": None,
        "received_at": "2026-11-27T13:00:00+00:00",
        **extra,
    }


def status(value: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "status",
        "message_sid": "SM2",
        "sender": OURS,
        "recipient": CUSTOMER,
        "scope": OURS,
        "status": value,
        "updated_at": "2026-11-27T13:00:00+00:00",
        **extra,
    }


def state(value: str, order_key: str = "k1") -> dict[str, Any]:
    return {
        "record_type": "state",
        "phone": CUSTOMER,
        "scope": OURS,
        "status": value,
        "order_key": order_key,
        "updated_at": "2026-11-27T13:00:00+00:00",
        "source": "reply_keyword",
        "event_id": f"SM-{order_key}",
    }


MAPPING = EventMapping()
HELP_ENTRY = {
    "record_type": "event",
    "action": "help",
    "phone": CUSTOMER,
    "scope": OURS,
    "event_id": "SM9",
    "source": "reply_keyword",
    "keyword": "HELP",
    "occurred_at": "2026-11-27T13:00:00+00:00",
}


def test_a_new_free_text_reply_is_a_reply_event() -> None:
    [event] = MAPPING.message_change(inbound(), None)
    assert event.kind is EventKind.REPLY
    assert event.attributes["reply_text"] == "See you"
    assert event.attributes["customer_number"] == "+1********00"  # masked by default
    assert event.key == "reply:SM1"


def test_a_recut_reply_sends_no_event_and_the_genuine_copy_replacing_it_does() -> None:
    # a record of a request holding another field inside a value: its text may not be the person's
    recut = {**inbound(), "unverified": "absorbed_field,field_form"}
    assert MAPPING.message_change(recut, None) == []
    [event] = MAPPING.message_change(inbound(), recut)
    assert event.key == "reply:SM1" and event.attributes["reply_text"] == "See you"
    # an unverified record for another reason (an unusual form) is still the person's reply
    assert len(MAPPING.message_change({**inbound(), "unverified": "field_form"}, None)) == 1


@pytest.mark.parametrize("intent", ["opt_out", "opt_in", "help"])
def test_keyword_replies_are_left_to_the_consent_ledger(intent: str) -> None:
    assert MAPPING.message_change(inbound(intent), None) == []


def test_an_inbound_record_changing_later_sends_nothing_again() -> None:
    assert MAPPING.message_change(inbound(), inbound()) == []


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        (None, "delivered", EventKind.DELIVERED),
        ("sent", "undelivered", EventKind.UNDELIVERED),
        ("queued", "failed", EventKind.FAILED),
        ("delivered", "read", EventKind.READ),
    ],
)
def test_status_moves_map_to_their_kind_once(old: str | None, new: str, kind: EventKind) -> None:
    [event] = MAPPING.message_change(status(new), status(old) if old else None)
    assert (event.kind, event.key) == (kind, f"{kind}:SM2")


@pytest.mark.parametrize(
    ("old", "new"), [("delivered", "delivered"), (None, "queued"), (None, "sending"), (None, "sent")]
)
def test_unchanged_early_or_disabled_statuses_send_nothing(old: str | None, new: str) -> None:
    assert MAPPING.message_change(status(new), status(old) if old else None) == []


def test_error_code_is_classified_and_correlation_read_from_the_callback_url() -> None:
    [event] = MAPPING.message_change(status("undelivered", error_code=30006, callback_query="dh=D1&rtc=R1&tc=T1"), None)
    assert (event.attributes["error_code"], event.attributes["error_class"]) == (30006, "recipient_permanent")
    assert event.correlation == Correlation("D1", "T1", "R1")


def test_consent_state_changes_map_to_opt_out_and_opt_in() -> None:
    [out] = MAPPING.consent_change(state("opted_out"), None)
    assert out.kind is EventKind.OPT_OUT and out.attributes["consent_source"] == "reply_keyword"
    [back] = MAPPING.consent_change(state("opted_in", "k2"), state("opted_out"))
    assert back.kind is EventKind.OPT_IN
    assert MAPPING.consent_change(state("opted_out", "k3"), state("opted_out")) == []  # nothing changed


def test_help_comes_from_the_history_and_other_entries_do_not() -> None:
    [event] = MAPPING.consent_change(HELP_ENTRY, None)
    assert (event.kind, event.attributes["keyword"]) == (EventKind.HELP, "HELP")
    assert MAPPING.consent_change({**HELP_ENTRY, "action": "opt_out"}, None) == []


def test_a_kind_with_an_empty_name_is_off_and_sent_can_be_turned_on() -> None:
    quiet = EventMapping(names={**MAPPING.names, EventKind.REPLY: ""})
    assert quiet.message_change(inbound(), None) == []
    chatty = EventMapping(names={**MAPPING.names, EventKind.SENT: "SMS Sent"})
    assert [e.kind for e in chatty.message_change(status("sent"), None)] == [EventKind.SENT]


def test_full_numbers_when_asked() -> None:
    [event] = EventMapping(full_numbers=True).message_change(inbound(), None)
    assert event.attributes["customer_number"] == CUSTOMER


def test_identity_is_the_datahub_id_with_task_and_tracking_code() -> None:
    [event] = MAPPING.message_change(inbound(), None)
    addressed = with_identity(event, MAPPING, Correlation("D1", "TSK_1", "RTC9"), "hold")
    assert addressed is not None
    assert addressed.body()["datahub_id"] == "D1"
    assert (addressed.body()["task_code"], addressed.body()["response_tracking_code"]) == ("TSK_1", "RTC9")
    assert addressed.body()["eventName"] == "SMS Reply"


def test_nested_shape_puts_every_attribute_under_attributes_and_nothing_else_at_the_top() -> None:
    [event] = MAPPING.message_change(inbound(), None)
    flat = with_identity(event, MAPPING, Correlation("D1", "TSK_1"), "subject_id")
    nested_mapping = event_mapping_from_env({"CI360_ATTRIBUTE_SHAPE": "nested"})
    assert nested_mapping.attribute_shape is AttributeShape.NESTED
    for correlation in (Correlation("D1", "TSK_1"), None):  # the datahub id, or the number under subject_id
        nested = with_identity(event, nested_mapping, correlation, "subject_id")
        assert nested is not None and flat is not None
        identity = {nested.identity_type: nested.identity_value}
        assert nested.body() == {"eventName": "SMS Reply", **identity, "attributes": dict(nested.attributes)}
    assert flat.body() == {"eventName": "SMS Reply", "datahub_id": "D1", **flat.attributes}
    with pytest.raises(ConfigurationError, match="CI360_ATTRIBUTE_SHAPE must be one of flat, nested"):
        event_mapping_from_env({"CI360_ATTRIBUTE_SHAPE": "deep"})


def test_unknown_identity_is_held_or_sent_as_the_configured_type() -> None:
    [event] = MAPPING.message_change(inbound(), None)
    assert with_identity(event, MAPPING, None, "hold") is None
    addressed = with_identity(event, MAPPING, None, "subject_id")
    assert addressed is not None and addressed.body()["subject_id"] == CUSTOMER


def test_every_attribute_sent_is_one_the_definitions_declare_for_that_event() -> None:
    chatty = EventMapping(names={kind: kind.value for kind in EventKind})
    produced = [
        *chatty.message_change(inbound(), None),
        *[
            event
            for s in ("sent", "delivered", "undelivered", "failed", "read")
            for event in chatty.message_change(status(s, error_code=30006), None)
        ],
        *chatty.message_change(status("delivered"), status("undelivered")),
        *chatty.consent_change(state("opted_out"), None),
        *chatty.consent_change(state("opted_in"), None),
        *chatty.consent_change(HELP_ENTRY, None),
    ]
    declared = {name: {attr for attr, _, _ in attrs} for name, attrs in event_definitions(chatty)}
    assert {event.kind for event in produced} == set(EventKind)
    for event in produced:
        addressed = with_identity(event, chatty, Correlation("D", "T", "R"), "hold")
        assert addressed is not None
        assert set(addressed.attributes) <= declared[event.kind.value], event.kind
    assert set(EVENT_ATTRIBUTES) == set().union(*declared.values())


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("dh=D1&rtc=R1&tc=T1", Correlation("D1", "T1", "R1")),
        ("dh=D1", Correlation("D1")),
        ("tc=T1", None),
        ("", None),
        ("dh=%7B%7B%24datahubId%7D%7D", None),
        ("dh=a%27b", None),
    ],
)
def test_parse_correlation(query: str, expected: Correlation | None) -> None:
    assert parse_correlation(query) == expected


def test_connector_body_survives_ci360_substitution_and_twilio_url_handling() -> None:
    # GIVEN the body printed for a stack, WHEN CI360 substitutes its variables in it
    body = connector_body("https://abc.execute-api.us-east-1.amazonaws.com/twilio/status")
    values = {
        "$toPhoneNumber": "+14155550100",
        "$fromPhoneNumber": "+14155550199",
        "$messageBody": "Hi",
        "$datahubId": "a1b2c3d4-0000-4e5f-9999-0123456789ab",
        "$taskCode": "TSK_202",
        "$responseTrackingCode": "RTC.12_ab-9",
    }
    for name, value in values.items():
        body = body.replace("{{" + name + "}}", value)
    # AND Twilio reads the form (the + in numbers must be %2B in a real form: CI360 substitutes raw text)
    fields = dict(parse_qsl(body.replace("+", "%2B")))
    callback = fields["StatusCallback"]
    # THEN the callback URL carries the correlation in alphabetical order
    assert urlsplit(callback).query == ("dh=a1b2c3d4-0000-4e5f-9999-0123456789ab&rtc=RTC.12_ab-9&tc=TSK_202")
    assert parse_correlation(urlsplit(callback).query) == Correlation(values["$datahubId"], "TSK_202", "RTC.12_ab-9")
    # AND a callback Twilio signs over that URL verifies against the configured base URL plus the raw query
    params = [("MessageStatus", "delivered")]
    signed = SignedContent(candidate_urls(callback.split("?")[0], urlsplit(callback).query), params, b"")
    assert signature_matches(signed, compute_signature("tok", callback, params), ["tok"])


def test_smoke_messages_go_to_the_smoke_event_that_no_journey_listens_to() -> None:
    smoke = Correlation("smsbridge-smoke", SMOKE_TASK_CODE, "smoke")
    reply = PendingEvent(EventKind.REPLY, "reply:SM1", "+14155550100", "+14155550199", {"reply_text": "hi"})
    event = with_identity(reply, EventMapping(), smoke, "hold")
    assert event is not None and (event.name, event.identity_value) == (SMOKE_EVENT_NAME, "smsbridge-smoke")
    real = with_identity(reply, EventMapping(), Correlation("DH1", "TSK_1", "R"), "hold")
    assert real is not None and real.name == "SMS Reply"


# -- every state a journey waits for, in any order of Twilio's callbacks

ALL_ON = EventMapping(names={kind: kind.value for kind in EventKind})
STATES = ["sent", "delivered", "undelivered", "read"]


def replay_callbacks(order: tuple[str, ...]) -> tuple[list[str], list[tuple[str, dict[str, Any]]]]:
    """Apply status callbacks as the messages table does (only moves that ``advances`` allows, each appended to the
    history) and map every stored change as the stream hands it over: (statuses stored, events as (kind, marks))."""
    stored: dict[str, Any] | None = None
    applied: list[str] = []
    events: list[tuple[str, dict[str, Any]]] = []
    for value in order:
        if not advances(MessageStatus(stored["status"]) if stored else None, MessageStatus(value)):
            continue
        history = [*(stored or {}).get("history", []), {"status": value, "at": "t"}]
        new = status(value, history=history)
        for event in ALL_ON.message_change(new, stored):
            marks = {k: event.attributes[k] for k in ("implied", "corrects") if k in event.attributes}
            events.append((event.key.split(":")[0], marks))
        stored, applied = new, [*applied, value]
    return applied, events


@pytest.mark.parametrize(
    "order",
    [
        order
        for size in range(1, 5)
        for order in itertools.permutations(["sent", "delivered", "undelivered", "read"], size)
    ],
)
def test_every_order_of_sent_delivered_undelivered_read_gives_every_state_a_journey_waits_for(
    order: tuple[str, ...],
) -> None:
    applied, events = replay_callbacks(order)
    kinds = [kind for kind, _ in events]
    # each kind at most once: its key is claimed once
    assert len(kinds) == len(set(kinds))
    # a read message was delivered: SMS Delivered whenever read or delivered was stored
    assert ("delivered" in kinds) == bool({"delivered", "read"} & set(applied))
    for kind in ("sent", "undelivered", "read"):
        assert (kind in kinds) == (kind in applied), kind
    delivered = dict(events).get("delivered", {})
    # implied when no delivery receipt came before the read; a correction when it follows an undelivered
    assert (delivered.get("implied") == "true") == (
        "read" in applied and "delivered" not in applied[: applied.index("read")]
    )
    first_final = next((s for s in applied if s in ("delivered", "undelivered")), None)
    assert (delivered.get("corrects") == "undelivered") == (first_final == "undelivered" and "delivered" in kinds)


def test_a_late_delivery_receipt_after_undelivered_is_a_correction() -> None:
    applied, events = replay_callbacks(("sent", "undelivered", "delivered", "undelivered"))
    assert applied == ["sent", "undelivered", "delivered"]  # a later undelivered does not take it back
    assert events == [("sent", {}), ("undelivered", {}), ("delivered", {"corrects": "undelivered"})]


def test_a_read_receipt_racing_ahead_of_the_delivery_receipt_implies_it() -> None:
    applied, events = replay_callbacks(("sent", "read", "delivered"))
    assert applied == ["sent", "read"]
    assert events == [("sent", {}), ("delivered", {"implied": "true"}), ("read", {})]
