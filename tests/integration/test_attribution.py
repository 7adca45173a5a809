"""Replies and consent facts are credited to the message the person answered: the newest one Twilio had reported
to that number from that sender when the reply arrived, whatever is sent after it and however late the event goes."""

from __future__ import annotations

from smsbridge.ops.simulate import inbound_params, status_params
from tests.integration import test_ci360_loop
from tests.integration.test_ci360_loop import CUSTOMER, OURS, Loop, correlation

loop = test_ci360_loop.loop  # the whole loop's fixture: webhook → tables → streams → forwarder → CI360 stub


def test_a_reply_and_a_stop_go_to_the_message_before_them_not_to_one_sent_after(loop: Loop) -> None:
    # GIVEN CI360 messaged the customer (task SPRING), who answered, then sent STOP
    spring = status_params(status="delivered", recipient=CUSTOMER, sender=OURS, message_sid="SM" + "1" * 32)
    assert loop.post("/twilio/status", spring, correlation("DH-SPRING", "SPRING")) == 204
    reply = inbound_params(body="Is the sale on?", sender=CUSTOMER, recipient=OURS, message_sid="SM" + "2" * 32)
    assert loop.post("/twilio/inbound", reply) == 200
    stop = inbound_params(body="STOP", sender=CUSTOMER, recipient=OURS, message_sid="SM" + "3" * 32)
    assert loop.post("/twilio/inbound", stop) == 200
    # AND a moment later, before anything was forwarded, another campaign messaged the same number
    summer = status_params(status="sent", recipient=CUSTOMER, sender=OURS, message_sid="SM" + "4" * 32)
    assert loop.post("/twilio/status", summer, correlation("DH-SUMMER", "SUMMER")) == 204
    # WHEN the events are forwarded
    loop.drain()
    # THEN the reply and the opt-out are credited to the spring message they answered
    sent = {body["eventName"]: body for body in loop.received_once()}
    for name in ("SMS Reply", "SMS Opt-Out"):
        assert (sent[name]["datahub_id"], sent[name]["task_code"]) == ("DH-SPRING", "SPRING"), sent[name]
        assert sent[name]["response_tracking_code"] == "RTC-DH-SPRING"


def test_a_reply_before_any_message_is_sent_with_the_persons_identity_but_no_task_of_a_later_message(
    loop: Loop,
) -> None:
    # GIVEN a person texts the number before any campaign messaged them
    first = inbound_params(body="hello?", sender=CUSTOMER, recipient=OURS, message_sid="SM" + "5" * 32)
    assert loop.post("/twilio/inbound", first) == 200
    # AND a campaign messages them right after
    later = status_params(status="delivered", recipient=CUSTOMER, sender=OURS, message_sid="SM" + "6" * 32)
    assert loop.post("/twilio/status", later, correlation("DH-LATER", "LATER")) == 204
    loop.drain()
    # THEN the reply reaches CI360 as the person (CI360 knows them now), credited to no task: it answered none
    sent = {body["eventName"]: body for body in loop.received_once()}
    assert sent["SMS Reply"]["datahub_id"] == "DH-LATER"
    assert "task_code" not in sent["SMS Reply"] and "response_tracking_code" not in sent["SMS Reply"]
