"""Twilio Webhooks-API shared-key signatures (public beta): ``X-Twilio-Webhooks-Signature-Settings``.

The vectors below were made by twilio-node 6.3.1 itself (``npm install twilio@6.3.1``, run with node 18), with
``getSignatureAlgorithm(header)`` and ``getExpectedTwilioSignature(secret, url, params, algorithm)`` from
``lib/webhooks/webhooks.js``, and checked there with ``validateRequest`` / ``validateRequestWithBody`` (both true).
The inputs are the test's own: the inbound webhook below, the SharedKey id ``webhooks_sharedkey_test1`` and the
secret ``SECRET``.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from smsbridge.domain.ingress import INBOUND_ROUTE, WebhookRequest
from smsbridge.domain.signature import AuthTokens, SignedContent, candidate_urls, signature_matches
from smsbridge.errors import ForgedRequest
from smsbridge.ops.simulate import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, inbound_params
from tests.conftest import form_body
from tests.unit.test_ingress import INBOUND_URL, make_service

SECRET = "sk_test_0123456789abcdef0123456789abcdef"
KEY = "webhooks_sharedkey_test1"
SID = "SM" + "1" * 32
PARAMS = inbound_params(body="STOP", message_sid=SID)
VECTORS = {  # twilio-node 6.3.1 getExpectedTwilioSignature(SECRET, INBOUND_URL, PARAMS, algorithm)
    "HMAC_SHA256": "eNSP8j2jT7i6ukf860oQ+IhoG81zpjOzBUE0/sCp1OE=",
    "HMAC_SHA1": "aREHc0gvm4Kf9bdz/91esobsSHk=",
}
JSON_BODY = json.dumps(dict(inbound_params(body="YES", message_sid=SID)), separators=(",", ":")).encode()
JSON_URL = f"{INBOUND_URL}?bodySHA256=c5cd223d60816f8656f5663cefc828df4c6cd99cc56a5098b92ab9866d0fc17a"
JSON_SIGNATURE = (
    "7sBHkNOa3hSY2XDQGYMTBlo+DqZF9IWP6GNrZ6QkeEI="  # getExpectedTwilioSignature(SECRET, JSON_URL, {}, SHA256)
)


def tokens(shared: dict[str, list[str]] | None = None, account: str = "default") -> str:
    return json.dumps({"default": [TEST_AUTH_TOKEN], "shared_keys": {account: shared or {KEY: [SECRET]}}})


def form_request(signature: str, settings: str, params: list[tuple[str, str]] = PARAMS, url: str = INBOUND_URL
                 ) -> WebhookRequest:  # fmt: skip
    headers = {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature}
    if settings:
        headers["x-twilio-webhooks-signature-settings"] = settings
    parts = urlsplit(url)
    return WebhookRequest("POST", INBOUND_ROUTE, f"{parts.scheme}://{parts.netloc}{parts.path}", parts.query, headers,
                          form_body(params))  # fmt: skip


@pytest.mark.parametrize("algorithm", ["HMAC_SHA256", "HMAC_SHA1"])
def test_twilio_node_vectors_verify(algorithm: str) -> None:
    content = SignedContent(urls=candidate_urls(INBOUND_URL), params=PARAMS, body=b"")
    assert signature_matches(content, VECTORS[algorithm], [SECRET], algorithm)
    service, _ = make_service(tokens())
    accepted = service.accept_inbound(form_request(VECTORS[algorithm], f"key={KEY},algorithm={algorithm}"))
    assert accepted.recorded and accepted.consent is not None


def test_twilio_node_json_vector_verifies() -> None:
    service, _ = make_service(tokens())
    headers = {"content-type": "application/json", "x-twilio-signature": JSON_SIGNATURE,
               "x-twilio-webhooks-signature-settings": f"key={KEY},algorithm=HMAC_SHA256"}  # fmt: skip
    request = WebhookRequest("POST", INBOUND_ROUTE, INBOUND_URL, urlsplit(JSON_URL).query, headers, JSON_BODY)
    assert service.accept_inbound(request).webhook.body == "YES"
    tampered = WebhookRequest("POST", INBOUND_ROUTE, INBOUND_URL, urlsplit(JSON_URL).query, headers,
                              JSON_BODY.replace(b"YES", b"NO!"))  # fmt: skip
    with pytest.raises(ForgedRequest):
        service.accept_inbound(tampered)


def test_header_without_algorithm_is_sha1_with_the_shared_key_as_twilio_node_reads_it() -> None:
    service, _ = make_service(tokens())
    assert service.accept_inbound(form_request(VECTORS["HMAC_SHA1"], f" key = {KEY} ")).recorded


def test_rotation_accepts_the_previous_secret_too() -> None:
    service, _ = make_service(tokens({KEY: ["sk_new_" + "9" * 32, SECRET]}))
    assert service.accept_inbound(form_request(VECTORS["HMAC_SHA256"], f"key={KEY},algorithm=HMAC_SHA256")).recorded


def test_keys_are_per_account_like_tokens() -> None:
    service, store = make_service(tokens(account="AC" + "e" * 32))  # the key belongs to another account
    with pytest.raises(ForgedRequest) as raised:
        service.accept_inbound(form_request(VECTORS["HMAC_SHA256"], f"key={KEY},algorithm=HMAC_SHA256"))
    assert raised.value.reason == "unknown_shared_key" and not store.inbound
    service, store = make_service(tokens(account=TEST_ACCOUNT_SID))
    assert service.accept_inbound(form_request(VECTORS["HMAC_SHA256"], f"key={KEY},algorithm=HMAC_SHA256")).recorded


def one_change_each() -> list[tuple[str, str, str, list[tuple[str, str]], str, str]]:
    """(what changed, signature, settings header, params, url, reason expected)."""
    good_sig, good_header = VECTORS["HMAC_SHA256"], f"key={KEY},algorithm=HMAC_SHA256"
    changed_body = [(n, "STOP!" if n == "Body" else v) for n, v in PARAMS]
    return [
        ("algorithm named SHA1 for a SHA256 signature", good_sig, f"key={KEY},algorithm=HMAC_SHA1", PARAMS,
         INBOUND_URL, "bad_signature"),
        ("algorithm named SHA256 for a SHA1 signature", VECTORS["HMAC_SHA1"], good_header, PARAMS, INBOUND_URL,
         "bad_signature"),
        ("unknown algorithm", good_sig, f"key={KEY},algorithm=HMAC_SHA512", PARAMS, INBOUND_URL,
         "unsupported_algorithm"),
        ("another key id", good_sig, "key=webhooks_sharedkey_other,algorithm=HMAC_SHA256", PARAMS, INBOUND_URL,
         "unknown_shared_key"),
        ("no key id", good_sig, "algorithm=HMAC_SHA256", PARAMS, INBOUND_URL, "unknown_shared_key"),
        ("settings header dropped (auth token checked)", good_sig, "", PARAMS, INBOUND_URL, "bad_signature"),
        ("a value changed", good_sig, good_header, changed_body, INBOUND_URL, "bad_signature"),
        ("a field added", good_sig, good_header, [*PARAMS, ("Extra", "")], INBOUND_URL, "bad_signature"),
        ("the URL changed", good_sig, good_header, PARAMS, INBOUND_URL + "?x=1", "bad_signature"),
        ("one character of the signature", good_sig[:-2] + "A=", good_header, PARAMS, INBOUND_URL, "bad_signature"),
    ]  # fmt: skip


CHANGES = one_change_each()


@pytest.mark.parametrize(
    ("signature", "header", "params", "url", "reason"), [case[1:] for case in CHANGES], ids=[c[0] for c in CHANGES]
)
def test_each_single_change_is_refused_with_its_reason(
    signature: str, header: str, params: list[tuple[str, str]], url: str, reason: str
) -> None:
    service, store = make_service(tokens())
    with pytest.raises(ForgedRequest) as raised:
        service.accept_inbound(form_request(signature, header, params, url))
    assert raised.value.status_code == 403 and raised.value.reason == reason
    assert not store.inbound


def test_shared_keys_in_the_secret_are_checked_and_never_shown() -> None:
    parsed = AuthTokens.parse(tokens({KEY: [SECRET, " "]}))
    assert parsed.shared_key(TEST_ACCOUNT_SID, KEY) == (SECRET,)
    for bad in ('{"shared_keys": ["x"]}', '{"shared_keys": {"default": {"k": 5}}}'):
        with pytest.raises(ValueError) as raised:
            AuthTokens.parse(bad)
        assert SECRET not in str(raised.value)
