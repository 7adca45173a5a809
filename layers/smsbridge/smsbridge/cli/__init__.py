"""``smsbridge``: the command line. Each subcommand calls the same code the Lambda functions use.

Layout: ``build_parser`` calls one ``_add_<command>`` per command; each adds its parser (summary, examples,
options) and names its handler, ``run_<command>``. Handlers import what they need when they run, so
``smsbridge --help`` loads no AWS SDK, pydantic or moto. Adding a command is one ``_add_…`` function, one
``run_…`` function and one line in ``build_parser``; its logic lives in its own module.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from smsbridge.ops import inputs
from smsbridge.text import counted

if TYPE_CHECKING:
    from smsbridge.adapters.consent_table import ConsentLedger
    from smsbridge.adapters.sync_records import SyncRecords
    from smsbridge.ops.deployment import Location

# Exit statuses: documented in `smsbridge --help` and the README.
EXIT_OK = 0
EXIT_FOUND_PROBLEM = 1  # the command ran and reports a problem: drift, refused rows, a failed check, a 4xx/5xx
EXIT_USAGE = 2  # wrong option, value or file: nothing was changed
EXIT_UNREACHABLE = 3  # the local stack, AWS, CI360, Twilio or a port is not available
EXIT_INTERRUPTED = 130

EXIT_STATUSES = """exit statuses:
  0    done
  1    the command ran and reports a problem (drift, refused rows, a failed check, a webhook refused)
  2    wrong usage: an option, value or file the command cannot use; nothing was changed
  3    cannot reach what the command works on (the local stack, AWS, CI360, Twilio, a port)
  130  interrupted (Ctrl-C)"""

EVENT_KINDS = ("reply", "opt_out", "opt_in", "help", "sent", "delivered", "undelivered", "failed", "read")
TEST_TOKEN_HELP = "the documented test token 0123…cdef"


class _Parser(argparse.ArgumentParser):
    """argparse with plain-text help kept as written, and usage errors as one line with exit status 2."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(**kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _checked(check: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type`` from a ``cli_input`` check: its message becomes the usage error."""

    def convert(text: str) -> Any:
        if text == "":  # argparse converts string defaults too; "" is "not given"
            return text
        try:
            return check(text)
        except inputs.InputError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = check.__name__
    return convert


SINCE = _checked(inputs.since_time)
PHONE = _checked(inputs.phone_number)
SCOPE = _checked(inputs.scope)
MESSAGE_SID = _checked(inputs.message_sid)
COUNT = _checked(inputs.positive_count)
SECONDS = _checked(inputs.seconds)
PORT = _checked(inputs.port)
URL = _checked(inputs.web_url)
SERVICE_SID = _checked(inputs.service_sid)
ERROR_CODE = _checked(inputs.error_code)
FRAGMENT = _checked(inputs.url_fragment)
NEW_FILE = _checked(inputs.new_file)


def _command(group: Any, name: str, summary: str, *examples: str, parents: Sequence[_Parser] = ()) -> _Parser:
    """A subcommand with its one-line summary and examples (shown under its --help)."""
    epilog = "examples:\n" + "\n".join(f"  {example}" for example in examples) if examples else None
    parser: _Parser = group.add_parser(
        name, help=summary, description=summary[0].upper() + summary[1:] + ".", epilog=epilog, parents=list(parents)
    )
    return parser


def _actions(parser: _Parser) -> Any:
    return parser.add_subparsers(title="actions", dest="action", required=True, metavar="ACTION", parser_class=_Parser)


