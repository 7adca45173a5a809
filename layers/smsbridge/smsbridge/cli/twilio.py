"""``smsbridge twilio configure``: point a number or Messaging Service at the deployed webhooks."""

from __future__ import annotations

import argparse
import os

from smsbridge.cli.exits import EXIT_OK
from smsbridge.cli.location import locate, location_options
from smsbridge.cli.options import ACCOUNT_SID, AUTH_TOKEN, FRAGMENT, PHONE, SERVICE_SID, URL, default_fragment
from smsbridge.cli.parsing import Commands, actions, command, old_name
from smsbridge.ops import inputs

CONFIGURE_EXAMPLES = (
    "smsbridge twilio configure --stack smsbridge --phone +14155550199",
    "smsbridge twilio configure --stack smsbridge --phone +14155550199 --dry-run",
    "smsbridge twilio configure --stack smsbridge --messaging-service MG0123456789abcdef0123456789abcdef --apply",
)


def add(commands: Commands, summary: str) -> None:
    twilio = command(commands, "twilio", summary, "smsbridge twilio configure --stack smsbridge --phone +14155550199")
    configure = command(
        actions(twilio),
        "configure",
        "point a number or Messaging Service at the deployed webhooks (dry run unless --apply)",
        *CONFIGURE_EXAMPLES,
        parents=[location_options()],
    )
    target = configure.add_mutually_exclusive_group(required=True)
    target.add_argument("--phone", type=PHONE, default=None, help="one of the account's numbers, E.164")
    old_name(target, "--phone-number", "phone")
    target.add_argument("--messaging-service", type=SERVICE_SID, default=None, help="a Messaging Service SID (MG…)")
    # A default from the environment goes through the same check as a value given (argparse converts it).
    configure.add_argument(
        "--account-sid",
        type=ACCOUNT_SID,
        default=os.environ.get("TWILIO_ACCOUNT_SID") or None,
        help="AC and 32 hex digits (env TWILIO_ACCOUNT_SID)",
    )
    configure.add_argument(
        "--auth-token",
        type=AUTH_TOKEN,
        default=os.environ.get("TWILIO_AUTH_TOKEN") or None,
        help="the account's auth token (env TWILIO_AUTH_TOKEN)",
    )
    configure.add_argument("--inbound-url", type=URL, default=None, help="instead of --stack: the InboundUrl output")
    configure.add_argument(
        "--status-url", type=URL, default=None, help="instead of --stack: the StatusCallbackUrl output"
    )
    configure.add_argument("--fallback-url", type=URL, default=None, help="a fallback URL for inbound messages")
    configure.add_argument(
        "--fragment",
        type=FRAGMENT,
        default=default_fragment(),
        help=f"connection overrides to append (default {default_fragment()}, as TwilioUrlFragment; '' for none)",
    )
    configure.add_argument(
        "--allow-local",
        action="store_true",
        help="allow loopback and private URLs (Twilio cannot reach them; for test accounts)",
    )
    write = configure.add_mutually_exclusive_group()
    write.add_argument("--apply", action="store_true", help="write the changes (default: only show them)")
    write.add_argument("--dry-run", action="store_true", help="only show the changes (the default)")
    configure.add_argument("--twilio-api-url", default="", help=argparse.SUPPRESS)  # tests: a local Twilio stand-in
    configure.set_defaults(run=run_twilio_configure)


def run_twilio_configure(args: argparse.Namespace) -> int:
    from smsbridge.adapters.twilio_api import TwilioAccount  # noqa: PLC0415
    from smsbridge.errors import UsageError  # noqa: PLC0415
    from smsbridge.ops.twilio_setup import WebhookTargets, changes, describe  # noqa: PLC0415

    credentials = (("--account-sid", "TWILIO_ACCOUNT_SID", args.account_sid),
                   ("--auth-token", "TWILIO_AUTH_TOKEN", args.auth_token))  # fmt: skip
    missing = [f"{flag} (or {variable})" for flag, variable, value in credentials if not value]
    if missing:
        raise UsageError(f"give the Twilio account's credentials: {' and '.join(missing)}")
    inbound, status = args.inbound_url, args.status_url
    if not (inbound and status):
        inbound = inbound or locate(args, "InboundUrl", "InboundUrl", "", "--inbound-url").name
        status = status or locate(args, "StatusCallbackUrl", "StatusCallbackUrl", "", "--status-url").name
    for url in (inbound, status, args.fallback_url):
        problem = inputs.local_host_problem(url) if url and not args.allow_local else None
        if problem:
            raise UsageError(
                f"{url}: Twilio cannot reach it ({problem}); give a public URL (a tunnel's, with serve "
                "--public-url) or --allow-local"
            )
    targets = WebhookTargets(inbound, status, args.fallback_url or "", args.fragment)
    account = TwilioAccount(args.account_sid, args.auth_token, api_url=args.twilio_api_url)
    if args.phone:
        sid, current = account.number(args.phone)
        found = changes(current, targets.for_number())
        if args.apply and found:
            account.update_number(sid, {change.field: change.wanted for change in found})
        print("\n".join(describe(f"number {args.phone} ({sid})", found, args.apply)))
    else:
        found = changes(account.service(args.messaging_service), targets.for_service())
        if args.apply and found:
            account.update_service(args.messaging_service, {change.field: change.wanted for change in found})
        print("\n".join(describe(f"Messaging Service {args.messaging_service}", found, args.apply)))
    return EXIT_OK
