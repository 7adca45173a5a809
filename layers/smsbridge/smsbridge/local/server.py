"""``smsbridge serve``: moto on 127.0.0.1, the template's resources, and the webhook handler behind HTTP.

Requests are turned into HTTP API (payload 2.0) events exactly as API Gateway builds them (form bodies
base64-encoded, header names lower-cased) and handed to ``functions/webhook/app.py``'s ``lambda_handler``, one at
a time, as one Lambda execution environment would handle them.
"""

from __future__ import annotations

import base64
import errno
import http.client
import importlib.util
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
from moto.server import ThreadedMotoServer

from smsbridge.adapters.ci360 import Ci360Credentials, Ci360Gateway
from smsbridge.config import Settings
from smsbridge.domain.ci360_events import SMOKE_EVENT_NAME, PendingEvent
from smsbridge.domain.ingress import INBOUND_ROUTE, STATUS_ROUTE
from smsbridge.domain.privacy import mask_address, mask_numbers_in
from smsbridge.errors import NotReachable, UsageError
from smsbridge.local import data_file
from smsbridge.local.atomic_dynamodb import serialise_dynamodb_requests, throttle_writes
from smsbridge.local.chaos import Chaos
from smsbridge.local.ci360_stub import Ci360Stub, StubContract
from smsbridge.local.data_file import Journal
from smsbridge.local.event_sources import REGION, Every, Handler, LambdaContext, LocalEventSources
from smsbridge.local.template import LocalResources, create_resources, load_template, parameter_overrides
from smsbridge.local.twilio_api_stub import TwilioApiStub
from smsbridge.ops.local_state import LOCAL_STATE, process_alive, project_root, read_state
from smsbridge.text import counted

__all__ = ["LambdaContext", "LocalStack", "http_api_event"]
TIME_SCALE_VARIABLE = "SMSBRIDGE_TIME_SCALE"  # compresses the event sources' waits (tests); default 1
SERVER_NAME = "smsbridge-local"  # the Server header: how a second `serve` recognises a running one on its port
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")


STUB_TENANT = "5ca1ab1e0000000000000001"
STUB_SECRET = "smsbridge-local-stub-secret-for-testing-only-0000"


@dataclass(frozen=True)
class Ci360Target:
    """A CI360 external gateway to send events to: base URL, tenant id and client secret."""

    url: str
    tenant_id: str
    secret: str


def http_api_event(
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes,
    client_ip: str,
    *,
    request_id: str = "",
    time_epoch: int = 0,
) -> dict[str, Any]:
    """The payload 2.0 event API Gateway's HTTP API would give Lambda for this request."""
    parts = urlsplit(target)
    lowered = {name.lower(): value for name, value in headers.items()}
    as_text = lowered.get("content-type", "").lower().startswith(_TEXT_TYPES)
    return {
        "version": "2.0",
        "routeKey": f"ANY {parts.path}",
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": lowered,
        "requestContext": {
            "domainName": lowered.get("host", ""),
            "requestId": request_id or str(uuid.uuid4()),
            "stage": "$default",
            "timeEpoch": time_epoch or int(time.time() * 1000),
            "http": {"method": method, "path": parts.path, "protocol": "HTTP/1.1", "sourceIp": client_ip},
        },
        "body": body.decode("utf-8", "replace") if as_text else base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": not as_text,
    }


