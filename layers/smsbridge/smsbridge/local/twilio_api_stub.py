"""A local stand-in for Twilio's Messages API (fetch one Message), answering as Twilio documents it.

Used by the tests and by ``smsbridge serve`` in place of ``https://api.twilio.com``, so that consent facts can be
checked with "Twilio" (``adapters/twilio_messages.py``). Each behaviour below is a row in docs/contracts.md ("Twilio
Messages API") with its evidence: Twilio's Message resource page and OpenAPI description, Twilio's error pages, and
twilio-python's ``MessageInstance`` (``twilio/rest/api/v2010/account/message/__init__.py``), which reads this
stand-in's answers in ``tests/integration/test_twilio_messages_contract.py``.

``GET /2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}.json``
    1. Faults first (:meth:`TwilioApiStub.set_down`, :meth:`TwilioApiStub.fail_next`): 503 (Twilio error 20503) or
       a dropped connection; the next N requests answered 429 (20429) or another status.
    2. HTTP basic auth with an account's SID and auth token, for the account in the path: else 401, Twilio's error
       JSON with code 20003 (Twilio answers the same for another account's credentials).
    3. A path not of that form (SIDs of Twilio's form, ``.json``): 404, code 20404.
    4. A message the account does not have: 404, code 20404, "The requested resource … was not found".
    5. Otherwise 200 and the Message resource: Twilio's field names, RFC 2822 dates in GMT, ``error_code`` an integer
       or null, ``num_segments`` and ``num_media`` as strings, ``uri`` and ``subresource_uris``.
    Other methods on the resource answer 405 (not a Twilio behaviour: smsbridge only reads).

``POST /_local/messages`` (local only, no auth, never faulted)
    Registers a message from JSON (``account_sid``, ``from``, ``to``, ``body``, and optionally ``direction``,
    ``status``, ``error_code``, ``messaging_service_sid``, ``sid``, ``date_sent`` in RFC 2822): 201 and its resource.
    ``smsbridge serve``'s ``simulate`` calls it for each message it simulates.

Every request is appended to :attr:`TwilioApiStub.requests` (method, path without query, status; 0 for a dropped
connection). Message text and numbers stay in memory; nothing is logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from smsbridge.local.loopback import LoopbackServer

API_VERSION = "2010-04-01"
ADMIN_MESSAGES_PATH = "/_local/messages"
_ACCOUNT = r"AC[0-9a-fA-F]{32}"
_MESSAGE_PATH = re.compile(rf"/{API_VERSION}/Accounts/({_ACCOUNT})/Messages/((?:SM|MM)[0-9a-fA-F]{{32}})\.json")
_ACCOUNT_SID = re.compile(_ACCOUNT)
_MESSAGE_SID = re.compile(r"(?:SM|MM)[0-9a-fA-F]{32}")
MORE_INFO = "https://www.twilio.com/docs/errors/{code}"
ERROR_MESSAGES = {  # error_message of a failed message, as Twilio's error dictionary titles the code
    21610: "Attempt to send to unsubscribed recipient",
    30004: "Message blocked",
    30007: "Message filtered",
}
_NOT_SENT = frozenset({"accepted", "scheduled", "queued", "failed", "canceled"})  # statuses with no date_sent
MAX_ADMIN_BODY = 64 * 1024


@dataclass(frozen=True)
class StubRequest:
    method: str
    path: str
    status: int  # 0: the connection was dropped without an answer


def twilio_date(moment: datetime) -> str:
    """``Thu, 30 Jul 2015 20:12:31 +0000``: RFC 2822 in GMT, as Twilio writes its dates."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0))


def _error(status: int, code: int, message: str, **extra: str) -> tuple[int, dict[str, Any]]:
    return status, {"code": code, "message": message, **extra, "more_info": MORE_INFO.format(code=code),
                    "status": status}  # fmt: skip


def _not_found(path: str) -> tuple[int, dict[str, Any]]:
    return _error(404, 20404, f"The requested resource {path} was not found")


