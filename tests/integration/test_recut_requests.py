"""No leaked or re-cut request moves consent (issue 21): each attack of the issue, signed by Twilio's own library.

Twilio signs ``url + name1 + value1 + ...`` with nothing between them, so a captured webhook can be cut again into
other fields that carry the same signature. Each test builds the genuine webhook, re-cuts it, checks with
twilio-python's ``RequestValidator`` that the two carry one signature, sends both to the webhook Lambda (moto),
and reads the consent ledger: it ends as the genuine history says, and its history (what the forwarder turns into
CI360 consent events) holds no fact that history would not give.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from smsbridge.adapters.dynamodb import plain
from smsbridge.adapters.message_table import message_key
from smsbridge.cli import main
from smsbridge.ops.simulate import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, inbound_params, status_params
from tests.conftest import API_BASE, LambdaContext, form_body, http_api_event
from tests.integration.conftest import Stack

Params = list[tuple[str, str]]
INBOUND_URL, STATUS_URL = f"{API_BASE}/twilio/inbound", f"{API_BASE}/twilio/status"
OURS, VICTIM, ATTACKER = "+14155550199", "+16285550106", "+14155550123"
SERVICE = "MG" + "5" * 32


def sid(digit: str) -> str:
    return "SM" + digit * 32


def twilio_signature(url: str, params: Params) -> str:
    """The signature Twilio sends, as twilio-python computes it (not the project's signer)."""
    return str(RequestValidator(TEST_AUTH_TOKEN).compute_signature(url, dict(params)))


def post(stack: Stack, url: str, params: Params, signature: str | None = None) -> int:
    headers = {
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
        "x-twilio-signature": signature or twilio_signature(url, params),
    }
    answer = stack.handler.lambda_handler(http_api_event(url, form_body(params), headers), LambdaContext())
    return int(answer["statusCode"])


def post_recut(stack: Stack, genuine: tuple[str, Params], recut: tuple[str, Params]) -> int:
    """Send ``recut`` with the genuine request's signature, after checking Twilio's validator accepts it."""
    signature = twilio_signature(*genuine)
    assert RequestValidator(TEST_AUTH_TOKEN).validate(recut[0], dict(recut[1]), signature), "not a re-cut"
    return post(stack, recut[0], recut[1], signature)


def states(stack: Stack, phone: str) -> dict[str, str]:
    return {item["scope"]: item["status"] for item in stack.consent_items()
            if item["record_type"] == "state" and item["phone"] == phone}  # fmt: skip


def history(stack: Stack) -> list[tuple[str, str, str]]:
    """Every consent fact on record: (phone, action, MessageSid), what CI360's consent events are made from."""
    return sorted((item["phone"], item["action"], item["event_id"]) for item in stack.consent_items()
                  if item["record_type"] == "event")  # fmt: skip


def record(stack: Stack, message_sid: str, kind: str) -> dict[str, Any] | None:
    found = stack.dynamodb.get_item(TableName=stack.messages_table, Key=message_key(message_sid, kind)).get("Item")
    return plain(found) if found else None


def attacker_sms(body: str, message_sid: str) -> Params:
    return inbound_params(body=body, sender=ATTACKER, recipient=OURS, message_sid=message_sid)


def cut_after_body(genuine: Params, forged_body: str, fields: Params, absorber: str) -> Params:
    """The attacker's webhook re-cut: ``Body=<forged_body>``, then ``fields`` carved from the rest of the
    attacker's text, then ``absorber`` holding every genuine field after Body; the fields before Body unchanged."""
    ordered = sorted(genuine)
    before = [(name, value) for name, value in ordered if name < "Body"]
    after = "".join(name + value for name, value in ordered if name > "Body")
    return [*before, ("Body", forged_body), *fields, (absorber, after)]


def victim_fields(message_sid: str) -> Params:
    return [("From", VICTIM), ("MessageSid", message_sid), ("To", OURS)]


def attack_body(keyword: str, message_sid: str, absorber: str) -> str:
    return keyword + "".join(name + value for name, value in victim_fields(message_sid)) + absorber


class TestAttackerAuthoredBody:
    """One captured webhook of the attacker's own SMS, re-cut into the victim's START or STOP."""

    def attack(self, stack: Stack, keyword: str, absorber: str) -> None:
        forged_sid = sid("f")
        genuine = attacker_sms(attack_body(keyword, forged_sid, absorber), sid("a"))
        recut = cut_after_body(genuine, keyword, victim_fields(forged_sid), absorber)
        # the re-cut is not refused (a refused genuine STOP would be lost: Twilio does not retry a 4xx)
        assert post_recut(stack, (INBOUND_URL, genuine), (INBOUND_URL, recut)) == 200
        assert post(stack, INBOUND_URL, genuine) == 200  # the attacker's own message, as Twilio sent it

    def test_a_victim_who_sent_stop_is_not_opted_in(self, stack: Stack) -> None:
        for absorber in ("Zz", "ToZip"):
            stack.dynamodb.delete_item(TableName=stack.messages_table, Key=message_key(sid("f"), "INBOUND"))
            assert post(stack, INBOUND_URL, inbound_params(body="STOP", sender=VICTIM, message_sid=sid("1"))) == 200
            self.attack(stack, "START", absorber)
            assert states(stack, VICTIM) == {OURS: "opted_out"}, absorber
            assert history(stack) == [(VICTIM, "opt_out", sid("1"))], absorber
            forged = record(stack, sid("f"), "INBOUND")
            assert forged and forged["unverified"] and forged["intent"] == "reply" and forged["opt_in_suspected"]

    def test_a_victim_who_sent_start_is_not_opted_out(self, stack: Stack) -> None:
        for absorber in ("Zz", "ToZip"):
            stack.dynamodb.delete_item(TableName=stack.messages_table, Key=message_key(sid("f"), "INBOUND"))
            assert post(stack, INBOUND_URL, inbound_params(body="START", sender=VICTIM, message_sid=sid("2"))) == 200
            self.attack(stack, "STOP", absorber)
            assert states(stack, VICTIM) == {OURS: "opted_in"}, absorber
            assert history(stack) == [(VICTIM, "opt_in", sid("2"))], absorber
            forged = record(stack, sid("f"), "INBOUND")
            assert forged and "absorbed_field" in forged["unverified"]


def test_start_fresh_recut_into_start_after_the_record_expired_opts_no_one_in(stack: Stack) -> None:
    # GIVEN a reply "Start Fresh", then a STOP from the same number
    genuine = inbound_params(body="Start Fresh", sender=VICTIM, message_sid=sid("3"))
    assert post(stack, INBOUND_URL, genuine) == 200
    assert post(stack, INBOUND_URL, inbound_params(body="STOP", sender=VICTIM, message_sid=sid("4"))) == 200
    # AND the reply's record has expired (the messages table's TTL deletes it; its tombstone has no TTL)
    stack.dynamodb.delete_item(TableName=stack.messages_table, Key=message_key(sid("3"), "INBOUND"))
    # WHEN the reply comes back re-cut as Body="Start " + Fresh=""
    recut = [(name, value) for name, value in genuine if name != "Body"] + [("Body", "Start "), ("Fresh", "")]
    assert post_recut(stack, (INBOUND_URL, genuine), (INBOUND_URL, recut)) == 200
    # THEN it is known as a copy: nothing recorded, the number stays opted out, no fact added
    assert record(stack, sid("3"), "INBOUND") is None
    assert states(stack, VICTIM) == {OURS: "opted_out"}
    assert history(stack) == [(VICTIM, "opt_out", sid("4"))]
    # (the tombstone: the MessageSid and a date, no text, no number)
    assert record(stack, sid("3"), "SEEN") == {"pk": f"MSG#{sid('3')}", "sk": "SEEN", "seen_at": ANY_DATE}


class AnyDate(str):
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and len(other) == 10 and other[4] == "-"

    __hash__ = str.__hash__


ANY_DATE = AnyDate()


def recut_field(genuine: Params, absorber: str, absorbed: str) -> Params:
    """``genuine`` with ``absorbed`` moved into the value of ``absorber`` (the field sorting just before it)."""
    fields = dict(genuine)
    assert sorted(fields)[sorted(fields).index(absorbed) - 1] == absorber, "the absorber must sort just before"
    moved = fields.pop(absorbed)
    fields[absorber] += absorbed + moved
    return list(fields.items())


class TestAbsorbedCopyArrivingFirst:
    """A re-cut copy that hides the opt-out arrives before the genuine request, which must still opt out."""

    def test_a_21610_callback_with_error_code_absorbed_into_api_version(self, stack: Stack) -> None:
        genuine = status_params(status="failed", error_code="21610", recipient=VICTIM, sender=OURS,
                                message_sid=sid("5"))  # fmt: skip
        recut = recut_field(genuine, "ApiVersion", "ErrorCode")
        assert post_recut(stack, (STATUS_URL, genuine), (STATUS_URL, recut)) == 204
        assert states(stack, VICTIM) == {}
        assert post(stack, STATUS_URL, genuine) == 204
        assert states(stack, VICTIM) == {OURS: "opted_out"}
        assert history(stack) == [(VICTIM, "opt_out", sid("5"))]
        stored = record(stack, sid("5"), "STATUS")
        assert stored and stored["error_code"] == 21610 and "unverified" not in stored

    def test_a_whatsapp_stop_whose_body_absorbs_channel_metadata(self, stack: Stack) -> None:
        customer, ours = f"whatsapp:{VICTIM}", f"whatsapp:{OURS}"
        metadata = json.dumps({"type": "whatsapp", "data": {"context": {"ProfileName": "Ana"}}})
        genuine = [*inbound_params(body="STOP", sender=customer, recipient=ours, message_sid=sid("6")),
                   ("ChannelMetadata", metadata), ("ProfileName", "Ana"), ("WaId", VICTIM[1:])]  # fmt: skip
        recut = recut_field(genuine, "Body", "ChannelMetadata")
        assert post_recut(stack, (INBOUND_URL, genuine), (INBOUND_URL, recut)) == 200
        assert states(stack, customer) == {}
        assert post(stack, INBOUND_URL, genuine) == 200
        assert states(stack, customer) == {ours: "opted_out"}
        assert history(stack) == [(customer, "opt_out", sid("6"))]

    def test_an_advanced_opt_out_stop_whose_opt_out_type_is_absorbed_into_num_segments(self, stack: Stack) -> None:
        genuine = inbound_params(body="UNSUB", sender=VICTIM, message_sid=sid("7"), messaging_service_sid=SERVICE,
                                 opt_out_type="STOP")  # fmt: skip
        recut = recut_field(genuine, "NumSegments", "OptOutType")
        assert post_recut(stack, (INBOUND_URL, genuine), (INBOUND_URL, recut)) == 200
        assert states(stack, VICTIM) == {}
        assert post(stack, INBOUND_URL, genuine) == 200
        assert states(stack, VICTIM) == {SERVICE: "opted_out"}
        assert history(stack) == [(VICTIM, "opt_out", sid("7"))]


def test_the_query_tail_moved_into_the_body_does_not_change_the_stored_correlation(stack: Stack) -> None:
    genuine_url = f"{STATUS_URL}?dh=DH1&rtc=RTC1&tc=SPRING_SALE_A1"
    genuine = status_params(status="delivered", recipient=VICTIM, sender=OURS, message_sid=sid("8"))
    recut_url = f"{STATUS_URL}?dh=DH1&rtc=RTC1&tc=SPRING_SALE_"
    recut = [("A1", ""), *genuine]
    assert post_recut(stack, (genuine_url, genuine), (recut_url, recut)) == 204
    assert post(stack, genuine_url, genuine) == 204
    stored = record(stack, sid("8"), "STATUS")
    assert stored and stored["callback_query"] == "dh=DH1&rtc=RTC1&tc=SPRING_SALE_A1"
    assert "unverified" not in stored
    memories = [plain(item) for item in stack.items() if "task_code" in item]
    assert [memory["task_code"] for memory in memories] == ["SPRING_SALE_A1"]


def test_a_21610_callback_without_from_opts_out_in_the_messaging_service(stack: Stack) -> None:
    # a Messaging Service message that failed before a sender was chosen: Twilio's callback may carry no From
    callback = status_params(status="failed", error_code="21610", recipient=VICTIM, messaging_service_sid=SERVICE,
                             message_sid=sid("9"))  # fmt: skip
    params = [pair for pair in callback if pair[0] != "From"]
    assert post(stack, STATUS_URL, params) == 204
    assert states(stack, VICTIM) == {SERVICE: "opted_out"}


def test_an_unverified_request_is_counted_for_the_alarm_and_logged_without_text(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    genuine = inbound_params(body="Start Fresh", sender=VICTIM, message_sid=sid("c"))
    recut = [(name, value) for name, value in genuine if name != "Body"] + [("Body", "Start "), ("Fresh", "")]
    assert post_recut(stack, (INBOUND_URL, genuine), (INBOUND_URL, recut)) == 200
    logged = stack.logs.getvalue() + capsys.readouterr().out
    assert '"Unverified":[1.0]' in logged and '"Unverified_split_value":[1.0]' in logged
    assert '"unverified":"split_value,unknown_field"' in logged
    assert states(stack, VICTIM) == {}
    for personal in ("Start", VICTIM):
        assert personal not in logged


def test_optouts_get_json_names_the_account_of_each_scope(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN one number opted out in the same scope of two accounts (the default token serves both)
    other = "AC" + "7" * 32
    for account, digit in ((TEST_ACCOUNT_SID, "d"), (other, "e")):
        params = inbound_params(body="STOP", sender=VICTIM, account_sid=account, message_sid=sid(digit))
        assert post(stack, INBOUND_URL, params) == 200
    capsys.readouterr()
    assert main(["optouts", "get", VICTIM, "--consent-table", stack.consent_table, "--json"]) == 0
    scopes = json.loads(capsys.readouterr().out)["scopes"]
    # THEN the two states are told apart by their account
    assert sorted((entry["scope"], entry["account_sid"]) for entry in scopes) == sorted(
        [(OURS, TEST_ACCOUNT_SID), (OURS, other)]
    )


def test_a_field_twilio_adds_is_flagged_but_changes_nothing_else(stack: Stack) -> None:
    # GIVEN Twilio starts sending a field no release knows, after fields of strict forms (no cut could make it there)
    start = [*inbound_params(body="START", sender=VICTIM, message_sid=sid("f")), ("SmsNewThing", "x1")]
    callback = [*status_params(status="delivered", recipient=VICTIM, sender=OURS, message_sid=sid("e")),
                ("SmsNewThing", "x1")]  # fmt: skip
    # WHEN its webhooks arrive THEN a START opts in and a callback keeps its CI360 correlation, as before
    assert post(stack, INBOUND_URL, start) == 200
    assert states(stack, VICTIM) == {OURS: "opted_in"}
    assert post(stack, f"{STATUS_URL}?dh=DH9&rtc=RTC9&tc=TSK9", callback) == 204
    stored = record(stack, sid("e"), "STATUS")
    assert stored and stored["callback_query"] == "dh=DH9&rtc=RTC9&tc=TSK9" and "unverified" not in stored
    # AND the request is marked for the alarm all the same
    assert stored["unusual"] == "unknown_field"
