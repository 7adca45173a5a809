"""The door: what a webhook must be before smsbridge believes it came from Twilio.

Checks run cheapest first and stop at the first failure: method (405), size (413), media type (415), a readable
body (400), the signature (403: missing, wrong, an unknown account or shared key), then the shape of the request
(400): the right door (an inbound message at the inbound URL, a status callback at the status URL) and a canonical
request. Twilio signs names and values run together, so the split between a name and its value, and the end of
the URL's query, can be moved without breaking the signature: after the signature holds, a request is believed
only in the shape Twilio gives it (``canonical_problem``). The fields a model reads are checked in ``payloads``.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from smsbridge.domain.ci360_events import CORRELATION_KEYS
from smsbridge.domain.payloads import INBOUND_REQUIRED, STATUS_REQUIRED, TWILIO_FIELDS
from smsbridge.domain.privacy import mask_secret
from smsbridge.domain.signature import (
    HMAC_SHA1,
    AuthTokens,
    SignedContent,
    UnsupportedSignature,
    candidate_urls,
    signature_matches,
    signature_settings,
)
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
INBOUND, STATUS = "inbound", "status"
_FIELD_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")  # Twilio's form: MessageSid, MediaUrl0, ReferralCtwaClid
Pairs = list[tuple[str, str]]


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
        return self.url_of(request, request.route)

    def url_of(self, request: WebhookRequest, route: str) -> str:
        """The public URL of ``route`` for a request that reached ``request.route``."""
        if self.public_base_url:
            return self.public_base_url.rstrip("/") + route
        return request.reached_url.removesuffix(request.route) + route


def verified_params(request: WebhookRequest, policy: IngressPolicy, tokens: AuthTokens, kind: str = INBOUND) -> Pairs:
    """The request's decoded parameters, once it is shown to be a webhook of ``kind`` signed by Twilio, at the
    right door, in Twilio's shape."""
    if request.method.upper() != "POST":
        raise MethodNotAllowed(f"{request.method} is not accepted here; Twilio must call this URL with HTTP POST")
    if len(request.body) > policy.max_body_bytes:
        raise PayloadTooLarge(f"request body is {len(request.body)} bytes; the limit is {policy.max_body_bytes}")
    media_type = request.header("content-type").split(";")[0].strip().lower()
    if media_type not in (FORM, JSON):
        shown = media_type or "none"
        raise UnsupportedMediaType(f"Content-Type {shown} is not accepted; Twilio webhooks are {FORM}")
    signature = request.header("x-twilio-signature")
    if not signature:
        raise ForgedRequest("missing X-Twilio-Signature header", reason="missing_signature")
    text = _text(request.body)
    params = _form_pairs(text) if media_type == FORM else _json_pairs(text)
    account_sid = _account_of(params, request.raw_query, is_json=media_type == JSON)
    if media_type == JSON and account_sid and ("AccountSid", account_sid) not in params:
        params = [*params, ("AccountSid", account_sid)]  # named in the query only: read there (the README)
    keys, algorithm = _signing_keys(request, tokens, account_sid)
    urls = candidate_urls(policy.signed_base(request), request.raw_query, policy.url_fragment)
    signed = params if media_type == FORM else []  # a JSON body is signed through its bodySHA256
    content = SignedContent(urls=urls, params=signed, body=request.body, is_json=media_type == JSON)
    if not signature_matches(content, signature, keys, algorithm):
        raise ForgedRequest(
            "X-Twilio-Signature does not match this request", reason="bad_signature", urls_tried=urls,
            tokens_tried=[mask_secret(key) for key in keys], hint=signature_hint(request, policy),
        )  # fmt: skip
    _check_door(request, policy, params, kind)
    problem = canonical_problem(params, request.raw_query, kind)
    if problem:
        raise InvalidPayload(f"not a request in Twilio's form: {problem[1]}", reason=problem[0])
    return params


def _account_of(params: Pairs, raw_query: str, *, is_json: bool) -> str:
    """The AccountSid the request claims: its form field, or for a JSON body the query's (if Twilio puts it there;
    ``verified_params`` then adds it to the fields) or the body's. The token checked is that account's, so a
    request can only speak for the account it is signed by; ``canonical_problem`` refuses a second AccountSid."""
    claimed = [value for name, value in params if name == "AccountSid"]
    if is_json:
        claimed = [value for name, value in parse_qsl(raw_query, keep_blank_values=True) if name == "AccountSid"]
        claimed += [value for name, value in params if name == "AccountSid"]
        if len(set(claimed)) > 1:
            raise InvalidPayload("the query and the JSON body name different AccountSids", reason="account_mismatch")
    return claimed[0] if claimed else ""


def _signing_keys(request: WebhookRequest, tokens: AuthTokens, account_sid: str) -> tuple[Sequence[str], str]:
    """The keys the request must be signed with, and the hash: the account's auth tokens (HMAC-SHA1), or the
    SharedKey named in the signature-settings header. No key for the account is a 403 (unauthenticated), not a
    fault of ours; only an empty configuration is ``NotConfigured``."""
    if tokens.is_empty:
        raise NotConfigured("no Twilio auth token is configured, so no webhook can be verified")
    header = request.header("x-twilio-webhooks-signature-settings")
    if header:
        try:
            settings = signature_settings(header)
        except UnsupportedSignature as exc:
            raise ForgedRequest(str(exc), reason=exc.reason) from None
        secrets = tokens.shared_key(account_sid, settings.key)
        if not secrets:
            raise ForgedRequest("the SharedKey named in the signature settings is not known here",
                                reason="unknown_shared_key")  # fmt: skip
        return secrets, settings.algorithm
    account_tokens = tokens.for_account(account_sid)
    if not account_tokens:
        raise ForgedRequest("no auth token is known for the request's AccountSid", reason="unknown_account")
    return account_tokens, HMAC_SHA1


