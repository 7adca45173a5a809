"""Signed is not enough: a request is believed only at the right door and in the shape Twilio gives it.

Twilio signs ``url + name1 + value1 + name2 + value2 ...`` with no separator, so the boundary between a name and
its value, between one field and the next, and the end of the URL's query can all be moved without breaking the
signature. These tests move each boundary of genuine signed webhooks and check that nothing is recorded.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from smsbridge.domain.ci360_events import Correlation, connector_body, parse_correlation
from smsbridge.domain.ingress import INBOUND_ROUTE, STATUS_ROUTE, WebhookRequest
from smsbridge.domain.signature import body_sha256, compute_signature
from smsbridge.errors import ForgedRequest, InvalidPayload, NotConfigured, RejectedRequest
from smsbridge.ops.simulate import TEST_AUTH_TOKEN, inbound_params, status_params
from tests.conftest import API_BASE, signed_headers
from tests.unit.test_ingress import INBOUND_URL, Params, accept, make_service, request_for

SID_IN, SID_ST = "SM" + "1" * 32, "SM" + "2" * 32
CALLBACK_QUERY = "dh=DH1a2c1&rtc=RTC1&tc=TSK_1"
STATUS_WITH_QUERY = f"{API_BASE}{STATUS_ROUTE}?{CALLBACK_QUERY}"
GENUINE = {
    "inbound": (INBOUND_URL, inbound_params(body="STOP", message_sid=SID_IN)),
    "status": (STATUS_WITH_QUERY, status_params(status="failed", error_code="21610", message_sid=SID_ST)),
}
ACCOUNT_A, ACCOUNT_B = "AC" + "a" * 32, "AC" + "b" * 32
TOKEN_A, TOKEN_B = "a" * 32, "b" * 32


def signed_tail(url: str, params: Params) -> tuple[str, str, list[int]]:
    """The URL before its query, the signed text after the ``?`` (query, then sorted name+value), and the cuts in
    that text: the query's end, then each name's end and each value's end."""
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    text, cuts = parts.query, [len(parts.query)]
    for name, value in sorted(params):
        text += name
        cuts.append(len(text))
        text += value
        cuts.append(len(text))
    return base, text, cuts


def resplit(base: str, text: str, cuts: list[int]) -> tuple[str, Params]:
    query = text[: cuts[0]]
    pairs = [(text[cuts[i] : cuts[i + 1]], text[cuts[i + 1] : cuts[i + 2]]) for i in range(0, len(cuts) - 2, 2)]
    return base + (f"?{query}" if query else ""), pairs


@st.composite
def moved_boundary(draw: st.DrawFn, kind: str) -> tuple[str, Params]:
    """A genuine webhook with one boundary moved: the query's end, a name's end or a value's end."""
    url, params = GENUINE[kind]
    base, text, cuts = signed_tail(url, params)
    index = draw(st.integers(0, len(cuts) - 2))  # the last cut is the end of the text
    low = cuts[index - 1] if index else 0
    high = cuts[index + 1]
    position = draw(st.integers(low, high).filter(lambda p: p != cuts[index]))
    moved = [*cuts[:index], position, *cuts[index + 1 :]]
    return resplit(base, text, moved)


def assert_refused_and_genuine_recorded(kind: str, url: str, params: Params) -> None:
    genuine_url, genuine = GENUINE[kind]
    service, store = make_service()
    headers = signed_headers(genuine_url, genuine)  # the genuine request's signature, carried over
    signature_holds = compute_signature(TEST_AUTH_TOKEN, url, params) == headers["x-twilio-signature"]
    with pytest.raises(RejectedRequest) as raised:
        accept(service, request_for(url, params, headers))
    # a re-split the signature cannot see is refused for its shape (400), any other as forged (403)
    assert raised.value.status_code == (400 if signature_holds else 403), str(raised.value)
    assert not store.inbound and not store.status and not store.consent
    accepted = accept(service, request_for(genuine_url, genuine, headers))
    assert accepted.recorded  # type: ignore[attr-defined]


@settings(max_examples=120, deadline=None)
@given(moved=moved_boundary("inbound"))
@example(moved=(INBOUND_URL, [("BodyS" if n == "Body" else n, "TOP" if n == "Body" else v) for n, v in
                              GENUINE["inbound"][1]]))  # fmt: skip
@example(moved=(INBOUND_URL, [("ToCityS" if n == "ToCity" else n, v) for n, v in GENUINE["inbound"][1]]))
def test_moving_any_boundary_of_a_signed_inbound_webhook_records_nothing(moved: tuple[str, Params]) -> None:
    assert_refused_and_genuine_recorded("inbound", *moved)