class TwilioApiStub(LoopbackServer):
    """Twilio's Messages API on 127.0.0.1: ``start()``, point the client at :attr:`url`, :meth:`add_message`.

    ``accounts`` maps an AccountSid to its auth token; ``default_token``, when given, is the token of every other
    AccountSid (as the local stack's ``default`` auth token is)."""

    thread_name = "the Twilio API stand-in"

    def __init__(self, accounts: Mapping[str, str] | None = None, *, default_token: str | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:  # fmt: skip
        self.accounts = dict(accounts or {})
        self.default_token = default_token
        super().__init__(host, port)
        self.requests: list[StubRequest] = []
        self._messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._down: str = ""  # "", "503" or "refuse"
        self._fail_next: list[int] = []
        self._lock = threading.Lock()

    # -- life cycle

    def _new_server(self) -> _Server:
        return _Server((self.host, self.port), self)

    @property
    def url(self) -> str:
        """The API's base URL: the adapter's ``api_url``, twilio-python's ``client.api.base_url``."""
        if self._server is None:
            raise RuntimeError("the Twilio API stand-in is not started")
        return f"http://{self.host}:{self.port}"

    # -- what the tests and serve set

    def add_account(self, account_sid: str, auth_token: str) -> None:
        with self._lock:
            self.accounts[account_sid] = auth_token

    def add_message(
        self, account_sid: str, *, sender: str | None, recipient: str, body: str = "", direction: str = "inbound",
        status: str | None = None, error_code: int | None = None, messaging_service_sid: str | None = None,
        sid: str | None = None, date_sent: datetime | None = None, date_created: datetime | None = None,
        num_media: int = 0,
    ) -> dict[str, Any]:  # fmt: skip
        """Register a message (replacing one of the same SID) and return its resource as Twilio answers it.

        Defaults: a new ``SM`` SID; ``status`` ``received`` inbound, else ``failed`` with an error code and
        ``delivered`` without; ``date_created`` now; ``date_sent`` the creation time, or null for a message that
        never left Twilio (``accepted``, ``scheduled``, ``queued``, ``failed``, ``canceled``)."""
        if not _ACCOUNT_SID.fullmatch(account_sid):
            raise ValueError("account_sid is not an AccountSid")
        sid = sid or "SM" + uuid.uuid4().hex
        if not _MESSAGE_SID.fullmatch(sid):
            raise ValueError("sid is not a MessageSid")
        inbound = direction == "inbound"
        status = status or ("received" if inbound else "failed" if error_code else "delivered")
        created = date_created or datetime.now(UTC)
        sent = date_sent or (None if status in _NOT_SENT and not inbound else created)
        uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}"
        resource: dict[str, Any] = {
            "body": body,
            "num_segments": str(1 if len(body) <= 160 else math.ceil(len(body) / 153)),
            "direction": direction,
            "from": sender,
            "to": recipient,
            "date_updated": twilio_date(max(created, sent or created)),
            "price": None,
            "error_message": ERROR_MESSAGES.get(error_code) if error_code else None,
            "uri": uri + ".json",
            "account_sid": account_sid,
            "num_media": str(num_media),
            "status": status,
            "messaging_service_sid": messaging_service_sid,
            "sid": sid,
            "date_sent": twilio_date(sent) if sent else None,
            "date_created": twilio_date(created),
            "error_code": error_code,
            "price_unit": "USD",
            "api_version": API_VERSION,
            "subresource_uris": {"media": uri + "/Media.json", "feedback": uri + "/Feedback.json"},
        }
        with self._lock:
            self._messages[(account_sid, sid)] = resource
        return dict(resource)

    def set_down(self, down: bool, *, refuse: bool = False) -> None:
        """While down, every API request is answered 503 (Twilio error 20503), or with ``refuse`` its connection
        is closed without an answer. The local admin path keeps working."""
        with self._lock:
            self._down = ("refuse" if refuse else "503") if down else ""

    def fail_next(self, count: int, status: int = 429) -> None:
        """Answer the next ``count`` API requests with ``status`` (429: Twilio error 20429; 5xx: 20500 or 20503)."""
        with self._lock:
            self._fail_next.extend([status] * count)

    @property
    def api_requests(self) -> int:
        """How many requests reached the API's paths (the admin path not counted)."""
        with self._lock:
            return sum(1 for request in self.requests if not request.path.startswith("/_local/"))

    # -- used by the request handler

    def fault(self) -> str | int | None:
        """The fault for this API request, if any: "refuse", or a status to answer."""
        with self._lock:
            if self._down:
                return "refuse" if self._down == "refuse" else 503
            return self._fail_next.pop(0) if self._fail_next else None

    def record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.requests.append(StubRequest(method, path, status))

    def fetch(self, path: str, authorization: str | None) -> tuple[int, dict[str, Any]]:
        """The answer to ``GET path``: auth, then the path's form, then the message."""
        account = self._authenticated(authorization)
        if account is None:
            return _error(401, 20003, "Authenticate", detail="Your AccountSid or AuthToken was incorrect.")
        found = _MESSAGE_PATH.fullmatch(path)
        if found is None:
            return _not_found(path)
        if found.group(1) != account:  # another account's credentials (20003: "the correct Account")
            return _error(401, 20003, "Authenticate", detail="Your AccountSid or AuthToken was incorrect.")
        with self._lock:
            resource = self._messages.get((found.group(1), found.group(2)))
        return (200, dict(resource)) if resource is not None else _not_found(path)

    def _authenticated(self, authorization: str | None) -> str | None:
        """The AccountSid whose SID and token the basic credentials are, or None."""
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            username, _, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        with self._lock:
            token = self.accounts.get(username, self.default_token if _ACCOUNT_SID.fullmatch(username) else None)
        if token is None or not hmac.compare_digest(password.encode(), token.encode()):
            return None
        return username

    def register(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """``POST /_local/messages``: register the message the JSON describes."""
        try:
            data = json.loads(body.decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError("the body must be a JSON object")
            sent = parsedate_to_datetime(data["date_sent"]) if data.get("date_sent") else None
            code = data.get("error_code")
            resource = self.add_message(
                str(data["account_sid"]), sender=data.get("from"), recipient=str(data["to"]),
                body=str(data.get("body") or ""), direction=str(data.get("direction") or "inbound"),
                status=data.get("status"), error_code=None if code is None else int(code),
                messaging_service_sid=data.get("messaging_service_sid"), sid=data.get("sid"),
                date_sent=sent if sent is None or sent.tzinfo else sent.replace(tzinfo=UTC),
            )  # fmt: skip
        except (ValueError, KeyError, TypeError) as exc:  # the message names the problem, not the values
            return 400, {"message": f"cannot register the message: {type(exc).__name__}", "status": 400}
        return 201, resource


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], stub: TwilioApiStub) -> None:
        super().__init__(address, _Handler)
        self.stub = stub


