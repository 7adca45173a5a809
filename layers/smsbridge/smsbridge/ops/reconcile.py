"""``smsbridge consent reconcile``: the ledger, what CI360 was told, and what Twilio refuses, side by side.

Two kinds of drift, each with the command that fixes it:

- CI360 disagrees with the ledger (opted out here, not in CI360, or the reverse): send those numbers again
  (``smsbridge ci360 sync-preferences --phone …``);
- Twilio refused to send (21610) to a number for a sender after the ledger last changed for that pair, so Twilio
  holds an opt-out the ledger does not: import them (``smsbridge optouts import``, from the CSV written here).

It also names a CI360 import job still pending, and calls it stuck past the bound: while it is pending no later
change reaches CI360, so drift of the first kind is expected until it ends.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from smsbridge.adapters.consent_table import ConsentLedger
from smsbridge.adapters.sync_records import SyncRecords
from smsbridge.app.preferences import STUCK_AFTER_SECONDS
from smsbridge.clock import utc_now
from smsbridge.domain.preferences import preference_of
from smsbridge.text import counted


@dataclass
class Drift:
    not_in_ci360: list[str] = field(default_factory=list)  # opted out here, CI360 not told
    only_in_ci360: list[str] = field(default_factory=list)  # CI360 holds an opt-out the ledger no longer has
    unknown_to_ledger: list[dict[str, str]] = field(default_factory=list)  # Twilio blocks (21610), ledger does not
    pending_job: str = ""  # a CI360 import job sent and not yet ended
    pending_seconds: float = 0.0
    stuck: bool = False  # pending past the bound

    @property
    def none(self) -> bool:
        return not (self.not_in_ci360 or self.only_in_ci360 or self.unknown_to_ledger or self.stuck)


def find_drift(ledger: ConsentLedger, records: SyncRecords, *, now: datetime | None = None,
               stuck_after_seconds: float = STUCK_AFTER_SECONDS) -> Drift:  # fmt: skip
    drift = Drift()
    checkpoint, _ = records.checkpoint()
    waited = checkpoint.pending_seconds(now or utc_now())
    if waited is not None:
        drift.pending_job, drift.pending_seconds = checkpoint.pending_job, waited
        drift.stuck = waited > stuck_after_seconds
    synced = {phone: opted_out for phone, opted_out, _ in records.synced()}
    states_by_phone: dict[str, list[dict[str, Any]]] = {}
    for each in ledger.states():
        states_by_phone.setdefault(str(each["phone"]), []).append(each)
    for phone in sorted(set(states_by_phone) | set(synced)):
        wanted = preference_of(phone, states_by_phone.get(phone, [])).opted_out
        told = synced.get(phone)
        if wanted and told is not True:
            drift.not_in_ci360.append(phone)
        elif not wanted and told is True:
            drift.only_in_ci360.append(phone)
    for status in records.blocked_by_twilio():
        phone, scope, at = str(status["recipient"]), str(status["scope"]), str(status["updated_at"])
        account = str(status.get("account_sid") or "") or None
        # the state as the webhook keys it (by account), else one imported without an account (the fix file is)
        current = ledger.state(phone, scope, account) or (ledger.state(phone, scope) if account else None)
        if current is None or (current["status"] != "opted_out" and str(current["updated_at"]) < at):
            drift.unknown_to_ledger.append({"phone": phone, "scope": scope, "status": "opted_out", "updated_at": at})
    return drift


def write_fix_csv(rows: Iterable[dict[str, str]], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=["phone", "scope", "status", "updated_at"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def report_lines(drift: Drift, where: str, fix_file: Path | None) -> list[str]:
    pending = []
    if drift.pending_job:
        minutes = f"{drift.pending_seconds / 60:.0f} min"
        job = f"CI360 import job {drift.pending_job}"
        pending = [
            f"{job} STUCK: pending for {minutes}; no later change reaches CI360 until it ends: ask SAS support about it"
            if drift.stuck
            else f"{job} pending for {minutes} (the next sync follows it)"
        ]
    if drift.none:
        return [*pending, "no drift: the ledger, CI360's preferences and Twilio's refusals agree"]
    lines = pending
    if drift.not_in_ci360 or drift.only_in_ci360:
        numbers = drift.not_in_ci360 + drift.only_in_ci360
        lines.append(f"{counted(len(drift.not_in_ci360), 'number')} opted out here but not in CI360; "
                     f"{len(drift.only_in_ci360)} opted out in CI360 but not here:")  # fmt: skip
        lines += [f"  {phone}" for phone in numbers[:50]]
        lines.append("  fix: smsbridge ci360 sync-preferences " + " ".join(f"--phone {p}" for p in numbers[:50])
                     + f" {where}".rstrip())  # fmt: skip
    if drift.unknown_to_ledger:
        lines.append(
            f"{counted(len(drift.unknown_to_ledger), 'number')} Twilio refuses (21610) that the ledger does not know:"
        )
        lines += [f"  {row['phone']} (sender {row['scope']}, {row['updated_at']})" for row in drift.unknown_to_ledger]
        target = str(fix_file) if fix_file else "FILE.csv (give --write-fix FILE.csv)"
        lines.append(f"  fix: smsbridge optouts import {target} {where}".rstrip())
    return lines