def describe(method: str, path: str, status: int, body: bytes, *, answer: bytes = b"",
             rejection: dict[str, Any] | None = None) -> str:  # fmt: skip
    """Console lines for one request: method, route, status and, when refused, why (never the message text).

    A refused signature adds the URLs it was checked against, the token's last digits and a hint.
    """
    fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    line = f"{time.strftime('%H:%M:%S')} {method} {path} -> {status}"
    if "From" in fields or "To" in fields:  # every number masked, whichever is given
        line += f"  {mask_address(fields.get('From', '?'))} -> {mask_address(fields.get('To', '?'))}"
    if path.endswith(STATUS_ROUTE) and fields.get("MessageStatus"):
        line += f"  {fields['MessageStatus']}" + (f" ({fields['ErrorCode']})" if fields.get("ErrorCode") else "")
    if status < 400:
        return line
    rejection = rejection or {}
    reason = rejection.get("detail") or answer.decode("utf-8", "replace").strip().splitlines()[:1]
    reason = mask_numbers_in(reason if isinstance(reason, str) else (reason[0][:160] if reason else ""))
    line += f"  {rejection.get('reason', 'refused')}: {reason}" if reason else ""
    if rejection.get("urls_tried"):
        tokens = ", ".join(rejection.get("tokens_tried", [])) or "none"
        line += f"\n           checked {', '.join(rejection['urls_tried'])} with token {tokens}"
    if rejection.get("hint"):
        line += f"\n           hint: {rejection['hint']}"
    return line


@dataclass(frozen=True)
class _Parked:
    attempt: int
    delay: int
    reason: str


class _ParkingNotes:
    """Why each event was parked, noted by the forwarder's ``ParkingQueues`` (wrapped in every execution
    environment) so the console line can say it."""

    def __init__(self) -> None:
        self._notes: dict[str, _Parked] = {}
        self._lock = threading.Lock()

    def wrap(self, queues: Any) -> Any:
        return _NotingQueues(queues, self)

    def note(self, key: str, parked: _Parked) -> None:
        with self._lock:
            self._notes[key] = parked

    def take(self, key: str) -> _Parked | None:
        with self._lock:
            return self._notes.pop(key, None)


class _NotingQueues:
    """A ``ParkingQueues`` that tells ``_ParkingNotes`` what it parked."""

    def __init__(self, queues: Any, notes: _ParkingNotes) -> None:
        self.queues, self.notes = queues, notes

    def retry_later(self, event: PendingEvent, **details: Any) -> None:
        self.queues.retry_later(event, **details)
        self.notes.note(event.key, _Parked(details["attempt"], details["delay"], details["reason"]))

    def dead_letter(self, event: PendingEvent, **details: Any) -> None:
        self.queues.dead_letter(event, **details)
        self.notes.note(event.key, _Parked(details.get("attempts", 0), 0, details["reason"]))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.queues, name)


class _Rejections(logging.Filter):
    """Keeps the fields of the webhook's ``webhook rejected`` log record for the console line of that request,
    and drops the record itself: the console says it in one line (run with --log-level INFO to see the JSON)."""

    def __init__(self, keep_json: bool) -> None:
        super().__init__()
        self.keep_json = keep_json
        self.last: dict[str, Any] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() != "webhook rejected":
            return True
        names = ("reason", "detail", "urls_tried", "tokens_tried", "hint")
        self.last = {name: getattr(record, name) for name in names if hasattr(record, name)}
        return self.keep_json

    def take(self) -> dict[str, Any] | None:
        last, self.last = self.last, None
        return last


