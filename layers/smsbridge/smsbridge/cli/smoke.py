"""``smsbridge smoke``: prove a deployment hop by hop (the go-live check)."""

from __future__ import annotations

import argparse

from smsbridge.cli.exits import EXIT_FOUND_PROBLEM, EXIT_OK
from smsbridge.cli.location import location_options
from smsbridge.cli.options import FRAGMENT, SECONDS, default_fragment
from smsbridge.cli.parsing import Commands, command

SMOKE_EXAMPLES = (
    "smsbridge smoke --stack smsbridge",
    "smsbridge smoke --local",
)


def add(commands: Commands, summary: str) -> None:
    smoke = command(commands, "smoke", summary, *SMOKE_EXAMPLES, parents=[location_options()])
    smoke.add_argument("--identity", default="", help="a real test customer's datahub id (default: smsbridge-smoke, "
                       "which CI360 has no identity for)")  # fmt: skip
    smoke.add_argument("--auth-token", default="", help="sign with this token (default: the one in the stack's secret)")
    smoke.add_argument(
        "--account-sid", default="", help="AccountSid to send (default: the secret's first, or a test one)"
    )
    smoke.add_argument("--fragment", type=FRAGMENT, default=default_fragment(), help="the connection overrides the "
                       f"URLs carry in Twilio (default {default_fragment()}; '' for none)")  # fmt: skip
    smoke.add_argument("--wait", type=SECONDS, default=30, help="seconds to wait for CI360 to take the events")
    smoke.set_defaults(run=run_smoke)


def run_smoke(args: argparse.Namespace) -> int:
    from smsbridge.ops.smoke import Smoke, Where  # noqa: PLC0415 - this command only

    where = Where(local=args.local, stack=args.stack, region=args.region, state_file=args.state_file)
    where.find("StatusCallbackUrl", "StatusCallbackUrl")  # no deployment to try: one line, not six failed hops
    report = Smoke(where, auth_token=args.auth_token, identity=args.identity, fragment=args.fragment,
                   account_sid=args.account_sid, wait_seconds=args.wait).run()  # fmt: skip
    print("\n".join(report.lines()))
    return EXIT_OK if report.ok else EXIT_FOUND_PROBLEM
