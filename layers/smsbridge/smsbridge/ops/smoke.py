"""``smsbridge smoke``: prove a deployment hop by hop, in a minute, printing each hop's result and time.

1. the webhook URLs answer a synthetic status callback and reply, signed with the token in the stack's secret
   (over the URL with the connection overrides smsbridge prints, so a stack deployed with another
   ``TwilioUrlFragment`` fails here);
2. both records are in the messages table;
3. CI360 takes the credentials in the stack's secret (``ci360 check``);
4. the forwarder's outcome for the resulting events: ``sent`` (CI360 took them), or parked with its reason;
5. the latest contact-preference job (stuck or not) and the job type CI360 took (and one it refused).

With ``--stack`` it then prints, for each CI360 contract smsbridge cannot check from outside (the gateway answers
2xx whether or not the tenant reads what it was sent: ``confirmations``), where to confirm it in CI360.

Nothing reaches a journey: the synthetic messages carry the task code ``SMSBRIDGE-SMOKE``, so their events go to
CI360 as ``smsbridge smoke test`` (an external event to define with no journey on it), addressed to the datahub id
``smsbridge-smoke`` (a ``datahub_id`` never creates an identity) unless ``--identity`` names a real test customer.
The reply is plain text, so consent is untouched.

A failing hop prints a fix naming what to look at: the stack's outputs, alarms and logs with ``--stack``; the
``smsbridge serve`` process, its options and its console with ``--local``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from smsbridge.adapters.ci360 import Ci360Credentials, Ci360Gateway
from smsbridge.adapters.queues import parked_event
from smsbridge.adapters.sync_records import SyncRecords
from smsbridge.app.preferences import STUCK_AFTER_SECONDS
from smsbridge.config import Settings, event_mapping_from_env
from smsbridge.domain.ci360_events import (
    SMOKE_EVENT_NAME,
    SMOKE_TASK_CODE,
    AttributeShape,
    Correlation,
    EventKind,
    callback_query,
)
from smsbridge.domain.preferences import Checkpoint, SmsIdFormat, job_types_to_try, sms_id
from smsbridge.domain.signature import AuthTokens
from smsbridge.errors import SmsBridgeError
from smsbridge.ops.deployment import Location, function_environment, locate
from smsbridge.ops.local_state import LOCAL_STATE, project_root
from smsbridge.ops.simulate import (
    DEFAULT_CUSTOMER,
    DEFAULT_SENDER,
    TEST_ACCOUNT_SID,
    inbound_params,
    post,
    status_params,
)
from smsbridge.ops.simulate import sign_webhook as sign

SMOKE_IDENTITY = "smsbridge-smoke"
REPLY_TEXT = "smsbridge smoke test"


@dataclass(frozen=True)
class Where:
    """Which deployment: ``local`` (the running ``make serve``) or a CloudFormation ``stack``."""

    local: bool = False
    stack: str = ""
    region: str | None = None
    state_file: Path | None = None

    @property
    def local_state(self) -> Path:
        return self.state_file or project_root() / LOCAL_STATE

    def find(self, logical_id: str, output: str) -> Location:
        return locate(logical_id, output, local=self.local, stack=self.stack, region=self.region,
                      flag="--stack NAME", state_file=self.local_state)  # fmt: skip

    def function_environment(self, logical_id: str = "ForwarderFunction") -> dict[str, str]:
        """A function's settings (the forwarder's by default: which events are on): the local state file's, or the
        deployed function's."""
        return function_environment(logical_id, local=self.local, stack=self.stack, region=self.region,
                                    state_file=self.local_state)  # fmt: skip


@dataclass
class Hop:
    name: str
    ok: bool | None = None  # None: skipped (an earlier hop it needs failed)
    detail: str = ""
    fix: str = ""
    seconds: float = 0.0

    def lines(self) -> list[str]:
        mark = {True: "ok  ", False: "FAIL", None: "skip"}[self.ok]
        timing = f"{self.seconds * 1000:.0f} ms" if self.seconds < 10 else f"{self.seconds:.1f} s"
        head = f"{mark}  {self.name:<24} {timing:>8}  {self.detail}"
        return [head, *([f"      fix: {self.fix}"] if self.fix and self.ok is False else [])]


