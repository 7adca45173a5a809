"""No re-cut request changes consent without verification: a property over re-cuts of genuine webhooks of every
kind (issue 21).

A re-cut keeps the genuine request's signed text (the URL's query, then every name and value run together) and
cuts it again: the query may end sooner or later, fields may begin at any capital letter, a name may end anywhere
in its field. Each example sends the re-cut (with the genuine signature, when twilio-python's validator says it
still holds) and then the genuine request to the webhook Lambda on moto, and reads the consent ledger:

- the re-cut adds no consent fact the genuine history would not give, except an opt-out of the genuine sender,
  on a record flagged ``unverified`` (opt-outs apply at once; item 2 of the issue verifies them with Twilio);
- it never adds an opt-in, nor a fact for any other number or scope;
- the genuine request, arriving after it, still records every consent fact it carries.

With Twilio verification on (``TwilioVerification``, the template's default), a second property: a re-cut moves no
state but its genuine sender's opt-out, and once the verifier has asked Twilio (which knows only the genuine
message), every fact the re-cut added beyond the genuine request's is contradicted.

``RECUT_EXAMPLES`` and ``RECUT_VERIFIED_EXAMPLES`` set the number of examples (``make test``: 100 and 250, about
10 s and 20 s; a bench run: thousands). The counts of what happened to the re-cuts are printed at the end of the run
(``-s``).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from smsbridge.adapters.dynamodb import plain
from smsbridge.adapters.message_table import message_key
from smsbridge.local.twilio_api_stub import TwilioApiStub
from smsbridge.ops.simulate import TEST_AUTH_TOKEN, inbound_params, status_params
from tests.integration.conftest import Stack, Verifier
from tests.integration.test_recut_requests import (
    INBOUND_URL,
    OURS,
    SERVICE,
    STATUS_URL,
    Params,
    attack_body,
    post,
    twilio_signature,
)

EXAMPLES = int(os.environ.get("RECUT_EXAMPLES", "100"))  # `make test`; RECUT_EXAMPLES=2000 for a large run
COUNTS: Counter[str] = Counter()
Genuine = Callable[[str, str, str], tuple[str, Params]]  # (MessageSid, sender, victim) -> (url, params)


def _inbound(body: str, **extra: str) -> Genuine:
    return lambda message_sid, sender, _: (
        INBOUND_URL,
        inbound_params(body=body, sender=sender, recipient=OURS, message_sid=message_sid, **extra),
    )


def _attack(keyword: str) -> Genuine:
    def build(message_sid: str, sender: str, victim: str) -> tuple[str, Params]:
        body = attack_body(keyword, "SM" + "f" * 32, "Zz").replace("+16285550106", victim)
        return INBOUND_URL, inbound_params(body=body, sender=sender, recipient=OURS, message_sid=message_sid)

    return build


def _whatsapp(message_sid: str, sender: str, _: str) -> tuple[str, Params]:
    params = inbound_params(body="STOP", sender=f"whatsapp:{sender}", recipient=f"whatsapp:{OURS}",
                            message_sid=message_sid)  # fmt: skip
    return INBOUND_URL, [*params, ("ChannelMetadata", '{"type":"whatsapp"}'), ("ProfileName", "Ana")]


def _status(status: str, error_code: str = "") -> Genuine:
    return lambda message_sid, sender, _: (
        f"{STATUS_URL}?dh=DH1&rtc=RTC1&tc=SPRING_SALE_A1",
        status_params(status=status, error_code=error_code, recipient=sender, sender=OURS, message_sid=message_sid),
    )


KINDS: dict[str, Genuine] = {
    "stop": _inbound("STOP"),
    "start": _inbound("START"),
    "yes": _inbound("YES"),
    "help": _inbound("HELP"),
    "start_fresh": _inbound("Start Fresh"),
    "stop_now": _inbound("STOP NOW"),
    "plain_reply": _inbound("See you at Five"),
    "advanced_opt_out": _inbound("UNSUB", messaging_service_sid=SERVICE, opt_out_type="STOP"),
    "advanced_opt_in": _inbound("Yes Please", messaging_service_sid=SERVICE, opt_out_type="START"),
    "attacker_start": _attack("START"),
    "attacker_stop": _attack("STOP"),
    "whatsapp_stop": _whatsapp,
    "status_21610": _status("failed", "21610"),
    "status_30004": _status("undelivered", "30004"),
    "status_delivered": _status("delivered"),
}


@st.composite
def recuts(draw: st.DrawFn, url: str, params: Params) -> tuple[str, Params]:
    """``url`` and ``params`` cut again by one to four changes: a field absorbed by the one before it (or every
    field after one), a field begun at a capital inside a value, a boundary (the query's end, a name's end, a
    field's start) moved."""
    base, _, query = url.partition("?")
    text, starts, name_ends = query, [], {}
    for name, value in sorted(params):
        starts.append(len(text))
        name_ends[len(text)] = len(text) + len(name)
        text += name + value
    capitals = [index for index, char in enumerate(text) if char.isupper()] or [0]
    for _ in range(draw(st.integers(1, 4))):  # every change draws the same values: replays stay the same
        change = draw(st.sampled_from(["absorb", "absorb_rest", "split", "split", "name_end", "start"]))
        at, length, shift = draw(st.integers(0, 10**6)), draw(st.integers(1, 24)), draw(st.integers(-6, 6))
        if change == "absorb" and len(starts) > 1:
            starts.pop(1 + at % (len(starts) - 1))
        elif change == "absorb_rest" and len(starts) > 1:  # one field holds every field after it
            starts = starts[: 1 + at % (len(starts) - 1)]
        elif change == "split" and capitals[at % len(capitals)] not in starts:
            new = capitals[at % len(capitals)]
            starts = sorted([*starts, new])
            name_ends[new] = new + min(length, 16)
        elif change == "name_end":
            start = starts[at % len(starts)]
            name_ends[start] = start + length
        elif change == "start":
            index = at % len(starts)
            moved = starts[index] + shift
            if 0 <= moved < len(text) and moved not in starts:
                name_ends[moved] = name_ends.get(starts[index], moved + 1) + shift
                starts = sorted([*starts[:index], moved, *starts[index + 1 :]])
    fields = []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(text)
        name_end = min(max(name_ends.get(start, start + 1), start + 1), end)
        fields.append((text[start:name_end], text[name_end:end]))
    query = text[: starts[0]]
    return base + (f"?{query}" if query else ""), fields


def facts(stack: Stack, *numbers: str) -> set[tuple[str, str, str, str]]:
    """The consent facts of ``numbers`` (each also as a WhatsApp address): the only numbers in a signed text."""
    found = set()
    for phone in [variant for number in numbers for variant in (number, f"whatsapp:{number}")]:
        items = stack.dynamodb.query(
            TableName=stack.consent_table, KeyConditionExpression="pk = :pk AND begins_with(sk, :event)",
            ExpressionAttributeValues={":pk": {"S": f"PHONE#{phone}"}, ":event": {"S": "EVENT#"}},
        )["Items"]  # fmt: skip
        found |= {(item["phone"], item["scope"], item["action"], item["event_id"]) for item in map(plain, items)}
    return found


def fresh_number() -> str:
    return "+1628" + str(uuid.uuid4().int)[:7]


@pytest.fixture(scope="module", autouse=True)
def report_counts() -> Iterator[None]:
    yield
    print(f"\nre-cut property, {sum(COUNTS.values())} examples: {dict(sorted(COUNTS.items()))}")


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(data=st.data(), kind=st.sampled_from(sorted(KINDS)), number=st.integers(0, 9_999_999))
def test_no_recut_changes_consent_without_verification(
    stack: Stack, data: st.DataObject, kind: str, number: int
) -> None:
    # numbers and MessageSid from the example alone, so a replay is the same request (an example repeated finds
    # its facts on record already: the checks below hold either way)
    sender, victim = f"+1628{number:07d}", f"+1629{number:07d}"
    message_sid = "SM" + hashlib.md5(f"{kind}{number}".encode()).hexdigest()
    url, genuine = KINDS[kind](message_sid, sender, victim)
    signature = twilio_signature(url, genuine)
    recut_url, recut = data.draw(recuts(url, genuine))
    if (recut_url, sorted(recut)) == (url, sorted(genuine)):
        COUNTS["unchanged"] += 1
        return
    if not RequestValidator(TEST_AUTH_TOKEN).validate(recut_url, dict(recut), signature):
        COUNTS["signature_broken"] += 1  # names out of order, or repeated: Twilio's validator refuses it
        return
    numbers = (sender, victim, OURS)
    before = facts(stack, *numbers)
    status = post(stack, recut_url, recut, signature)
    added = facts(stack, *numbers) - before
    route = "inbound" if url.startswith(INBOUND_URL) else "status"
    stored = _record(stack, message_sid, "INBOUND" if route == "inbound" else "STATUS")
    COUNTS["refused" if status >= 400 else ("unverified" if stored and stored.get("unverified") else "accepted")] += 1
    # the genuine request, after the re-cut: every fact it carries is on record
    assert post(stack, url, genuine) < 300
    alone = {(phone.replace("{sender}", sender), scope, action, message_sid) for phone, scope, action in
             _alone(stack, kind)}  # fmt: skip
    assert alone <= facts(stack, *numbers), (kind, recut)
    for phone, scope, action, event_id in added - alone:
        COUNTS["unverified_opt_out"] += 1
        assert action == "opt_out" and phone == sender and event_id == message_sid, (kind, recut, added)
        assert stored and stored.get("unverified"), (kind, recut)
        assert scope in (OURS, SERVICE, f"whatsapp:{OURS}"), (kind, recut)
    if added:
        COUNTS["recut_with_consent"] += 1


def _record(stack: Stack, message_sid: str, kind: str) -> dict[str, Any] | None:
    found = stack.dynamodb.get_item(TableName=stack.messages_table, Key=message_key(message_sid, kind)).get("Item")
    return plain(found) if found else None


ALONE: dict[str, set[tuple[str, str, str]]] = {}  # per kind: (who, scope, action) of the facts it gives alone


def _alone(stack: Stack, kind: str) -> set[tuple[str, str, str]]:
    """The facts a kind of genuine request gives on its own (measured once per kind, on fresh numbers), with the
    sender as ``{sender}``."""
    if kind not in ALONE:
        sender = fresh_number()
        url, params = KINDS[kind]("SM" + uuid.uuid4().hex, sender, fresh_number())
        assert post(stack, url, params) < 300
        ALONE[kind] = {(phone.replace(sender, "{sender}"), scope, action)
                       for phone, scope, action, _ in facts(stack, sender)}  # fmt: skip
    return ALONE[kind]


VERIFIED_EXAMPLES = int(os.environ.get("RECUT_VERIFIED_EXAMPLES", "250"))  # `make test` (about 20 s); thousands: bench


def _tell_twilio(twilio: TwilioApiStub, url: str, params: Params) -> None:
    """The genuine message, as Twilio's Messages API (the stand-in) has it."""
    fields = dict(params)
    if url.startswith(INBOUND_URL):
        twilio.add_message(fields["AccountSid"], sender=fields["From"], recipient=fields["To"],
                           body=fields["Body"], sid=fields["MessageSid"],
                           messaging_service_sid=fields.get("MessagingServiceSid"))  # fmt: skip
    else:
        code = fields.get("ErrorCode", "")
        twilio.add_message(fields["AccountSid"], sender=fields["From"], recipient=fields["To"],
                           direction="outbound-api", status=fields["MessageStatus"],
                           error_code=int(code) if code else None,
                           sid=fields["MessageSid"])  # fmt: skip


def _items(stack: Stack, *numbers: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The consent items (typed) of ``numbers``, each also as a WhatsApp address, by key: one query a number."""
    found = {}
    for phone in [variant for number in numbers for variant in (number, f"whatsapp:{number}")]:
        request = {"TableName": stack.consent_table, "KeyConditionExpression": "pk = :pk",
                   "ExpressionAttributeValues": {":pk": {"S": f"PHONE#{phone}"}}}  # fmt: skip
        for item in stack.dynamodb.query(**request)["Items"]:
            found[(item["pk"]["S"], item["sk"]["S"])] = item
    return found


def _states(items: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {(item["phone"], item["scope"]): item["status"] for item in map(plain, items.values())
            if item["record_type"] == "state"}  # fmt: skip


@settings(max_examples=VERIFIED_EXAMPLES, deadline=None, derandomize=True, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(data=st.data(), kind=st.sampled_from(sorted(KINDS)), number=st.integers(0, 9_999_999))
def test_with_twilio_verification_no_recut_moves_consent_that_twilio_does_not_confirm(
    verified: tuple[Stack, Verifier], twilio: TwilioApiStub, data: st.DataObject, kind: str, number: int
) -> None:
    """With ``TwilioVerification`` on: a re-cut moves no state but its genuine sender's opt-out (which applies at
    once, as no STOP waits); once the verifier has asked Twilio (which knows only the genuine message), every fact
    of the re-cut that the genuine request would not give is contradicted, and no number is left opted in or out
    otherwise than by the genuine request."""
    stack, verifier = verified
    sender, victim = f"+1638{number:07d}", f"+1639{number:07d}"
    message_sid = "SM" + hashlib.md5(f"verified{kind}{number}".encode()).hexdigest()
    url, genuine = KINDS[kind](message_sid, sender, victim)
    signature = twilio_signature(url, genuine)
    recut_url, recut = data.draw(recuts(url, genuine))
    if (recut_url, sorted(recut)) == (url, sorted(genuine)) or not RequestValidator(TEST_AUTH_TOKEN).validate(
        recut_url, dict(recut), signature
    ):
        COUNTS["verified_skipped"] += 1
        return
    _tell_twilio(twilio, url, genuine)
    numbers = (sender, victim)
    earlier = _items(stack, *numbers)  # an example may repeat its numbers: only what it adds is judged
    before = _states(earlier)
    status = post(stack, recut_url, recut, signature)
    COUNTS["verified_refused" if status >= 400 else "verified_accepted"] += 1
    moved = {key: status for key, status in _states(_items(stack, *numbers)).items() if before.get(key) != status}
    # before Twilio is asked: only the genuine sender's opt-out may have moved a state
    assert all(phone.removeprefix("whatsapp:") == sender and status == "opted_out"
               for (phone, _), status in moved.items()), (kind, recut, moved)  # fmt: skip
    assert post(stack, url, genuine) < 300
    verifier.check([item for key, item in _items(stack, *numbers).items() if key not in earlier])
    # after: every fact on record for these numbers is the genuine request's, or contradicted by Twilio
    alone = {(phone.replace("{sender}", sender), scope, action) for phone, scope, action in _alone(stack, kind)}
    for item in [plain(typed) for key, typed in _items(stack, *numbers).items() if key not in earlier]:
        if item["record_type"] != "event":
            continue
        if item.get("source") == "retraction":
            COUNTS["verified_retracted"] += 1
            continue
        genuine_fact = (item["phone"], item["scope"], item["action"]) in alone and item["event_id"] == message_sid
        if not genuine_fact:
            COUNTS[f"verified_{item.get('verification', 'unchecked')}"] += 1
            assert item.get("verification") == "contradicted" or (
                item["action"] == "opt_out" and item["phone"].removeprefix("whatsapp:") == sender
            ), (kind, recut, item)
    states = _states(_items(stack, victim))
    assert states == {}, (kind, recut, states)  # the victim's number is in no genuine request
