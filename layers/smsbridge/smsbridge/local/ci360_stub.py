"""A local HTTP stub of the SAS CI360 external-event gateway that enforces the contract strictly.

It follows ``docs/contracts.md`` (the CI360 section): each behaviour below is a row there, with its evidence and
standing; where the evidence is thin the row says so and docs/deploy.md's go-live section lists it.

Used by the tests and by the local stack in place of ``https://extapigwservice-<region>.ci360.sas.com``. It serves:

``POST /marketingGateway/events``
    Checked in this order; every refusal answers JSON ``{"message": ..., "code": ...}`` (``code`` only where CI360
    documents one):

    1. Injected faults (:class:`Faults`): ``down`` closes the connection without an answer, ``hang`` and ``latency``
       sleep, ``fail_next`` answers ``fail_status`` (403 = the gateway's request limit: no ``MKTCMN`` code),
       ``malformed_next`` answers 502 with an HTML body.
    2. ``Authorization: Bearer <jwt>`` is required: else 401 ``MKTCMN74224``.
    3. The JWT has three base64url segments (no padding), a header with ``"alg": "HS256"`` (``typ``, if given, is
       ``JWT``) and a payload of exactly ``{"clientID": "<tenant>"}``: else 401 ``MKTCMN74224``. The signature is
       HMAC-SHA256 over ``header_b64 + "." + payload_b64`` keyed with the ASCII bytes of the *base64 text* of the
       client secret (SAS's documented recipe, not the raw secret): else 401 ``MKTCMN74261``. ``clientID`` is this
       stub's tenant: else 401 ``MKTCMN74248``.
    4. ``Content-Type`` starts with ``application/json``: else 415.
    5. The body is one JSON object (no duplicate keys, no NaN/Infinity) whose ``eventName`` is a string naming a
       defined event: else 400.
    6. Exactly one identity among :data:`IDENTITY_TYPES`, a non-empty string: else 400.
    7. The attributes in the shape the stub is configured for (:class:`StubContract`, from the deployment's
       ``Ci360AttributeShape``): ``flat``, every other key a flat value (str, int, float, bool); ``nested``, every
       attribute a flat value inside one ``"attributes"`` object and no other key. Else 400 naming the attribute
       or the shape. A real tenant reading the other shape may answer 2xx and drop the attributes (not
       documented): the stub refuses instead, so a test shows the mismatch (docs/contracts.md).
    8. The event is recorded and the answer is 201 ``{"status": "accepted"}``.

``GET /marketingGateway/commons/healthcheck``
    200 ``{"status": "UP"}``, no authentication.

``GET /marketingGateway/configuration``
    The JWT checks (2 and 3), then 200 ``{"agentName": "smsbridge-stub", "type": "general"}``.

``/marketingData/…`` and the signed upload URL
    The contact-preference import: see :class:`ContactPreferences`.

Any other path answers 404; a known path with the wrong method answers 405. ``Faults.down`` drops every request
(an unreachable gateway is unreachable on every path); the other faults apply to ``/events`` only. Every refused
request, injected faults included, is appended to :attr:`Ci360Stub.rejected` as ``(status, reason)`` (``status``
0 when the connection was dropped).
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import hmac
import io
import json
import re
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from smsbridge.config import Settings
from smsbridge.domain.ci360_events import NESTED_ATTRIBUTES_KEY, AttributeShape
from smsbridge.domain.preferences import SMS_IMPORT_JOB, SmsIdFormat
from smsbridge.local.loopback import LoopbackServer

IDENTITY_TYPES = ("datahub_id", "customer_id", "subject_id", "login_id")

EVENTS_PATH = "/marketingGateway/events"
HEALTHCHECK_PATH = "/marketingGateway/commons/healthcheck"
CONFIGURATION_PATH = "/marketingGateway/configuration"

CODE_BAD_JWT = "MKTCMN74224"
CODE_TENANT_MISSING = "MKTCMN74248"
CODE_NO_ACCESS_POINT = "MKTCMN74261"

MAX_BODY_BYTES = 1024 * 1024
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_JSON = "application/json"


@dataclass
class Faults:
    """Failures to inject, changed at run time by the tests (plain attributes; counters decrement under a lock)."""

    latency: float = 0.0  # seconds to sleep before answering every /events call
    fail_next: int = 0  # answer the next N /events calls with ``fail_status``
    fail_status: int = 503  # e.g. 500, 503, 403 (403: the request limit, a body without any MKTCMN code)
    down: bool = False  # close every connection without answering
    hang: float = 0.0  # seconds to sleep (longer than the client's timeout) before answering /events
    malformed_next: int = 0  # answer the next N /events calls with 502 and an HTML body


@dataclass(frozen=True)
class StubContract:
    """What the tenant the stub plays answers where CI360's contract is unsettled (docs/contracts.md): the shape
    of the events' attributes it reads, the form of ``sms_id`` it holds numbers in, and the import job types it
    takes (``CONTACT_PREFERENCE_SMS_IMPORT``, SAS's sample's, unless told otherwise)."""

    attribute_shape: AttributeShape = AttributeShape.FLAT
    sms_id_format: SmsIdFormat = SmsIdFormat.E164
    job_types: frozenset[str] = field(default_factory=lambda: frozenset({SMS_IMPORT_JOB}))

    @classmethod
    def of(cls, settings: Settings) -> StubContract:
        """The tenant a deployment's settings expect: its shape and form; a job type it names, else the sample's."""
        job_type = settings.preference_job_type
        return cls(settings.event_mapping.attribute_shape, settings.sms_id_format,
                   frozenset({SMS_IMPORT_JOB if job_type == "auto" else job_type}))  # fmt: skip


SMS_ID_FORMS = {
    SmsIdFormat.E164: re.compile(r"\+[1-9][0-9]{6,14}"),
    SmsIdFormat.SAS_EXAMPLE: re.compile(r"\+0[1-9][0-9]{6,14}"),  # "+0" then the E.164 digits
}


@dataclass(frozen=True)
class ReceivedEvent:
    body: dict[str, Any]  # the JSON object accepted
    received_at: float  # time.time() on arrival

    @property
    def attributes(self) -> dict[str, Any]:
        """The custom attributes, whichever shape they came in."""
        nested = self.body.get(NESTED_ATTRIBUTES_KEY)
        if isinstance(nested, dict):
            return dict(nested)
        return {key: value for key, value in self.body.items() if key != "eventName" and key not in IDENTITY_TYPES}


class _Refusal(Exception):
    """A request the gateway refuses: the HTTP status, the message and, where CI360 has one, its code."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