@dataclass
class SmokeReport:
    hops: list[Hop] = field(default_factory=list)
    confirmations: list[str] = field(default_factory=list)  # what to confirm in CI360 itself (``--stack``)

    @property
    def ok(self) -> bool:
        return all(hop.ok for hop in self.hops)

    def lines(self) -> list[str]:
        body = [line for hop in self.hops for line in hop.lines()]
        failed = [hop.name for hop in self.hops if hop.ok is False]
        return [*body, *self.confirmations, "all hops passed" if not failed else f"failed: {', '.join(failed)}"]


SNOWY = ("SAS's Snowy browser extension (sassoftware/ci360-extensions, code/snowy) with a diagnostics access point "
         "(General Settings > External Access > Access Points), Event Streaming tab")  # fmt: skip


def confirmations(settings: Settings, checkpoint: Checkpoint) -> list[str]:
    """For each unsettled CI360 contract (docs/contracts.md), where to confirm the deployment's setting in CI360:
    the gateway and the import answer alike whether or not CI360 reads what it was sent."""
    shape, form = settings.event_mapping.attribute_shape, settings.sms_id_format
    other_shape = AttributeShape.NESTED if shape is AttributeShape.FLAT else AttributeShape.FLAT
    other_form = SmsIdFormat.SAS_EXAMPLE if form is SmsIdFormat.E164 else SmsIdFormat.E164
    job_type = checkpoint.job_type or job_types_to_try(settings.preference_job_type)[0]
    tried = "" if checkpoint.job_type else ", not yet used"
    fallback = f"; CI360 refused {checkpoint.job_type_refused}" if checkpoint.job_type_refused else ""
    example = DEFAULT_CUSTOMER
    return [
        "confirm in CI360 (smsbridge cannot see these: CI360 answers alike whether or not it reads them):",
        f"  attributes (Ci360AttributeShape={shape}): in {SNOWY}, the {SMOKE_EVENT_NAME!r} event shows "
        f"message_sid, status and intent as attributes; if not, redeploy with Ci360AttributeShape={other_shape}",
        f"  job type ({job_type}{tried}{fallback}; Ci360PreferenceJobType={settings.preference_job_type}): after "
        "the next sync of an opted-out test number, CI360's SMS contact preferences (SAS's ci-360-manage-contact-"
        "preferences sample, `download sms`) list that number as OPT-OUT true",
        f"  sms_id (Ci360SmsIdFormat={form}: {sms_id(example, form)}): in that same export, CI360's numbers are "
        f"written as {sms_id(example, form)}; if they read {sms_id(example, other_form)}, redeploy with "
        f"Ci360SmsIdFormat={other_form}",
    ]


def event_accepted(messages: Location, key: str) -> bool:
    """Whether CI360 accepted the event ``key`` (e.g. ``reply:SM…``): the forwarder's claim on it says so."""
    from smsbridge.adapters.event_claims import DynamoSentEvents  # noqa: PLC0415
    from smsbridge.domain.claims import ClaimState  # noqa: PLC0415

    claim = DynamoSentEvents(messages.name, client=messages.client()).state_of(key)
    return claim is not None and claim.state is ClaimState.ACCEPTED


def parked_reasons(dead_letters: Location, keys: set[str]) -> dict[str, str]:
    """The dead-lettered events among ``keys``, with their reasons, looked at without taking them off the queue."""
    sqs, reasons = dead_letters.client("sqs"), {}
    for _ in range(5):
        batch = sqs.receive_message(QueueUrl=dead_letters.name, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                    WaitTimeSeconds=0).get("Messages", [])  # fmt: skip
        for message in batch:
            try:
                parked = parked_event(message["Body"])
            except (ValueError, KeyError, TypeError):
                continue
            if parked.event.key in keys:
                reasons[parked.event.key] = parked.reason
        if not batch:
            break
    return reasons


