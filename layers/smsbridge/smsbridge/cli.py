"""``smsbridge``: the command line. Each subcommand calls the same code the Lambda functions use."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from smsbridge.adapters.ci360 import Ci360Credentials, Ci360Gateway
from smsbridge.adapters.consent_table import ConsentLedger
from smsbridge.adapters.deployment import Location, locate
from smsbridge.adapters.sync_records import SyncRecords
from smsbridge.adapters.twilio_api import TwilioAccount
from smsbridge.config import event_mapping_from_env
from smsbridge.domain.ci360_events import EventKind, connector_body, event_definitions
from smsbridge.domain.delivery import explain_check
from smsbridge.domain.ingress import STATUS_ROUTE
from smsbridge.domain.privacy import mask_address
from smsbridge.errors import ConfigurationError, SmsBridgeError
from smsbridge.forwarder_bootstrap import run_recovery
from smsbridge.local.paths import LOCAL_STATE, project_root
from smsbridge.optouts import events_from_csv, export_csv, import_events, selected_states
from smsbridge.preference_sync import PreferenceSync
from smsbridge.reconcile import find_drift, report_lines, write_fix_csv
from smsbridge.replay import replay
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
from smsbridge.twilio_setup import WebhookTargets, changes, describe


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
        type=int,
        default=2,
        help="first retry delay of the local forwarder (deployed: 30), doubling per attempt",
    )
    serve.add_argument(
        "--sync-seconds",
        type=float,
        default=60,
        help="run the contact-preference sync this often (0: never; deployed: PreferenceSyncSchedule)",
    )
    serve.add_argument(
        "--chaos",
        type=int,
        default=None,
        metavar="SEED",
        help="deliver like AWS at its worst, reproducibly from SEED: duplicate queue deliveries, redelivered "
        "stream batches, crashes and timeouts after CI360 answers, throttled writes (summary printed at stop)",
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
    _add_optouts(commands)
    _add_ci360(commands)
    _add_twilio(commands)
    return parser


def _add_twilio(commands: Any) -> None:
    twilio = commands.add_parser("twilio", help="set up the Twilio side")
    actions = twilio.add_subparsers(dest="action", required=True, metavar="ACTION")
    configure = actions.add_parser(
        "configure", parents=[_where()], help="point a number or Messaging Service at the deployed webhooks "
        "(dry run unless --apply)")  # fmt: skip
    target = configure.add_mutually_exclusive_group(required=True)
    target.add_argument("--phone-number", default="", help="one of the account's numbers, E.164")
    target.add_argument("--messaging-service", default="", help="a Messaging Service SID (MG…)")
    configure.add_argument(
        "--account-sid", default=os.environ.get("TWILIO_ACCOUNT_SID", ""), help="env TWILIO_ACCOUNT_SID"
    )
    configure.add_argument(
        "--auth-token", default=os.environ.get("TWILIO_AUTH_TOKEN", ""), help="env TWILIO_AUTH_TOKEN"
    )
    configure.add_argument("--inbound-url", default="", help="instead of --stack: the InboundUrl output")
    configure.add_argument("--status-url", default="", help="instead of --stack: the StatusCallbackUrl output")
    configure.add_argument("--fallback-url", default="", help="a fallback URL for inbound messages (optional)")
    configure.add_argument("--fragment", default="", help="connection overrides to append, e.g. rc=3&rp=5xx,ct,rt "
                           "(deploy with the same TwilioUrlFragment)")  # fmt: skip
    configure.add_argument("--apply", action="store_true", help="write the changes (default: only show them)")
    configure.add_argument("--twilio-api-url", default="", help=argparse.SUPPRESS)  # tests: a local Twilio stand-in
    configure.set_defaults(run=run_twilio_configure)


def _where(*flags: tuple[str, str]) -> argparse.ArgumentParser:
    """Options that say which deployment a command works on: --local, --stack, or the resources by name."""
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--local", action="store_true", help="the running local stack (`make serve`)")
    where.add_argument("--stack", default="", help="a deployed stack: resources are read from its outputs")
    for flag, helptext in flags:
        where.add_argument(flag, default="", help=helptext)
    where.add_argument("--region", default=None, help="AWS region (default: your AWS configuration)")
    where.add_argument("--state-file", type=Path, default=None, help="with --local: the running stack's state file "
                       "(default: .smsbridge/local.json in the checkout)")  # fmt: skip
    return where


def _add_ci360(commands: Any) -> None:
    ci360 = commands.add_parser("ci360", help="set up and check the CI360 side")
    actions = ci360.add_subparsers(dest="action", required=True, metavar="ACTION")
    events = actions.add_parser("events", help="the external events (names, attributes, types) to define in CI360")
    events.set_defaults(run=run_ci360_events)
    body = actions.add_parser("connector-body", help="the body for CI360's Twilio connector endpoint")
    body.add_argument(
        "--base-url", required=True, help="the stack's base URL (StatusCallbackUrl without /twilio/status)"
    )
    body.set_defaults(run=run_ci360_connector_body)
    check = actions.add_parser(
        "check", parents=[_where(("--secret-id", "the CI360 secret's name or ARN"))],
        help="call the gateway with the configured credentials and say in plain words what is wrong",
    )  # fmt: skip
    check.add_argument("--url", default=os.environ.get("CI360_GATEWAY_URL", ""), help="gateway address (instead "
                       "of a secret; env CI360_GATEWAY_URL)")  # fmt: skip
    check.add_argument("--tenant", default=os.environ.get("CI360_TENANT_ID", ""), help="env CI360_TENANT_ID")
    check.add_argument("--secret", default=os.environ.get("CI360_CLIENT_SECRET", ""), help="env CI360_CLIENT_SECRET")
    check.set_defaults(run=run_ci360_check)
    tables = (("--consent-table", "the consent table's name"), ("--messages-table", "the messages table's name"))
    sync = actions.add_parser(
        "sync-preferences", parents=[_where(*tables, ("--secret-id", "the CI360 secret's name or ARN"))],
        help="send consent changes to CI360 as SMS contact preferences (what the scheduled function does)",
    )  # fmt: skip
    sync.add_argument("--dry-run", action="store_true", help="print what would be sent; send nothing")
    sync.add_argument("--since", default=None, help="send everything changed after this ISO time again")
    sync.add_argument("--phone", action="append", default=None, help="send just this number (repeatable)")
    sync.add_argument("--settle", type=float, default=30.0, help="leave changes younger than this many seconds "
                      "for the next run (default 30)")  # fmt: skip
    sync.set_defaults(run=run_ci360_sync)
    consent = commands.add_parser("consent", help="compare the ledger with CI360 and Twilio")
    consent_actions = consent.add_subparsers(dest="action", required=True, metavar="ACTION")
    reconcile_parser = consent_actions.add_parser(
        "reconcile", parents=[_where(*tables)], help="print the drift between ledger, CI360 and Twilio, with fixes"
    )
    reconcile_parser.add_argument("--write-fix", type=Path, default=None,
                                  help="write the opt-outs Twilio holds and the ledger lacks to this CSV")  # fmt: skip
    reconcile_parser.set_defaults(run=run_consent_reconcile)
    queues = _where(("--dead-letter-queue-url", "the dead-letter queue"), ("--retry-queue-url", "the retry queue"))
    replay = commands.add_parser("replay", parents=[queues], help="move dead-lettered events back to be sent again")
    replay.add_argument("--reason", default="", help="only events whose reason contains this text")
    replay.add_argument("--kind", default="", choices=["", *[k.value for k in EventKind]], help="only this kind")
    replay.add_argument("--max", type=int, default=0, help="move at most this many")
    replay.add_argument("--dry-run", action="store_true", help="count what would move; move nothing")
    replay.set_defaults(run=run_replay)
    recover_parser = commands.add_parser(
        "recover", parents=[_where(*tables, ("--dead-letter-queue-url", "the dead-letter queue"),
                                   ("--retry-queue-url", "the retry queue"),
                                   ("--secret-id", "the CI360 secret's name or ARN"))],
        help="send, once, the CI360 events of facts on record that never reached CI360 (e.g. after stream retries "
             "ran out)",
    )  # fmt: skip
    recover_parser.add_argument("--since", required=True, help="facts recorded from this ISO 8601 time")
    recover_parser.add_argument("--until", default="", help="... up to this ISO 8601 time (default: now)")
    recover_parser.add_argument("--dry-run", action="store_true", help="count the events CI360 is missing; send none")
    recover_parser.set_defaults(run=run_recover)


def _add_optouts(commands: Any) -> None:
    where = _where(("--table", "the consent table's name"))
    optouts = commands.add_parser("optouts", help="read, export and import the consent ledger")
    actions = optouts.add_subparsers(dest="action", required=True, metavar="ACTION")
    get = actions.add_parser("get", parents=[where], help="a number's state per scope and its history")
    get.add_argument("phone", help="the number, E.164 (e.g. +14155550100)")
    get.set_defaults(run=run_optouts_get)
    for name, helptext in (("list", "current states, as a table"), ("export", "current states as CSV, streamed")):
        listing = actions.add_parser(name, parents=[where], help=helptext)
        listing.add_argument("--scope", default=None, help="only this sender number or Messaging Service SID")
        listing.add_argument("--status", choices=["opted_out", "opted_in"], default=None, help="only this state")
        listing.add_argument("--since", default=None, help="only states changed at or after this ISO date/time")
        listing.set_defaults(run=run_optouts_list if name == "list" else run_optouts_export)
    actions.choices["export"].add_argument("--output", "-o", default="-", help="file to write (default: stdout)")
    load = actions.add_parser("import", parents=[where], help="record opt-outs/opt-ins from another system's CSV")
    load.add_argument("file", help="CSV with columns phone, scope, status[, updated_at]")
    load.add_argument("--dry-run", action="store_true", help="say what would change; write nothing")
    load.set_defaults(run=run_optouts_import)


def run_serve(args: argparse.Namespace) -> int:
    from smsbridge.local.chaos import Chaos  # noqa: PLC0415 - moto: only this command
    from smsbridge.local.server import Ci360Target, LocalStack  # noqa: PLC0415 - moto: only this command

    ci360 = None
    if args.ci360_url or args.ci360_tenant or args.ci360_secret:
        if not (args.ci360_url and args.ci360_tenant and args.ci360_secret):
            raise ConfigurationError("give all three of --ci360-url, --ci360-tenant and --ci360-secret")
        ci360 = Ci360Target(args.ci360_url, args.ci360_tenant, args.ci360_secret)
    stack = LocalStack(
        auth_token=args.auth_token, port=args.port, host=args.host, public_url=args.public_url,
        log_level=args.log_level, state_file=args.state_file, ci360=ci360, retry_base_seconds=args.retry_seconds,
        sync_seconds=args.sync_seconds,
        echo=lambda line: print(line, flush=True),
        chaos=None if args.chaos is None else Chaos(args.chaos),
    )  # fmt: skip
    stack.start()
    print(f"smsbridge local stack; AWS emulated by moto at {stack.aws_endpoint_url}")
    target = stack.ci360.url if stack.ci360 else ""
    print(f"  CI360 gateway:    {target}" + ("  (local stub)" if stack.stub else ""))
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


def _locate(args: argparse.Namespace, logical_id: str, output: str, given: str, flag: str) -> Location:
    return locate(logical_id, output, local=args.local, stack=args.stack, given=given, flag=flag,
                  region=args.region, state_file=args.state_file or project_root() / LOCAL_STATE)  # fmt: skip


def run_ci360_events(args: argparse.Namespace) -> int:
    for name, attributes in event_definitions(event_mapping_from_env(os.environ)):
        print(f"{name}  (external event; identity: datahub_id)")
        for attribute, kind, meaning in attributes:
            print(f"  {attribute:<24} {kind:<10} {meaning}")
    return 0


def run_ci360_connector_body(args: argparse.Namespace) -> int:
    print(connector_body(args.base_url.rstrip("/") + STATUS_ROUTE))
    return 0


def run_ci360_check(args: argparse.Namespace) -> int:
    if args.url or args.tenant or args.secret:
        credentials = Ci360Credentials(args.url.rstrip("/"), args.tenant, args.secret)
    else:
        location = _locate(args, "Ci360Secret", "Ci360Secret", args.secret_id, "--secret-id")
        secret = location.client("secretsmanager").get_secret_value(SecretId=location.name)["SecretString"]
        credentials = Ci360Credentials.parse(secret)
    status, body, error = Ci360Gateway(credentials, timeout=10).check()
    ok, message = explain_check(status, body, error, credentials.gateway_url)
    print(message)
    return 0 if ok else 1


def run_twilio_configure(args: argparse.Namespace) -> int:
    inbound, status = args.inbound_url, args.status_url
    if not (inbound and status):
        inbound = inbound or _locate(args, "InboundUrl", "InboundUrl", "", "--inbound-url").name
        status = status or _locate(args, "StatusCallbackUrl", "StatusCallbackUrl", "", "--status-url").name
    targets = WebhookTargets(inbound, status, args.fallback_url, args.fragment)
    account = TwilioAccount(args.account_sid, args.auth_token, api_url=args.twilio_api_url)
    if args.phone_number:
        sid, current = account.number(args.phone_number)
        found = changes(current, targets.for_number())
        if args.apply and found:
            account.update_number(sid, {change.field: change.wanted for change in found})
        print("\n".join(describe(f"number {args.phone_number} ({sid})", found, args.apply)))
    else:
        found = changes(account.service(args.messaging_service), targets.for_service())
        if args.apply and found:
            account.update_service(args.messaging_service, {change.field: change.wanted for change in found})
        print("\n".join(describe(f"Messaging Service {args.messaging_service}", found, args.apply)))
    return 0


def _sync_parts(args: argparse.Namespace) -> tuple[ConsentLedger, SyncRecords, Location]:
    consent = _locate(args, "ConsentTable", "ConsentTableName", args.consent_table, "--consent-table")
    messages = _locate(args, "MessagesTable", "MessagesTableName", args.messages_table, "--messages-table")
    return (ConsentLedger(consent.name, client=consent.client()),
            SyncRecords(messages.name, client=messages.client()), messages)  # fmt: skip


def run_ci360_sync(args: argparse.Namespace) -> int:
    ledger, records, _ = _sync_parts(args)
    secret = _locate(args, "Ci360Secret", "Ci360Secret", args.secret_id, "--secret-id")
    text = secret.client("secretsmanager").get_secret_value(SecretId=secret.name)["SecretString"]
    gateway = Ci360Gateway(Ci360Credentials.parse(text), max_connections=2, timeout=10)
    sync = PreferenceSync(ledger=ledger, records=records, api=lambda: gateway, poll_seconds=1,
                          settle_seconds=args.settle)  # fmt: skip
    report = sync.run(dry_run=args.dry_run, since=args.since, phones=args.phone)
    print("\n".join(report.lines()))
    return 1 if report.outcome == "failed" else 0


def run_consent_reconcile(args: argparse.Namespace) -> int:
    ledger, records, _ = _sync_parts(args)
    drift = find_drift(ledger, records)
    if args.write_fix and drift.unknown_to_ledger:
        write_fix_csv(drift.unknown_to_ledger, args.write_fix)
    where = "--local" if args.local else (f"--stack {args.stack}" if args.stack else "")
    print("\n".join(report_lines(drift, where, args.write_fix)))
    return 0 if drift.none else 1


def run_replay(args: argparse.Namespace) -> int:
    dead = _locate(args, "DeadLetterQueue", "DeadLetterQueueUrl", args.dead_letter_queue_url, "--dead-letter-queue-url")
    retry = _locate(args, "RetryQueue", "RetryQueueUrl", args.retry_queue_url, "--retry-queue-url")
    summary = replay(dead.client("sqs"), dead_letter_queue_url=dead.name, retry_queue_url=retry.name,
                     reason=args.reason, kind=args.kind, limit=args.max, dry_run=args.dry_run)  # fmt: skip
    print("\n".join(summary.lines(args.dry_run)))
    return 0


def run_recover(args: argparse.Namespace) -> int:
    where = {name: _locate(args, logical, output, given, flag) for name, logical, output, given, flag in (
        ("messages", "MessagesTable", "MessagesTableName", args.messages_table, "--messages-table"),
        ("consent", "ConsentTable", "ConsentTableName", args.consent_table, "--consent-table"),
        ("dead", "DeadLetterQueue", "DeadLetterQueueUrl", args.dead_letter_queue_url, "--dead-letter-queue-url"),
        ("retry", "RetryQueue", "RetryQueueUrl", args.retry_queue_url, "--retry-queue-url"),
        ("secret", "Ci360Secret", "Ci360Secret", args.secret_id, "--secret-id"))}  # fmt: skip
    summary = run_recovery(where, since=args.since, until=args.until, dry_run=args.dry_run)
    print("\n".join(summary.lines(args.dry_run)))
    return 1 if summary.unfinished or summary.outcomes["failed"] else 0


def _ledger(args: argparse.Namespace) -> ConsentLedger:
    location = _locate(args, "ConsentTable", "ConsentTableName", args.table, "--table")
    return ConsentLedger(location.name, client=location.client())


def run_optouts_get(args: argparse.Namespace) -> int:
    records = _ledger(args).get(args.phone)
    if not records:
        print(f"{args.phone}: no consent on record")
        return 0
    for record in records:
        status = record.status.value if record.status else "no state (only help or evidence)"
        print(
            f"{record.phone}  scope {record.scope}  {status}"
            + (f"  since {record.updated_at}" if record.updated_at else "")
        )
        for entry in record.history:
            detail = "  ".join(f"{k} {entry[k]}" for k in ("keyword", "rule", "matcher_version") if entry.get(k))
            print(f"  {entry['occurred_at']}  {entry['action']:<8} {entry['source']:<20} {entry['event_id']}  {detail}")
    return 0


def run_optouts_list(args: argparse.Namespace) -> int:
    states = list(selected_states(_ledger(args), scope=args.scope, status=args.status, since=args.since))
    for state in states:
        print(f"{state['phone']:<18} {state['scope']:<36} {state['status']:<10} {state['updated_at']}  "
              f"{state['source']}")  # fmt: skip
    print(f"{len(states)} states")
    return 0


def run_optouts_export(args: argparse.Namespace) -> int:
    states = selected_states(_ledger(args), scope=args.scope, status=args.status, since=args.since)
    show = sys.stderr.isatty()
    progress = (lambda n: print(f"\r{n} exported", end="", file=sys.stderr, flush=True)) if show else None
    with _open_output(args.output) as out:
        count = export_csv(states, out, progress)
    print(("\r" if show else "") + f"{count} states exported", file=sys.stderr)
    return 0


def run_optouts_import(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    with open(args.file, encoding="utf-8", newline="") as source:
        summary = import_events(_ledger(args), events_from_csv(source, imported_at=now), dry_run=args.dry_run,
                                imported_at=now)  # fmt: skip
    print("\n".join(summary.lines(args.dry_run)))
    return 1 if summary.problems else 0


@contextmanager
def _open_output(path: str) -> Iterator[TextIO]:
    if path == "-":
        yield sys.stdout
    else:
        with open(path, "w", encoding="utf-8", newline="") as out:
            yield out


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