@settings(max_examples=120, deadline=None)
@given(moved=moved_boundary("status"))
@example(moved=(f"{API_BASE}{STATUS_ROUTE}?dh=DH1a2c1&rtc=RTC1&tc=TSK_1", [("AccountSid", ACCOUNT_A)]))
def test_moving_any_boundary_of_a_signed_status_callback_records_nothing(moved: tuple[str, Params]) -> None:
    assert_refused_and_genuine_recorded("status", *moved)


def test_the_issue_s_two_re_splits_hold_their_signature_and_are_400() -> None:
    # BodyS=TOP for Body=STOP, and the query's end moved into a field: both keep the genuine signature
    inbound_url, inbound = GENUINE["inbound"]
    body_moved = [("BodyS", "TOP") if name == "Body" else (name, value) for name, value in inbound]
    assert compute_signature(TEST_AUTH_TOKEN, inbound_url, body_moved) == compute_signature(
        TEST_AUTH_TOKEN, inbound_url, inbound
    )
    service, store = make_service()
    with pytest.raises(InvalidPayload) as raised:
        service.accept_inbound(request_for(inbound_url, body_moved, signed_headers(inbound_url, inbound)))
    assert raised.value.reason == "missing_field" and "Body is required" in str(raised.value)
    status_url, status = GENUINE["status"]
    short_url = f"{API_BASE}{STATUS_ROUTE}?dh=DH1a2c1"
    query_moved = [*status, ("&rtc=RTC1&tc=TSK_1", "")]
    headers = signed_headers(status_url, status)
    # (the moved field sorts first only when its name does: "&" < "A")
    assert compute_signature(TEST_AUTH_TOKEN, short_url, query_moved) == headers["x-twilio-signature"]
    with pytest.raises(InvalidPayload) as raised:
        service.accept_status(request_for(short_url, query_moved, headers))
    assert raised.value.reason == "field_name"
    assert not store.inbound and not store.status


@pytest.mark.parametrize(
    ("query", "extra", "reason"),
    [
        ("dh=DH1&dh=DH2&rtc=R&tc=T", [], "correlation_repeated"),
        ("dh=DH1&rtc=R&tc=T&tc=T2", [], "correlation_repeated"),
        ("dh=DH1&rtc=R&tc=T", [("dh", "DH2")], "correlation_in_body"),
        ("dh=DH1&rtc=R&tc=T", [("rtc", "")], "correlation_in_body"),
        ("dh=DH1&rtc=R&tc=T", [("MessageStatus", "delivered")], "repeated_field"),
        ("dh=DH1&rtc=R&tc=T", [("Num", "Segments1")], "resplit_field"),
        ("dh=DH1&rtc=R&tc=T", [("X-Extra", "1")], "field_name"),
    ],
)
def test_signed_status_callbacks_out_of_twilio_s_shape_are_400_with_their_reason(
    query: str, extra: Params, reason: str
) -> None:
    url = f"{API_BASE}{STATUS_ROUTE}?{query}"
    params = status_params(status="delivered") + extra
    service, store = make_service()
    with pytest.raises(InvalidPayload) as raised:
        service.accept_status(request_for(url, params, signed_headers(url, params)))
    assert raised.value.reason == reason
    assert not store.status


def test_every_key_of_the_connector_s_callback_query_is_guarded_by_the_webhook() -> None:
    # GIVEN the StatusCallback query smsbridge gives CI360's connector, as CI360 fills it in
    callback = dict(parse_qsl(connector_body(f"{API_BASE}{STATUS_ROUTE}")))["StatusCallback"]
    query = re.sub(r"\{\{\$\w+\}\}", "X1", urlsplit(callback).query)
    keys = [name for name, _ in parse_qsl(query)]
    assert parse_correlation(query) == Correlation("X1", "X1", "X1")  # every key carries a part of the correlation
    # THEN a signed callback with any of its keys twice in the query, or in the body, is refused with the reason
    for key in keys:
        for changed, extra, reason in ((f"{query}&{key}=X2", [], "correlation_repeated"),
                                       (query, [(key, "X2")], "correlation_in_body")):  # fmt: skip
            url = f"{API_BASE}{STATUS_ROUTE}?{changed}"
            params = status_params(status="delivered") + extra
            service, store = make_service()
            with pytest.raises(InvalidPayload) as raised:
                service.accept_status(request_for(url, params, signed_headers(url, params)))
            assert (key, raised.value.reason) == (key, reason)
            assert not store.status


def test_unknown_fields_twilio_may_add_are_still_accepted() -> None:
    params = [
        *inbound_params(body="hello"),
        ("FromCityCode", "SF"),
        ("NewTwilioField", "1"),
        ("ChannelMetadata", ""),
        ("ButtonLabel", "Yes"),
        ("ReferralBody", ""),
        ("ReferralMediaUrl", "https://x.example/a.jpg"),
    ]
    service, store = make_service()
    accepted = service.accept_inbound(request_for(INBOUND_URL, params, signed_headers(INBOUND_URL, params)))
    assert accepted.recorded and accepted.webhook.fields["NewTwilioField"] == "1"
    assert len(store.inbound) == 1


