"""Consent for auditors and other systems: export the ledger as CSV, import another system's opt-outs."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from smsbridge.adapters.consent_table import ConsentLedger, ConsentRecord
from smsbridge.domain.consent import ConsentAction, ConsentEvent, ConsentSource, ConsentStatus, supersedes
from smsbridge.errors import UsageError
from smsbridge.ops import inputs
from smsbridge.text import counted

CSV_FIELDS = ["phone", "scope", "status", "updated_at", "source", "event_id", "account_sid"]
STATE_FIELDS = ["phone", "scope", "status", "updated_at", "source", "event_id", "account_sid"]  # `optouts list --json`
HISTORY_FIELDS = ["occurred_at", "action", "source", "event_id", "keyword", "rule", "matcher_version", "verification"]
_SEPARATORS = (",", ";", "\t")
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_ACTION_FOR = {ConsentStatus.OPTED_OUT: ConsentAction.OPT_OUT, ConsentStatus.OPTED_IN: ConsentAction.OPT_IN}


def selected_states(
    ledger: ConsentLedger, *, scope: str | None = None, status: str | None = None, since: str | None = None
) -> Iterator[dict[str, Any]]:
    """Current states, filtered by scope, status and last change (``since``: an ISO time with zone, inclusive)."""
    after = datetime.fromisoformat(since) if since else None
    for state in ledger.states(scope=scope):
        if status and state["status"] != status:
            continue
        if after and datetime.fromisoformat(str(state["updated_at"])) < after:
            continue
        yield state


def record_json(record: ConsentRecord) -> dict[str, Any]:
    """One scope of ``optouts get --json``: the state and the history behind it (shape: docs/operations.md)."""
    return {
        "scope": record.scope,
        "account_sid": record.account_sid,  # one number's scopes in two accounts are two states
        "status": record.status.value if record.status else None,
        "updated_at": record.updated_at,
        "source": record.source,
        "history": [{name: entry.get(name) for name in HISTORY_FIELDS} for entry in record.history],
    }


@contextmanager
def open_csv(path: str) -> Iterator[TextIO]:
    """A CSV file (or stdin for ``-``) as text: UTF-8 with or without a byte-order mark, any line ending."""
    if path != "-":
        with open(path, encoding="utf-8-sig", newline="") as source:
            yield source
        return
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:  # stdin already replaced by text (tests, embedding)
        yield sys.stdin
        return
    stream = io.TextIOWrapper(buffer, encoding="utf-8-sig", newline="")
    try:
        yield stream
    finally:
        stream.detach()


def export_csv(states: Iterable[dict[str, Any]], out: TextIO, progress: Callable[[int], None] | None = None) -> int:
    """Write ``states`` as CSV (streamed, one row at a time); returns how many."""
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    count = 0
    for count, state in enumerate(states, start=1):
        writer.writerow(state)
        if progress and count % 1000 == 0:
            progress(count)
    return count


@dataclass
class ImportSummary:
    rows: int = 0
    recorded: int = 0
    already_on_record: int = 0
    state_changes: int = 0
    problems: list[str] = field(default_factory=list)

    def lines(self, dry_run: bool) -> list[str]:
        verb = "would record" if dry_run else "recorded"
        change = "would change" if dry_run else "changed"
        lines = [f"{counted(self.rows, 'row')} read; {verb} {counted(self.recorded, 'new event')}, "
                 f"{self.already_on_record} already on record; {change} {counted(self.state_changes, 'state')}; "
                 f"{counted(len(self.problems), 'row')} refused"]  # fmt: skip
        return lines + [f"  {problem}" for problem in self.problems]


def events_from_csv(source: TextIO, *, imported_at: datetime) -> Iterator[ConsentEvent | str]:
    """Each row as a consent event, or a sentence saying why the row was refused.

    Columns: ``phone``, ``scope``, ``status`` (opted_out / opted_in), optional ``updated_at`` (ISO 8601; the import
    time when absent) and ``account_sid`` (the Twilio account the scope belongs to; without it the fact is kept
    apart from every account's webhook facts, as v0.1 kept all of them). The event id is derived from the row, so
    importing the same file twice changes nothing.
    """
    header = source.readline()
    separator = max(_SEPARATORS, key=header.count)  # Excel writes ";" in many locales, others a tab
    reader = csv.DictReader(itertools.chain([header], source), delimiter=separator)
    reader.fieldnames = [name.strip().lower() for name in reader.fieldnames or []]
    missing = {"phone", "scope", "status"} - set(reader.fieldnames)
    if missing:
        raise UsageError(f"the CSV needs a header line with the columns phone, scope and status (comma, semicolon "
                         f"or tab between them); missing {', '.join(sorted(missing))}")  # fmt: skip
    for line, row in enumerate(reader, start=2):
        try:
            yield _event(row, imported_at)
        except ValueError as exc:
            yield f"line {line}: {exc}"


def _event(row: dict[str, str], imported_at: datetime) -> ConsentEvent:
    phone, scope, status = ((row.get(name) or "").strip() for name in ("phone", "scope", "status"))
    try:
        phone = inputs.phone_number(phone)
    except inputs.InputError as exc:
        raise ValueError(f"phone {exc}") from None
    scope = inputs.scope(scope)
    try:
        action = _ACTION_FOR[ConsentStatus(status)]
    except ValueError:
        raise ValueError(f"status {status!r} is not opted_out or opted_in") from None
    raw_time = (row.get("updated_at") or "").strip()
    try:
        occurred_at = datetime.fromisoformat(raw_time) if raw_time else imported_at
    except ValueError:
        raise ValueError(f"updated_at {raw_time!r} is not an ISO 8601 time") from None
    if occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=UTC)
    inputs.not_in_future(occurred_at, now=imported_at, what="updated_at")
    account_sid = (row.get("account_sid") or "").strip()
    if account_sid and not _ACCOUNT_SID.match(account_sid):
        raise ValueError(f"account_sid {account_sid!r} is not an AccountSid (AC and 32 hex digits)")
    facts = f"{phone}|{scope}|{status}|{occurred_at.isoformat()}" + (f"|{account_sid}" if account_sid else "")
    digest = hashlib.sha256(facts.encode()).hexdigest()[:24]
    return ConsentEvent(phone, scope, action, occurred_at, ConsentSource.IMPORT, f"import-{digest}", rule="csv_import",
                        account_sid=account_sid or None)  # fmt: skip


def import_events(
    ledger: ConsentLedger, rows: Iterable[ConsentEvent | str], *, dry_run: bool, imported_at: datetime
) -> ImportSummary:
    """Record each event (or, with ``dry_run``, only say what would change)."""
    summary = ImportSummary()
    # states as this run leaves them (for --dry-run), and its events (a repeated row is "already on record")
    pending: dict[tuple[str, str, str | None], dict[str, Any] | None] = {}
    seen: set[tuple[str, str, str | None, str, str]] = set()
    for row in rows:
        summary.rows += 1
        if isinstance(row, str):
            summary.problems.append(row)
            continue
        key = (row.phone, row.scope, row.account_sid)
        stored = pending[key] if key in pending else ledger.state(row.phone, row.scope, row.account_sid)
        identity = (row.phone, row.scope, row.account_sid, row.event_id, row.action.value)
        if identity in seen or ledger.has_event(row):
            summary.already_on_record += 1
            continue
        seen.add(identity)
        if supersedes(row, stored["order_key"] if stored else None):
            new_status = row.new_status.value if row.new_status else None
            summary.state_changes += not stored or stored["status"] != new_status
            pending[key] = {"order_key": row.order_key, "status": new_status}
        summary.recorded += 1
        if not dry_run:
            ledger.record(row, recorded_at=imported_at)
    return summary
