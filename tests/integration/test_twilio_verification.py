"""Consent checked with Twilio itself (issue 21, item 2): the webhook Lambda and the verifier Lambda on moto, with
Twilio's Messages API played by ``local/twilio_api_stub.py`` on 127.0.0.1 and requests signed by twilio-python.

With ``TwilioVerification`` on (the template's default) every opt-in, and every fact from a request in doubt, is
kept in the history as ``pending``; an opt-out from a request only unusual in form moves the state at once. The
verifier reads those entries from the consent table's stream (here: their images, handed over as the stream would)
and asks Twilio for the message.
"""

from __future__ import annotations

from typing import Any

from smsbridge.local.twilio_api_stub import TwilioApiStub
from smsbridge.ops.simulate import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, inbound_params
from tests.integration.conftest import Stack, Verifier
from tests.integration.test_recut_requests import (
    ATTACKER,
    INBOUND_URL,
    OURS,
    VICTIM,
    attack_body,
    cut_after_body,
    post,
    post_recut,
    sid,
    states,
    victim_fields,
)


def genuine_sms(twilio: TwilioApiStub, body: str, sender: str, message_sid: str) -> list[tuple[str, str]]:
    """An inbound SMS Twilio received (its Messages API knows it), as its webhook."""
    twilio.add_message(TEST_ACCOUNT_SID, sender=sender, recipient=OURS, body=body, sid=message_sid)
    return inbound_params(body=body, sender=sender, recipient=OURS, message_sid=message_sid)


def pending_entries(stack: Stack) -> list[dict[str, Any]]:
    return [item for item in stack.consent_items() if item.get("verification") == "pending"]


def test_an_opt_in_moves_consent_only_once_twilio_confirms_it(verified: tuple[Stack, Verifier],
                                                              twilio: TwilioApiStub) -> None:  # fmt: skip
    stack, verifier = verified
    # GIVEN a number that opted out
    assert post(stack, INBOUND_URL, genuine_sms(twilio, "STOP", VICTIM, sid("1"))) == 200
    assert states(stack, VICTIM) == {OURS: "opted_out"}
    assert pending_entries(stack) == []  # a STOP in Twilio's form applies at once and waits for nothing
    # WHEN it sends START
    assert post(stack, INBOUND_URL, genuine_sms(twilio, "START", VICTIM, sid("2"))) == 200
    # THEN the opt-in is on record but held: the number stays opted out until Twilio confirms the message
    assert states(stack, VICTIM) == {OURS: "opted_out"}
    assert [(e["event_id"], e["check"]) for e in pending_entries(stack)] == [(sid("2"), "held")]
    # WHEN the verifier asks Twilio (one GET of the message, with the account's credentials)
    assert verifier.run() == {"batchItemFailures": []}
    # THEN it is applied, and its entry says verified, with Twilio's time of the message
    assert states(stack, VICTIM) == {OURS: "opted_in"}
    entry = next(e for e in stack.consent_items() if e.get("event_id") == sid("2"))
    assert entry["verification"] == "verified" and entry["twilio_sent_at"]
    assert twilio.api_requests == 1
    # AND a copy of the stream record changes nothing and asks Twilio nothing more
    assert verifier.run() == {"batchItemFailures": []}
    assert twilio.api_requests == 1


def test_an_opt_in_twilio_has_no_message_of_is_never_applied(verified: tuple[Stack, Verifier],
                                                             twilio: TwilioApiStub) -> None:  # fmt: skip
    stack, verifier = verified
    # GIVEN a victim who sent STOP, and an attacker's own SMS re-cut into the victim's START (a new MessageSid)
    assert post(stack, INBOUND_URL, genuine_sms(twilio, "STOP", VICTIM, sid("1"))) == 200
    forged_sid = sid("f")
    genuine = genuine_sms(twilio, attack_body("START", forged_sid, "Zz"), ATTACKER, sid("a"))
    recut = cut_after_body(genuine, "START", victim_fields(forged_sid), "Zz")
    assert post_recut(stack, (INBOUND_URL, genuine), (INBOUND_URL, recut)) == 200
    assert post(stack, INBOUND_URL, genuine) == 200
    # WHEN the verifier asks Twilio about the forged opt-in
    assert verifier.run() == {"batchItemFailures": []}
    # THEN Twilio has no such message: the victim stays opted out, the fact is marked contradicted, and alarmed
    assert states(stack, VICTIM) == {OURS: "opted_out"}
    entry = next(e for e in stack.consent_items() if e.get("event_id") == forged_sid)
    assert (entry["verification"], entry["verification_reason"]) == ("contradicted", "not_found")
    assert verifier.metric("Verification_contradicted") == 1


def unusual_stop(message_sid: str) -> list[tuple[str, str]]:
    """A STOP with a field Twilio does not document (``unusual``: acted on at once, then checked)."""
    return [*inbound_params(body="STOP", sender=VICTIM, recipient=OURS, message_sid=message_sid),
            ("SmsNewField", "1")]  # fmt: skip


