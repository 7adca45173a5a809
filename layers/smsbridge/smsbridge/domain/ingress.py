"""The door: what a webhook must be before smsbridge believes it came from Twilio.

Checks run cheapest first and stop at the first failure: method (405), size (413), media type (415), signature
(403), and only then the payload (400, in ``payloads``). A request that passes is described by its decoded
parameters, ready for a model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from smsbridge.domain.privacy import mask_secret
from smsbridge.domain.signature import AuthTokens, SignedContent, candidate_urls, signature_matches
from smsbridge.errors import (
    ForgedRequest,
    InvalidPayload,
    MethodNotAllowed,
    NotConfigured,
    PayloadTooLarge,
    UnsupportedMediaType,
)

INBOUND_ROUTE = "/twilio/inbound"
STATUS_ROUTE = "/twilio/status"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
MAX_FIELDS = 1000


@dataclass(frozen=True)
class WebhookRequest:
    """An HTTP request as it reached smsbridge, whatever carried it (HTTP API, REST API, function URL, local).

    ``reached_url`` is scheme, host and path as called (stage prefix included); ``raw_query`` is the query string
    as sent, without the ``?``.
    """

    method: str
    route: str
    reached_url: str
    raw_query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass(frozen=True)
class IngressPolicy:
    """Settings of the door. ``public_base_url`` is the URL prefix configured in Twilio (scheme, host, any
    stage or base path); when empty, the URL the request reached is taken as the one Twilio signed."""

    public_base_url: str = ""
    url_fragment: str = ""
    max_body_bytes: int = 64 * 1024

    def signed_base(self, request: WebhookRequest) -> str:
        if self.public_base_url:
            return self.public_base_url.rstrip("/") + request.route
        return request.reached_url


def verified_params(request: WebhookRequest, policy: IngressPolicy, tokens: AuthTokens) -> list[tuple[str, str]]:
    """The request's decoded parameters, once it is shown to be a well-formed webhook signed by Twilio."""
    if request.method.upper() != "POST":
        raise MethodNotAllowed(f"{request.method} is not accepted here; Twilio must call this URL with HTTP POST")
    if len(request.body) > policy.max_body_bytes:
        raise PayloadTooLarge(
            f"request body is {len(request.body)} bytes; the limit is {policy.max_body_bytes} (MAX_BODY_BYTES)"
        )
    media_type = request.header("content-type").split(";")[0].strip().lower()
    if media_type not in (FORM, JSON):
        shown = media_type or "none"
        raise UnsupportedMediaType(f"Content-Type {shown} is not accepted; Twilio webhooks are {FORM}")
    signature = request.header("x-twilio-signature")
    if not signature:
        raise ForgedRequest("missing X-Twilio-Signature header", reason="missing_signature")
    algorithm = request.header("x-twilio-webhooks-signature-settings")
    if algorithm and "HMAC_SHA1" not in algorithm.upper():
        raise ForgedRequest("only auth-token (HMAC-SHA1) signatures are supported", reason="unsupported_algorithm")
    text = _text(request.body)
    params = _form_pairs(text) if media_type == FORM else []
    account_sid = next((value for name, value in params if name == "AccountSid"), "")
    account_tokens = tokens.for_account(account_sid)
    if not account_tokens:
        raise NotConfigured("no Twilio auth token is configured, so no webhook can be verified")
    urls = candidate_urls(policy.signed_base(request), request.raw_query, policy.url_fragment)
    content = SignedContent(urls=urls, params=params, body=request.body, is_json=media_type == JSON)
    if not signature_matches(content, signature, account_tokens):
        raise ForgedRequest(
            "X-Twilio-Signature does not match this request", reason="bad_signature", urls_tried=urls,
            tokens_tried=[mask_secret(token) for token in account_tokens], hint=signature_hint(request, policy),
        )  # fmt: skip
    return params if media_type == FORM else _json_pairs(text)


def signature_hint(request: WebhookRequest, policy: IngressPolicy) -> str:
    """The likely cause of a signature that matches no URL and token, in one line for the operator."""
    called = urlsplit(request.reached_url).netloc.lower()
    verified = urlsplit(policy.public_base_url).netloc.lower() if policy.public_base_url else called
    if called and verified and called != verified:
        return (f"the request came to {called} but signatures are checked for {verified} (PUBLIC_BASE_URL): "
                f"send it to {verified}, or set the public URL to the one Twilio calls")  # fmt: skip
    return "signed for another URL or with another auth token: compare the URL in Twilio and the token's last digits"


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPayload("request body is not UTF-8") from None


def _form_pairs(text: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise InvalidPayload(f"request body is not a form of at most {MAX_FIELDS} well-encoded fields") from None


def _json_pairs(text: str) -> list[tuple[str, str]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        raise InvalidPayload("request body is not valid JSON") from None
    if not isinstance(document, dict):
        raise InvalidPayload("JSON body must be an object of webhook parameters")
    return [(name, value if isinstance(value, str) else json.dumps(value)) for name, value in document.items()]