def _old_name(parser: Any, flag: str, dest: str) -> None:
    """Keep a flag's earlier name working (hidden from --help) so older scripts and notes still run."""
    parser.add_argument(flag, dest=dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


class _Version(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print smsbridge's version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> NoReturn:
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 - only for --version

        try:
            number = version("smsbridge")
        except PackageNotFoundError:
            number = "unknown (not installed)"
        parser.exit(EXIT_OK, f"smsbridge {number}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="smsbridge",
        description="smsbridge: Twilio opt-outs, replies and delivery receipts back into SAS CI360.\n"
        "Runs the whole loop locally (serve), sends signed test webhooks (simulate), and reads, checks and repairs\n"
        "a deployed stack (--stack NAME) or the local one (--local).",
        epilog="examples:\n"
        "  smsbridge serve                                       # the local stack on 127.0.0.1:3000\n"
        "  smsbridge simulate inbound --url http://127.0.0.1:3000/twilio/inbound --body STOP\n"
        "  smsbridge optouts get +14155550100 --local\n"
        "  smsbridge trace SM0123… --local                       # the story of one message\n"
        "  smsbridge COMMAND --help                              # a command's options and examples\n\n"
        + EXIT_STATUSES,
    )
    parser.add_argument("--version", action=_Version)
    commands = parser.add_subparsers(
        title="commands", dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    _add_serve(commands)
    _add_simulate(commands)
    _add_optouts(commands)
    _add_ci360(commands)
    _add_consent(commands)
    _add_replay(commands)
    _add_recover(commands)
    _add_trace(commands)
    _add_twilio(commands)
    _add_smoke(commands)
    return parser


def _where(*flags: tuple[str, str]) -> _Parser:
    """Options that say which deployment a command works on: --local, --stack, or the resources by name."""
    where = _Parser(add_help=False)
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


def _json_flag(parser: _Parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (shape in the README) instead of text")


# --- serve -------------------------------------------------------------------------------------------------


def _add_serve(commands: Any) -> None:
    serve = _command(
        commands,
        "serve",
        "run the whole loop locally (moto for AWS, the webhook over HTTP)",
        "smsbridge serve",
        "smsbridge serve --port 8080 --log-level INFO",
        'smsbridge serve --auth-token "$TWILIO_AUTH_TOKEN" --public-url https://abc.ngrok.app',
    )
    serve.add_argument("--port", type=PORT, default=3000, help="port of the webhook server (default 3000; 0 = any)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument(
        "--auth-token", default=None, help=f"Twilio auth token to verify with (default: {TEST_TOKEN_HELP})"
    )
    serve.add_argument(
        "--public-url",
        type=URL,
        default="",
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
        public_url=args.public_url,
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
    token_flag = "" if default_token else " --auth-token " + token
    return [
        f"smsbridge local stack; AWS emulated by moto at {stack.aws_endpoint_url}",
        f"  CI360 gateway:    {target}" + ("  (local stub)" if stack.stub else ""),
        f"  CI360 check:      {stack.check_gateway()[1]}",
        f"  inbound webhook:  {stack.base_url}/twilio/inbound",
        f"  status callback:  {stack.base_url}/twilio/status",
        f"  auth token:       {token}" + ("  (the documented test token)" if default_token else ""),
        f"  data:             {stack.data_description()}",
        f"  try: .venv/bin/smsbridge simulate inbound --url {stack.base_url}/twilio/inbound --body STOP{token_flag}",
    ]


# --- simulate ----------------------------------------------------------------------------------------------


def _add_simulate(commands: Any) -> None:
    simulate = _command(
        commands,
        "simulate",
        "send a correctly signed Twilio webhook to a URL",
        "smsbridge simulate inbound --url http://127.0.0.1:3000/twilio/inbound --body STOP",
        "smsbridge simulate status --url http://127.0.0.1:3000/twilio/status --status undelivered --error-code 30006",
    )
    simulate.add_argument("kind", choices=["inbound", "status"], help="inbound (an SMS to us) or status (a callback)")
    simulate.add_argument("--url", type=URL, required=True, help="the webhook URL, exactly as configured in Twilio")
    simulate.add_argument("--auth-token", default=None, help=f"token to sign with (default: {TEST_TOKEN_HELP})")
    simulate.add_argument("--body", default="STOP", help="inbound: the message text (default STOP)")
    simulate.add_argument("--status", default="delivered", help="status: MessageStatus (default delivered)")
    simulate.add_argument("--error-code", type=ERROR_CODE, default="", help="status: ErrorCode, e.g. 30006")
    simulate.add_argument(
        "--from", dest="sender", default="", help="From (default: a customer for inbound, our number for status)"
    )
    simulate.add_argument(
        "--to", dest="recipient", default="", help="To (default: our number for inbound, a customer for status)"
    )
    simulate.add_argument("--account-sid", default="", help="AccountSid (default: the test account AC000…)")
    simulate.add_argument("--message-sid", default="", help="MessageSid (default: a new random one)")
    simulate.add_argument("--messaging-service-sid", default="", help="MessagingServiceSid, if any")
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
    simulate.set_defaults(run=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    from smsbridge.domain.privacy import mask_address  # noqa: PLC0415
    from smsbridge.ops import simulate  # noqa: PLC0415

    extra = [_pair(item) for item in args.param]
    account_sid = args.account_sid or simulate.TEST_ACCOUNT_SID
    if args.kind == "inbound":
        params = simulate.inbound_params(
            body=args.body,
            sender=args.sender or simulate.DEFAULT_CUSTOMER,
            recipient=args.recipient or simulate.DEFAULT_SENDER,
            account_sid=account_sid,
            message_sid=args.message_sid,
            messaging_service_sid=args.messaging_service_sid,
            opt_out_type=args.opt_out_type,
        )
    else:
        params = simulate.status_params(
            status=args.status,
            error_code=args.error_code,
            sender=args.sender or simulate.DEFAULT_SENDER,
            recipient=args.recipient or simulate.DEFAULT_CUSTOMER,
            account_sid=account_sid,
            message_sid=args.message_sid,
            messaging_service_sid=args.messaging_service_sid,
        )
    token = args.auth_token or simulate.TEST_AUTH_TOKEN
    webhook = simulate.sign_webhook(args.url, params + extra, token, delivery_id=args.delivery_id)
    answer = simulate.post(webhook)  # NotReachable when nothing answers there
    fields = dict(params)
    print(
        f"POST {webhook.url}  {args.kind} {fields['MessageSid']}  {mask_address(fields['From'])} -> "
        f"{mask_address(fields['To'])}"
    )
    print(f"HTTP {answer.status} {answer.content_type}".rstrip())
    if answer.body:
        print(answer.body.rstrip("\n"))
    return EXIT_OK if 200 <= answer.status < 300 else EXIT_FOUND_PROBLEM


def _pair(item: str) -> tuple[str, str]:
    from smsbridge.errors import UsageError  # noqa: PLC0415

    name, sep, value = item.partition("=")
    if not sep or not name:
        raise UsageError(f"--param takes NAME=VALUE, not {item!r}")
    return name, value


# --- optouts -----------------------------------------------------------------------------------------------


def _add_optouts(commands: Any) -> None:
    where = _where(("--consent-table", "the consent table's name"))
    _old_name(where, "--table", "consent_table")
    optouts = _command(
        commands,
        "optouts",
        "read, export and import the consent ledger",
        "smsbridge optouts get +14155550100 --local",
        "smsbridge optouts list --local --since 7d",
    )
    actions = _actions(optouts)
    get = _command(
        actions,
        "get",
        "a number's state per scope and its history",
        "smsbridge optouts get +14155550100 --stack smsbridge",
        "smsbridge optouts get +14155550100 --local --json",
        parents=[where],
    )
    get.add_argument("phone", type=PHONE, help="the number, E.164 (e.g. +14155550100)")
    _json_flag(get)
    get.set_defaults(run=run_optouts_get)
    for name, summary, examples in (
        (
            "list",
            "current states, as a table",
            [
                "smsbridge optouts list --stack smsbridge --status opted_out --since 2026-11-01",
                "smsbridge optouts list --local --since 24h --json",
            ],
        ),
        ("export", "current states as CSV, streamed", ["smsbridge optouts export --stack smsbridge -o optouts.csv"]),
    ):
        listing = _command(actions, name, summary, *examples, parents=[where])
        listing.add_argument(
            "--scope", type=SCOPE, default=None, help="only this sender number or Messaging Service SID"
        )
        listing.add_argument(
            "--status", choices=["opted_out", "opted_in"], default=None, help="only this state: opted_out or opted_in"
        )
        listing.add_argument(
            "--since",
            type=SINCE,
            default=None,
            help="only states changed at or after this time: 2026-11-01, 2026-11-01T08:00:00Z, 24h, 7d",
        )
        if name == "list":
            _json_flag(listing)
        listing.set_defaults(run=run_optouts_list if name == "list" else run_optouts_export)
    actions.choices["export"].add_argument(
        "--output", "-o", type=NEW_FILE, default="-", help="file to write (default: stdout)"
    )
    load = _command(
        actions,
        "import",
        "record opt-outs/opt-ins from another system's CSV",
        "smsbridge optouts import legacy.csv --stack smsbridge --dry-run",
        "smsbridge optouts export --stack old -o - | smsbridge optouts import - --stack new",
        parents=[where],
    )
    load.add_argument(
        "file", help="CSV (comma, semicolon or tab) with columns phone, scope, status[, updated_at]; - for stdin"
    )
    load.add_argument("--dry-run", action="store_true", help="say what would change; write nothing")
    load.set_defaults(run=run_optouts_import)


def _locate(args: argparse.Namespace, logical_id: str, output: str, given: str, flag: str) -> Location:
    from smsbridge.ops.deployment import locate  # noqa: PLC0415
    from smsbridge.ops.local_state import LOCAL_STATE, project_root  # noqa: PLC0415

    return locate(
        logical_id,
        output,
        local=args.local,
        stack=args.stack,
        given=given,
        flag=flag,
        region=args.region,
        state_file=args.state_file or project_root() / LOCAL_STATE,
    )


def _ledger(args: argparse.Namespace) -> ConsentLedger:
    from smsbridge.adapters.consent_table import ConsentLedger  # noqa: PLC0415

    location = _locate(args, "ConsentTable", "ConsentTableName", args.consent_table, "--consent-table")
    return ConsentLedger(location.name, client=location.client())


def run_optouts_get(args: argparse.Namespace) -> int:
    from smsbridge.ops.optouts import record_json  # noqa: PLC0415

    records = _ledger(args).get(args.phone)
    if args.json:
        _print_json({"phone": args.phone, "scopes": [record_json(record) for record in records]})
        return EXIT_OK
    if not records:
        print(f"{args.phone}: no consent on record")
        return EXIT_OK
    for record in records:
        status = record.status.value if record.status else "no state (only help or evidence)"
        print(
            f"{record.phone}  scope {record.scope}  {status}"
            + (f"  since {record.updated_at}" if record.updated_at else "")
        )
        for entry in record.history:
            detail = "  ".join(f"{k} {entry[k]}" for k in ("keyword", "rule", "matcher_version") if entry.get(k))
            print(f"  {entry['occurred_at']}  {entry['action']:<8} {entry['source']:<20} {entry['event_id']}  {detail}")
    return EXIT_OK


def run_optouts_list(args: argparse.Namespace) -> int:
    from smsbridge.ops.optouts import STATE_FIELDS, selected_states  # noqa: PLC0415

    states = list(selected_states(_ledger(args), scope=args.scope, status=args.status, since=args.since))
    if args.json:
        _print_json(
            {"states": [{name: state.get(name) for name in STATE_FIELDS} for state in states], "count": len(states)}
        )
        return EXIT_OK
    for state in states:
        print(
            f"{state['phone']:<18} {state['scope']:<36} {state['status']:<10} {state['updated_at']}  {state['source']}"
        )
    print(counted(len(states), "state"))
    return EXIT_OK


def run_optouts_export(args: argparse.Namespace) -> int:
    from smsbridge.ops.optouts import export_csv, selected_states  # noqa: PLC0415

    states = selected_states(_ledger(args), scope=args.scope, status=args.status, since=args.since)
    show = sys.stderr.isatty()
    progress = (lambda n: print(f"\r{n} exported", end="", file=sys.stderr, flush=True)) if show else None
    with _open_output(args.output) as out:
        count = export_csv(states, out, progress)
    print(("\r" if show else "") + counted(count, "state") + " exported", file=sys.stderr)
    return EXIT_OK


def run_optouts_import(args: argparse.Namespace) -> int:
    from smsbridge.clock import utc_now  # noqa: PLC0415
    from smsbridge.ops.optouts import events_from_csv, import_events, open_csv  # noqa: PLC0415

    now = utc_now()
    with open_csv(args.file) as source:
        rows = list(events_from_csv(source, imported_at=now))  # every line checked before anything is written
    summary = import_events(_ledger(args), rows, dry_run=args.dry_run, imported_at=now)
    print("\n".join(summary.lines(args.dry_run)))
    return EXIT_FOUND_PROBLEM if summary.problems else EXIT_OK


@contextmanager
def _open_output(path: Path) -> Iterator[TextIO]:
    if str(path) == "-":
        yield sys.stdout
    else:
        with open(path, "w", encoding="utf-8", newline="") as out:
            yield out


# --- ci360 -------------------------------------------------------------------------------------------------


def _add_ci360(commands: Any) -> None:
    ci360 = _command(
        commands,
        "ci360",
        "set up and check the CI360 side",
        "smsbridge ci360 events",
        "smsbridge ci360 check --stack smsbridge",
    )
    actions = _actions(ci360)
    events = _command(
        actions,
        "events",
        "the external events (names, attributes, types) to define in CI360",
        "smsbridge ci360 events",
        "smsbridge ci360 events --json",
    )
    _json_flag(events)
    events.set_defaults(run=run_ci360_events)
    body = _command(
        actions,
        "connector-body",
        "the body for CI360's Twilio connector endpoint",
        "smsbridge ci360 connector-body --stack smsbridge",
        "smsbridge ci360 connector-body --base-url https://abc123.execute-api.us-east-1.amazonaws.com",
        "smsbridge ci360 connector-body --stack smsbridge --from-number",
        parents=[_where()],
    )
    body.add_argument(
        "--base-url",
        default="",
        help="instead of --stack: the stack's base URL (StatusCallbackUrl without /twilio/status)",
    )
    body.add_argument(
        "--from-number",
        action="store_true",
        help="send From={{$fromPhoneNumber}} instead of through a Messaging Service "
        "(Twilio then refuses opted-out numbers to CI360 only)",
    )
    body.add_argument(
        "--messaging-service",
        type=SERVICE_SID,
        default="",
        help="the Messaging Service SID (MG…) to send through (default: a CI360 variable, {{$messagingServiceSid}})",
    )
    body.add_argument(
        "--fragment",
        type=FRAGMENT,
        default=_default_fragment(),
        help=f"Twilio connection overrides for the StatusCallback (default {_default_fragment()}; '' for none)",
    )
    body.set_defaults(run=run_ci360_connector_body)
    check = _command(
        actions,
        "check",
        "call the gateway with the configured credentials and say what is wrong",
        "smsbridge ci360 check --stack smsbridge",
        "smsbridge ci360 check --local",
        parents=[_where(("--secret-id", "the CI360 secret's name or ARN"))],
    )
    check.add_argument(
        "--url",
        default=os.environ.get("CI360_GATEWAY_URL", ""),
        help="gateway address (instead of a secret; env CI360_GATEWAY_URL)",
    )
    check.add_argument("--tenant", default=os.environ.get("CI360_TENANT_ID", ""), help="env CI360_TENANT_ID")
    check.add_argument("--secret", default=os.environ.get("CI360_CLIENT_SECRET", ""), help="env CI360_CLIENT_SECRET")
    check.set_defaults(run=run_ci360_check)
    sync = _command(
        actions,
        "sync-preferences",
        "send consent changes to CI360 as SMS contact preferences (what the scheduled function does)",
        "smsbridge ci360 sync-preferences --stack smsbridge --dry-run",
        "smsbridge ci360 sync-preferences --stack smsbridge --phone +14155550100",
        "smsbridge ci360 sync-preferences --local --since 24h --dry-run --json",
        parents=[_where(*_TABLES, ("--secret-id", "the CI360 secret's name or ARN"))],
    )
    sync.add_argument("--dry-run", action="store_true", help="print what would be sent; send nothing")
    sync.add_argument(
        "--since",
        type=SINCE,
        default=None,
        help="send everything changed after this time again: 2026-11-01, …T08:00:00Z, 24h, 7d",
    )
    sync.add_argument(
        "--phone",
        type=PHONE,
        action="append",
        default=None,
        help="send just this number, E.164 (repeatable; it must be in the ledger)",
    )
    sync.add_argument(
        "--settle",
        type=SECONDS,
        default=30.0,
        help="leave changes younger than this many seconds for the next run (default 30)",
    )
    _stuck_after(sync)
    _json_flag(sync)
    sync.set_defaults(run=run_ci360_sync)


_TABLES = (("--consent-table", "the consent table's name"), ("--messages-table", "the messages table's name"))


def run_ci360_events(args: argparse.Namespace) -> int:
    from smsbridge.config import event_mapping_from_env  # noqa: PLC0415
    from smsbridge.domain.ci360_events import event_definitions  # noqa: PLC0415

    definitions = event_definitions(event_mapping_from_env(os.environ))
    if args.json:
        _print_json(
            {
                "events": [
                    {
                        "name": name,
                        "identity": "datahub_id",
                        "attributes": [
                            {"name": attribute, "type": kind, "meaning": meaning}
                            for attribute, kind, meaning in attributes
                        ],
                    }
                    for name, attributes in definitions
                ]
            }
        )
        return EXIT_OK
    for name, attributes in definitions:
        print(f"{name}  (external event; identity: datahub_id)")
        for attribute, kind, meaning in attributes:
            print(f"  {attribute:<24} {kind:<10} {meaning}")
    return EXIT_OK


def run_ci360_connector_body(args: argparse.Namespace) -> int:
    from smsbridge.ops.connector import base_url_of, body_for  # noqa: PLC0415

    base = args.base_url or base_url_of(_locate(args, "StatusCallbackUrl", "StatusCallbackUrl", "", "--base-url").name)
    print(body_for(base, from_number=args.from_number, messaging_service=args.messaging_service,
                   fragment=args.fragment))  # fmt: skip
    return EXIT_OK


def run_ci360_check(args: argparse.Namespace) -> int:
    from smsbridge.adapters.ci360 import Ci360Credentials, Ci360Gateway  # noqa: PLC0415
    from smsbridge.domain.delivery import explain_check  # noqa: PLC0415

    if args.url or args.tenant or args.secret:
        credentials = Ci360Credentials(args.url.rstrip("/"), args.tenant, args.secret)
    else:
        location = _locate(args, "Ci360Secret", "Ci360Secret", args.secret_id, "--secret-id")
        secret = location.client("secretsmanager").get_secret_value(SecretId=location.name)["SecretString"]
        credentials = Ci360Credentials.parse(secret)
    status, body, error = Ci360Gateway(credentials, timeout=10).check()
    ok, message = explain_check(status, body, error, credentials.gateway_url)
    print(message)
    return EXIT_OK if ok else EXIT_FOUND_PROBLEM


def _sync_parts(args: argparse.Namespace) -> tuple[ConsentLedger, SyncRecords]:
    from smsbridge.adapters.consent_table import ConsentLedger  # noqa: PLC0415
    from smsbridge.adapters.sync_records import SyncRecords  # noqa: PLC0415

    consent = _locate(args, "ConsentTable", "ConsentTableName", args.consent_table, "--consent-table")
    messages = _locate(args, "MessagesTable", "MessagesTableName", args.messages_table, "--messages-table")
    return ConsentLedger(consent.name, client=consent.client()), SyncRecords(messages.name, client=messages.client())


def run_ci360_sync(args: argparse.Namespace) -> int:
    from smsbridge.adapters.ci360 import Ci360Credentials, Ci360Gateway  # noqa: PLC0415
    from smsbridge.app.preferences import PreferenceSync  # noqa: PLC0415
    from smsbridge.errors import UsageError  # noqa: PLC0415

    ledger, records = _sync_parts(args)
    unknown = [phone for phone in args.phone or [] if not ledger.states_of(phone)]
    if unknown:  # a number the ledger does not know would reach CI360 as "not opted out"
        raise UsageError(
            f"no consent on record for {', '.join(unknown)}: nothing to send for "
            f"{'it' if len(unknown) == 1 else 'them'} (see smsbridge optouts get)"
        )
    secret = _locate(args, "Ci360Secret", "Ci360Secret", args.secret_id, "--secret-id")
    text = secret.client("secretsmanager").get_secret_value(SecretId=secret.name)["SecretString"]
    gateway = Ci360Gateway(Ci360Credentials.parse(text), max_connections=2, timeout=10)
    sync = PreferenceSync(ledger=ledger, records=records, api=lambda: gateway, poll_seconds=1,
                          settle_seconds=args.settle, stuck_after_seconds=args.stuck_after * 60)  # fmt: skip
    report = sync.run(dry_run=args.dry_run, since=args.since, phones=args.phone)
    if args.json:
        _print_json(_as_json(report))
    else:
        print("\n".join(report.lines()))
    problem = report.outcome in ("failed", "busy") or report.stuck or report.earlier_failure
    return EXIT_FOUND_PROBLEM if problem else EXIT_OK


def _stuck_after(parser: _Parser) -> None:
    parser.add_argument(
        "--stuck-after",
        type=COUNT,
        default=120,
        metavar="MINUTES",
        help="call a CI360 import job pending longer than this stuck (default 120, as PreferenceJobStuckMinutes)",
    )


def _default_fragment() -> str:
    """Twilio's connection overrides smsbridge prints and sets (one value: ``twilio_setup.DEFAULT_URL_FRAGMENT``)."""
    from smsbridge.ops.twilio_setup import DEFAULT_URL_FRAGMENT  # noqa: PLC0415

    return DEFAULT_URL_FRAGMENT


# --- consent -----------------------------------------------------------------------------------------------


def _add_consent(commands: Any) -> None:
    consent = _command(
        commands, "consent", "compare the ledger with CI360 and Twilio", "smsbridge consent reconcile --stack smsbridge"
    )
    actions = _actions(consent)
    reconcile = _command(
        actions,
        "reconcile",
        "print the drift between ledger, CI360 and Twilio, with fixes",
        "smsbridge consent reconcile --stack smsbridge --write-fix twilio-blocks.csv",
        "smsbridge consent reconcile --local --json",
        parents=[_where(*_TABLES)],
    )
    reconcile.add_argument(
        "--write-fix",
        type=NEW_FILE,
        default=None,
        help="write the opt-outs Twilio holds and the ledger lacks to this CSV",
    )
    _stuck_after(reconcile)
    _json_flag(reconcile)
    reconcile.set_defaults(run=run_consent_reconcile)


def run_consent_reconcile(args: argparse.Namespace) -> int:
    from smsbridge.ops.reconcile import find_drift, report_lines, write_fix_csv  # noqa: PLC0415

    ledger, records = _sync_parts(args)
    drift = find_drift(ledger, records, stuck_after_seconds=args.stuck_after * 60)
    if args.write_fix and drift.unknown_to_ledger:
        write_fix_csv(drift.unknown_to_ledger, args.write_fix)
    if args.json:
        _print_json({"drift": not drift.none, **_as_json(drift)})
    else:
        where = "--local" if args.local else (f"--stack {args.stack}" if args.stack else "")
        print("\n".join(report_lines(drift, where, args.write_fix)))
    return EXIT_OK if drift.none else EXIT_FOUND_PROBLEM


# --- replay ------------------------------------------------------------------------------------------------


def _add_replay(commands: Any) -> None:
    queues = _where(("--dead-letter-queue-url", "the dead-letter queue"), ("--retry-queue-url", "the retry queue"))
    replay = _command(
        commands,
        "replay",
        "list dead-lettered events, or move them back to be sent again",
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
    _json_flag(replay)
    replay.set_defaults(run=run_replay)


def run_replay(args: argparse.Namespace) -> int:
    from smsbridge.ops.replay import parked_list, replay  # noqa: PLC0415

    dead = _locate(args, "DeadLetterQueue", "DeadLetterQueueUrl", args.dead_letter_queue_url, "--dead-letter-queue-url")
    if args.list:
        entries = parked_list(
            dead.client("sqs"), dead_letter_queue_url=dead.name, reason=args.reason, kind=args.kind, limit=args.max or 0
        )
        if args.json:
            _print_json({"parked": [_as_json(entry) for entry in entries], "count": len(entries)})
        else:
            for entry in entries:
                print(entry.line())
            print(counted(len(entries), "parked event"))
        return EXIT_OK
    retry = _locate(args, "RetryQueue", "RetryQueueUrl", args.retry_queue_url, "--retry-queue-url")
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


# --- recover -----------------------------------------------------------------------------------------------


def _add_recover(commands: Any) -> None:
    where = _where(
        *_TABLES,
        ("--dead-letter-queue-url", "the dead-letter queue"),
        ("--retry-queue-url", "the retry queue"),
        ("--secret-id", "the CI360 secret's name or ARN"),
    )
    recover = _command(
        commands,
        "recover",
        "send, once, the CI360 events of facts on record that never reached CI360 (after stream retries ran out)",
        "smsbridge recover --stack smsbridge --since 24h --dry-run",
        "smsbridge recover --stack smsbridge --since 2026-11-01 --until 2026-11-02",
        parents=[where],
    )
    recover.add_argument(
        "--since", type=SINCE, required=True, help="facts recorded from this time: 2026-11-01, …T08:00:00Z, 24h, 7d"
    )
    recover.add_argument("--until", type=SINCE, default="", help="… up to this time (default: now)")
    recover.add_argument("--dry-run", action="store_true", help="count the events CI360 is missing; send none")
    recover.set_defaults(run=run_recover)


def run_recover(args: argparse.Namespace) -> int:
    from smsbridge.app.recover import run_recovery  # noqa: PLC0415 - this command only

    where = {name: _locate(args, logical, output, given, flag) for name, logical, output, given, flag in (
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


# --- trace -------------------------------------------------------------------------------------------------


def _add_trace(commands: Any) -> None:
    trace = _command(
        commands,
        "trace",
        "the story of one message: webhooks, consent facts, CI360 events, dead letters",
        "smsbridge trace SM0123456789abcdef0123456789abcdef --local",
        "smsbridge trace SM0123456789abcdef0123456789abcdef --stack smsbridge --json",
        parents=[_where(*_TABLES, ("--dead-letter-queue-url", "the dead-letter queue"))],
    )
    trace.add_argument("message_sid", type=MESSAGE_SID, metavar="MESSAGE_SID", help="the Twilio MessageSid (SM…)")
    _json_flag(trace)
    trace.set_defaults(run=run_trace)


def run_trace(args: argparse.Namespace) -> int:
    from smsbridge.adapters.consent_table import ConsentLedger  # noqa: PLC0415
    from smsbridge.ops.trace import trace_message  # noqa: PLC0415

    consent = _locate(args, "ConsentTable", "ConsentTableName", args.consent_table, "--consent-table")
    messages = _locate(args, "MessagesTable", "MessagesTableName", args.messages_table, "--messages-table")
    dead = _locate(args, "DeadLetterQueue", "DeadLetterQueueUrl", args.dead_letter_queue_url, "--dead-letter-queue-url")
    story = trace_message(
        args.message_sid,
        messages=messages.client(),
        messages_table=messages.name,
        ledger=ConsentLedger(consent.name, client=consent.client()),
        sqs=dead.client("sqs"),
        dead_letter_queue_url=dead.name,
    )
    if args.json:
        _print_json(story.to_json())
    else:
        print("\n".join(story.lines()))
    return EXIT_OK if story.found else EXIT_FOUND_PROBLEM


# --- twilio ------------------------------------------------------------------------------------------------


def _add_twilio(commands: Any) -> None:
    twilio = _command(
        commands,
        "twilio",
        "set up the Twilio side",
        "smsbridge twilio configure --stack smsbridge --phone +14155550199",
    )
    actions = _actions(twilio)
    configure = _command(
        actions,
        "configure",
        "point a number or Messaging Service at the deployed webhooks (dry run unless --apply)",
        "smsbridge twilio configure --stack smsbridge --phone +14155550199",
        "smsbridge twilio configure --stack smsbridge --messaging-service MG… --apply",
        parents=[_where()],
    )
    target = configure.add_mutually_exclusive_group(required=True)
    target.add_argument("--phone", type=PHONE, default="", help="one of the account's numbers, E.164")
    _old_name(target, "--phone-number", "phone")
    target.add_argument("--messaging-service", type=SERVICE_SID, default="", help="a Messaging Service SID (MG…)")
    configure.add_argument(
        "--account-sid", default=os.environ.get("TWILIO_ACCOUNT_SID", ""), help="env TWILIO_ACCOUNT_SID"
    )
    configure.add_argument(
        "--auth-token", default=os.environ.get("TWILIO_AUTH_TOKEN", ""), help="env TWILIO_AUTH_TOKEN"
    )
    configure.add_argument("--inbound-url", type=URL, default="", help="instead of --stack: the InboundUrl output")
    configure.add_argument(
        "--status-url", type=URL, default="", help="instead of --stack: the StatusCallbackUrl output"
    )
    configure.add_argument("--fallback-url", type=URL, default="", help="a fallback URL for inbound messages")
    configure.add_argument(
        "--fragment",
        type=FRAGMENT,
        default=_default_fragment(),
        help=f"connection overrides to append (default {_default_fragment()}, as TwilioUrlFragment; '' for none)",
    )
    configure.add_argument(
        "--allow-local",
        action="store_true",
        help="allow loopback and private URLs (Twilio cannot reach them; for test accounts)",
    )
    configure.add_argument("--apply", action="store_true", help="write the changes (default: only show them)")
    configure.add_argument("--twilio-api-url", default="", help=argparse.SUPPRESS)  # tests: a local Twilio stand-in
    configure.set_defaults(run=run_twilio_configure)


def run_twilio_configure(args: argparse.Namespace) -> int:
    from smsbridge.adapters.twilio_api import TwilioAccount  # noqa: PLC0415
    from smsbridge.errors import UsageError  # noqa: PLC0415
    from smsbridge.ops.twilio_setup import WebhookTargets, changes, describe  # noqa: PLC0415

    inbound, status = args.inbound_url, args.status_url
    if not (inbound and status):
        inbound = inbound or _locate(args, "InboundUrl", "InboundUrl", "", "--inbound-url").name
        status = status or _locate(args, "StatusCallbackUrl", "StatusCallbackUrl", "", "--status-url").name
    for url in (inbound, status, args.fallback_url):
        problem = inputs.local_host_problem(url) if url and not args.allow_local else None
        if problem:
            raise UsageError(
                f"{url}: Twilio cannot reach it ({problem}); give a public URL (a tunnel's, with serve "
                "--public-url) or --allow-local"
            )
    targets = WebhookTargets(inbound, status, args.fallback_url, args.fragment)
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


# --- smoke ---------------------------------------------------------------------------------------------------


def _add_smoke(commands: Any) -> None:
    smoke = _command(
        commands,
        "smoke",
        "prove a deployment hop by hop (the go-live check)",
        "smsbridge smoke --stack smsbridge",
        "smsbridge smoke --local",
        parents=[_where()],
    )
    smoke.add_argument("--identity", default="", help="a real test customer's datahub id (default: smsbridge-smoke, "
                       "which CI360 has no identity for)")  # fmt: skip
    smoke.add_argument("--auth-token", default="", help="sign with this token (default: the one in the stack's secret)")
    smoke.add_argument(
        "--account-sid", default="", help="AccountSid to send (default: the secret's first, or a test one)"
    )
    smoke.add_argument("--fragment", type=FRAGMENT, default=_default_fragment(), help="the connection overrides the "
                       f"URLs carry in Twilio (default {_default_fragment()}; '' for none)")  # fmt: skip
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


# --- output and errors -------------------------------------------------------------------------------------


def _as_json(value: Any) -> Any:
    """A dataclass (or a value with ``to_json``) as plain JSON values."""
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    from dataclasses import asdict, is_dataclass  # noqa: PLC0415

    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return value


def _print_json(value: Any) -> None:
    import json  # noqa: PLC0415

    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def explain(error: BaseException) -> tuple[str, int] | None:  # noqa: PLR0911 - one case per kind of failure
    """The one line and exit status for an expected failure; None for a bug (which keeps its traceback)."""
    from smsbridge.errors import (  # noqa: PLC0415
        ConfigurationError,
        NotReachable,
        RetryableError,
        SmsBridgeError,
        UsageError,
    )

    if isinstance(error, UsageError | ConfigurationError):
        return str(error), EXIT_USAGE
    if isinstance(error, NotReachable | RetryableError):
        return str(error), EXIT_UNREACHABLE
    if isinstance(error, SmsBridgeError):
        return str(error), EXIT_FOUND_PROBLEM
    if isinstance(error, UnicodeDecodeError):
        return 'the file is not UTF-8 text: save it as "CSV UTF-8" and try again', EXIT_USAGE
    if isinstance(error, FileNotFoundError | IsADirectoryError | NotADirectoryError | PermissionError):
        return f"{error.filename}: {error.strerror.lower() if error.strerror else error}", EXIT_USAGE
    aws = _explain_aws(error)
    if aws:
        return aws
    if isinstance(error, ConnectionError | TimeoutError) or type(error).__name__ == "URLError":
        return f"cannot connect: {getattr(error, 'reason', error)}", EXIT_UNREACHABLE
    if isinstance(error, OSError):
        return f"{error.strerror or error}", EXIT_UNREACHABLE
    return None


_NOT_FOUND = {"ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}


def _explain_aws(error: BaseException) -> tuple[str, int] | None:  # noqa: PLR0911 - one case per kind of failure
    exceptions = sys.modules.get("botocore.exceptions")
    if exceptions is None:  # boto was never imported, so this is not an AWS error
        return None
    if isinstance(error, exceptions.NoRegionError):
        return "no AWS region: give --region, set AWS_REGION, or use --local", EXIT_USAGE
    if isinstance(error, exceptions.NoCredentialsError):
        return "no AWS credentials: set AWS_PROFILE or run `aws configure` (or use --local)", EXIT_UNREACHABLE
    if isinstance(error, exceptions.EndpointConnectionError):
        return (
            f"cannot reach {error.kwargs.get('endpoint_url', 'AWS')}: is the network (or `make serve`) up?",
            EXIT_UNREACHABLE,
        )
    if isinstance(error, exceptions.ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        detail = error.response.get("Error", {}).get("Message", "")
        if code in _NOT_FOUND:
            return f"{(detail or code).rstrip('.')}: check the name (or --stack and --region)", EXIT_USAGE
        return f"AWS refused: {code}: {detail}".rstrip(": "), EXIT_UNREACHABLE
    if isinstance(error, exceptions.BotoCoreError):
        return f"AWS: {error}", EXIT_UNREACHABLE
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as error:
        known = explain(error)
        if known is None:
            raise
        message, code = known
        print(f"smsbridge: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