# -- the JWT -------------------------------------------------------------------------------------------------------


def _b64url_decode(segment: str) -> bytes:
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise ValueError("not base64url without padding")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _json_segment(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64url_decode(segment))
    except (ValueError, binascii.Error) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise _Refusal(401, "missing or malformed JWT", CODE_BAD_JWT) from exc
    if not isinstance(value, dict):
        raise _Refusal(401, "missing or malformed JWT", CODE_BAD_JWT)
    return value


def _signature(signing_input: str, client_secret: str) -> str:
    key = base64.b64encode(client_secret.encode("utf-8"))  # the base64 TEXT of the secret is the key
    return _b64url_encode(hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest())


def check_authorization(authorization: str | None, *, tenant_id: str, client_secret: str) -> None:
    """Raise :class:`_Refusal` (401) unless ``authorization`` carries a JWT CI360 would accept for this tenant."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    segments = token.strip().split(".")
    if scheme.lower() != "bearer" or len(segments) != 3 or not all(segments):
        raise _Refusal(401, "missing or malformed JWT", CODE_BAD_JWT)
    header_b64, payload_b64, signature_b64 = segments
    header = _json_segment(header_b64)
    payload = _json_segment(payload_b64)
    if header.get("alg") != "HS256" or header.get("typ", "JWT") != "JWT":
        raise _Refusal(401, "missing or malformed JWT: the header must say alg HS256", CODE_BAD_JWT)
    if set(payload) != {"clientID"} or not isinstance(payload["clientID"], str):
        raise _Refusal(401, "missing or malformed JWT: the payload must be exactly {clientID}", CODE_BAD_JWT)
    if not _B64URL.fullmatch(signature_b64):
        raise _Refusal(401, "missing or malformed JWT", CODE_BAD_JWT)
    expected = _signature(f"{header_b64}.{payload_b64}", client_secret)
    if not hmac.compare_digest(expected, signature_b64):
        raise _Refusal(401, "invalid JWT: does not match any access point", CODE_NO_ACCESS_POINT)
    if payload["clientID"] != tenant_id:
        raise _Refusal(401, "tenant missing", CODE_TENANT_MISSING)


# -- the event -----------------------------------------------------------------------------------------------------


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except ValueError as exc:
        raise _Refusal(400, f"the body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise _Refusal(400, "the body must be a JSON object")
    return value


def _check_identity(event: dict[str, Any]) -> None:
    present = [name for name in IDENTITY_TYPES if name in event]
    if len(present) != 1:
        raise _Refusal(
            400,
            f"exactly one identity of {', '.join(IDENTITY_TYPES)} is required; got {', '.join(present) or 'none'}",
        )
    value = event[present[0]]
    if not isinstance(value, str) or not value.strip():
        raise _Refusal(400, f"identity {present[0]} must be a non-empty string")


def _check_attributes(event: dict[str, Any], shape: AttributeShape) -> None:
    """Raise :class:`_Refusal` (400) unless the attributes are flat values in ``shape``."""
    others = {key: value for key, value in event.items() if key != "eventName" and key not in IDENTITY_TYPES}
    if shape is AttributeShape.NESTED:
        nested = others.pop(NESTED_ATTRIBUTES_KEY, {})
        if others:
            raise _Refusal(400, f"attribute {sorted(others)[0]} is at the top level: this tenant reads attributes "
                                f"nested under {NESTED_ATTRIBUTES_KEY!r} (Ci360AttributeShape=nested)")  # fmt: skip
        if not isinstance(nested, dict):
            raise _Refusal(400, f"{NESTED_ATTRIBUTES_KEY} must be an object")
        others = nested
    elif isinstance(others.get(NESTED_ATTRIBUTES_KEY), dict):
        raise _Refusal(400, f"attributes are nested under {NESTED_ATTRIBUTES_KEY!r}: this tenant reads them as flat "
                            "top-level keys (Ci360AttributeShape=flat)")  # fmt: skip
    for key, value in others.items():
        if not isinstance(value, str | int | float | bool):
            raise _Refusal(400, f"attribute {key} must be a flat value")


def check_event(content_type: str | None, body: bytes, event_names: frozenset[str],
                shape: AttributeShape = AttributeShape.FLAT) -> dict[str, Any]:  # fmt: skip
    """Return the event CI360 would accept from this body, or raise :class:`_Refusal` (415 or 400)."""
    if not (content_type or "").strip().lower().startswith(_JSON):
        raise _Refusal(415, f"unsupported media type {content_type!r}: expected {_JSON}")
    event = _parse_object(body)
    name = event.get("eventName")
    if not isinstance(name, str):
        raise _Refusal(400, "eventName is required")
    if name not in event_names:
        raise _Refusal(400, f"event {name} is not defined or not published")
    _check_identity(event)
    _check_attributes(event, shape)
    return event


# -- the server ----------------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], stub: Ci360Stub) -> None:
        super().__init__(address, _Handler)
        self.stub = stub

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, hang) leaves a closed socket behind: not an error of the stub.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server_version = "ci360-stub/1.0"

    @property
    def stub(self) -> Ci360Stub:
        server = self.server
        assert isinstance(server, _Server)
        return server.stub

    def log_message(self, format: str, *args: Any) -> None:
        return

    # -- HTTP methods

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        stub = self.stub
        try:
            body = self._read_body()
            if stub.faults.down:
                stub.record_refusal(0, "fault: connection dropped")
                self.close_connection = True
                return
            path = urlsplit(self.path).path
            if path.startswith(("/marketingData/", "/upload/")):
                self._send_data(*stub.preferences.handle(method, path, body, self.headers.get("Authorization"),
                                                         self.headers.get("Content-Type")))  # fmt: skip
                return
            routes = {EVENTS_PATH: "POST", HEALTHCHECK_PATH: "GET", CONFIGURATION_PATH: "GET"}
            if path not in routes:
                raise _Refusal(404, f"no resource at {path}")
            if routes[path] != method:
                raise _Refusal(405, f"{method} is not allowed on {path}")
            if path == HEALTHCHECK_PATH:
                self._send(200, {"status": "UP"})
            elif path == CONFIGURATION_PATH:
                stub.check_authorization(self.headers.get("Authorization"))
                self._send(200, {"agentName": "smsbridge-stub", "type": "general"})
            else:
                self._events(body)
        except _Refusal as refusal:
            stub.record_refusal(refusal.status, refusal.message)
            answer: dict[str, Any] = {"message": refusal.message}
            if refusal.code:
                answer["code"] = refusal.code
            self._send(refusal.status, answer)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            raise _Refusal(411, "Content-Length is required")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError as exc:
            self.close_connection = True
            raise _Refusal(400, "invalid Content-Length") from exc
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            raise _Refusal(413 if length > 0 else 400, f"invalid Content-Length {length}")
        return self.rfile.read(length) if length else b""

    def _events(self, body: bytes) -> None:
        stub = self.stub
        if not stub.injected_delay():
            self.close_connection = True  # stopped while hanging: no answer
            return
        fault = stub.take_fault()
        if fault == "malformed":
            stub.record_refusal(502, "fault: malformed answer")
            self._send_raw(502, b"<html>bad gateway</html>", "text/html")
            return
        if fault is not None:
            status = stub.faults.fail_status
            message = "Forbidden: request limit exceeded" if status == 403 else "stub fault"
            stub.record_refusal(status, f"fault: {message}")
            self._send(status, {"message": message})
            return
        stub.check_authorization(self.headers.get("Authorization"))
        event = check_event(self.headers.get("Content-Type"), body, stub.event_names, stub.contract.attribute_shape)
        stub.record_event(event)
        self._send(201, {"status": "accepted"})

    # -- answers

    def _send_data(self, status: int, answer: dict[str, Any]) -> None:
        self._send(status, answer)

    def _send(self, status: int, answer: dict[str, Any]) -> None:
        self._send_raw(status, json.dumps(answer).encode("utf-8"), _JSON)

    def _send_raw(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status == 405:
            self.send_header("Allow", "GET" if urlsplit(self.path).path != EVENTS_PATH else "POST")
        self.end_headers()
        self.wfile.write(body)


PREFERENCE_COLUMNS = ["identity_type", "identity_value", "preference_type", "preference_value"]
UPLOAD_CONTENT_TYPE = "text/csv"
# The statuses SAS's sample polls through, in the order this stub walks them (one per status call).
IMPORT_WALK = ("Queued", "Processing Identities", "Processing Preferences", "Imported")
FAILED_WALK = ("Queued", "Processing Identities", "Failed Validation")
_HEADER_PATTERNS = (r"(?i)^identity_type$", r"(?i)^identity_value$", r"(?i)^preference_type(?:_cd)?$",
                    r"(?i)^preference_value$")  # fmt: skip


def _row_problem(line: list[str], form: SmsIdFormat) -> str:
    """Why SAS's validator (or this tenant's ``sms_id`` form) would refuse one row of the file; "" if it would not."""
    if len(line) != 4 or not line[1]:
        return "expected identity_type,identity_value,preference_type,preference_value"
    if line[0].strip().lower() != "sms_id":
        return "identity_type must be sms_id for SMS preferences"
    if not SMS_ID_FORMS[form].fullmatch(line[1]):
        return f"sms_id is not in this tenant's form ({form}, Ci360SmsIdFormat)"
    if not re.match(r"(?i).*(OPT-OUT|SPAM|HARDBOUNCE)$", line[2].strip()):
        return "preference_type must be OPT-OUT"
    if line[3].strip().lower() not in ("true", "false"):
        return "preference_value must be true or false"
    return ""


class ContactPreferences:
    """CI360's contact-preference import, as SAS's sample drives it (docs/contracts.md, CI360 section):

    1. ``POST /marketingData/fileTransferLocation`` (JWT) → ``{"signedURL": …}``;
    2. ``PUT`` the CSV to that URL (no JWT; the URL is the credential) with ``Content-Type: text/csv``, as SAS's
       samples send it (a signed URL may sign the content type: any other type is refused 403, as S3 refuses a
       request that does not match its signature) → 200;
    3. ``POST /marketingData/tableJobs`` (JWT) ``{"jobType": <type>, "fileLocation": <signedURL>,
       "headerRowIncluded": true|false}`` → ``{"id": …, "status": "Queued"}``: 400 for a file never uploaded or a
       job type this tenant does not take (:class:`StubContract`; ``CONTACT_PREFERENCE_SMS_IMPORT``, SAS's
       sample's, by default). What CI360 answers for a type it does not take is not documented: the stub answers
       400 ``{"message": "invalid jobType ..."}``;
    4. ``GET /marketingData/tableJobs/{id}`` → ``status``, one step per call (``polls_per_status`` calls per step):
       ``Queued``, ``Processing Identities``, ``Processing Preferences``, then ``Imported`` (the rows take effect).
       A file SAS's validator refuses (header, identity type other than ``sms_id``, preference type, value other
       than true/false) walks to ``Failed Validation`` with a ``statusDescription`` saying why; so does an
       ``sms_id`` not in the form this tenant holds numbers in (:class:`StubContract`; SAS's validator does not
       check it, and CI360 may import it and match nothing: the stub is louder, so a test shows the mismatch).

    Faults: ``fail_next_jobs`` makes the next jobs fail validation with ``failure_description``;
    ``polls_per_status`` slows the walk (a large value leaves a job pending: a stuck job).
    """

    def __init__(self, stub: Ci360Stub) -> None:
        self.stub = stub
        self.current: dict[tuple[str, str], bool] = {}  # (identity type, value) -> OPT-OUT
        self.uploads: dict[str, bytes] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.fail_next_jobs = 0
        self.failure_description = "Validation failed: the file could not be processed"
        self.polls_per_status = 1
        self._lock = threading.Lock()

    def handle(self, method: str, path: str, body: bytes, authorization: str | None,
               content_type: str | None = None) -> tuple[int, dict[str, Any]]:  # fmt: skip
        if path.startswith("/upload/") and method == "PUT":
            if (content_type or "").split(";")[0].strip().lower() != UPLOAD_CONTENT_TYPE:
                raise _Refusal(403, f"SignatureDoesNotMatch: the URL was signed for Content-Type "
                                    f"{UPLOAD_CONTENT_TYPE}, not {content_type!r}")  # fmt: skip
            with self._lock:
                self.uploads[path.removeprefix("/upload/")] = body
            return 200, {}
        self.stub.check_authorization(authorization)
        if path == "/marketingData/fileTransferLocation" and method == "POST":
            token = f"u{len(self.uploads) + len(self.jobs) + 1}-{time.time_ns()}"
            return 201, {"signedURL": f"{self.stub.url}/upload/{token}"}
        if path == "/marketingData/tableJobs" and method == "POST":
            return self._start(body)
        if path.startswith("/marketingData/tableJobs/") and method == "GET":
            return self._status(path.rsplit("/", 1)[1])
        raise _Refusal(404, f"no resource at {path}")

    def _start(self, body: bytes) -> tuple[int, dict[str, Any]]:
        request = _parse_object(body)
        job_types = self.stub.contract.job_types
        if request.get("jobType") not in job_types:
            raise _Refusal(400, f"invalid jobType {request.get('jobType')!r}: this tenant takes "
                                f"{', '.join(sorted(job_types))}")  # fmt: skip
        token = str(request.get("fileLocation", "")).rsplit("/upload/", 1)[-1]
        if token not in self.uploads:
            raise _Refusal(400, "fileLocation is not an uploaded file")
        rows, problem = self._rows(self.uploads[token].decode("utf-8"), bool(request.get("headerRowIncluded")),
                                   self.stub.contract.sms_id_format)  # fmt: skip
        with self._lock:
            if self.fail_next_jobs > 0 and not problem:
                self.fail_next_jobs -= 1
                problem = self.failure_description
            job_id = f"job-{len(self.jobs) + 1}"
            self.jobs[job_id] = {"id": job_id, "rows": rows, "problem": problem, "polls": 0, "status": "Queued",
                                 "jobType": request["jobType"]}  # fmt: skip
        return 201, {"id": job_id, "status": "Queued"}

    @staticmethod
    def _rows(text: str, header: bool, form: SmsIdFormat = SmsIdFormat.E164) -> tuple[list[tuple[str, str, bool]], str]:
        """The rows, or the reason SAS's validator (or this tenant's ``sms_id`` form) would refuse the file."""
        lines = list(csv.reader(io.StringIO(text)))
        if header:
            cells = [cell.strip() for cell in lines[0]] if lines else []
            if len(cells) != 4 or not all(re.match(p, c) for p, c in zip(_HEADER_PATTERNS, cells, strict=True)):
                return [], f"header must be {','.join(PREFERENCE_COLUMNS)}"
            lines = lines[1:]
        rows = []
        for number, line in enumerate(lines, start=2 if header else 1):
            problem = _row_problem(line, form)
            if problem:
                return [], f"line {number}: {problem}"
            rows.append((line[0].strip().lower(), line[1], line[3].strip().lower() == "true"))
        return rows, ""

    def _status(self, job_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                raise _Refusal(404, f"no job {job_id}")
            walk = FAILED_WALK if job["problem"] else IMPORT_WALK
            if job["status"] not in ("Imported", "Failed Validation"):
                job["status"] = walk[min(job["polls"] // max(1, self.polls_per_status), len(walk) - 1)]
                job["polls"] += 1
                if job["status"] == "Imported":
                    for identity_type, value, opted_out in job["rows"]:
                        self.current[(identity_type, value)] = opted_out
            answer = {"id": job_id, "jobType": job["jobType"], "status": job["status"]}
            if job["status"] == "Failed Validation":
                answer["statusDescription"] = job["problem"]
            return 200, answer


class Ci360Stub(LoopbackServer):
    """The CI360 gateway on 127.0.0.1: ``start()``, point the client at :attr:`url`, assert on :meth:`events`."""

    thread_name = "the CI360 stub"

    def __init__(
        self,
        *,
        tenant_id: str,
        client_secret: str,
        event_names: Iterable[str],
        host: str = "127.0.0.1",
        port: int = 0,
        contract: StubContract | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.contract = contract or StubContract()
        self.client_secret = client_secret
        self.event_names = frozenset(event_names)
        super().__init__(host, port)
        self.faults = Faults()
        self.preferences = ContactPreferences(self)
        self.rejected: list[tuple[int, str]] = []
        self._events: list[ReceivedEvent] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)

    # -- life cycle

    def _new_server(self) -> _Server:
        return _Server((self.host, self.port), self)

    @property
    def url(self) -> str:
        """The gateway's base URL; clients POST to ``url + "/marketingGateway/events"``."""
        if self._server is None:
            raise RuntimeError("the CI360 stub is not started")
        return f"http://{self.host}:{self.port}"

    # -- assertions

    def events(self) -> list[ReceivedEvent]:
        """The accepted events, in arrival order (a copy)."""
        with self._lock:
            return list(self._events)

    def clear(self) -> None:
        """Forget the accepted events and the refusals (the faults are left as they are)."""
        with self._lock:
            self._events.clear()
            self.rejected.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedEvent]:
        """Block until at least ``count`` events were accepted or ``timeout`` passed; return the events."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self._events) >= count, timeout=timeout)
            return list(self._events)

    # -- used by the request handler

    def check_authorization(self, authorization: str | None) -> None:
        check_authorization(authorization, tenant_id=self.tenant_id, client_secret=self.client_secret)

    def injected_delay(self) -> bool:
        """Sleep for ``hang`` then ``latency``; False when the stub was stopped meanwhile."""
        for seconds in (self.faults.hang, self.faults.latency):
            if seconds > 0 and self._stopping.wait(seconds):
                return False
        return not self._stopping.is_set()

    def take_fault(self) -> str | None:
        """Consume one pending ``fail_next`` ("fail") or ``malformed_next`` ("malformed"), if any."""
        with self._lock:
            if self.faults.fail_next > 0:
                self.faults.fail_next -= 1
                return "fail"
            if self.faults.malformed_next > 0:
                self.faults.malformed_next -= 1
                return "malformed"
        return None

    def record_event(self, event: dict[str, Any]) -> None:
        with self._arrived:
            self._events.append(ReceivedEvent(body=event, received_at=time.time()))
            self._arrived.notify_all()

    def record_refusal(self, status: int, reason: str) -> None:
        with self._lock:
            self.rejected.append((status, reason))
