"""Signed Twilio webhooks on demand: the field sets Twilio sends, signed the way Twilio signs them.

Used by ``smsbridge simulate`` against a local or deployed URL, by the tests, and to write ``events/``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from smsbridge.domain.signature import compute_signature
from smsbridge.errors import NotReachable

# The documented test token of the local stack and the sample events. Never a real account's token.
TEST_AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
TEST_ACCOUNT_SID = "AC00000000000000000000000000000000"
DEFAULT_CUSTOMER = "+14155550100"
DEFAULT_SENDER = "+14155550199"

Params = list[tuple[str, str]]


def new_message_sid() -> str:
    return "SM" + uuid.uuid4().hex


def inbound_params(
    *,
    body: str = "STOP",
    sender: str = DEFAULT_CUSTOMER,
    recipient: str = DEFAULT_SENDER,
    account_sid: str = TEST_ACCOUNT_SID,
    message_sid: str = "",
    messaging_service_sid: str = "",
    opt_out_type: str = "",
) -> Params:
    """An inbound-SMS webhook as Twilio sends it, geo fields blank as they usually are."""
    sid = message_sid or new_message_sid()
    params = [
        ("ToCountry", "US"), ("ToState", ""), ("SmsMessageSid", sid), ("NumMedia", "0"), ("ToCity", ""),
        ("FromZip", ""), ("SmsSid", sid), ("FromState", ""), ("SmsStatus", "received"), ("FromCity", ""),
        ("Body", body), ("FromCountry", "US"), ("To", recipient), ("ToZip", ""), ("NumSegments", "1"),
        ("ReferralNumMedia", "0"), ("MessageSid", sid), ("AccountSid", account_sid), ("From", sender),
        ("ApiVersion", "2010-04-01"),
    ]  # fmt: skip
    if messaging_service_sid:
        params.append(("MessagingServiceSid", messaging_service_sid))
    if opt_out_type:
        params.append(("OptOutType", opt_out_type))
    return params


def status_params(
    *,
    status: str = "delivered",
    error_code: str = "",
    sender: str = DEFAULT_SENDER,
    recipient: str = DEFAULT_CUSTOMER,
    account_sid: str = TEST_ACCOUNT_SID,
    message_sid: str = "",
    messaging_service_sid: str = "",
) -> Params:
    """A status callback as Twilio sends it: ``ErrorCode`` on failures, ``RawDlrDoneDate`` on final receipts."""
    sid = message_sid or new_message_sid()
    params = [("SmsSid", sid), ("SmsStatus", status), ("MessageStatus", status), ("To", recipient)]
    if messaging_service_sid:
        params.append(("MessagingServiceSid", messaging_service_sid))
    params += [("MessageSid", sid), ("AccountSid", account_sid), ("From", sender), ("ApiVersion", "2010-04-01")]
    if error_code:
        params.append(("ErrorCode", error_code))
    if status in ("delivered", "undelivered"):
        params.append(("RawDlrDoneDate", "2611271310"))
    return params


@dataclass(frozen=True)
class SignedWebhook:
    """A webhook ready to send: the URL Twilio would call, its headers and its form body."""

    url: str
    headers: dict[str, str]
    body: bytes


def sign_webhook(
    url: str,
    params: Sequence[tuple[str, str]],
    auth_token: str,
    *,
    delivery_id: str = "",
    fragment_signed: bool = False,
) -> SignedWebhook:
    """Sign ``params`` for ``url`` as Twilio does. A ``#fragment`` is never sent (Twilio keeps it); it is signed
    only with ``fragment_signed`` (Twilio's docs do not say which it does: smsbridge accepts both)."""
    parts = urlsplit(url)
    sent_url = urlunsplit(parts._replace(fragment=""))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        "X-Twilio-Signature": compute_signature(auth_token, url if fragment_signed else sent_url, params),
        "I-Twilio-Idempotency-Token": delivery_id or str(uuid.uuid4()),
        "User-Agent": "TwilioProxy/1.1",
        "X-Home-Region": "us1",
        "Accept": "*/*",
    }
    return SignedWebhook(url=sent_url, headers=headers, body=urlencode(list(params)).encode("utf-8"))


