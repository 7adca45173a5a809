"""``smsbridge trace``: the story of one message: webhooks, consent facts, CI360 events, dead letters."""

from __future__ import annotations

import argparse

from smsbridge.cli.exits import EXIT_FOUND_PROBLEM, EXIT_OK
from smsbridge.cli.location import TABLES, locate, location_options
from smsbridge.cli.options import MESSAGE_SID, json_flag
from smsbridge.cli.output import print_json
from smsbridge.cli.parsing import Commands, command

TRACE_EXAMPLES = (
    "smsbridge trace SM0123456789abcdef0123456789abcdef --local",
    "smsbridge trace SM0123456789abcdef0123456789abcdef --stack smsbridge --json",
)


def add(commands: Commands, summary: str) -> None:
    trace = command(
        commands,
        "trace",
        summary,
        *TRACE_EXAMPLES,
        parents=[location_options(*TABLES, ("--dead-letter-queue-url", "the dead-letter queue"))],
    )
    trace.add_argument("message_sid", type=MESSAGE_SID, metavar="MESSAGE_SID", help="the Twilio MessageSid (SM…)")
    json_flag(trace)
    trace.set_defaults(run=run_trace)


def run_trace(args: argparse.Namespace) -> int:
    from smsbridge.adapters.consent_table import ConsentLedger  # noqa: PLC0415
    from smsbridge.ops.trace import trace_message  # noqa: PLC0415

    consent = locate(args, "ConsentTable", "ConsentTableName", args.consent_table, "--consent-table")
    messages = locate(args, "MessagesTable", "MessagesTableName", args.messages_table, "--messages-table")
    dead = locate(args, "DeadLetterQueue", "DeadLetterQueueUrl", args.dead_letter_queue_url, "--dead-letter-queue-url")
    story = trace_message(
        args.message_sid,
        messages=messages.client(),
        messages_table=messages.name,
        ledger=ConsentLedger(consent.name, client=consent.client()),
        sqs=dead.client("sqs"),
        dead_letter_queue_url=dead.name,
    )
    if args.json:
        print_json(story.to_json())
    else:
        print("\n".join(story.lines()))
    return EXIT_OK if story.found else EXIT_FOUND_PROBLEM
