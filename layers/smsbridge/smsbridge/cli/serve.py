"""``smsbridge serve``: the whole loop on this machine (moto for AWS, the webhook over HTTP, a CI360 stub)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from smsbridge.cli.exits import EXIT_OK
from smsbridge.cli.options import COUNT, PORT, SECONDS, TEST_TOKEN_HELP, URL
from smsbridge.cli.parsing import Commands, command
from smsbridge.domain.privacy import mask_secret

SERVE_EXAMPLES = (
    "smsbridge serve",
    "smsbridge serve --port 8080 --log-level INFO",
    'smsbridge serve --auth-token "$TWILIO_AUTH_TOKEN" --public-url https://abc.ngrok.app',
)


def add(commands: Commands, summary: str) -> None:
    serve = command(commands, "serve", summary, *SERVE_EXAMPLES)
    serve.add_argument("--port", type=PORT, default=3000, help="port of the webhook server (default 3000; 0 = any)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument(
        "--auth-token", default=None, help=f"Twilio auth token to verify with (default: {TEST_TOKEN_HELP})"
    )
    serve.add_argument(
        "--public-url",
        type=URL,
        default=None,
        help="public URL that reaches this server (e.g. a tunnel), if Twilio itself is to call it",
    )
    serve.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        metavar="LEVEL",
        help="log level of the handlers: DEBUG, INFO, WARNING (default) or ERROR",
    )
    serve.add_argument(
        "--state-file",
        type=Path,
        default=None,
        help="where to record the running stack (default: .smsbridge/local.json in the checkout)",
    )
    serve.add_argument(
        "--ci360-url",
        default=os.environ.get("CI360_GATEWAY_URL", ""),
        help="CI360 external gateway to send events to (env CI360_GATEWAY_URL; default: a local stub)",
    )
    serve.add_argument(
        "--ci360-tenant", default=os.environ.get("CI360_TENANT_ID", ""), help="CI360 tenant id (env CI360_TENANT_ID)"
    )
    serve.add_argument(
        "--ci360-secret",
        default=os.environ.get("CI360_CLIENT_SECRET", ""),
        help="CI360 access point client secret (env CI360_CLIENT_SECRET)",
    )
    serve.add_argument(
        "--retry-seconds",
        type=COUNT,
        default=2,
        help="first retry delay of the local forwarder (default 2; deployed: 30), doubling per attempt",
    )
    serve.add_argument(
        "--sync-seconds",
        type=SECONDS,
        default=60,
        help="run the contact-preference sync this often (default 60; 0: never)",
    )
    serve.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="deployment parameters of template.yaml to run with, as sam deploy takes them (KeywordPolicy=contains)",
    )
    serve.add_argument(
        "--chaos",
        type=int,
        default=None,
        metavar="SEED",
        help="deliver like AWS at its worst, reproducibly from SEED: duplicate queue deliveries, redelivered "
        "stream batches, crashes and timeouts after CI360 answers, throttled writes (summary printed at stop)",
    )
    serve.add_argument(
        "--data-file",
        type=Path,
        default=None,
        help="keep the tables and queues in this JSON file across restarts (default: in memory only)",
    )
    serve.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    import gc  # noqa: PLC0415
    import signal  # noqa: PLC0415
    import time  # noqa: PLC0415

    from smsbridge.errors import UsageError  # noqa: PLC0415
    from smsbridge.local.chaos import Chaos  # noqa: PLC0415
    from smsbridge.local.server import Ci360Target, LocalStack  # noqa: PLC0415
    from smsbridge.ops.simulate import TEST_AUTH_TOKEN  # noqa: PLC0415

    ci360 = None
    if args.ci360_url or args.ci360_tenant or args.ci360_secret:
        if not (args.ci360_url and args.ci360_tenant and args.ci360_secret):
            raise UsageError("give all three of --ci360-url, --ci360-tenant and --ci360-secret")
        ci360 = Ci360Target(args.ci360_url, args.ci360_tenant, args.ci360_secret)
    token = args.auth_token or TEST_AUTH_TOKEN
    stack = LocalStack(
        auth_token=token,
        port=args.port,
        host=args.host,
        public_url=args.public_url or "",
        log_level=args.log_level,
        state_file=args.state_file,
        ci360=ci360,
        retry_base_seconds=args.retry_seconds,
        parameter_overrides=args.parameter_overrides,
        sync_seconds=args.sync_seconds,
        data_file=args.data_file,
        echo=lambda line: print(line, flush=True),
        chaos=None if args.chaos is None else Chaos(args.chaos),
    )
    try:
        stack.start()
        # `kill` stops it as cleanly as Ctrl-C (the state file goes too), and so does SIGINT even where it was
        # ignored: a shell script's background job (`smsbridge serve &`, `make bench &`) inherits SIGINT ignored.
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop_signal, _interrupt)
        print("\n".join(serve_banner(stack, token, default_token=token == TEST_AUTH_TOKEN)))
        print("ready", flush=True)
        while True:
            # Never one untimed wait: the kernel may hand SIGTERM or SIGINT to another thread, and Python runs the
            # handler only when this thread runs again (an untimed wait here hung serve, now and then, on `kill`).
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        # What the stack held dies with the process: spare it the interpreter's last full collection, which took
        # about 30 s after 20,000 webhooks (moto's tables and streams are millions of objects).
        gc.freeze()
    return EXIT_OK


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def serve_banner(stack: Any, token: str, *, default_token: bool) -> list[str]:
    """What ``serve`` prints once it listens: where everything is, the gateway check, and a command to try."""
    target = stack.ci360.url if stack.ci360 else ""
    # a real token is never printed whole: its last four characters say which one it is
    token_flag = "" if default_token else ' --auth-token "$TWILIO_AUTH_TOKEN"'
    shown = token if default_token else f"{mask_secret(token)} (the token given with --auth-token)"
    return [
        f"smsbridge local stack; AWS emulated by moto at {stack.aws_endpoint_url}",
        f"  CI360 gateway:    {target}" + ("  (local stub)" if stack.stub else ""),
        f"  CI360 check:      {stack.check_gateway()[1]}",
        f"  inbound webhook:  {stack.base_url}/twilio/inbound",
        f"  status callback:  {stack.base_url}/twilio/status",
        f"  auth token:       {shown}" + ("  (the documented test token)" if default_token else ""),
        f"  data:             {stack.data_description()}",
        f"  try: .venv/bin/smsbridge simulate inbound --url {stack.base_url}/twilio/inbound --body STOP{token_flag}",
    ]
