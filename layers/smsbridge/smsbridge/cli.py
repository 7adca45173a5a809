"""``smsbridge``: the command line. Each subcommand calls the same code the Lambda functions use."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence

from smsbridge.domain.privacy import mask_address
from smsbridge.errors import SmsBridgeError
from smsbridge.simulate import (
    DEFAULT_CUSTOMER,
    DEFAULT_SENDER,
    TEST_ACCOUNT_SID,
    TEST_AUTH_TOKEN,
    inbound_params,
    post,
    sign_webhook,
    status_params,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smsbridge", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the whole loop locally (moto for AWS, the webhook over HTTP)")
    serve.add_argument("--port", type=int, default=3000, help="port of the webhook server (default 3000; 0 = any)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument(
        "--auth-token",
        default=TEST_AUTH_TOKEN,
        help="Twilio auth token to verify with (default: the documented test token)",
    )
    serve.add_argument(
        "--public-url",
        default="",
        help="public URL that reaches this server (e.g. a tunnel), if Twilio itself is to call it",
    )
    serve.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level of the handlers (default WARNING)",
    )
    serve.set_defaults(run=run_serve)

    simulate = commands.add_parser("simulate", help="send a correctly signed Twilio webhook to a URL")
    simulate.add_argument("kind", choices=["inbound", "status"], help="an inbound SMS or a status callback")
    simulate.add_argument("--url", required=True, help="the webhook URL, exactly as configured in Twilio")
    simulate.add_argument("--auth-token", default=TEST_AUTH_TOKEN, help="token to sign with (default: the test token)")
    simulate.add_argument("--body", default="STOP", help="inbound: the message text (default STOP)")
    simulate.add_argument("--status", default="delivered", help="status: MessageStatus (default delivered)")
    simulate.add_argument("--error-code", default="", help="status: ErrorCode, e.g. 30006")
    simulate.add_argument(
        "--from", dest="sender", default="", help="From (default: customer for inbound, our number for status)"
    )
    simulate.add_argument(
        "--to", dest="recipient", default="", help="To (default: our number for inbound, customer for status)"
    )
    simulate.add_argument("--account-sid", default=TEST_ACCOUNT_SID, help="AccountSid")
    simulate.add_argument("--message-sid", default="", help="MessageSid (default: a new random one)")
    simulate.add_argument("--messaging-service-sid", default="", help="MessagingServiceSid, if any")
    simulate.add_argument(
        "--opt-out-type",
        default="",
        choices=["", "STOP", "START", "HELP"],
        help="inbound: OptOutType, as Advanced Opt-Out sends it",
    )
    simulate.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="an extra parameter (repeatable)"
    )
    simulate.add_argument("--delivery-id", default="", help="I-Twilio-Idempotency-Token (default: a new UUID)")
    simulate.set_defaults(run=run_simulate)
    return parser


def run_serve(args: argparse.Namespace) -> int:
    from smsbridge.local.server import LocalStack  # noqa: PLC0415 - moto is only needed by this command

    stack = LocalStack(
        auth_token=args.auth_token, port=args.port, host=args.host, public_url=args.public_url,
        log_level=args.log_level, echo=lambda line: print(line, flush=True),
    )  # fmt: skip
    stack.start()
    print(f"smsbridge local stack; AWS emulated by moto at {stack.aws_endpoint_url}")
    print(f"  inbound webhook:  {stack.base_url}/twilio/inbound")
    print(f"  status callback:  {stack.base_url}/twilio/status")
    print(
        f"  auth token:       {args.auth_token}"
        + ("  (the documented test token)" if args.auth_token == TEST_AUTH_TOKEN else "")
    )
    print(f"  try: smsbridge simulate inbound --url {stack.base_url}/twilio/inbound --body STOP")
    print("ready", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0


def run_simulate(args: argparse.Namespace) -> int:
    extra = [_pair(item) for item in args.param]
    if args.kind == "inbound":
        params = inbound_params(
            body=args.body, sender=args.sender or DEFAULT_CUSTOMER, recipient=args.recipient or DEFAULT_SENDER,
            account_sid=args.account_sid, message_sid=args.message_sid,
            messaging_service_sid=args.messaging_service_sid, opt_out_type=args.opt_out_type,
        )  # fmt: skip
    else:
        params = status_params(
            status=args.status, error_code=args.error_code, sender=args.sender or DEFAULT_SENDER,
            recipient=args.recipient or DEFAULT_CUSTOMER, account_sid=args.account_sid,
            message_sid=args.message_sid, messaging_service_sid=args.messaging_service_sid,
        )  # fmt: skip
    webhook = sign_webhook(args.url, params + extra, args.auth_token, delivery_id=args.delivery_id)
    answer = post(webhook)
    sid = dict(params)["MessageSid"]
    print(
        f"POST {webhook.url}  {args.kind} {sid}  {mask_address(dict(params)['From'])} -> "
        f"{mask_address(dict(params)['To'])}"
    )
    print(f"HTTP {answer.status} {answer.content_type}".rstrip())
    if answer.body:
        print(answer.body.rstrip("\n"))
    return 0 if 200 <= answer.status < 300 else 1


def _pair(item: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name:
        raise SmsBridgeError(f"--param takes NAME=VALUE, not {item!r}")
    return name, value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except (SmsBridgeError, OSError) as error:
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
