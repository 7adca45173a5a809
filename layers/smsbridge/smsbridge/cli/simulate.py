"""``smsbridge simulate``: send a correctly signed Twilio webhook to a URL (the local stack's or a deployed one)."""

from __future__ import annotations

import argparse
from pathlib import Path

from smsbridge.cli.exits import EXIT_FOUND_PROBLEM, EXIT_OK
from smsbridge.cli.options import ACCOUNT_SID, AUTH_TOKEN, ERROR_CODE, MESSAGE_SID, SERVICE_SID, TEST_TOKEN_HELP, URL
from smsbridge.cli.parsing import Commands, command

SIMULATE_EXAMPLES = (
    "smsbridge simulate inbound --body STOP                # to the running local stack (make serve)",
    "smsbridge simulate inbound --url http://127.0.0.1:3000/twilio/inbound --body STOP",
    "smsbridge simulate status --url http://127.0.0.1:3000/twilio/status --status undelivered --error-code 30006",
)


def add(commands: Commands, summary: str) -> None:
    simulate = command(commands, "simulate", summary, *SIMULATE_EXAMPLES)
    simulate.add_argument("kind", choices=["inbound", "status"], help="inbound (an SMS to us) or status (a callback)")
    simulate.add_argument(
        "--url",
        type=URL,
        default=None,
        help="the webhook URL, exactly as configured in Twilio (default: the running local stack's, from "
        ".smsbridge/local.json)",
    )
    simulate.add_argument(
        "--auth-token", type=AUTH_TOKEN, default=None, help=f"token to sign with (default: {TEST_TOKEN_HELP})"
    )
    simulate.add_argument("--body", default="STOP", help="inbound: the message text (default STOP)")
    simulate.add_argument("--status", default="delivered", help="status: MessageStatus (default delivered)")
    simulate.add_argument("--error-code", type=ERROR_CODE, default=None, help="status: ErrorCode, e.g. 30006")
    simulate.add_argument(
        "--from", dest="sender", default="", help="From (default: a customer for inbound, our number for status)"
    )
    simulate.add_argument(
        "--to", dest="recipient", default="", help="To (default: our number for inbound, a customer for status)"
    )
    simulate.add_argument(
        "--account-sid", type=ACCOUNT_SID, default=None, help="AccountSid (default: the test account AC000…)"
    )
    simulate.add_argument("--message-sid", type=MESSAGE_SID, default=None, help="MessageSid (default: a new one)")
    simulate.add_argument("--messaging-service-sid", type=SERVICE_SID, default=None, help="MessagingServiceSid, if any")
    simulate.add_argument(
        "--opt-out-type",
        default="",
        choices=["STOP", "START", "HELP"],
        help="inbound: OptOutType as Advanced Opt-Out sends it: STOP, START or HELP",
    )
    simulate.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="an extra parameter (repeatable)"
    )
    simulate.add_argument("--delivery-id", default="", help="I-Twilio-Idempotency-Token (default: a new UUID)")
    simulate.add_argument(
        "--state-file",
        type=Path,
        default=None,
        help="the running local stack's state file (default: .smsbridge/local.json in the checkout): its URLs, and "
        "its stand-in of Twilio's API, which is told of each message as Twilio would have it",
    )
    simulate.set_defaults(run=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    from smsbridge.domain.privacy import mask_address  # noqa: PLC0415
    from smsbridge.ops import simulate  # noqa: PLC0415
    from smsbridge.ops.local_state import running_state  # noqa: PLC0415

    local = running_state(args.state_file)
    url = args.url or simulate.local_webhook_url(args.kind, local)

    extra = [_pair(item) for item in args.param]
    account_sid = args.account_sid or simulate.TEST_ACCOUNT_SID
    if args.kind == "inbound":
        params = simulate.inbound_params(
            body=args.body,
            sender=args.sender or simulate.DEFAULT_CUSTOMER,
            recipient=args.recipient or simulate.DEFAULT_SENDER,
            account_sid=account_sid,
            message_sid=args.message_sid or "",
            messaging_service_sid=args.messaging_service_sid or "",
            opt_out_type=args.opt_out_type,
        )
    else:
        params = simulate.status_params(
            status=args.status,
            error_code=args.error_code or "",
            sender=args.sender or simulate.DEFAULT_SENDER,
            recipient=args.recipient or simulate.DEFAULT_CUSTOMER,
            account_sid=account_sid,
            message_sid=args.message_sid or "",
            messaging_service_sid=args.messaging_service_sid or "",
        )
    token = args.auth_token or simulate.TEST_AUTH_TOKEN
    webhook = simulate.sign_webhook(url, params + extra, token, delivery_id=args.delivery_id)
    simulate.tell_twilio_stand_in(local, args.kind, params)  # so the local verifier finds it, as Twilio would
    answer = simulate.post(webhook, local=local)  # NotReachable when nothing answers there
    fields = dict(params)
    print(
        f"POST {webhook.url}  {args.kind} {fields['MessageSid']}  {mask_address(fields['From'])} -> "
        f"{mask_address(fields['To'])}"
    )
    print(f"HTTP {answer.status} {answer.content_type}".rstrip())
    if answer.body:
        print(answer.body.rstrip("\n"))
    if answer.status == 403:
        print(simulate.refusal_hint(url, token, local))
    return EXIT_OK if 200 <= answer.status < 300 else EXIT_FOUND_PROBLEM


def _pair(item: str) -> tuple[str, str]:
    from smsbridge.errors import UsageError  # noqa: PLC0415

    name, sep, value = item.partition("=")
    if not sep or not name:
        raise UsageError(f"--param takes NAME=VALUE, not {item!r}")
    return name, value