def test_a_forged_opt_out_applies_at_once_and_is_retracted_when_twilio_contradicts_it(
    verified: tuple[Stack, Verifier], twilio: TwilioApiStub
) -> None:
    stack, verifier = verified
    # GIVEN a number that opted in (confirmed by Twilio)
    assert post(stack, INBOUND_URL, genuine_sms(twilio, "START", VICTIM, sid("2"))) == 200
    verifier.run()
    assert states(stack, VICTIM) == {OURS: "opted_in"}
    # WHEN a STOP Twilio never received arrives, signed, in an unusual form
    assert post(stack, INBOUND_URL, unusual_stop(sid("9"))) == 200
    # THEN it applies at once: no STOP ever waits
    assert states(stack, VICTIM) == {OURS: "opted_out"}
    # WHEN the verifier asks Twilio
    assert verifier.run() == {"batchItemFailures": []}
    # THEN it is retracted: the state the history had before it is put back, by a new fact CI360 will hear of
    assert states(stack, VICTIM) == {OURS: "opted_in"}
    facts = {e["event_id"]: e for e in stack.consent_items() if e["record_type"] == "event"}
    assert facts[sid("9")]["verification"] == "contradicted"
    assert facts[f"{sid('9')}-retracted"]["source"] == "retraction"
    state = next(e for e in stack.consent_items() if e["record_type"] == "state")
    assert (state["source"], state["event_id"]) == ("retraction", f"{sid('9')}-retracted")
    assert verifier.metric("Verification_retracted") == 1


def test_a_genuine_unusual_opt_out_stays_applied(verified: tuple[Stack, Verifier], twilio: TwilioApiStub) -> None:
    stack, verifier = verified
    twilio.add_message(TEST_ACCOUNT_SID, sender=VICTIM, recipient=OURS, body="STOP", sid=sid("9"))
    assert post(stack, INBOUND_URL, unusual_stop(sid("9"))) == 200
    assert verifier.run() == {"batchItemFailures": []}
    assert states(stack, VICTIM) == {OURS: "opted_out"}
    entry = next(e for e in stack.consent_items() if e.get("event_id") == sid("9"))
    assert entry["verification"] == "verified"


def test_an_opt_in_is_held_while_twilio_cannot_be_asked_then_applied(verified: tuple[Stack, Verifier],
                                                                    twilio: TwilioApiStub) -> None:  # fmt: skip
    stack, verifier = verified
    assert post(stack, INBOUND_URL, genuine_sms(twilio, "STOP", VICTIM, sid("1"))) == 200
    assert post(stack, INBOUND_URL, genuine_sms(twilio, "START", VICTIM, sid("2"))) == 200
    # GIVEN Twilio's API is down
    twilio.set_down(True)
    # WHEN the verifier gets the opt-in
    answer = verifier.run()
    # THEN the record fails (the stream brings it again), the opt-in stays held, and the failure is counted
    assert answer["batchItemFailures"] and states(stack, VICTIM) == {OURS: "opted_out"}
    assert verifier.metric("Verification_unavailable") == 1
    assert "+1628" not in verifier.logs.getvalue() and TEST_AUTH_TOKEN not in verifier.logs.getvalue()
    # WHEN Twilio is back and the stream brings the record again
    twilio.set_down(False)
    assert verifier.run() == {"batchItemFailures": []}
    # THEN the opt-in applies
    assert states(stack, VICTIM) == {OURS: "opted_in"}


def test_an_opt_in_whose_text_twilio_has_otherwise_is_contradicted(verified: tuple[Stack, Verifier],
                                                                   twilio: TwilioApiStub) -> None:  # fmt: skip
    stack, verifier = verified
    assert post(stack, INBOUND_URL, genuine_sms(twilio, "STOP", VICTIM, sid("1"))) == 200
    # GIVEN Twilio received "Start Fresh" (a reply), and a webhook claims that message said START
    twilio.add_message(TEST_ACCOUNT_SID, sender=VICTIM, recipient=OURS, body="Start Fresh", sid=sid("3"))
    assert post(stack, INBOUND_URL, inbound_params(body="START", sender=VICTIM, recipient=OURS,
                                                   message_sid=sid("3"))) == 200  # fmt: skip
    verifier.run()
    assert states(stack, VICTIM) == {OURS: "opted_out"}
    entry = next(e for e in stack.consent_items() if e.get("event_id") == sid("3"))
    assert (entry["verification"], entry["verification_reason"]) == ("contradicted", "body_differs")


def test_two_copies_of_the_verifier_side_by_side_retract_once(verified: tuple[Stack, Verifier],
                                                              twilio: TwilioApiStub) -> None:  # fmt: skip
    stack, verifier = verified
    assert post(stack, INBOUND_URL, genuine_sms(twilio, "START", VICTIM, sid("2"))) == 200
    verifier.run()
    assert post(stack, INBOUND_URL, unusual_stop(sid("9"))) == 200  # applied at once; Twilio never had it
    [image] = pending_entries(stack)
    checker = verifier.module.verifier
    # GIVEN two copies of the stream record, each read the fact as pending before either wrote (copies side by side)
    first, second = checker.checks.pending(image), checker.checks.pending(image)
    assert first is not None and second is not None
    # WHEN both write Twilio's verdict
    outcomes = [checker.checks.contradict(fact, reason="not_found", at=checker.clock()) for fact in (first, second)]
    # THEN one retracts and the other finds it settled: one state put back, one retraction in the history
    assert outcomes == ["retracted", "settled"]
    assert states(stack, VICTIM) == {OURS: "opted_in"}
    retractions = [e for e in stack.consent_items() if e.get("source") == "retraction" and e["record_type"] == "event"]
    assert len(retractions) == 1
