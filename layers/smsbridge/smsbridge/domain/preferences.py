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

# The import job's type. SAS's contact-preference sample sends the SMS one for an SMS file; SAS's API reference
# lists only the generic one. ``auto`` tries the SMS type first and falls back to the generic one when CI360 refuses
# it at job creation; the type that worked is kept with the checkpoint, so later runs start with it.
SMS_IMPORT_JOB = "CONTACT_PREFERENCE_SMS_IMPORT"
GENERIC_IMPORT_JOB = "CONTACT_PREFERENCE_IMPORT"
JOB_TYPE_SETTINGS = ("auto", SMS_IMPORT_JOB, GENERIC_IMPORT_JOB)


def job_types_to_try(setting: str, worked_before: str = "") -> list[str]:
    """The job types to try, in order: the one configured; with ``auto``, the one CI360 took last, then the SMS
    type, then the generic one."""
    if setting != "auto":
        return [setting]
    return list(dict.fromkeys(t for t in (worked_before, SMS_IMPORT_JOB, GENERIC_IMPORT_JOB) if t))


class SmsIdFormat(StrEnum):
    """How a number is written as ``sms_id``. CI360 matches the value against the numbers it holds, and SAS says
    nothing about their form: ``e164`` (``+14155550100``), or ``sas_example``, the form of SAS's example file
    (``example_files/contact_preference_data.sms.csv``: ``+01123125123`` ... ``+010123125123``), read as ``+0``
    followed by the E.164 digits (country code, then the national number): ``+014155550100``."""

    E164 = "e164"
    SAS_EXAMPLE = "sas_example"


def sms_id(phone: str, form: SmsIdFormat = SmsIdFormat.E164) -> str:
    """``phone`` (E.164, as the ledger keeps it) as the import file's ``sms_id``."""
    if form is SmsIdFormat.SAS_EXAMPLE and phone.startswith("+"):
        return "+0" + phone[1:]
    return phone


@dataclass(frozen=True)
class Preference:
    phone: str
    opted_out: bool


def preference_of(phone: str, states: Iterable[Mapping[str, object]]) -> Preference:
    """The CI360 preference for ``phone`` from its ledger states (one per sender)."""
    return Preference(phone, any(state.get("status") == "opted_out" for state in states))


def preferences_csv(preferences: Iterable[Preference], *, sms_id_format: SmsIdFormat = SmsIdFormat.E164) -> bytes:
    """The import file: a header, then ``sms_id,<phone>,OPT-OUT,true|false`` per number (SAS's validator takes
    only ``sms_id`` for SMS preferences), the number written in ``sms_id_format``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for preference in preferences:
        value = "true" if preference.opted_out else "false"
        writer.writerow((IDENTITY_TYPE, sms_id(preference.phone, sms_id_format), PREFERENCE_TYPE, value))
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
    job_type: str = ""  # the job type CI360 last took (later runs start with it)
    job_type_refused: str = ""  # a job type CI360 refused, with its answer, when the sync fell back from it
    sms_id_format: str = ""  # the form the last job wrote numbers in (a sync run from the CLI writes the same)

    def pending_seconds(self, now: datetime) -> float | None:
        """How long the pending job has been waiting for CI360 (None without one)."""
        if not self.pending_job or not self.pending_since:
            return None
        return (now - datetime.fromisoformat(self.pending_since)).total_seconds()
