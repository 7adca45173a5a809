"""The consent ledger on DynamoDB (moto): every STOP, START and HELP on record, exactly once, never backwards."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from smsbridge.adapters.consent_table import ConsentLedger
from smsbridge.app.webhook import build_webhook_service
from smsbridge.config import Settings
from smsbridge.domain.consent import ConsentAction, ConsentEvent, ConsentSource, ConsentStatus
from smsbridge.local.atomic_dynamodb import serialise_dynamodb_requests
from smsbridge.ops.simulate import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, inbound_params, sign_webhook, status_params
from tests.conftest import API_BASE, LambdaContext, form_body, http_api_event, signed_headers
from tests.integration.conftest import Stack
from tests.unit.test_ingress import request_for

CUSTOMER = "+14155550100"
OUR_NUMBER = "+14155550199"
T0 = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)


def post(stack: Stack, route: str, params: list[tuple[str, str]]) -> dict[str, Any]:
    url = f"{API_BASE}{route}"
    event = http_api_event(url, form_body(params), signed_headers(url, params))
    return stack.handler.lambda_handler(event, LambdaContext())  # type: ignore[no-any-return]


def states(stack: Stack) -> list[dict[str, Any]]:
    return [item for item in stack.consent_items() if item["record_type"] == "state"]


def history(stack: Stack) -> list[dict[str, Any]]:
    return sorted((i for i in stack.consent_items() if i["record_type"] == "event"), key=lambda i: i["order_key"])


def test_stop_then_start_flips_the_state_and_keeps_both_in_history(stack: Stack) -> None:
    # GIVEN a STOP reply WHEN it arrives THEN the number is opted out for our sender, with the rule on record
    post(stack, "/twilio/inbound", inbound_params(body="Stop.", sender=CUSTOMER, recipient=OUR_NUMBER))
    [state] = states(stack)
    assert (state["phone"], state["scope"], state["status"]) == (CUSTOMER, OUR_NUMBER, "opted_out")
    # WHEN START follows THEN the state is opted in and the history holds both, in order
    post(stack, "/twilio/inbound", inbound_params(body="START", sender=CUSTOMER, recipient=OUR_NUMBER))
    [state] = states(stack)
    assert state["status"] == "opted_in"
    entries = history(stack)
    assert [(e["action"], e["keyword"], e["rule"]) for e in entries] == [
        ("opt_out", "STOP", "keyword_exact"),
        ("opt_in", "START", "keyword_exact"),
    ]
    assert all(e["matcher_version"] for e in entries)


def test_help_is_on_record_and_changes_nothing(stack: Stack) -> None:
    post(stack, "/twilio/inbound", inbound_params(body="HELP", sender=CUSTOMER))
    assert states(stack) == []
    assert [(e["action"], e["effect"]) for e in history(stack)] == [("help", "none")]


def test_plain_reply_is_kept_and_carries_no_consent(stack: Stack) -> None:
    post(stack, "/twilio/inbound", inbound_params(body="See you Tuesday", sender=CUSTOMER))
    assert stack.consent_items() == []
    [item] = stack.items()
    assert item["body"] == {"S": "See you Tuesday"}


def test_twilio_retry_of_a_stop_is_one_history_entry(stack: Stack) -> None:
    params = inbound_params(body="STOP", sender=CUSTOMER)
    for _ in range(3):
        assert post(stack, "/twilio/inbound", params)["statusCode"] == 200
    assert len(history(stack)) == 1


def test_the_same_stop_ten_times_at_once_is_one_entry_and_opted_out(stack: Stack) -> None:
    # GIVEN the service the webhook uses, on the same tables, with each DynamoDB request atomic as in AWS
    serialise_dynamodb_requests()
    service = build_webhook_service(Settings.from_env())
    params = inbound_params(body="STOP", sender=CUSTOMER)
    url = f"{API_BASE}/twilio/inbound"
    signed = sign_webhook(url, params, TEST_AUTH_TOKEN)
    request = request_for(url, params, {k.lower(): v for k, v in signed.headers.items()})
    # WHEN the same STOP arrives ten times concurrently
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda _: service.accept_inbound(request).recorded, range(10)))
    # THEN exactly one delivery recorded it, once, and the number is opted out
    assert results.count(True) == 1
    assert len(history(stack)) == 1
    assert [s["status"] for s in states(stack)] == ["opted_out"]
    assert len(stack.items()) == 1


def test_events_applied_in_reverse_order_leave_the_newer_state(stack: Stack) -> None:
    ledger = ConsentLedger(stack.consent_table, client=stack.dynamodb)

    def event(action: ConsentAction, minutes: int, event_id: str) -> ConsentEvent:
        at = T0 + timedelta(minutes=minutes)
        return ConsentEvent(CUSTOMER, OUR_NUMBER, action, at, ConsentSource.MANUAL, event_id)

    # WHEN START (newer) is applied before STOP (older)
    assert ledger.record(event(ConsentAction.OPT_IN, 5, "SMnew"), recorded_at=T0)
    assert ledger.record(event(ConsentAction.OPT_OUT, 1, "SMold"), recorded_at=T0)
    # THEN the state is the newer event's, and history keeps both in the order they happened
    [record] = ledger.get(CUSTOMER)
    assert record.status is ConsentStatus.OPTED_IN
    assert [entry["action"] for entry in record.history] == ["opt_out", "opt_in"]
    # AND recording the older one again changes nothing
    assert not ledger.record(event(ConsentAction.OPT_OUT, 1, "SMold"), recorded_at=T0)


def test_stop_older_than_the_stored_state_is_history_only(stack: Stack) -> None:
    # GIVEN an opt-in on record from the future (e.g. imported for the account)
    ledger = ConsentLedger(stack.consent_table, client=stack.dynamodb)
    future = datetime.now(UTC) + timedelta(days=1)
    ledger.record(
        ConsentEvent(CUSTOMER, OUR_NUMBER, ConsentAction.OPT_IN, future, ConsentSource.IMPORT, "imp1",
                     account_sid=TEST_ACCOUNT_SID),
        recorded_at=future,
    )  # fmt: skip
    # WHEN a STOP webhook arrives now THEN message and history are written, the newer state stands
    assert post(stack, "/twilio/inbound", inbound_params(body="STOP", sender=CUSTOMER))["statusCode"] == 200
    assert len(stack.items()) == 1
    assert [s["status"] for s in states(stack)] == ["opted_in"]
    assert [e["action"] for e in history(stack)] == ["opt_out", "opt_in"]


def test_21610_status_back_fills_the_opt_out(stack: Stack) -> None:
    params = status_params(status="failed", error_code="21610", recipient=CUSTOMER, sender=OUR_NUMBER)
    assert post(stack, "/twilio/status", params)["statusCode"] == 204
    [state] = states(stack)
    assert (state["phone"], state["scope"], state["status"], state["source"]) == (
        CUSTOMER,
        OUR_NUMBER,
        "opted_out",
        "twilio_21610",
    )


def test_30004_is_evidence_only_by_default(stack: Stack) -> None:
    post(stack, "/twilio/status", status_params(status="undelivered", error_code="30004", recipient=CUSTOMER))
    assert states(stack) == []
    assert [(e["action"], e["effect"], e["source"]) for e in history(stack)] == [("blocked", "none", "twilio_30004")]
