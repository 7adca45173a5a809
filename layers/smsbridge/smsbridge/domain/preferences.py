"""Consent as CI360 SMS contact preferences: what to send CI360 so that it stops selecting opted-out numbers.

CI360 keeps one SMS preference per identity; the ledger keeps one state per (number, sender). A number is
``OPT-OUT true`` in CI360 while it is opted out for any sender, and ``false`` once it is opted out for none.
A sync covers the states that changed after its checkpoint; the checkpoint only moves when CI360 reports the import
job done, so a failed or unfinished job is sent again and nothing is skipped.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

PREFERENCE_TYPE = "OPT-OUT"
IDENTITY_TYPE = "sms_id"  # the only identity type SAS's validator accepts for SMS preferences
COLUMNS = ("identity_type", "identity_value", "preference_type", "preference_value")


@dataclass(frozen=True)
class Preference:
    phone: str
    opted_out: bool


def preference_of(phone: str, states: Iterable[Mapping[str, object]]) -> Preference:
    """The CI360 preference for ``phone`` from its ledger states (one per sender)."""
    return Preference(phone, any(state.get("status") == "opted_out" for state in states))


def preferences_csv(preferences: Iterable[Preference]) -> bytes:
    """The import file: a header, then ``sms_id,<phone>,OPT-OUT,true|false`` per number (SAS's validator takes
    only ``sms_id`` for SMS preferences)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for preference in preferences:
        writer.writerow((IDENTITY_TYPE, preference.phone, PREFERENCE_TYPE, "true" if preference.opted_out else "false"))
    return out.getvalue().encode("utf-8")


class JobState(StrEnum):
    DONE = "done"
    FAILED = "failed"
    RUNNING = "running"
    UNKNOWN = "unknown"  # a status SAS's sample does not know: followed like a running job, and reported


# The statuses SAS's contact-preference sample polls through (sassoftware/ci360-extensions,
# code/ci-360-manage-contact-preferences/contact_preference.py, upload_contact_preferences): see docs/contracts.md.
RUNNING_STATUSES = ("Queued", "Processing Identities", "Processing Preferences", "Processing")
DONE_STATUS = "Imported"
FAILED_PREFIX = "Failed"  # "Failed Validation" in the sample; any "Failed…" ends the job


def job_state(status: str) -> JobState:
    """CI360's table-job status in four words. ``Imported`` is done, any ``Failed…`` (``Failed Validation``) failed,
    SAS's queued and processing statuses are running; anything else is unknown (followed as running, but loud)."""
    value = " ".join(status.split()).lower()
    if value == DONE_STATUS.lower():
        return JobState.DONE
    if value.startswith(FAILED_PREFIX.lower()):
        return JobState.FAILED
    if value in (running.lower() for running in RUNNING_STATUSES):
        return JobState.RUNNING
    return JobState.UNKNOWN


@dataclass(frozen=True)
class JobStatus:
    """A table job as CI360 answers it: ``status`` and, on failure, ``statusDescription``."""

    status: str
    description: str = ""

    @property
    def state(self) -> JobState:
        return job_state(self.status)


@dataclass(frozen=True)
class Checkpoint:
    """Everything changed at or before ``through`` is in CI360. ``pending_*``: a job sent but not yet done."""

    through: str = ""
    pending_job: str = ""
    pending_through: str = ""
    pending_since: str = ""
    last_job: str = ""  # the last job that ended, and how ("Imported", or "Failed Validation: <description>")
    last_outcome: str = ""

    def pending_seconds(self, now: datetime) -> float | None:
        """How long the pending job has been waiting for CI360 (None without one)."""
        if not self.pending_job or not self.pending_since:
            return None
        return (now - datetime.fromisoformat(self.pending_since)).total_seconds()
