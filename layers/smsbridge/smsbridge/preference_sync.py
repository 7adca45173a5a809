"""The contact-preference sync: consent changes since the checkpoint → one CI360 import job → checkpoint moved.

Idempotent and resumable: the checkpoint moves only when CI360 reports the job done. A failed job is sent again
on the next run; a job still running is looked at again on the next run; nothing is skipped. Sending a number's
preference twice is harmless (an import sets it, it does not toggle it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from smsbridge.clock import utc_now
from smsbridge.domain.preferences import Checkpoint, JobState, Preference, job_state, preference_of, preferences_csv

MAX_NUMBERS_PER_JOB = 10_000
# Changes younger than this wait for the next run: a webhook stamps its write before DynamoDB has it (retries can
# take seconds), and a checkpoint must never pass a change that lands late. `consent reconcile` shows any gap.
SETTLE_SECONDS = 30.0


class ConsentChanges(Protocol):
    """What the sync reads of the ledger (``ConsentLedger``)."""

    def changed_states(self, after: str, until: str) -> list[dict[str, Any]]: ...
    def states_of(self, phone: str) -> list[dict[str, Any]]: ...


class SyncLog(Protocol):
    """Where the sync keeps its checkpoint and what CI360 was told (``SyncRecords``)."""

    def checkpoint(self) -> tuple[Checkpoint, list[Preference]]: ...
    def save(self, checkpoint: Checkpoint, pending: list[Preference] | None = None) -> None: ...
    def record_synced(self, preferences: list[Preference], *, job: str, at: str) -> None: ...


class PreferenceApi(Protocol):
    def file_location(self) -> str: ...
    def upload(self, signed_url: str, content: bytes) -> None: ...
    def start_preference_import(self, signed_url: str) -> str: ...
    def job_status(self, job_id: str) -> str: ...


@dataclass
class SyncReport:
    outcome: str  # done | failed | running | nothing | dry_run
    job: str = ""
    through: str = ""
    preferences: list[Preference] = field(default_factory=list)
    oldest_change: str = ""
    lag_seconds: float | None = None  # done: from the oldest change in the job to CI360 confirming it

    def lines(self) -> list[str]:
        opted_out = sum(p.opted_out for p in self.preferences)
        head = (f"{self.outcome}: {len(self.preferences)} numbers ({opted_out} opted out, "
                f"{len(self.preferences) - opted_out} not)" + (f", job {self.job}" if self.job else "")
                + (f", in CI360 through {self.through}" if self.through else ""))  # fmt: skip
        body = [f"  {p.phone}  OPT-OUT {'true' if p.opted_out else 'false'}" for p in self.preferences[:200]]
        return [head, *body, *([f"  … and {len(self.preferences) - 200} more"] if len(self.preferences) > 200 else [])]


class PreferenceSync:
    def __init__(
        self,
        *,
        ledger: ConsentChanges,
        records: SyncLog,
        api: Callable[[], PreferenceApi],
        identity_type: str = "sms_id",
        polls: int = 10,
        poll_seconds: float = 3.0,
        settle_seconds: float = SETTLE_SECONDS,
        max_numbers: int = MAX_NUMBERS_PER_JOB,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settle = timedelta(seconds=settle_seconds)
        self.max_numbers = max_numbers
        self.ledger, self.records, self.api = ledger, records, api
        self.identity_type = identity_type
        self.polls, self.poll_seconds = polls, poll_seconds
        self.clock, self.sleep = clock, sleep

    def run(self, *, dry_run: bool = False, since: str | None = None, phones: list[str] | None = None) -> SyncReport:
        """One sync. ``since`` resends everything changed after that time; ``phones`` sends just those numbers.
        Neither moves the checkpoint backwards."""
        checkpoint, pending = self.records.checkpoint()
        if checkpoint.pending_job and not dry_run and since is None and phones is None:
            earlier = self._follow(checkpoint, pending)
            if earlier.outcome != "failed":
                return earlier
            checkpoint = Checkpoint(through=checkpoint.through)  # it failed: send its window again, now
        until = (self.clock() - self.settle).isoformat()
        preferences, through, oldest = self._collect(since if since is not None else checkpoint.through, until, phones)
        if dry_run:
            return SyncReport("dry_run", through=through, preferences=preferences, oldest_change=oldest)
        if not preferences:
            if phones is None:
                self.records.save(Checkpoint(through=max(checkpoint.through, through)))
            return SyncReport("nothing", through=max(checkpoint.through, through))
        api = self.api()
        location = api.file_location()
        api.upload(location, preferences_csv(preferences, self.identity_type))
        job = api.start_preference_import(location)
        moved = max(checkpoint.through, through) if phones is None else checkpoint.through
        started = Checkpoint(checkpoint.through, job, moved, self.clock().isoformat())
        self.records.save(started, preferences)
        report = self._follow(started, preferences)
        report.oldest_change = oldest
        if report.outcome == "done" and oldest:
            report.lag_seconds = (self.clock() - datetime.fromisoformat(oldest)).total_seconds()
        return report

    def _collect(self, after: str, until: str, phones: list[str] | None) -> tuple[list[Preference], str, str]:
        """The numbers to send, the time the job covers changes through, and the oldest change in it.

        At most ``max_numbers`` numbers go in one job. The cut falls between two change times, never inside one,
        so the checkpoint cannot pass a change that was left out.
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

    def _follow(self, checkpoint: Checkpoint, preferences: list[Preference]) -> SyncReport:
        """Poll the pending job: ``done`` moves the checkpoint, ``failed`` clears the job (its window is sent
        again), ``running`` leaves it for the next run."""
        api = self.api()
        for attempt in range(self.polls):
            state = job_state(api.job_status(checkpoint.pending_job))
            if state is JobState.DONE:
                self.records.record_synced(preferences, job=checkpoint.pending_job, at=self.clock().isoformat())
                self.records.save(Checkpoint(through=checkpoint.pending_through))
                return SyncReport("done", checkpoint.pending_job, checkpoint.pending_through, preferences)
            if state is JobState.FAILED:
                self.records.save(Checkpoint(through=checkpoint.through))
                return SyncReport("failed", checkpoint.pending_job, checkpoint.through, preferences)
            if attempt + 1 < self.polls:
                self.sleep(self.poll_seconds)
        return SyncReport("running", checkpoint.pending_job, checkpoint.through, preferences)
