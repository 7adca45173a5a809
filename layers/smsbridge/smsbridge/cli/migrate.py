"""``smsbridge migrate``: rewrite what v0.1 stored to the current keys (``ops/migrate.py``), once after an upgrade."""

from __future__ import annotations

import argparse
import dataclasses

from smsbridge.cli.exits import EXIT_FOUND_PROBLEM, EXIT_OK
from smsbridge.cli.location import TABLES, locate, location_options
from smsbridge.cli.options import ACCOUNT_SID, json_flag
from smsbridge.cli.output import print_json
from smsbridge.cli.parsing import Commands, command

MIGRATE_EXAMPLES = (
    "smsbridge migrate --local --dry-run",
    "smsbridge migrate --stack smsbridge --dry-run",
    "smsbridge migrate --stack smsbridge",
)


def add(commands: Commands, summary: str) -> None:
    migrate = command(commands, "migrate", summary, *MIGRATE_EXAMPLES, parents=[location_options(*TABLES)])
    migrate.add_argument(
        "--account-sid",
        type=ACCOUNT_SID,
        default=None,
        help="the Twilio account of v0.1 facts whose evidence names none (the one account v0.1 served)",
    )
    migrate.add_argument("--dry-run", action="store_true", help="count what would move; change nothing")
    json_flag(migrate)
    migrate.set_defaults(run=run_migrate)


def run_migrate(args: argparse.Namespace) -> int:
    from smsbridge.ops.migrate import migrate  # noqa: PLC0415 - this command only

    consent = locate(args, "ConsentTable", "ConsentTableName", args.consent_table, "--consent-table")
    messages = locate(args, "MessagesTable", "MessagesTableName", args.messages_table, "--messages-table")
    report = migrate(consent.name, messages.name, consent.client(), account_sid=args.account_sid, dry_run=args.dry_run)
    if args.json:
        print_json({**dataclasses.asdict(report), "changed": report.changed, "skipped": dict(report.skipped)})
    else:
        print("\n".join(report.lines()))
    return EXIT_FOUND_PROBLEM if report.skipped else EXIT_OK
