"""``smsbridge consent reconcile``: compare the consent ledger with CI360 and Twilio, and write the fixes."""

from __future__ import annotations

import argparse

from smsbridge.cli.exits import EXIT_FOUND_PROBLEM, EXIT_OK
from smsbridge.cli.location import TABLES, ledger_and_sync_records, location_options
from smsbridge.cli.options import NEW_FILE, json_flag, stuck_after
from smsbridge.cli.output import as_json, print_json
from smsbridge.cli.parsing import Commands, actions, command

RECONCILE_EXAMPLES = (
    "smsbridge consent reconcile --stack smsbridge --write-fix twilio-blocks.csv",
    "smsbridge consent reconcile --local --json",
)


def add(commands: Commands, summary: str) -> None:
    consent = command(commands, "consent", summary, "smsbridge consent reconcile --stack smsbridge")
    reconcile = command(
        actions(consent),
        "reconcile",
        "print the drift between ledger, CI360 and Twilio, with fixes",
        *RECONCILE_EXAMPLES,
        parents=[location_options(*TABLES)],
    )
    reconcile.add_argument(
        "--write-fix",
        type=NEW_FILE,
        default=None,
        help="write the opt-outs Twilio holds and the ledger lacks to this CSV",
    )
    stuck_after(reconcile)
    json_flag(reconcile)
    reconcile.set_defaults(run=run_consent_reconcile)


def run_consent_reconcile(args: argparse.Namespace) -> int:
    from smsbridge.ops.reconcile import find_drift, report_lines, write_fix_csv  # noqa: PLC0415

    ledger, records = ledger_and_sync_records(args)
    drift = find_drift(ledger, records, stuck_after_seconds=args.stuck_after * 60)
    if args.write_fix and drift.unknown_to_ledger:
        write_fix_csv(drift.unknown_to_ledger, args.write_fix)
    if args.json:
        print_json({"drift": not drift.none, **as_json(drift)})
    else:
        where = "--local" if args.local else (f"--stack {args.stack}" if args.stack else "")
        print("\n".join(report_lines(drift, where, args.write_fix)))
    return EXIT_OK if drift.none else EXIT_FOUND_PROBLEM