class TestWrongDoor:
    def test_inbound_message_at_the_status_url_is_400_naming_the_inbound_url(self) -> None:
        url, params = f"{API_BASE}{STATUS_ROUTE}", inbound_params(body="STOP")
        service, store = make_service()
        with pytest.raises(InvalidPayload) as raised:
            service.accept_status(request_for(url, params, signed_headers(url, params)))
        assert raised.value.reason == "wrong_door"
        assert f"{API_BASE}{INBOUND_ROUTE}" in str(raised.value)
        assert not store.status and not store.inbound and not store.consent

    def test_status_callback_at_the_inbound_url_is_400_naming_the_status_url(self) -> None:
        params = status_params(status="delivered")
        service, store = make_service(public_base_url="https://sms.example.com/prod")
        url = f"https://sms.example.com/prod{INBOUND_ROUTE}"
        request = WebhookRequest("POST", INBOUND_ROUTE, f"{API_BASE}{INBOUND_ROUTE}", "", signed_headers(url, params),
                                 request_for(url, params, {}).body)  # fmt: skip
        with pytest.raises(InvalidPayload) as raised:
            service.accept_inbound(request)
        assert raised.value.reason == "wrong_door"
        assert f"https://sms.example.com/prod{STATUS_ROUTE}" in str(raised.value)
        assert not store.status and not store.inbound

    def test_a_forged_request_at_the_wrong_door_is_still_403(self) -> None:
        url, params = f"{API_BASE}{STATUS_ROUTE}", inbound_params(body="STOP")
        service, _ = make_service()
        with pytest.raises(ForgedRequest):
            service.accept_status(request_for(url, params, signed_headers(url, params, token="f" * 32)))


def two_accounts(default: str = "") -> str:
    tokens = {ACCOUNT_A: TOKEN_A, ACCOUNT_B: [TOKEN_B]}
    return json.dumps({**tokens, **({"default": default} if default else {})})


class TestAccounts:
    def test_an_account_without_a_token_is_403_not_503(self) -> None:
        params = inbound_params(account_sid="AC" + "c" * 32)
        service, store = make_service(two_accounts())
        with pytest.raises(ForgedRequest) as raised:
            service.accept_inbound(request_for(INBOUND_URL, params, signed_headers(INBOUND_URL, params, TOKEN_A)))
        assert raised.value.status_code == 403 and raised.value.reason == "unknown_account"
        assert "secret" not in str(raised.value).lower() and "TWILIO" not in str(raised.value)
        assert not store.inbound

    def test_no_token_at_all_is_not_configured(self) -> None:
        service, _ = make_service("")
        params = inbound_params()
        with pytest.raises(NotConfigured):
            service.accept_inbound(request_for(INBOUND_URL, params, signed_headers(INBOUND_URL, params)))

    def test_form_signed_with_one_account_s_token_cannot_speak_for_the_other(self) -> None:
        service, store = make_service(two_accounts())
        as_a = inbound_params(body="STOP", account_sid=ACCOUNT_A)
        with pytest.raises(ForgedRequest):  # account B's token, account A's label
            service.accept_inbound(request_for(INBOUND_URL, as_a, signed_headers(INBOUND_URL, as_a, TOKEN_B)))
        as_b = inbound_params(body="STOP", account_sid=ACCOUNT_B)
        accepted = service.accept_inbound(request_for(INBOUND_URL, as_b, signed_headers(INBOUND_URL, as_b, TOKEN_B)))
        assert accepted.consent and accepted.consent.account_sid == ACCOUNT_B
        assert [event.account_sid for event in store.consent] == [ACCOUNT_B]

    @pytest.mark.parametrize(("account", "token", "accepted"), [(ACCOUNT_B, TOKEN_B, True), (ACCOUNT_A, TOKEN_B, False),
                                                                (ACCOUNT_B, TOKEN_A, False)])  # fmt: skip
    def test_json_webhooks_choose_their_token_by_account(self, account: str, token: str, accepted: bool) -> None:
        service, store = make_service(two_accounts())
        request = json_request(INBOUND_ROUTE, dict(inbound_params(body="STOP", account_sid=account)), token)
        if accepted:
            assert service.accept_inbound(request).webhook.account_sid == account
        else:
            with pytest.raises(ForgedRequest):
                service.accept_inbound(request)
            assert not store.inbound

    def test_json_account_in_query_and_body_must_agree(self) -> None:
        service, store = make_service(two_accounts())
        request = json_request(INBOUND_ROUTE, dict(inbound_params(account_sid=ACCOUNT_B)), TOKEN_A,
                               query=f"AccountSid={ACCOUNT_A}")  # fmt: skip
        with pytest.raises(InvalidPayload) as raised:
            service.accept_inbound(request)
        assert raised.value.reason == "account_mismatch" and not store.inbound


