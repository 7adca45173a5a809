"""Issue 21, the webhook side: a request acts only as Twilio could have sent it, the shared-key rule matches the
auth-token rule, and nothing personal or secret is echoed."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from smsbridge.domain.field_forms import (
    ABSORBED_FIELD,
    FIELD_FORM,
    FIELDS_DISAGREE,
    UNKNOWN_FIELD,
    unverified_reasons,
)
from smsbridge.domain.ingress import INBOUND_ROUTE, WebhookRequest
from smsbridge.domain.signature import AuthTokens, body_sha256, compute_signature
from smsbridge.errors import ForgedRequest, InvalidPayload
from smsbridge.local.server import describe
from smsbridge.ops.simulate import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, inbound_params, status_params
from tests.unit.test_ingress import INBOUND_URL, make_service, request_for

Params = list[tuple[str, str]]
SERVICE = "MG" + "5" * 32
WHATSAPP = [*inbound_params(body="STOP", sender="whatsapp:+14155550100", recipient="whatsapp:+14155550199"),
            ("ChannelMetadata", '{"type":"whatsapp"}'), ("ProfileName", "Ana"), ("WaId", "14155550100")]  # fmt: skip


def replaced(params: Params, **values: str) -> Params:
    return [(name, values.get(name, value)) for name, value in params]


@pytest.mark.parametrize(
    "params",
    [
        inbound_params(body="STOP"),
        inbound_params(body="Hello, From +14155550123 with love", messaging_service_sid=SERVICE, opt_out_type="HELP"),
        [*inbound_params(body="pic"), ("MediaUrl0", "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"),
         ("MediaContentType0", "image/jpeg")],
        WHATSAPP,
        status_params(status="failed", error_code="21610", messaging_service_sid=SERVICE),
        status_params(status="delivered"),
    ],
    ids=["stop", "reply_with_service", "mms", "whatsapp", "status_21610", "status_delivered"],
)  # fmt: skip
def test_genuine_requests_are_in_twilio_form(params: Params) -> None:
    params = replaced(params, NumMedia="1") if any(name == "MediaUrl0" for name, _ in params) else params
    assert unverified_reasons(params) == ()


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ([*inbound_params(body="Start "), ("Fresh", "")], UNKNOWN_FIELD),
        ([("A1", ""), *status_params()], UNKNOWN_FIELD),
        (replaced(inbound_params(), NumSegments="1OptOutTypeSTOP"), ABSORBED_FIELD),
        (replaced(status_params(status="failed"), ApiVersion="2010-04-01ErrorCode21610"), ABSORBED_FIELD),
        ([*inbound_params(body="START"), ("Zz", "From+14155550123FromCityFromCountryUS")], ABSORBED_FIELD),
        (replaced(inbound_params(body="START"), ToZip="From+14155550123FromCity"), ABSORBED_FIELD),
        (replaced(WHATSAPP, Body='STOPChannelMetadata{"type":"whatsapp"}'), ABSORBED_FIELD),
        (replaced(inbound_params(), NumSegments="1x"), FIELD_FORM),
        (replaced(inbound_params(), ApiVersion="2010-04-02"), FIELD_FORM),
        (replaced(inbound_params(), SmsSid="SM" + "e" * 32), FIELDS_DISAGREE),
        ([*inbound_params(), ("MediaUrl0", "https://example.com/a.jpg")], FIELDS_DISAGREE),  # NumMedia=0
    ],
    ids=["unknown_name", "query_tail", "num_segments", "api_version", "zz", "to_zip", "whatsapp_body", "digits",
         "api_version_form", "sids_disagree", "media_beyond_num_media"],
)  # fmt: skip
def test_each_recut_and_unusual_form_is_named(params: Params, reason: str) -> None:
    assert reason in unverified_reasons(params)


def test_a_body_is_the_sender_s_text_so_runs_inside_it_are_not_absorption() -> None:
    # the attacker's own message: From+... sorts after Body only at the next field present (From), so it counts
    body = "STARTFrom+16285550106MessageSidSM" + "f" * 32 + "To+14155550199Zz"
    assert unverified_reasons(inbound_params(body=body)) == (ABSORBED_FIELD,)
    assert unverified_reasons(inbound_params(body="Call me at +14155550123, To you From me")) == ()


class TestSharedKeyRule:
    """An account with its own auth token uses only its own shared keys, as it uses only its own tokens."""

    OWN, OTHER = "AC" + "1" * 32, "AC" + "2" * 32

    def tokens(self) -> AuthTokens:
        return AuthTokens.parse(json.dumps({"default": ["d" * 32], self.OWN: ["o" * 32],
                                            "shared_keys": {"default": {"KS1": ["s" * 32]}}}))  # fmt: skip

    def test_the_default_shared_key_does_not_sign_for_an_account_with_its_own_token(self) -> None:
        assert self.tokens().shared_key(self.OWN, "KS1") == ()
        assert self.tokens().for_account(self.OWN) == ("o" * 32,)

    def test_the_default_shared_key_signs_for_an_account_served_by_the_default_token(self) -> None:
        assert self.tokens().shared_key(self.OTHER, "KS1") == ("s" * 32,)

    def test_an_account_s_own_shared_key_signs_for_it(self) -> None:
        tokens = AuthTokens.parse(json.dumps({self.OWN: ["o" * 32], "shared_keys": {self.OWN: {"KS2": ["k" * 32]}}}))
        assert tokens.shared_key(self.OWN, "KS2") == ("k" * 32,)

    def test_a_request_signed_with_the_default_shared_key_for_such_an_account_is_refused(self) -> None:
        service, store = make_service(json.dumps({self.OWN: ["o" * 32],
                                                  "shared_keys": {"default": {"KS1": ["s" * 32]}}}))  # fmt: skip
        params = inbound_params(body="START", account_sid=self.OWN)
        headers = {"content-type": "application/x-www-form-urlencoded",
                   "x-twilio-signature": compute_signature("s" * 32, INBOUND_URL, params, "HMAC_SHA256"),
                   "x-twilio-webhooks-signature-settings": "key=KS1,algorithm=HMAC_SHA256"}  # fmt: skip
        with pytest.raises(ForgedRequest) as raised:
            service.accept_inbound(request_for(INBOUND_URL, params, headers))
        assert raised.value.reason == "unknown_shared_key" and not store.inbound


def signed(params: Params) -> dict[str, str]:
    return {"content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": compute_signature(TEST_AUTH_TOKEN, INBOUND_URL, params)}  # fmt: skip


@pytest.mark.parametrize(
    "params",
    [
        [*inbound_params(body="STO"), ("BodyP my secret +14155550123", "x")],  # a name not of Twilio's form
        [*inbound_params(body="hi"), ("Secret4155550123", "a"), ("Secret4155550123", "b")],  # repeated
    ],
    ids=["field_name", "repeated_field"],
)
def test_a_refusal_names_the_field_never_its_value_or_text(params: Params) -> None:
    service, _ = make_service()
    with pytest.raises(InvalidPayload) as raised:
        service.accept_inbound(request_for(INBOUND_URL, params, signed(params)))
    for text in ("secret", "STOP", "4155550123", "Secret"):
        assert text not in str(raised.value)


def test_a_json_webhook_with_account_sid_only_in_the_query_is_read() -> None:
    fields = {name: value for name, value in inbound_params(body="HELP") if name != "AccountSid"}
    body = json.dumps(fields).encode()
    url = f"{INBOUND_URL}?AccountSid={TEST_ACCOUNT_SID}&bodySHA256={body_sha256(body)}"
    headers = {"content-type": "application/json", "x-twilio-signature": compute_signature(TEST_AUTH_TOKEN, url)}
    service, store = make_service()
    parts = urlsplit(url)
    request = WebhookRequest("POST", INBOUND_ROUTE, INBOUND_URL, parts.query, headers, body)
    accepted = service.accept_inbound(request)
    assert accepted.recorded and accepted.webhook.account_sid == TEST_ACCOUNT_SID and store.inbound


def test_the_console_line_of_a_refused_request_masks_every_number() -> None:
    body = b"From=%2B14155550123&Body=hi"
    answer = b"not a request in Twilio's form: From is +14155550123 and To +442071838750\n"
    line = describe("POST", "/twilio/inbound", 400, body, answer=answer)
    assert "4155550123" not in line and "2071838750" not in line
    assert "+1********23" in line
