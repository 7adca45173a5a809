"""Signature rules against the official twilio-python and twilio-node vectors, and against twilio's own validator."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from smsbridge.domain.signature import (
    AuthTokens,
    SignedContent,
    body_sha256,
    candidate_urls,
    compute_signature,
    port_variants,
    signature_matches,
)

# twilio-python tests/unit/test_request_validator.py (twilio/twilio-python@306691e)
TOKEN = "12345"
URI = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
    ("Caller", "+14158675309"),
]
JSON_BODY = b'{"property": "value", "boolean": true}'
JSON_BODY_HASH = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"


def verify(url: str, signature: str, params: list[tuple[str, str]] = PARAMS, *, body: bytes = b"") -> bool:
    """The project's verification entry point, given the URL exactly as the request reached it."""
    base, _, query = url.partition("?")
    urls = candidate_urls(base, query)
    content = SignedContent(urls=urls, params=[] if body else params, body=body, is_json=bool(body))
    return signature_matches(content, signature, [TOKEN])


class TestTwilioPythonVectors:
    def test_compute_signature_matches_the_documented_value(self) -> None:
        assert compute_signature(TOKEN, URI, PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="

    @pytest.mark.parametrize(
        ("url", "signature"),
        [
            (URI, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
            ("https://mycompany.com:1234/myapp.php?foo=1&bar=2", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
            ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
            (URI, "kvajT1Ptam85bY51eRf/AJRuM3w="),
            ("http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
        ],
        ids=["plain", "https-port-removed", "http-with-port", "https-signed-with-443", "http-signed-with-80"],
    )
    def test_validates(self, url: str, signature: str) -> None:
        assert verify(url, signature)

    def test_repeated_parameters_are_deduplicated_and_sorted(self) -> None:
        params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")]
        assert verify(URI, "IK+Dwps556ElfBT0I3Rgjkr1wJU=", params)

    def test_body_hash(self) -> None:
        assert body_sha256(JSON_BODY) == JSON_BODY_HASH

    def test_json_body_signed_through_body_sha256(self) -> None:
        assert verify(f"{URI}&bodySHA256={JSON_BODY_HASH}", "a9nBmqA0ju/hNViExpshrM61xv4=", body=JSON_BODY)

    def test_json_body_that_does_not_match_its_hash_is_rejected(self) -> None:
        assert not verify(f"{URI}&bodySHA256={JSON_BODY_HASH}", "a9nBmqA0ju/hNViExpshrM61xv4=", body=b"{}")


class TestTwilioNodeVectors:
    def test_json_empty_body_matches_only_with_port(self) -> None:
        empty_hash = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        assert verify(f"{URI}&bodySHA256={empty_hash}", "Ldidvp12m26NI7eqEvxnEpkd9Hc=", body=b"{}")

    def test_json_only_body_sha256_in_query(self) -> None:
        url = f"https://mycompany.com/myapp.php?bodySHA256={JSON_BODY_HASH}"
        assert verify(url, "y77kIzt2vzLz71DgmJGsen2scGs=", body=JSON_BODY)

    @pytest.mark.parametrize(
        ("url", "signature"),
        [
            ("https://user:pass@mycompany.com/myapp.php?foo=1&bar=2", "CukzLTc1tT5dXEDIHm/tKBanW10="),
            ("https://user:pass@mycompany.com/myapp.php?foo=1&bar=2", "ZQFR1PTIZXF2MXB8ZnKCvnnA+rI="),
            ("https://user@mycompany.com/myapp.php?foo=1&bar=2", "2YRLlVAflCqxaNicjMpJcSTgzSs="),
        ],
        ids=["credentials", "credentials-signed-with-port", "username-only"],
    )
    def test_credentials_in_url(self, url: str, signature: str) -> None:
        assert verify(url, signature)

    def test_special_characters_in_query_as_node_reencodes_them(self) -> None:
        # Signed over ...&Body=It%27s+amazing; the request arrives with the raw apostrophe.
        assert verify(URI + "&Body=It's+amazing", "TfZzewPq8wqrGlMfyAud8+/IvJ0=")

    @pytest.mark.parametrize("order", [["+1325xxxxxxx", "+1415xxxxxxx"], ["+1415xxxxxxx", "+1325xxxxxxx"]])
    def test_array_parameter_in_either_order(self, order: list[str]) -> None:
        assert verify(URI, "83O6e2vORAoJHUNzJjDWN1jz+BA=", [("MessagingBinding.Address", v) for v in order])


def test_twilio_docs_worked_example() -> None:
    params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]
    assert compute_signature(TOKEN, URI, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


PLUGIN_INBOUND = [
    ("AccountSid", "AC1234567890abcdef1234567890abcdef"),
    ("AddOns", '{ "status": "successful", "message": null, "code": null, "results": { } }'),
    ("ApiVersion", "2010-04-01"),
    ("Body", "Ahoy"),
    ("From", "+15017122661"),
    ("FromCity", "SAN FRANCISCO"),
    ("FromCountry", "US"),
    ("FromState", "CA"),
    ("FromZip", "94903"),
    ("MessageSid", "SM" + "a" * 32),
    ("NumMedia", "0"),
    ("NumSegments", "1"),
    ("ReferralNumMedia", "0"),
    ("SmsMessageSid", "SM" + "a" * 32),
    ("SmsSid", "SM" + "a" * 32),
    ("SmsStatus", "received"),
    ("To", "+15558675310"),
    ("ToCity", "SAN FRANCISCO"),
    ("ToCountry", "US"),
    ("ToState", "CA"),
    ("ToZip", "94105"),
]


@pytest.mark.parametrize(
    ("body", "signature"),
    [("Ahoy", "kztpITUtQNpvjXiMmV/bZ6jnYms="), ('"Ahoy from tests"', "1kiKLAAQcu0UvIjTvxwAn8fuZKA=")],
)
def test_plugin_webhook_inbound_sms_vector(body: str, signature: str) -> None:
    params = [(name, body if name == "Body" else value) for name, value in PLUGIN_INBOUND]
    url = "https://handler.twilio.com/twiml/EH" + "a" * 32
    content = SignedContent(urls=candidate_urls(url), params=params, body=b"")
    assert signature_matches(content, signature, ["1" * 32])


def test_blank_values_are_signed() -> None:
    params = [("Body", "STOP"), ("FromCity", ""), ("From", "+15550001111")]
    assert compute_signature(TOKEN, "https://x.example/sms", params) == "zf9+JgZ7JuwxbWvt/i2okwRSIzA="
    without_blank = [p for p in params if p[0] != "FromCity"]
    assert compute_signature(TOKEN, "https://x.example/sms", without_blank) == "N6qCf6NDSdn1xElkCi7RdciogVo="


class TestCandidateUrls:
    def test_port_variants_add_the_default_port_or_remove_a_given_one(self) -> None:
        assert port_variants("https://h.example/p?q=1") == ["https://h.example/p?q=1", "https://h.example:443/p?q=1"]
        assert port_variants("http://h.example:8080/p") == ["http://h.example:8080/p", "http://h.example/p"]
        assert port_variants("http://[::1]:3000/p") == ["http://[::1]:3000/p", "http://[::1]/p"]

    def test_configured_fragment_is_tried_with_and_without(self) -> None:
        urls = candidate_urls("https://h.example/twilio/status", "o=1", "rc=3&rp=5xx")
        assert "https://h.example/twilio/status?o=1" in urls
        assert "https://h.example/twilio/status?o=1#rc=3&rp=5xx" in urls

    def test_signature_over_fragment_url_is_accepted(self) -> None:
        signed = "https://h.example/twilio/inbound#rc=3&rp=5xx"
        signature = compute_signature(TOKEN, signed, PARAMS)
        content = SignedContent(candidate_urls("https://h.example/twilio/inbound", "", "rc=3&rp=5xx"), PARAMS, b"")
        assert signature_matches(content, signature, [TOKEN])
        content_without = SignedContent(candidate_urls("https://h.example/twilio/inbound"), PARAMS, b"")
        assert not signature_matches(content_without, signature, [TOKEN])


class TestAuthTokens:
    def test_bare_token_is_the_default(self) -> None:
        tokens = AuthTokens.parse("  abc \n")
        assert tokens.for_account("AC1") == ("abc",)

    def test_json_per_account_lists_with_default(self) -> None:
        tokens = AuthTokens.parse('{"default": ["new", "old"], "AC1": "one", "AC2": []}')
        assert tokens.for_account("AC1") == ("one",)
        assert tokens.for_account("AC9") == ("new", "old")
        assert tokens.for_account("AC2") == ("new", "old")

    @pytest.mark.parametrize("secret", ["", "{}", '{"default": []}', '{"default": ["  "]}'])
    def test_empty_secrets_hold_no_token(self, secret: str) -> None:
        assert AuthTokens.parse(secret).is_empty

    @pytest.mark.parametrize(
        ("secret", "message"),
        [("{not json", "not valid JSON"), ('["a"]', "JSON object"), ('{"default": [1]}', "'default' must be")],
    )
    def test_malformed_secret_says_what_is_wrong_without_showing_tokens(self, secret: str, message: str) -> None:
        with pytest.raises(ValueError, match=message) as raised:
            AuthTokens.parse(secret)
        assert "not json" not in str(raised.value)

    def test_rotation_accepts_current_and_previous_but_nothing_else(self) -> None:
        content = SignedContent(candidate_urls(URI), PARAMS, b"")
        tokens = AuthTokens.parse('{"default": ["current", "previous"]}').for_account("AC1")
        assert signature_matches(content, compute_signature("previous", URI, PARAMS), tokens)
        assert signature_matches(content, compute_signature("current", URI, PARAMS), tokens)
        assert not signature_matches(content, compute_signature("older", URI, PARAMS), tokens)


printable = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)


@settings(max_examples=200, deadline=None)
@given(
    params=st.dictionaries(
        st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12), printable, max_size=8
    ),
    token=st.text(min_size=1, max_size=40),
    path=st.text("abcdefghijklmnopqrstuvwxyz/_-.", max_size=20),
    query=st.text("abcdefghijklmnopqrstuvwxyz0123456789=&-._~%", max_size=20),
)
def test_agrees_with_twilio_request_validator(params: dict[str, str], token: str, path: str, query: str) -> None:
    # GIVEN any form params and URL, WHEN both implementations sign them, THEN they agree, and each accepts the other
    url = f"https://h.example/{path}" + (f"?{query}" if query else "")
    ours = compute_signature(token, url, list(params.items()))
    theirs = RequestValidator(token).compute_signature(url, params)
    assert ours == theirs
    assert RequestValidator(token).validate(url, params, ours)