def json_request(route: str, document: object, token: str = TEST_AUTH_TOKEN, *, raw: bytes | None = None,
                 query: str = "") -> WebhookRequest:  # fmt: skip
    body = raw if raw is not None else json.dumps(document).encode()
    full_query = (f"{query}&" if query else "") + f"bodySHA256={body_sha256(body)}"
    url = f"{API_BASE}{route}?{full_query}"
    headers = {"content-type": "application/json", "x-twilio-signature": compute_signature(token, url)}
    return WebhookRequest("POST", route, f"{API_BASE}{route}", full_query, headers, body)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 60_000 + b"]" * 60_000,
        b'{"a":' * 40_000 + b"1" + b"}" * 40_000,
        b'{"AccountSid": ' + b"9" * 5000 + b"}",
        b'{"Body": "unterminated',
        b"[1, 2]",
        b"\xff\xfe",
    ],
    ids=["nested-array", "nested-object", "5000-digit-int", "syntax", "not-an-object", "not-utf8"],
)
def test_signed_json_that_cannot_be_read_is_400_not_500(raw: bytes) -> None:
    service, store = make_service(max_body_bytes=300_000)
    with pytest.raises(InvalidPayload):
        service.accept_inbound(json_request(INBOUND_ROUTE, None, raw=raw))
    assert not store.inbound


@pytest.mark.parametrize("kind", ["inbound", "status"])
def test_every_single_boundary_move_is_refused_and_most_keep_the_signature(kind: str) -> None:
    """The same property, exhaustively: each boundary moved to each other place it can reach (about 1,200 cases)."""
    url, params = GENUINE[kind]
    base, text, cuts = signed_tail(url, params)
    headers = signed_headers(url, params)
    kept_signature = 0
    for index in range(len(cuts) - 1):
        for position in range(cuts[index - 1] if index else 0, cuts[index + 1] + 1):
            if position == cuts[index]:
                continue
            moved_url, moved = resplit(base, text, [*cuts[:index], position, *cuts[index + 1 :]])
            service, store = make_service()
            with pytest.raises(RejectedRequest) as raised:
                accept(service, request_for(moved_url, moved, headers))
            if raised.value.status_code == 400:
                kept_signature += 1
            assert not store.inbound and not store.status, (moved_url, moved)
    assert kept_signature > 200  # the attack is real: hundreds of these re-splits keep Twilio's signature


SERVICE = "MG" + "5" * 32


@pytest.mark.parametrize(
    ("body", "recipient", "service", "opt_out_type", "consent"),
    [
        ("ALTA", "+14155550199", "", "", None),
        ("YES", "+18885550123", "", "", None),
        ("YES", "+14155550199", "", "", "opt_in"),
        ("YES", "55512", "", "", "opt_in"),
        ("ALTA", "+14155550199", SERVICE, "", None),  # a Messaging Service without Advanced Opt-Out
        ("YES", "+18885550123", SERVICE, "", None),
        ("UNSTOP", "+18885550123", SERVICE, "", "opt_in"),
        ("ALTA", "+14155550199", SERVICE, "START", "opt_in"),  # with Advanced Opt-Out: Twilio's OptOutType
        ("YES", "+18885550123", SERVICE, "START", "opt_in"),
    ],
)
def test_an_opt_in_twilio_ignores_is_a_reply_flagged_for_ci360_and_changes_no_consent(
    body: str, recipient: str, service: str, opt_out_type: str, consent: str | None
) -> None:
    from smsbridge.domain.ci360_events import EventMapping

    params = inbound_params(body=body, recipient=recipient, messaging_service_sid=service, opt_out_type=opt_out_type)
    webhooks, store = make_service()
    accepted = webhooks.accept_inbound(request_for(INBOUND_URL, params, signed_headers(INBOUND_URL, params)))
    assert (accepted.consent.action.value if accepted.consent else None) == consent
    assert [event.action.value for event in store.consent] == ([consent] if consent else [])
    if consent is None:
        assert accepted.reading and accepted.reading.opt_in_suspected
        assert "OptInSuspected" in accepted.metric_names()
        record = {"kind": "inbound", "message_sid": accepted.webhook.message_sid, "sender": accepted.webhook.sender,
                  "recipient": recipient, "scope": service or recipient, "intent": "reply", "body": body,
                  "received_at": "2026-11-30T02:00:00+00:00", "opt_in_suspected": True}  # fmt: skip
        [event] = EventMapping().message_change(record, None)
        assert event.attributes["opt_in_suspected"] == "true"
