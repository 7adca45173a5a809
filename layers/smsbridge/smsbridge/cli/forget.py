"""``smsbridge forget NUMBER``: erase a person's number on request, keeping it suppressed (docs/erasure.md)."""

from __future__ import annotations

import argparse

from smsbridge.cli.exits import EXIT_OK
from smsbridge.cli.location import TABLES, locate, location_options
from smsbridge.cli.options import ACCOUNT_SID, PHONE, json_flag
from smsbridge.cli.output import print_json
from smsbridge.cli.parsing import Commands, command


def add(commands: Commands, summary: str) -> None:
    forget = command(
        commands,
        "forget",
        summary,
        "smsbridge forget +14155550100 --local --dry-run",
        "smsbridge forget +14155550100 --stack smsbridge --json",
        "smsbridge forget +14155550100 --stack smsbridge --account AC0123456789abcdef0123456789abcdef",
        parents=[location_options(*TABLES)],
    )
    forget.add_argument("phone", type=PHONE, help="the number to erase, E.164 (e.g. +14155550100)")
    forget.add_argument("--dry-run", action="store_true", help="say what would be removed; change nothing")
    forget.add_argument(
        "--account",
        type=ACCOUNT_SID,
        default=None,
        metavar="AC…",
        help="erase only what this Twilio account's traffic left (its scopes); other accounts' stays as it is",
    )
    json_flag(forget)
    forget.set_defaults(run=run_forget)


def run_forget(args: argparse.Namespace) -> int:
    from smsbridge.adapters.consent_table import ConsentLedger  # noqa: PLC0415
    from smsbridge.adapters.erasure_key import ErasureKey  # noqa: PLC0415
    from smsbridge.clock import utc_now  # noqa: PLC0415
    from smsbridge.ops.forget import Deployment, forget  # noqa: PLC0415

    consent = locate(args, "ConsentTable", "ConsentTableName", args.consent_table, "--consent-table")
    messages = locate(args, "MessagesTable", "MessagesTableName", args.messages_table, "--messages-table")
    retry = locate(args, "RetryQueue", "RetryQueueUrl", "", "--stack")
    dead = locate(args, "DeadLetterQueue", "DeadLetterQueueUrl", "", "--stack")

    def find_key() -> tuple[str, object]:
        secret = locate(args, "ErasureKeySecret", "ErasureKeySecret", "", "--stack")
        return secret.name, secret.client("secretsmanager")

    def caller() -> str:
        if args.local:
            return "local"
        return str(messages.client("sts").get_caller_identity()["Arn"])

    where = Deployment(
        ledger=ConsentLedger(consent.name, client=consent.client()),
        messages_table=messages.name,
        dynamodb=messages.client(),
        sqs=retry.client("sqs"),
        retry_queue_url=retry.name,
        dead_letter_queue_url=dead.name,
        erasure_key=ErasureKey(find_key),
        caller=caller,
    )
    erasure = forget(args.phone, where, dry_run=args.dry_run, now=utc_now(), account=args.account or "")
    if args.json:
        print_json(erasure.to_json())
    else:
        print("\n".join(erasure.lines(args.phone)))
    return EXIT_OK
