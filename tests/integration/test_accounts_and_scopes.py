"""One identity whatever the scope, and one account never speaks for another: through the whole loop
(signed webhooks → tables → streams → forwarder → CI360 stub)."""

from __future__ import annotations

import json

import pytest

from smsbridge.ops.simulate import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, inbound_params, status_params
from tests.conftest import API_BASE, LambdaContext, form_body, http_api_event, signed_headers
from tests.integration import test_ci360_loop
from tests.integration.test_ci360_loop import CUSTOMER, OURS, Loop, correlation

loop = test_ci360_loop.loop
SERVICE = "MG" + "5" * 32
ACCOUNT_B, TOKEN_B = "AC" + "b" * 32, "b" * 32


def post(loop: Loop, route: str, params: list[tuple[str, str]], query: str = "", token: str = TEST_AUTH_TOKEN) -> int:
    url = f"{API_BASE}{route}" + (f"?{query}" if query else "")
    event = http_api_event(url, form_body(params), signed_headers(url, params, token))
    return int(loop.stack.handler.lambda_handler(event, LambdaContext())["statusCode"])


@pytest.mark.parametrize("sent_through", ["number", "messaging_service"])
@pytest.mark.parametrize("reply_labelled_with", ["number", "messaging_service"])
def test_a_reply_finds_the_contact_ci360_messaged_whatever_the_scope_label(
    loop: Loop, sent_through: str, reply_labelled_with: str
) -> None:
    # GIVEN CI360 messaged the customer from our number, directly (From=) or through a Messaging Service
    service = SERVICE if sent_through == "messaging_service" else ""
    delivered = status_params(status="delivered", recipient=CUSTOMER, sender=OURS, messaging_service_sid=service)
    assert post(loop, "/twilio/status", delivered, correlation("DH7", "TSK_7")) == 204
    # WHEN the customer replies to that number, Twilio labelling the reply with or without the service
    label = SERVICE if reply_labelled_with == "messaging_service" else ""
    reply = inbound_params(body="What time?", sender=CUSTOMER, recipient=OURS, messaging_service_sid=label)
    assert post(loop, "/twilio/inbound", reply) == 200
    loop.drain(until=2)
    # THEN the reply reaches CI360 as that contact, with the task that messaged them; nothing is held
    replies = [body for body in loop.received() if body["eventName"] == "SMS Reply"]
    assert [(body["datahub_id"], body.get("task_code")) for body in replies] == [("DH7", "TSK_7")]
    assert loop.dead_letters() == []


def test_one_account_s_webhooks_never_reach_another_account_s_consent_contacts_or_events(loop: Loop) -> None:
    loop.stack.set_tokens(json.dumps({"default": [TEST_AUTH_TOKEN], ACCOUNT_B: [TOKEN_B]}))
    loop.stack.handler.service.tokens.secret._next_read = 0
    # GIVEN CI360 messaged the customer from the same number in both accounts, as different contacts
    ours_a = status_params(status="delivered", recipient=CUSTOMER, sender=OURS)
    ours_b = status_params(status="delivered", recipient=CUSTOMER, sender=OURS, account_sid=ACCOUNT_B)
    assert post(loop, "/twilio/status", ours_a, correlation("DHA")) == 204
    assert post(loop, "/twilio/status", ours_b, correlation("DHB"), token=TOKEN_B) == 204
    # WHEN the customer sends STOP in account B (signed with B's token), and B's token is used to claim account A
    stop_b = inbound_params(body="STOP", sender=CUSTOMER, recipient=OURS, account_sid=ACCOUNT_B)
    assert post(loop, "/twilio/inbound", stop_b, token=TOKEN_B) == 200
    forged = inbound_params(body="START", sender=CUSTOMER, recipient=OURS, account_sid=TEST_ACCOUNT_SID)
    assert post(loop, "/twilio/inbound", forged, token=TOKEN_B) == 403
    # AND a plain reply arrives in account A
    assert post(loop, "/twilio/inbound", inbound_params(body="hi", sender=CUSTOMER, recipient=OURS)) == 200
    loop.drain(until=4)
    # THEN the opt-out is account B's only, and each event went to its own account's contact
    states = [item for item in loop.stack.consent_items() if item["record_type"] == "state"]
    assert [(s["account_sid"], s["status"]) for s in states] == [(ACCOUNT_B, "opted_out")]
    received = sorted((b["eventName"], b["datahub_id"]) for b in loop.received())
    assert received == [("SMS Delivered", "DHA"), ("SMS Delivered", "DHB"), ("SMS Opt-Out", "DHB"),
                        ("SMS Reply", "DHA")]  # fmt: skip