@contextmanager
def timed(hop: Hop, *, local: bool = False) -> Iterator[Hop]:
    """Time ``hop``; an error fails it, with a fix for the ``local`` stack or a deployed one unless it has one."""
    start = time.monotonic()
    try:
        yield hop
    except (SmsBridgeError, OSError) as error:
        hop.ok, hop.detail = False, f"{type(error).__name__}: {error}"
        hop.fix = hop.fix or ("see the error; is `make serve` still running?" if local
                              else "see the error; is the deployment reachable from here?")  # fmt: skip
    except Exception as error:
        hop.ok, hop.detail = False, f"{type(error).__name__}: {error}"
        hop.fix = hop.fix or ("see the error and `make serve`'s console" if local
                              else "check your AWS credentials and region")  # fmt: skip
    finally:
        hop.seconds = time.monotonic() - start


class Smoke:
    """One run. ``auth_token`` overrides the token read from the stack's secret (to prove Twilio's current one)."""

    def __init__(self, where: Where, *, auth_token: str = "", identity: str = "", fragment: str = "",
                 account_sid: str = "", wait_seconds: float = 30, poll_seconds: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> None:  # fmt: skip
        self.where, self.auth_token, self.fragment = where, auth_token, fragment.lstrip("#")
        self.identity = identity or SMOKE_IDENTITY
        self.account_sid = account_sid
        self.wait_seconds, self.poll_seconds, self.sleep = wait_seconds, poll_seconds, sleep
        run = uuid.uuid4().hex
        self.status_sid, self.reply_sid = "SM" + run, "SM" + uuid.uuid4().hex

    def run(self) -> SmokeReport:
        report = SmokeReport()
        webhooks = self._webhooks(report)
        records = self._records(report, webhooks)
        credentials = self._credentials(report)
        self._forwarder(report, records, credentials)
        checkpoint = self._preference_sync(report)
        if not self.where.local:
            with timed(Hop("CI360 settings")) as hop:  # the settings to confirm; a failure to read them is a line
                environment = {**self.where.function_environment("PreferencesFunction"),
                               **self.where.function_environment()}  # fmt: skip
                report.confirmations = confirmations(Settings.from_env(environment), checkpoint or Checkpoint())
            if hop.ok is False:
                report.confirmations = [f"confirm in CI360: the stack's settings could not be read ({hop.detail})"]
        return report

    # -- hops

    def _webhooks(self, report: SmokeReport) -> bool:
        status_hop, reply_hop = Hop("webhook status callback"), Hop("webhook reply")
        report.hops += [status_hop, reply_hop]
        with timed(status_hop, local=self.where.local):
            token, account = self._token()
            base = self.where.find("StatusCallbackUrl", "StatusCallbackUrl").name
            query = callback_query(Correlation(self.identity, SMOKE_TASK_CODE, "smoke"))
            params = status_params(status="delivered", message_sid=self.status_sid, account_sid=account,
                                   sender=DEFAULT_SENDER, recipient=DEFAULT_CUSTOMER)  # fmt: skip
            self._post(status_hop, f"{base}?{query}", params, token)
        with timed(reply_hop, local=self.where.local):
            token, account = self._token()
            url = self.where.find("InboundUrl", "InboundUrl").name
            params = inbound_params(body=REPLY_TEXT, message_sid=self.reply_sid, account_sid=account,
                                    sender=DEFAULT_CUSTOMER, recipient=DEFAULT_SENDER)  # fmt: skip
            self._post(reply_hop, url, params, token)
        return bool(status_hop.ok and reply_hop.ok)

    def _post(self, hop: Hop, url: str, params: list[tuple[str, str]], token: str) -> None:
        signed_url = f"{url}#{self.fragment}" if self.fragment else url
        answer = post(sign(signed_url, params, token, fragment_signed=bool(self.fragment)), timeout=15)
        hop.detail = f"HTTP {answer.status}  {url.split('?', maxsplit=1)[0]}"
        hop.ok = 200 <= answer.status < 300
        fragment = self.fragment or "none"
        if answer.status == 403:
            hop.fix = self._fix(
                "the signature was refused: the token in the stack's secret (AuthTokensSecret) is not the one signed "
                f"with, or the stack's TwilioUrlFragment differs from --fragment ({fragment}), or PublicBaseUrl "
                "differs from the URL called",
                "the signature was refused: --auth-token is not the token `smsbridge serve` verifies with (its "
                f"--auth-token, default the test token), or --fragment ({fragment}) differs from the TwilioUrlFragment "
                "it runs with (--parameter-overrides), or its --public-url differs from the URL called",
            )
        elif answer.status == 503:
            hop.fix = self._fix(
                "the stack's Twilio token secret is empty or unreadable: put the auth token in AuthTokensSecret",
                "the local stack's Twilio token secret is empty or unreadable: restart `make serve`",
            )
        elif not hop.ok:
            where = self._fix("the webhook function's logs", "`make serve`'s console")
            hop.fix = f"the webhook answered {answer.status}: see {where} ({answer.body[:120]})"

    def _records(self, report: SmokeReport, webhooks_ok: bool) -> Location | None:
        hop = Hop("records in DynamoDB")
        report.hops.append(hop)
        if not webhooks_ok:
            hop.detail = "skipped: the webhooks did not take the messages"
            return None
        with timed(hop, local=self.where.local):
            messages = self.where.find("MessagesTable", "MessagesTableName")
            client = messages.client()
            found = [sk for sid, sk in ((self.status_sid, "STATUS"), (self.reply_sid, "INBOUND"))
                     if "Item" in client.get_item(TableName=messages.name, ConsistentRead=True,
                                                  Key={"pk": {"S": f"MSG#{sid}"}, "sk": {"S": sk}})]  # fmt: skip
            hop.ok = len(found) == 2
            hop.detail = f"{len(found)} of 2 in {messages.name}"
            hop.fix = self._fix(
                "the webhook answered but wrote elsewhere: its MESSAGES_TABLE is not this stack's table",
                f"the webhook answered but wrote elsewhere: the server at that URL is not the local stack of "
                f"{self.where.local_state}; stop it and restart `make serve`",
            )
            return messages if hop.ok else None
        return None

    def _credentials(self, report: SmokeReport) -> bool:
        hop = Hop("CI360 credentials")
        report.hops.append(hop)
        with timed(hop, local=self.where.local):
            secret = self.where.find("Ci360Secret", "Ci360Secret")
            text = secret.client("secretsmanager").get_secret_value(SecretId=secret.name)["SecretString"]
            credentials = Ci360Credentials.parse(text)
            hop.ok, hop.detail = Ci360Gateway(credentials, max_connections=1, timeout=10).check()
            hop.fix = self._fix(
                "fix the CI360 secret (Ci360Secret output) or the network path to the gateway",
                "the CI360 `make serve` sends to (its --ci360-url, --ci360-tenant, --ci360-secret; else its stub) "
                "does not take its credentials: check those, or restart `make serve`",
            )
        return bool(hop.ok)

    def _forwarder(self, report: SmokeReport, messages: Location | None, credentials_ok: bool) -> None:
        hop = Hop("forwarder -> CI360")
        report.hops.append(hop)
        if messages is None:
            hop.detail = "skipped: no records to forward"
            return
        with timed(hop, local=self.where.local):
            mapping = event_mapping_from_env(self.where.function_environment())
            expected = ((EventKind.DELIVERED, self.status_sid), (EventKind.REPLY, self.reply_sid))
            keys = {f"{kind.value}:{sid}" for kind, sid in expected if mapping.name_for(kind)}
            if not keys:
                hop.ok, hop.detail = True, "delivered and reply events are off on this stack: nothing to forward"
                return
            accepted: set[str] = set()
            deadline = time.monotonic() + self.wait_seconds
            while True:
                accepted |= {key for key in keys - accepted if event_accepted(messages, key)}
                if accepted == keys or time.monotonic() >= deadline:
                    break
                self.sleep(self.poll_seconds)
            names = ", ".join(sorted(key.split(":")[0] for key in accepted))
            if accepted == keys:
                hop.ok, hop.detail = True, f"{names} sent to CI360 as {SMOKE_EVENT_NAME!r}"
                return
            parked = parked_reasons(self.where.find("DeadLetterQueue", "DeadLetterQueueUrl"), keys - accepted)
            hop.ok = False
            if parked:
                hop.detail = "parked: " + "; ".join(
                    f"{key.split(':')[0]}: {why}" for key, why in sorted(parked.items())
                )
                hop.fix = self._fix(
                    f"define the external event {SMOKE_EVENT_NAME!r} in CI360 (no journey on it) if CI360 does not "
                    f"know it; then `smsbridge replay --stack {self.where.stack}` the dead letters",
                    f"define the external event {SMOKE_EVENT_NAME!r} in the CI360 `make serve` sends to (its "
                    "--ci360-url; its stub knows it) if it does not know it; then `smsbridge replay --local`",
                )
            else:
                hop.detail = f"no outcome after {self.wait_seconds:.0f} s ({len(accepted)} of {len(keys)} sent)"
                hop.fix = ("CI360 is not taking events (see the credentials hop): they wait on the retry queue"
                           if not credentials_ok else self._fix(
                               "the forwarder is not turning records into events: check the ForwarderErrorsAlarm, "
                               "its logs, and that its stream event sources are enabled",
                               "the forwarder is not turning records into events: see `make serve`'s console; "
                               "restart it if its stream and queue pollers have stopped"))  # fmt: skip

    def _preference_sync(self, report: SmokeReport) -> Checkpoint | None:
        hop = Hop("preference sync")
        report.hops.append(hop)
        with timed(hop, local=self.where.local):
            messages = self.where.find("MessagesTable", "MessagesTableName")
            checkpoint, _ = SyncRecords(messages.name, client=messages.client()).checkpoint()
            waited = checkpoint.pending_seconds(datetime.now(UTC))
            last = (f"last job {checkpoint.last_job} {checkpoint.last_outcome}" if checkpoint.last_job
                    else "no job has ended yet")  # fmt: skip
            if checkpoint.job_type:
                refused = (
                    f" (fallback: CI360 refused {checkpoint.job_type_refused})" if checkpoint.job_type_refused else ""
                )
                last += f"; job type {checkpoint.job_type}{refused}"
            if waited is not None:
                hop.ok = waited <= STUCK_AFTER_SECONDS
                hop.detail = f"job {checkpoint.pending_job} pending for {waited / 60:.0f} min; {last}"
                hop.fix = self._fix(
                    f"CI360 has not finished job {checkpoint.pending_job}: ask SAS support about it",
                    f"the CI360 `make serve` sends to has not finished job {checkpoint.pending_job}: see its console "
                    "(its stub finishes a job in a few polls unless told otherwise)",
                )
            else:
                hop.ok = not checkpoint.last_outcome.startswith("Failed")
                through = f"CI360 in sync through {checkpoint.through}" if checkpoint.through else "never synced"
                hop.detail = f"{last}; {through}"
                where = "--local" if self.where.local else f"--stack {self.where.stack}"
                hop.fix = f"the last import failed: see `smsbridge ci360 sync-preferences {where}` (it sends it again)"
            return checkpoint
        return None

    # -- helpers

    def _fix(self, deployed: str, local: str) -> str:
        """The fix that names what the operator can look at: the local stack's, or the deployed stack's."""
        return local if self.where.local else deployed

    def _token(self) -> tuple[str, str]:
        """The token to sign with and the AccountSid to send: the one given, else the stack's secret's."""
        secret = self.where.find("TwilioAuthTokensSecret", "AuthTokensSecret")
        text = secret.client("secretsmanager").get_secret_value(SecretId=secret.name)["SecretString"]
        tokens = AuthTokens.parse(text)
        account = self.account_sid or next(iter(tokens.by_account), TEST_ACCOUNT_SID)
        if self.auth_token:
            return self.auth_token, account
        found = tokens.for_account(account)
        if not found:
            raise SmsBridgeError("the stack's Twilio token secret holds no token: put the auth token in it first")
        return str(found[0]), account