def tell_twilio_stand_in(local: dict[str, Any] | None, kind: str, params: Sequence[tuple[str, str]]) -> None:
    """Register the simulated message with the local stack's stand-in of Twilio's Messages API (``serve`` runs one
    when ``TwilioVerification`` is on), as Twilio would have it: so the verifier finds it as Twilio would."""
    url = (local or {}).get("twilio_api_url")
    if not url:
        return
    fields = dict(params)
    message: dict[str, Any] = {"account_sid": fields["AccountSid"], "sid": fields["MessageSid"],
               "from": fields.get("From") or None, "to": fields["To"], "body": fields.get("Body", ""),
               "direction": "inbound" if kind == "inbound" else "outbound-api",
               "messaging_service_sid": fields.get("MessagingServiceSid") or None}  # fmt: skip
    if kind != "inbound":
        message |= {"status": fields.get("MessageStatus"), "error_code": int(fields["ErrorCode"])
                    if fields.get("ErrorCode", "").isdigit() else None}  # fmt: skip
    request = urllib.request.Request(f"{url}/_local/messages", data=json.dumps(message).encode(), method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310 - the local stand-in, on 127.0.0.1
            pass
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise NotReachable(f"the local stack's Twilio API stand-in did not answer at {url}: {error}") from None


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: str


def post(webhook: SignedWebhook, *, timeout: float = 15.0, local: dict[str, Any] | None = None) -> Answer:
    """POST the webhook and return the answer, whatever its status (Twilio waits 15 s at most). ``local``: the
    running local stack's state, which names its real address when nothing answers at a loopback one."""
    request = urllib.request.Request(webhook.url, data=webhook.body, headers=webhook.headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return Answer(response.status, response.headers.get("Content-Type", ""), response.read().decode())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.headers.get("Content-Type", ""), error.read().decode(errors="replace"))
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise NotReachable(
            f"nothing answers at {webhook.url}: {reason}{_unreachable_hint(webhook.url, local)}"
        ) from None


def _unreachable_hint(url: str, local: dict[str, Any] | None) -> str:
    host = urlsplit(url).hostname
    if host not in LOOPBACK_NAMES:
        return ""
    running = _local_url(url, local)
    if running and running != url:
        return f" (the local stack listens at {_origin(running)}: give --url {running}, or leave --url out)"
    return "" if running else " (is `make serve` running?)"


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _local_url(url: str, local: dict[str, Any] | None) -> str:
    """The running local stack's URL for the route ``url`` names (inbound or status), or ""."""
    if not local:
        return ""
    key = "status_url" if urlsplit(url).path.rstrip("/").endswith("/status") else "inbound_url"
    return str(local.get(key) or "")


def local_webhook_url(kind: str, local: dict[str, Any] | None) -> str:
    """The running local stack's webhook URL for ``kind`` (inbound or status): ``simulate`` without ``--url``."""
    if not local or not local.get(f"{kind}_url"):
        raise NotReachable("no --url given and no local stack is running (.smsbridge/local.json): start `make serve`, "
                           "or give --url")  # fmt: skip
    return str(local[f"{kind}_url"])


def refusal_hint(url: str, token: str, local: dict[str, Any] | None) -> str:
    """The likely cause of a 403 (a refused signature), said at the client: a URL other than the one the server
    checks signatures against (``localhost`` for ``127.0.0.1``), else another token (named by its last four)."""
    running = _local_url(url, local)
    if running and _origin(running) != _origin(url) and urlsplit(url).hostname in LOOPBACK_NAMES:
        return (f"hint: the local stack checks signatures against {running}; {urlsplit(url).hostname} signs another "
                f"URL: give --url {running}, or leave --url out")  # fmt: skip
    return (
        f"hint: signed for {url} with the token ending ...{token[-4:]}: the server must check with the same "
        "token (make serve --auth-token, or the stack's AuthTokensSecret) and see the same URL (PublicBaseUrl)"
    )
