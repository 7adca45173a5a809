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
from enum import StrEnum

PREFERENCE_TYPE = "OPT-OUT"
COLUMNS = ("identity_type", "identity_value", "preference_type", "preference_value")


@dataclass(frozen=True)
class Preference:
    phone: str
    opted_out: bool


def preference_of(phone: str, states: Iterable[Mapping[str, object]]) -> Preference:
    """The CI360 preference for ``phone`` from its ledger states (one per sender)."""
    return Preference(phone, any(state.get("status") == "opted_out" for state in states))


def preferences_csv(preferences: Iterable[Preference], identity_type: str = "sms_id") -> bytes:
    """The import file: a header, then ``<identity_type>,<phone>,OPT-OUT,true|false`` per number."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for preference in preferences:
        writer.writerow((identity_type, preference.phone, PREFERENCE_TYPE, "true" if preference.opted_out else "false"))
    return out.getvalue().encode("utf-8")


class JobState(StrEnum):
    DONE = "done"
    FAILED = "failed"
    RUNNING = "running"


def job_state(status: str) -> JobState:
    """CI360's table-job status in three words (unknown statuses count as still running)."""
    value = status.strip().lower()
    if value in ("completed", "complete", "succeeded", "success", "done"):
        return JobState.DONE
    if value in ("failed", "error", "cancelled", "canceled", "aborted"):
        return JobState.FAILED
    return JobState.RUNNING


@dataclass(frozen=True)
class Checkpoint:
    """Everything changed at or before ``through`` is in CI360. ``pending_*``: a job sent but not yet done."""

    through: str = ""
    pending_job: str = ""
    pending_through: str = ""
    pending_since: str = ""