class LocalStack:
    """The whole loop on one machine. ``start()`` returns once everything listens; ``stop()`` ends it."""

    def __init__(
        self,
        *,
        auth_token: str,
        port: int = 3000,
        host: str = "127.0.0.1",
        public_url: str = "",
        project_dir: Path | None = None,
        log_level: str = "WARNING",
        state_file: Path | None = None,
        ci360: Ci360Target | None = None,
        retry_base_seconds: int = 2,
        sync_seconds: float = 60,
        parameter_overrides: Sequence[str] = (),
        echo: Callable[[str], None] = print,
        chaos: Chaos | None = None,
        data_file: Path | None = None,
    ) -> None:
        self.project_dir = project_dir or project_root()
        self.data_file = data_file
        self.restored: dict[str, int] = {}
        self.earliest_fact = ""  # when the oldest restored fact was recorded (ISO), where the resume sweep starts
        self.state_file = state_file or self.project_dir / LOCAL_STATE
        self.auth_token = auth_token
        self.host, self.port = host, port
        self.public_url = public_url.rstrip("/")
        self.log_level = log_level
        self.ci360 = ci360
        self.retry_base_seconds = retry_base_seconds
        self.sync_seconds = sync_seconds
        self.parameter_overrides = list(parameter_overrides)  # Key=Value, as `sam deploy --parameter-overrides`
        self._schedule: Every | None = None
        self.echo = echo
        self.chaos = chaos
        self._parked = _ParkingNotes()
        self.time_scale = float(os.environ.get(TIME_SCALE_VARIABLE) or 1.0)
        self.stub: Ci360Stub | None = None
        self.twilio_api: TwilioApiStub | None = None  # Twilio's Messages API, for the verifier (TwilioVerification)
        self._sources: LocalEventSources | None = None
        self._verifier_sources: LocalEventSources | None = None
        self.resources = LocalResources(prefix="smsbridge-local", template={})
        self._moto: ThreadedMotoServer | None = None
        self._http: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()
        self.aws_endpoint_url = ""
        self._journal: Journal | None = None
        self._keeper: Every | None = None
        self.closing = False  # set first thing at stop: webhooks are then answered 503, which Twilio retries
        self._in_flight = 0  # webhooks being handled: the last save waits for them
        self._settled = threading.Condition()

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._refuse_a_second_stack()
        template = load_template(self.project_dir / "template.yaml")
        self.resources.parameters = parameter_overrides(template, self.parameter_overrides)  # refused before start
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
        serialise_dynamodb_requests()
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        moto_host, moto_port = self._moto.get_host_and_port()
        endpoint = self.aws_endpoint_url = f"http://{moto_host}:{moto_port}"
        aws = {"AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "local",
               "AWS_SECRET_ACCESS_KEY": "local"}  # fmt: skip
        os.environ.update(aws)
        self.resources.template = template
        create_resources(self.resources, boto3.session.Session(region_name=REGION))
        try:
            self._http = ThreadingHTTPServer((self.host, self.port), self._request_handler())
        except OSError as exc:
            self.stop()
            raise NotReachable(self._port_problem(exc)) from None
        self.port = self._http.server_address[1]
        log_level = self.resources.parameters.get("LogLevel", self.log_level)
        local = {"POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": log_level}
        environment = {**self.resources.function_environment("WebhookFunction"), **local,
                       "PUBLIC_BASE_URL": self.base_url}  # fmt: skip
        forwarder_env = {**self.resources.function_environment("ForwarderFunction"), **local,
                         "RETRY_BASE_SECONDS": str(self.retry_base_seconds)}  # fmt: skip
        secrets = boto3.client("secretsmanager")
        secrets.put_secret_value(
            SecretId=environment["TWILIO_AUTH_TOKENS_SECRET"], SecretString=json.dumps({"default": [self.auth_token]})
        )
        secrets.put_secret_value(SecretId=forwarder_env["CI360_SECRET"], SecretString=self._ci360_secret(forwarder_env))
        os.environ.update(environment)
        self._handler = _load_handler(self.project_dir / "functions" / "webhook" / "app.py", "webhook")
        self._rejections = _Rejections(keep_json=self.log_level in ("DEBUG", "INFO"))
        self._handler.logger.addFilter(self._rejections)
        os.environ.update(forwarder_env)
        self._forwarder_env = {**aws, **forwarder_env}  # each new execution environment starts with it
        if self.chaos is not None:
            throttle_writes(self.chaos.throttles)
        self._sources = LocalEventSources.from_template(
            self.resources, "ForwarderFunction", self._forwarder_environment,
            session=boto3.session.Session(region_name=REGION), chaos=self.chaos, time_scale=self.time_scale,
            echo=self.echo,
        )  # fmt: skip
        self._start_verifier(environment, {**aws, **local})
        preferences_env = self.resources.function_environment("PreferencesFunction")  # the CLI's sync reads it
        self._write_state(endpoint, {**preferences_env, **environment, **forwarder_env})
        if self.data_file is not None:  # before the event sources: restored records are history, not changes
            self._keep_data()
        self._sources.start()
        if self.restored.get("items") or self.restored.get("writes"):
            threading.Thread(target=self._resume, name="smsbridge-resume", daemon=True).start()
        if self.sync_seconds > 0:
            os.environ.update({**self.resources.function_environment("PreferencesFunction"), **local})
            preferences = _load_handler(self.project_dir / "functions" / "preferences" / "app.py", "preferences")
            context = LambdaContext(function_name="smsbridge-local-preferences")
            self._schedule = Every(self.sync_seconds, lambda: self._echo_sync(preferences.lambda_handler({}, context)),
                                   "smsbridge-preferences")  # fmt: skip
            self._schedule.start()
        threading.Thread(target=self._http.serve_forever, name="smsbridge-http", daemon=True).start()

    def _start_verifier(self, webhook: dict[str, str], base: dict[str, str]) -> None:
        """With ``TwilioVerification`` on: the verifier on the consent stream, asking a stand-in of Twilio's Messages
        API that knows the account by the local auth token (``simulate`` registers each message it sends there, as
        Twilio would have it). Restored pending facts are checked too."""
        if webhook.get("TWILIO_VERIFICATION") != "true":
            return
        self.twilio_api = TwilioApiStub(default_token=self.auth_token)
        self.twilio_api.start()
        environment = {**base, **self.resources.function_environment("VerifierFunction"),
                       "TWILIO_API_URL": self.twilio_api.url}  # fmt: skip

        def verifier_environment() -> Handler:
            os.environ.update(environment)
            module = _load_handler(self.project_dir / "functions" / "verifier" / "app.py", "verifier")
            checked = module.verifier.handle

            def handle(event: Any) -> Any:
                report = checked(event)
                for outcome, count in sorted(report.outcomes.items()):
                    self.echo(f"{time.strftime('%H:%M:%S')} verifier: {count} consent fact(s) {outcome} by Twilio's "
                              "Messages API (stand-in)")  # fmt: skip
                return report

            module.verifier.handle = handle
            handler: Handler = module.lambda_handler
            return handler

        self._verifier_sources = LocalEventSources.from_template(
            self.resources, "VerifierFunction", verifier_environment, session=boto3.session.Session(region_name=REGION),
            time_scale=self.time_scale, echo=self.echo,
        )  # fmt: skip
        self._verifier_sources.start()

    def _stop_verifier(self) -> None:
        if self._verifier_sources is not None:
            self._verifier_sources.stop()
        if self.twilio_api is not None:
            self.twilio_api.stop()

    def _forwarder_environment(self) -> Handler:
        """A new execution environment of the forwarder (a fresh load of its handler, printing its outcomes), with
        the function's environment, whatever the process's has become since (a test's fixtures change it)."""
        os.environ.update(self._forwarder_env)
        forwarder = _load_handler(self.project_dir / "functions" / "forwarder" / "app.py", "forwarder")
        forwarder.forwarder.observer = self._echo_event
        forwarder.forwarder.parking = self._parked.wrap(forwarder.forwarder.parking)
        if self.chaos is not None:
            self.chaos.instrument(forwarder.forwarder)
        handler: Handler = forwarder.lambda_handler
        return handler

    def _ci360_secret(self, forwarder_env: dict[str, str]) -> str:
        """Credentials of the gateway to send to: the one given, else a contract-checking stub started here."""
        if self.ci360 is None:
            # the tenant the deployment's settings expect: its events, attribute shape, sms_id form and job type
            preferences_env = self.resources.function_environment("PreferencesFunction")
            settings = Settings.from_env({**preferences_env, **forwarder_env})
            names = settings.event_mapping
            enabled = [name for name in names.names.values() if name] + [SMOKE_EVENT_NAME]  # per docs/ci360.md
            self.stub = Ci360Stub(tenant_id=STUB_TENANT, client_secret=STUB_SECRET, event_names=enabled,
                                  contract=StubContract.of(settings))  # fmt: skip
            self.stub.start()
            self.ci360 = Ci360Target(self.stub.url, STUB_TENANT, STUB_SECRET)
        target = self.ci360
        return json.dumps({"gateway_url": target.url, "tenant_id": target.tenant_id, "client_secret": target.secret})

    def check_gateway(self) -> tuple[bool, str]:
        """Call the CI360 gateway the forwarder sends to, as ``smsbridge ci360 check`` does: (all well?, words)."""
        if self.ci360 is None:
            return False, "no gateway"
        credentials = Ci360Credentials(self.ci360.url.rstrip("/"), self.ci360.tenant_id, self.ci360.secret)
        return Ci360Gateway(credentials, timeout=5).check()

    def data_description(self) -> str:
        """Where the stack keeps its records, for the banner."""
        if self.data_file is None:
            return "in memory: tables and queues are lost when serve stops (--data-file FILE keeps them)"
        items, messages = self.restored.get("items", 0), self.restored.get("messages", 0)
        writes = self.restored.get("writes", 0)
        journaled = f" + {counted(writes, 'journaled write')}" if writes else ""
        return (
            f"{self.data_file}: {counted(items, 'record')} and {counted(messages, 'queued event')} restored"
            f"{journaled}; kept as serve goes (every write journaled, a snapshot every "
            f"{data_file.SNAPSHOT_SECONDS:g} s)"
        )

    def _keep_data(self) -> None:
        """Restore the data file and its journal, snapshot the result at once (it becomes the new base), then keep
        a journal of every write and a snapshot every few seconds while anything changes (``local/data_file.py``)."""
        assert self.data_file is not None
        session, path = boto3.session.Session(), self.data_file
        self.restored = data_file.restore(self.resources, session, path, region=REGION)
        self.earliest_fact = data_file.earliest_fact(path)
        journal = self._journal = Journal(data_file.journal_path(path))
        journal.install()
        data_file.save(self.resources, session, path, region=REGION, journal=journal)

        taken = {"at": time.monotonic(), "took": 0.0}

        def snapshot() -> None:
            """While anything changed since the last one (the journal says), and at most a tenth of the time: a
            snapshot holds every DynamoDB request while it reads the whole stack, and grows with what is stored,
            so with much stored they come further apart and the journal, which costs per write, covers the rest."""
            due = taken["at"] + max(data_file.SNAPSHOT_SECONDS, 10 * taken["took"])
            if journal.changed.is_set() and time.monotonic() >= due:
                started = time.monotonic()
                data_file.save(self.resources, session, path, region=REGION, journal=journal)
                taken.update(at=time.monotonic(), took=time.monotonic() - started)

        self._keeper = Every(data_file.SNAPSHOT_SECONDS, snapshot, "smsbridge-data-file")
        self._keeper.start()

    def _resume(self) -> None:
        """Send what was recorded before the stop and never sent (its stream record was not read in time): every
        restored fact's events that have no claim, as the deployed recovery sweep does; none sent twice."""
        from smsbridge.adapters.fact_tables import DynamoFacts  # noqa: PLC0415 - only with a data file
        from smsbridge.app.recover import recover  # noqa: PLC0415
        from smsbridge.ports import Window  # noqa: PLC0415

        try:
            module = _load_handler(self.project_dir / "functions" / "forwarder" / "app.py", "forwarder")
            module.forwarder.observer = self._echo_event
            module.forwarder.parking = self._parked.wrap(module.forwarder.parking)
            names = self.resources.names
            facts = DynamoFacts(names["MessagesTable"], names["ConsentTable"], client=boto3.client("dynamodb"))
            earliest = self.earliest_fact
            start = datetime.fromisoformat(earliest) if earliest else datetime.now(UTC) - timedelta(days=1)
            summary = recover(module.forwarder, facts, [Window(start - timedelta(minutes=1), datetime.now(UTC))])
        except Exception as exc:  # say it: `smsbridge recover --local` does the same by hand
            self.echo(f"resume after restart failed ({type(exc).__name__}: {exc}): run smsbridge recover --local")
            return
        sent = summary.outcomes.get("sent", 0)
        self.echo(f"resumed: {counted(summary.facts, 'restored fact')} looked at, "
                  f"{counted(sent, 'event')} sent that the stop had left unsent")  # fmt: skip

    def _save_data(self) -> None:
        if self.data_file is None:
            return
        if self._keeper is not None:
            self._keeper.stop()
        try:
            saved = data_file.save(self.resources, boto3.session.Session(), self.data_file, region=REGION,
                                   journal=self._journal)  # fmt: skip
        except Exception as exc:  # stopping must go on: say what was not kept
            self.echo(f"data not saved to {self.data_file}: {type(exc).__name__}: {exc} (its journal keeps the writes)")
            return
        finally:
            if self._journal is not None:
                self._journal.uninstall()
        self.echo(f"saved {counted(saved['items'], 'record')} and {counted(saved['messages'], 'queued event')} "
                  f"to {self.data_file}")  # fmt: skip

    def _echo_sync(self, result: dict[str, Any]) -> None:
        if result.get("outcome") != "nothing":
            self.echo(
                f"{time.strftime('%H:%M:%S')} CI360 preferences: {result['outcome']} ({result['numbers']} numbers)"
            )

    def _echo_event(self, event: PendingEvent, outcome: str) -> None:
        number = mask_address(event.phone)
        line = f"{time.strftime('%H:%M:%S')} CI360 {event.kind.value:<11} {number:<14} {outcome}"
        note = self._parked.take(event.key)
        if note and outcome == "retrying":
            line += f"  attempt {note.attempt} failed, next in {note.delay}s: {note.reason}"
        elif note:
            reason = note.reason.removeprefix(f"{outcome}: ")
            line += f"  after {counted(note.attempt, 'attempt')}: {reason}" if note.attempt else f"  {reason}"
        self.echo(line)

    def stop(self) -> None:
        with self._settled:  # from here on a webhook is answered 503 (Twilio retries it); those begun finish first
            self.closing = True
            self._settled.wait_for(lambda: self._in_flight == 0, timeout=30)
        if self._schedule is not None:
            self._schedule.stop()
        self._stop_verifier()
        if self._sources is not None:
            self._sources.stop()
            if self._sources.went_wrong or self.chaos is not None:  # a calm run that went well says nothing
                self.echo(self._sources.summary())
            self._save_data()
        if self.chaos is not None:
            throttle_writes(None)
            self.echo(self.chaos.describe())
        if self.stub is not None:
            self.stub.stop()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._moto is not None:
            self._moto.stop()
        webhook = getattr(self, "_handler", None)  # loaded by start(); its logger is the process's: leave it as found
        if webhook is not None:
            webhook.logger.removeFilter(self._rejections)
        state = read_state(self.state_file)
        if state is not None and state.get("pid") == os.getpid():  # only ours: another stack may own the file
            self.state_file.unlink(missing_ok=True)

    def _refuse_a_second_stack(self) -> None:
        """A state file names one running stack; a second ``serve`` must not take it over silently."""
        state = read_state(self.state_file)
        if state and state.get("pid") != os.getpid() and process_alive(state.get("pid")):
            raise UsageError(
                f"smsbridge serve is already running (process {state['pid']}, {state.get('inbound_url', '')}) and "
                f"owns {self.state_file}: stop it (Ctrl-C), or give this one its own --state-file"
            )

    def _port_problem(self, error: OSError) -> str:
        if error.errno != errno.EADDRINUSE:
            return f"cannot listen on {self.host}:{self.port}: {error.strerror or error}"
        running = [read_state(path) for path in (self.state_file, self.project_dir / LOCAL_STATE)]
        state = next((s for s in running if s and process_alive(s.get("pid")) and s.get("pid") != os.getpid()
                      and f":{self.port}/" in str(s.get("inbound_url", ""))), None)  # fmt: skip
        if state:
            return (f"port {self.port} is in use by the smsbridge local stack (process {state['pid']}, "
                    f"{state.get('inbound_url')}): use that one, or stop it (Ctrl-C)")  # fmt: skip
        if _answers_as_smsbridge(self.host, self.port):
            return f"port {self.port} is in use by another smsbridge local stack: use that one, or give --port N"
        return f"port {self.port} on {self.host} is in use by another program: give --port N (0: any free port)"

    def begin_webhook(self) -> bool:
        """Count a webhook in, unless the stack is stopping (False: answer it 503)."""
        with self._settled:
            if self.closing:
                return False
            self._in_flight += 1
            return True

    def end_webhook(self) -> None:
        with self._settled:
            self._in_flight -= 1
            self._settled.notify_all()

    def invoke_explained(self, event: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The handler's answer, and what its log said about a refusal (None when it refused nothing)."""
        with self._lock:  # one execution environment: the resolver keeps per-request state
            self._rejections.take()
            result: dict[str, Any] = self._handler.lambda_handler(
                event, LambdaContext(aws_request_id=str(uuid.uuid4()))
            )
            return result, self._rejections.take()

    def _write_state(self, endpoint: str, environment: dict[str, str]) -> None:
        state = {
            "pid": os.getpid(),
            "aws_endpoint_url": endpoint,
            "region": REGION,
            "inbound_url": self.base_url + INBOUND_ROUTE,
            "status_url": self.base_url + STATUS_ROUTE,
            "twilio_api_url": self.twilio_api.url if self.twilio_api else "",
            "resources": {
                **self.resources.names,
                **self.resources.refs,  # queue URLs for queues
                "InboundUrl": self.base_url + INBOUND_ROUTE,
                "StatusCallbackUrl": self.base_url + STATUS_ROUTE,
            },
            "environment": {name: value for name, value in environment.items() if not name.startswith("POWERTOOLS")},
        }
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        stack = self

        class Handler(BaseHTTPRequestHandler):
            server_version = SERVER_NAME

            def _handle(self) -> None:
                if not stack.begin_webhook():
                    stopping = b"the local stack is stopping\n"
                    self._answer(503, {"Content-Type": "text/plain", "Retry-After": "5"}, stopping)
                    return
                try:
                    self._handle_webhook()
                finally:
                    stack.end_webhook()

            def _handle_webhook(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_REQUEST_BYTES:
                    self._answer(413, {"Content-Type": "text/plain"}, b"request body over 10 MB\n")
                    return
                body = self.rfile.read(length)
                headers = {name: ", ".join(self.headers.get_all(name) or []) for name in self.headers}
                event = http_api_event(self.command, self.path, headers, body, self.client_address[0])
                result, rejection = stack.invoke_explained(event)
                payload = result.get("body") or ""
                raw = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode("utf-8")
                answer_headers = {name: str(value) for name, value in (result.get("headers") or {}).items()}
                for name, values in (result.get("multiValueHeaders") or {}).items():
                    answer_headers[name] = ", ".join(values)
                self._answer(int(result.get("statusCode", 500)), answer_headers, raw)
                status, route = int(result.get("statusCode", 500)), urlsplit(self.path).path
                stack.echo(describe(self.command, route, status, body, answer=raw, rejection=rejection))

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

            def log_message(self, format: str, *args: Any) -> None:
                """Silenced: the stack prints its own line per webhook, with numbers masked."""

        return Handler


def _answers_as_smsbridge(host: str, port: int) -> bool:
    """True when what listens on ``host:port`` is a smsbridge local stack (its ``Server`` header says so)."""
    connection = http.client.HTTPConnection("127.0.0.1" if host in ("", "0.0.0.0") else host, port, timeout=2)  # noqa: S104
    try:
        connection.request("GET", "/")
        return connection.getresponse().getheader("Server", "").startswith(SERVER_NAME)
    except OSError:
        return False
    finally:
        connection.close()


def _load_handler(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"smsbridge_local_{name}_app", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the webhook handler from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