class _Handler(BaseHTTPRequestHandler):
    server_version = "twilio-api-stub/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        return  # request lines hold SIDs only, but nothing of a stand-in belongs in the console

    @property
    def stub(self) -> TwilioApiStub:
        server = self.server
        assert isinstance(server, _Server)
        return server.stub

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, MAX_ADMIN_BODY)) if length else b""
        if path == ADMIN_MESSAGES_PATH:
            status, payload = self.stub.register(body) if method == "POST" else (405, {"status": 405})
            self._answer(method, path, status, payload)
            return
        fault = self.stub.fault()
        if fault == "refuse":
            self.stub.record(method, path, 0)
            self.close_connection = True
            return
        if isinstance(fault, int):
            codes = {429: (20429, "Too Many Requests"), 503: (20503, "Service Unavailable")}
            code, message = codes.get(fault, (20500, "Internal Server Error"))
            status, payload = _error(fault, code, message)
        elif method != "GET":
            status, payload = 405, {"message": f"{method} is not served by this stand-in", "status": 405}
        else:
            status, payload = self.stub.fetch(path, self.headers.get("Authorization"))
        self._answer(method, path, status, payload)

    def _answer(self, method: str, path: str, status: int, payload: dict[str, Any]) -> None:
        self.stub.record(method, path, status)
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
