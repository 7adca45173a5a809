"""Which deployment a command works on: the ``--local`` / ``--stack NAME`` options, and finding its resources.

A command that reads or changes a deployment takes ``parents=[location_options(…)]`` (with a flag per resource that
can also be given by name) and finds each resource with ``locate`` when it runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from smsbridge.cli.parsing import Parser

if TYPE_CHECKING:
    from smsbridge.adapters.consent_table import ConsentLedger
    from smsbridge.adapters.sync_records import SyncRecords
    from smsbridge.ops.deployment import Location

# The two tables, as (flag, help) for ``location_options``.
TABLES = (("--consent-table", "the consent table's name"), ("--messages-table", "the messages table's name"))


def location_options(*flags: tuple[str, str]) -> Parser:
    """Options that say which deployment a command works on: --local, --stack, or the resources by name."""
    where = Parser(add_help=False)
    where.add_argument("--local", action="store_true", help="the running local stack (make serve)")
    where.add_argument("--stack", default="", help="a deployed stack: resources are read from its outputs")
    for flag, helptext in flags:
        where.add_argument(flag, default="", help=helptext)
    where.add_argument("--region", default=None, help="AWS region (default: your AWS configuration)")
    where.add_argument(
        "--state-file",
        type=Path,
        default=None,
        help="with --local: the running stack's state file (default: .smsbridge/local.json in the checkout)",
    )
    return where


def locate(args: argparse.Namespace, logical_id: str, output: str, given: str, flag: str) -> Location:
    """The resource ``logical_id`` (stack output ``output``) of the deployment ``args`` names, or ``given`` by
    ``flag``."""
    from smsbridge.ops.deployment import locate as locate_resource  # noqa: PLC0415
    from smsbridge.ops.local_state import LOCAL_STATE, project_root  # noqa: PLC0415

    return locate_resource(
        logical_id,
        output,
        local=args.local,
        stack=args.stack,
        given=given,
        flag=flag,
        region=args.region,
        state_file=args.state_file or project_root() / LOCAL_STATE,
    )


def consent_ledger(args: argparse.Namespace) -> ConsentLedger:
    from smsbridge.adapters.consent_table import ConsentLedger  # noqa: PLC0415
    from smsbridge.adapters.erasure_key import ErasureKey  # noqa: PLC0415

    def find_key() -> tuple[str, object]:  # read only for a number with no consent in clear (smsbridge forget)
        secret = locate(args, "ErasureKeySecret", "ErasureKeySecret", "", "--stack")
        return secret.name, secret.client("secretsmanager")

    location = locate(args, "ConsentTable", "ConsentTableName", args.consent_table, "--consent-table")
    erasure_key = ErasureKey(find_key) if args.local or args.stack else None
    return ConsentLedger(location.name, client=location.client(), erasure_key=erasure_key)


def ledger_and_sync_records(args: argparse.Namespace) -> tuple[ConsentLedger, SyncRecords]:
    from smsbridge.adapters.consent_table import ConsentLedger  # noqa: PLC0415
    from smsbridge.adapters.sync_records import SyncRecords  # noqa: PLC0415

    consent = locate(args, "ConsentTable", "ConsentTableName", args.consent_table, "--consent-table")
    messages = locate(args, "MessagesTable", "MessagesTableName", args.messages_table, "--messages-table")
    return ConsentLedger(consent.name, client=consent.client()), SyncRecords(messages.name, client=messages.client())
