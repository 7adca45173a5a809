"""The contact-preference sync: consent changes since the checkpoint → one CI360 import job → checkpoint moved.

Idempotent and resumable: the checkpoint moves only when CI360 reports the job ``Imported``. A ``Failed…`` job
(``Failed Validation``, with CI360's ``statusDescription``) is sent again; a job still queued or processing is looked
at again on the next run; nothing is skipped. Sending a number's preference twice is harmless (an import sets it,
it does not toggle it). A job pending longer than ``stuck_after_seconds`` is reported as stuck (the function turns
that into a metric and an alarm).

One run at a time: a run holds a lease on the checkpoint (a conditional write in DynamoDB, taken over once it
expires); a run that finds the lease held by another does nothing and says ``busy``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from smsbridge.adapters.ci360 import JobTypeRefused, SecretGatewaySource
from smsbridge.adapters.consent_table import ConsentLedger
from smsbridge.adapters.sync_records import SyncRecords
from smsbridge.clock import utc_now
from smsbridge.config import Settings
from smsbridge.domain.preferences import (
    Checkpoint,
    JobState,
    JobStatus,
    Preference,
    SmsIdFormat,
    job_types_to_try,
    preference_of,
    preferences_csv,
)
from smsbridge.errors import ConfigurationError
from smsbridge.text import counted

# What this module offers, the names its handler imports from elsewhere included (the handler's one import).
__all__ = [
    "LEASE_SECONDS",
    "MAX_NUMBERS_PER_JOB",
    "SETTLE_SECONDS",
    "STUCK_AFTER_SECONDS",
    "ConsentChanges",
    "PreferenceApi",
    "PreferenceSync",
    "Settings",
    "SyncLog",
    "SyncReport",
    "build_preference_sync",
    "job_notes",
]


MAX_NUMBERS_PER_JOB = 10_000
# Changes younger than this wait for the next run: a webhook stamps its write before DynamoDB has it (retries can
# take seconds), and a checkpoint must never pass a change that lands late. `consent reconcile` shows any gap.
SETTLE_SECONDS = 30.0
# Longer than any run (the function's timeout is 120 s; the CLI polls for about 10 s) so a live run never loses it.
LEASE_SECONDS = 600.0
STUCK_AFTER_SECONDS = 2 * 3600.0
# A sync with no checkpoint yet (a new deployment's first run) reads the changes of this long back.
FIRST_SYNC_LOOKBACK = timedelta(days=31)


class ConsentChanges(Protocol):
    """What the sync reads of the ledger (``ConsentLedger``)."""

    def changed_states(self, after: str, until: str) -> Iterable[dict[str, Any]]:
        """States changed in (``after``, ``until``], oldest change first, read as they are taken."""
        ...

    def states_of(self, phone: str) -> list[dict[str, Any]]: ...


class SyncLog(Protocol):
    """Where the sync keeps its checkpoint and what CI360 was told (``SyncRecords``)."""

    def checkpoint(self) -> tuple[Checkpoint, list[Preference]]: ...
    def save(self, checkpoint: Checkpoint, pending: list[Preference] | None = None) -> None: ...
    def record_synced(self, preferences: list[Preference], *, job: str, at: str) -> None: ...
    def take_lease(self, owner: str, *, now: datetime, until: datetime) -> bool: ...
    def release_lease(self, owner: str) -> None: ...


class PreferenceApi(Protocol):
    def file_location(self) -> str: ...
    def upload(self, signed_url: str, content: bytes) -> None: ...
    def start_preference_import(self, signed_url: str, job_type: str) -> str: ...
    def job_status(self, job_id: str) -> JobStatus: ...


@dataclass
class SyncReport:
    outcome: str  # done | failed | running | nothing | dry_run | busy
    job: str = ""
    through: str = ""
    preferences: list[Preference] = field(default_factory=list)
    oldest_change: str = ""
    lag_seconds: float | None = None  # done: from the oldest change in the job to CI360 confirming it
    status: str = ""  # CI360's last word on the job (e.g. "Processing Identities", "Failed Validation")
    description: str = ""  # CI360's statusDescription of a failed job
    unknown_status: str = ""  # a status SAS's sample does not know (followed as running)
    pending_seconds: float | None = None  # running: how long the job has been waiting for CI360
    stuck: bool = False  # running longer than the bound
    earlier_failure: str = ""  # the pending job found failed at the start of this run (its numbers are in this job)
    backlog_seconds: float | None = None  # after this run: how far CI360 trails the ledger's settled changes
    job_type: str = ""  # the import job type CI360 last took
    job_type_refused: str = ""  # the job type CI360 refused, and its answer, when the sync fell back from it

    def lines(self) -> list[str]:
        if self.outcome == "busy":
            return ["busy: another preference sync holds the lease; nothing sent (try again in a minute)"]
        opted_out = sum(p.opted_out for p in self.preferences)
        head = (f"{self.outcome}: {counted(len(self.preferences), 'number')} ({opted_out} opted out, "
                f"{len(self.preferences) - opted_out} not)" + (f", job {self.job}" if self.job else "")
                + (f" ({self.status})" if self.status else "")
                + (f", in CI360 through {self.through}" if self.through else ""))  # fmt: skip
        notes = job_notes(self)
        body = [f"  {p.phone}  OPT-OUT {'true' if p.opted_out else 'false'}" for p in self.preferences[:200]]
        more = [f"  … and {len(self.preferences) - 200} more"] if len(self.preferences) > 200 else []
        return [head, *notes, *body, *more]


def job_notes(report: SyncReport) -> list[str]:
    """What an operator must know about the job: why it failed, an unknown status, how long it has been pending."""
    notes = []
    if report.earlier_failure:
        notes.append(f"  the previous job failed ({report.earlier_failure}); its numbers were sent again")
    if report.outcome == "failed":
        notes.append(f"  CI360 says: {report.description or '(no statusDescription)'}; the same numbers are sent "
                     "again on the next run")  # fmt: skip
    if report.unknown_status:
        notes.append(f"  unknown job status {report.unknown_status!r}: followed as running; check docs/contracts.md")
    if report.pending_seconds is not None and report.outcome == "running":
        age = f"pending for {report.pending_seconds / 60:.0f} min"
        notes.append(f"  STUCK: {age}; ask SAS support about job {report.job}" if report.stuck else f"  {age}")
    if report.job_type_refused:
        notes.append(f"  job type {report.job_type} (fallback: CI360 refused {report.job_type_refused}); confirm in "
                     "CI360 that the imported numbers show the SMS opt-out")  # fmt: skip
    return notes


class PreferenceSync:
    def __init__(
        self,
        *,
        ledger: ConsentChanges,
        records: SyncLog,
        api: Callable[[], PreferenceApi],
        polls: int = 10,
        poll_seconds: float = 3.0,
        settle_seconds: float = SETTLE_SECONDS,
        max_numbers: int = MAX_NUMBERS_PER_JOB,
        stuck_after_seconds: float = STUCK_AFTER_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        job_type: str = "auto",
        sms_id_format: SmsIdFormat | None = None,
    ) -> None:
        # ``sms_id_format`` None (a run from the CLI): the form the last job used (the function's setting), else E.164
        self.job_type, self.sms_id_format = job_type, sms_id_format
        self.settle = timedelta(seconds=settle_seconds)
        self.max_numbers = max_numbers
        self.ledger, self.records, self.api = ledger, records, api
        self.stuck_after = stuck_after_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.polls, self.poll_seconds = polls, poll_seconds
        self.clock, self.sleep = clock, sleep

    def run(self, *, dry_run: bool = False, since: str | None = None, phones: list[str] | None = None) -> SyncReport:
        """One sync. ``since`` resends everything changed after that time; ``phones`` sends just those numbers.
        Neither moves the checkpoint backwards. ``busy`` when another run holds the lease."""
        if dry_run:
            return self._run(dry_run=True, since=since, phones=phones)
        owner = uuid.uuid4().hex
        now = self.clock()
        if not self.records.take_lease(owner, now=now, until=now + self.lease):
            return SyncReport("busy")
        try:
            report = self._run(dry_run=False, since=since, phones=phones)
        finally:
            self.records.release_lease(owner)
        if report.through:
            settled = self.clock() - self.settle
            report.backlog_seconds = max(0.0, (settled - datetime.fromisoformat(report.through)).total_seconds())
        return report

    def _run(self, *, dry_run: bool, since: str | None, phones: list[str] | None) -> SyncReport:
        checkpoint, pending = self.records.checkpoint()
        earlier_failure = ""
        if checkpoint.pending_job and not dry_run and since is None and phones is None:
            earlier = self._follow(checkpoint, pending)
            if earlier.outcome != "failed":
                return earlier
            earlier_failure = f"job {earlier.job} {earlier.status}: {earlier.description or 'no statusDescription'}"
            checkpoint = self.records.checkpoint()[0]  # it failed: send its window again, now
        settled = self.clock() - self.settle
        after = (since if since is not None else checkpoint.through) or (settled - FIRST_SYNC_LOOKBACK).isoformat()
        preferences, through, oldest = self._collect(after, settled.isoformat(), phones)
        if dry_run:
            return SyncReport("dry_run", through=through, preferences=preferences, oldest_change=oldest,
                              job_type=checkpoint.job_type, job_type_refused=checkpoint.job_type_refused)  # fmt: skip
        if not preferences:
            if phones is None:
                self.records.save(replace(checkpoint, through=max(checkpoint.through, through)))
            return SyncReport("nothing", through=max(checkpoint.through, through), earlier_failure=earlier_failure,
                              job_type=checkpoint.job_type, job_type_refused=checkpoint.job_type_refused)  # fmt: skip
        api = self.api()
        location = api.file_location()
        form = self.sms_id_format or SmsIdFormat(checkpoint.sms_id_format or SmsIdFormat.E164)
        api.upload(location, preferences_csv(preferences, sms_id_format=form))
        job, checkpoint = self._start_job(api, location, replace(checkpoint, sms_id_format=form.value))
        moved = max(checkpoint.through, through) if phones is None else checkpoint.through
        started = replace(checkpoint, pending_job=job, pending_through=moved, pending_since=self.clock().isoformat())
        self.records.save(started, preferences)
        report = self._follow(started, preferences)
        report.oldest_change, report.earlier_failure = oldest, earlier_failure
        if report.outcome == "done" and oldest:
            report.lag_seconds = (self.clock() - datetime.fromisoformat(oldest)).total_seconds()
        return report

    def _collect(self, after: str, until: str, phones: list[str] | None) -> tuple[list[Preference], str, str]:
        """The numbers to send, the time the job covers changes through, and the oldest change in it.

        At most ``max_numbers`` numbers go in one job. The cut falls between two change times, never inside one,
        so the checkpoint cannot pass a change that was left out; the changes after it wait for the next run, which
        starts from them (a backlog of any size drains, ``max_numbers`` a run). Reads stop at the cut.
        """
        if phones is not None:
            return [preference_of(p, self.ledger.states_of(p)) for p in phones], after, ""
        numbers: dict[str, str] = {}
        through, last = until, ""
        for state in self.ledger.changed_states(after, until):  # oldest change first
            phone, at = str(state["phone"]), str(state["changed_at"])
            if len(numbers) >= self.max_numbers and phone not in numbers and at > last:
                through = last  # this change and the later ones wait for the next run
                break
            numbers.setdefault(phone, at)
            last = at
        preferences = [preference_of(phone, self.ledger.states_of(phone)) for phone in numbers]
        return preferences, through, min(numbers.values(), default="")

    def _start_job(self, api: PreferenceApi, location: str, checkpoint: Checkpoint) -> tuple[str, Checkpoint]:
        """Create the import job, trying the job types in turn (``job_types_to_try``): its id, and the checkpoint
        with the type CI360 took and, after a fallback, the one it refused (kept while that type is in use)."""
        refused: list[JobTypeRefused] = []
        for job_type in job_types_to_try(self.job_type, checkpoint.job_type):
            try:
                job = api.start_preference_import(location, job_type)
            except JobTypeRefused as refusal:
                refused.append(refusal)
                continue
            kept = checkpoint.job_type_refused if job_type == checkpoint.job_type else ""
            note = f"{refused[-1].job_type}: {refused[-1].reason}" if refused else kept
            return job, replace(checkpoint, job_type=job_type, job_type_refused=note)
        raise ConfigurationError("; ".join(str(refusal) for refusal in refused) + " (Ci360PreferenceJobType)")

    @staticmethod
    def _ended(checkpoint: Checkpoint, through: str, outcome: str) -> Checkpoint:
        return replace(checkpoint, through=through, pending_job="", pending_through="", pending_since="",
                       last_job=checkpoint.pending_job, last_outcome=outcome)  # fmt: skip

    def _follow(self, checkpoint: Checkpoint, preferences: list[Preference]) -> SyncReport:
        """``_poll``, its report saying which job type CI360 took (and refused)."""
        report = self._poll(checkpoint, preferences)
        report.job_type, report.job_type_refused = checkpoint.job_type, checkpoint.job_type_refused
        return report

    def _poll(self, checkpoint: Checkpoint, preferences: list[Preference]) -> SyncReport:
        """Poll the pending job: ``Imported`` moves the checkpoint, ``Failed…`` clears the job (its window is sent
        again), queued/processing (or a status nobody knows) leaves it for the next run."""
        api = self.api()
        unknown = ""
        job = JobStatus("")
        for attempt in range(max(1, self.polls)):
            job = api.job_status(checkpoint.pending_job)
            state = job.state
            if state is JobState.DONE:
                self.records.record_synced(preferences, job=checkpoint.pending_job, at=self.clock().isoformat())
                self.records.save(self._ended(checkpoint, checkpoint.pending_through, job.status))
                return SyncReport("done", checkpoint.pending_job, checkpoint.pending_through, preferences,
                                  status=job.status, unknown_status=unknown)  # fmt: skip
            if state is JobState.FAILED:
                outcome = f"{job.status}: {job.description}" if job.description else job.status
                self.records.save(self._ended(checkpoint, checkpoint.through, outcome))
                return SyncReport("failed", checkpoint.pending_job, checkpoint.through, preferences,
                                  status=job.status, description=job.description, unknown_status=unknown)  # fmt: skip
            if state is JobState.UNKNOWN:
                unknown = job.status
            if attempt + 1 < self.polls:
                self.sleep(self.poll_seconds)
        waited = checkpoint.pending_seconds(self.clock())
        return SyncReport("running", checkpoint.pending_job, checkpoint.through, preferences, status=job.status,
                          unknown_status=unknown, pending_seconds=waited,
                          stuck=waited is not None and waited > self.stuck_after)  # fmt: skip


def build_preference_sync(settings: Settings) -> PreferenceSync:
    gateways = SecretGatewaySource(settings.ci360_secret, max_connections=2, timeout=settings.ci360_timeout_seconds)
    return PreferenceSync(
        ledger=ConsentLedger(settings.consent_table),
        records=SyncRecords(settings.messages_table),
        api=gateways.gateway,
        stuck_after_seconds=settings.preference_stuck_minutes * 60,
        job_type=settings.preference_job_type,
        sms_id_format=settings.sms_id_format,
    )