def _check_door(request: WebhookRequest, policy: IngressPolicy, params: Pairs, kind: str) -> None:
    """An inbound message at the status URL, or a status callback at the inbound URL: a paste mistake in the
    Twilio console. Refused (nothing recorded) with the URL it belongs to."""
    names = {name for name, _ in params}
    is_status = "MessageStatus" in names
    is_inbound = not is_status and ("Body" in names or ("SmsStatus", "received") in params)
    if kind == INBOUND and is_status:
        right = policy.url_of(request, STATUS_ROUTE)
        raise InvalidPayload(
            f"this is a status callback (it carries MessageStatus), sent to the inbound-message URL; "
            f"set {right} as the StatusCallback (CI360's connector body) instead",
            reason="wrong_door",
        )
    if kind == STATUS and is_inbound:
        right = policy.url_of(request, INBOUND_ROUTE)
        raise InvalidPayload(
            f"this is an inbound message (it carries Body, no MessageStatus), sent to the status-callback URL; "
            f"set {right} as the number's (or Messaging Service's) incoming-message webhook instead",
            reason="wrong_door",
        )


def canonical_problem(params: Pairs, raw_query: str, kind: str) -> tuple[str, str] | None:
    """Why a signed request is not in the shape Twilio gives it, as (metric reason, message), or None.

    - every field name is of Twilio's form (a capital, then letters and digits) and given once;
    - the fields the webhook always carries are present;
    - no known field is missing while a name that begins or ends with it, or that it begins or ends with, sorts
      in its place (a moved boundary: ``BodyS=TOP``, ``Num=Segments1``, ``ApiVersion=2010-04-01Error&Code=21610``).
      The price: a new Twilio field named like a part of an absent known field, and sorting next to where it
      would be, is refused too (loudly: ``Rejected_resplit_field``);
    - the correlation keys (``dh``, ``tc``, ``rtc``) appear at most once in the query and never in the body.
    """
    names = [name for name, _ in params]
    present = set(names)
    problem = _correlation_problem(present, raw_query) or _name_problem(names, present)
    if problem:
        return problem
    missing = [name for name in (INBOUND_REQUIRED if kind == INBOUND else STATUS_REQUIRED) if name not in present]
    if missing:
        every = "an inbound message" if kind == INBOUND else "a status callback"
        return "missing_field", "; ".join(f"{name} is required" for name in missing) + f" ({every} always has it)"
    unknown = present - TWILIO_FIELDS
    if unknown:
        ordered = sorted(present)
        for name in sorted(unknown):
            for known in sorted(TWILIO_FIELDS - present):
                if _made_from(name, known) and _same_place(ordered, name, known):
                    return "resplit_field", f"a field named like a part of {known} is present where Twilio sends it"
    return None


def _made_from(name: str, known: str) -> bool:
    return name.startswith(known) or known.startswith(name) or name.endswith(known) or known.endswith(name)


def _same_place(ordered: list[str], name: str, known: str) -> bool:
    """True when ``name`` sorts where ``known`` would (no present name between them): only then does a request
    with ``name`` instead of ``known`` keep the signature, since Twilio signs the fields in name order."""
    low, high = sorted((name, known))
    return bisect.bisect_left(ordered, high) - bisect.bisect_right(ordered, low) == 0


def _correlation_problem(present: set[str], raw_query: str) -> tuple[str, str] | None:
    query_names = [name for name, _ in parse_qsl(raw_query, keep_blank_values=True)] if raw_query else []
    for key in CORRELATION_KEYS:
        if query_names.count(key) > 1:
            return "correlation_repeated", f"the query gives {key} more than once"
        if key in present:
            return "correlation_in_body", f"the body has a field named {key}, a key of the callback's query"
    return None


def _name_problem(names: list[str], present: set[str]) -> tuple[str, str] | None:
    for position, name in enumerate(names, start=1):
        if not _FIELD_NAME.match(name):
            return "field_name", f"field {position}'s name is not of Twilio's form (MessageSid, MediaUrl0)"
    if len(present) < len(names):
        repeated = sorted({_shown(name) for name in names if names.count(name) > 1})
        return "repeated_field", f"{', '.join(repeated)} given more than once"
    return None


def _shown(name: str) -> str:
    """A field name as an answer or a log may show it: a name Twilio documents; any other name may be cut from
    a value (message text), so it is never echoed."""
    return name if name in TWILIO_FIELDS else "a field Twilio does not document"


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


def _form_pairs(text: str) -> Pairs:
    try:
        return parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise InvalidPayload(f"request body is not a form of at most {MAX_FIELDS} well-encoded fields") from None


def _json_pairs(text: str) -> Pairs:
    """A JSON body's top-level members as (name, text) pairs. Anything Python cannot read (bad syntax, nesting
    too deep for the parser, an integer past the int-string limit) is a 400, never a 5xx."""
    try:
        document = json.loads(text)
        if not isinstance(document, dict):
            raise InvalidPayload("JSON body must be an object of webhook parameters")
        return [(str(name), value if isinstance(value, str) else json.dumps(value)) for name, value in document.items()]
    except (ValueError, RecursionError):
        raise InvalidPayload("request body is not JSON that can be read (syntax, nesting or number size)") from None
