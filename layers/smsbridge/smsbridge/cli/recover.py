"""``smsbridge recover``: send, once, the CI360 events of facts on record that never reached CI360."""

from __future__ import annotations

import argparse

from smsbridge.cli.exits import EXIT_FOUND_PROBLEM, EXIT_OK
from smsbridge.cli.location import TABLES, locate, location_options
from smsbridge.cli.options import SINCE
from smsbridge.cli.parsing import Commands, command


def add(commands: Commands, summary: str) -> None:
    where = location_options(
        *TABLES,
        ("--dead-letter-queue-url", "the dead-letter queue"),
        ("--retry-queue-url", "the retry queue"),
        ("--secret-id", "the CI360 secret's name or ARN"),
    )
    recover = command(
        commands,
        "recover",
        summary,
        "smsbridge recover --stack smsbridge --since 24h --dry-run",
        "smsbridge recover --stack smsbridge --since 2026-11-01 --until 2026-11-02",
        parents=[where],
    )
    recover.add_argument(
        "--since", type=SINCE, required=True, help="facts recorded from this time: 2026-11-01, …T08:00:00Z, 24h, 7d"
    )
    recover.add_argument("--until", type=SINCE, default=None, help="… up to this time (default: now)")
    recover.add_argument("--dry-run", action="store_true", help="count the events CI360 is missing; send none")
    recover.set_defaults(run=run_recover)


def run_recover(args: argparse.Namespace) -> int:
    from smsbridge.app.recover import run_recovery  # noqa: PLC0415 - this command only

    where = {name: locate(args, logical, output, given, flag) for name, logical, output, given, flag in (
        ("messages", "MessagesTable", "MessagesTableName", args.messages_table, "--messages-table"),
        ("consent", "ConsentTable", "ConsentTableName", args.consent_table, "--consent-table"),
        ("dead", "DeadLetterQueue", "DeadLetterQueueUrl", args.dead_letter_queue_url, "--dead-letter-queue-url"),
        ("retry", "RetryQueue", "RetryQueueUrl", args.retry_queue_url, "--retry-queue-url"),
        ("secret", "Ci360Secret", "Ci360Secret", args.secret_id, "--secret-id"))}  # fmt: skip
    from datetime import datetime  # noqa: PLC0415

    until = datetime.fromisoformat(args.until) if args.until else None  # both checked by inputs.since_time
    summary = run_recovery(where, since=datetime.fromisoformat(args.since), until=until, dry_run=args.dry_run)
    print("\n".join(summary.lines(args.dry_run)))
    return EXIT_FOUND_PROBLEM if summary.unfinished or summary.outcomes["failed"] else EXIT_OK
