"""``smsbridge replay``: list dead-lettered events, or move them back to the retry queue to be sent again."""

from __future__ import annotations

import argparse

from smsbridge.cli.exits import EXIT_OK
from smsbridge.cli.location import locate, location_options
from smsbridge.cli.options import COUNT, json_flag
from smsbridge.cli.output import as_json, print_json
from smsbridge.cli.parsing import Commands, command
from smsbridge.text import counted

# Spelled out here, not imported, so that building the parser imports nothing heavy; tests check it matches EventKind.
EVENT_KINDS = ("reply", "opt_out", "opt_in", "help", "sent", "delivered", "undelivered", "failed", "read")


def add(commands: Commands, summary: str) -> None:
    queues = location_options(
        ("--dead-letter-queue-url", "the dead-letter queue"), ("--retry-queue-url", "the retry queue")
    )
    replay = command(
        commands,
        "replay",
        summary,
        "smsbridge replay --stack smsbridge --list",
        "smsbridge replay --stack smsbridge --reason 'HTTP 5' --max 100 --dry-run",
        "smsbridge replay --local --kind opt_out",
        parents=[queues],
    )
    replay.add_argument("--list", action="store_true", help="show the parked events (reason, age); move nothing")
    replay.add_argument("--reason", default="", help="only events whose reason contains this text")
    replay.add_argument(
        "--kind", default="", choices=EVENT_KINDS, metavar="KIND", help="only this kind: " + ", ".join(EVENT_KINDS)
    )
    replay.add_argument("--max", type=COUNT, default=None, help="move at most this many (1 or more; default: all)")
    replay.add_argument("--dry-run", action="store_true", help="count what would move; move nothing")
    json_flag(replay)
    replay.set_defaults(run=run_replay)


def run_replay(args: argparse.Namespace) -> int:
    from smsbridge.ops.replay import parked_list, replay  # noqa: PLC0415

    dead = locate(args, "DeadLetterQueue", "DeadLetterQueueUrl", args.dead_letter_queue_url, "--dead-letter-queue-url")
    if args.list:
        entries = parked_list(
            dead.client("sqs"), dead_letter_queue_url=dead.name, reason=args.reason, kind=args.kind, limit=args.max or 0
        )
        if args.json:
            print_json({"parked": [as_json(entry) for entry in entries], "count": len(entries)})
        else:
            for entry in entries:
                print(entry.line())
            print(counted(len(entries), "parked event"))
        return EXIT_OK
    retry = locate(args, "RetryQueue", "RetryQueueUrl", args.retry_queue_url, "--retry-queue-url")
    summary = replay(
        dead.client("sqs"),
        dead_letter_queue_url=dead.name,
        retry_queue_url=retry.name,
        reason=args.reason,
        kind=args.kind,
        limit=args.max or 0,
        dry_run=args.dry_run,
    )
    print("\n".join(summary.lines(args.dry_run)))
    return EXIT_OK
