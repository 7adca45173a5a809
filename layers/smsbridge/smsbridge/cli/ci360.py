"""``smsbridge ci360 events | connector-body | check | sync-preferences``: set up and check the CI360 side."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from smsbridge.cli.exits import EXIT_FOUND_PROBLEM, EXIT_OK, EXIT_UNREACHABLE
from smsbridge.cli.location import TABLES, ledger_and_sync_records, locate, location_options
from smsbridge.cli.options import FRAGMENT, PHONE, SECONDS, SERVICE_SID, SINCE, default_fragment, json_flag, stuck_after
from smsbridge.cli.output import as_json, print_json
from smsbridge.cli.parsing import Commands, actions, command

if TYPE_CHECKING:
    from smsbridge.domain.preferences import SmsIdFormat


def add(commands: Commands, summary: str) -> None:
    ci360 = command(commands, "ci360", summary, "smsbridge ci360 events", "smsbridge ci360 check --stack smsbridge")
    ci360_actions = actions(ci360)
    events = command(
        ci360_actions,
        "events",
        "the external events (names, attributes, types) to define in CI360",
        "smsbridge ci360 events",
        "smsbridge ci360 events --json",
    )
    json_flag(events)
    events.set_defaults(run=run_ci360_events)
    _add_connector_body(ci360_actions)
    check = command(
        ci360_actions,
        "check",
        "call the gateway with the configured credentials and say what is wrong",
        "smsbridge ci360 check --stack smsbridge",
        "smsbridge ci360 check --local",
        parents=[location_options(("--secret-id", "the CI360 secret's name or ARN"))],
    )
    check.add_argument(
        "--url",
        default=os.environ.get("CI360_GATEWAY_URL", ""),
        help="gateway address (instead of a secret; env CI360_GATEWAY_URL)",
    )
    check.add_argument("--tenant", default=os.environ.get("CI360_TENANT_ID", ""), help="env CI360_TENANT_ID")
    check.add_argument("--secret", default=os.environ.get("CI360_CLIENT_SECRET", ""), help="env CI360_CLIENT_SECRET")
    check.set_defaults(run=run_ci360_check)
    _add_sync_preferences(ci360_actions)


def _add_connector_body(ci360_actions: Commands) -> None:
    body = command(
        ci360_actions,
        "connector-body",
        "the body for CI360's Twilio connector endpoint",
        "smsbridge ci360 connector-body --stack smsbridge",
        "smsbridge ci360 connector-body --base-url https://abc123.execute-api.us-east-1.amazonaws.com",
        "smsbridge ci360 connector-body --stack smsbridge --from-number",
        parents=[location_options()],
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
        default=None,
        help="the Messaging Service SID (MG…) to send through (default: a CI360 variable, {{$messagingServiceSid}})",
    )
    body.add_argument(
        "--fragment",
        type=FRAGMENT,
        default=default_fragment(),
        help=f"Twilio connection overrides for the StatusCallback (default {default_fragment()}; '' for none)",
    )
    body.set_defaults(run=run_ci360_connector_body)


def _add_sync_preferences(ci360_actions: Commands) -> None:
    sync = command(
        ci360_actions,
        "sync-preferences",
        "send consent changes to CI360 as SMS contact preferences (what the scheduled function does)",
        "smsbridge ci360 sync-preferences --stack smsbridge --dry-run",
        "smsbridge ci360 sync-preferences --stack smsbridge --phone +14155550100",
        "smsbridge ci360 sync-preferences --local --since 24h --dry-run --json",
        parents=[location_options(*TABLES, ("--secret-id", "the CI360 secret's name or ARN"))],
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
    stuck_after(sync)
    json_flag(sync)
    sync.set_defaults(run=run_ci360_sync)


def run_ci360_events(args: argparse.Namespace) -> int:
    from smsbridge.config import event_mapping_from_env  # noqa: PLC0415
    from smsbridge.domain.ci360_events import event_definitions  # noqa: PLC0415

    definitions = event_definitions(event_mapping_from_env(os.environ))
    if args.json:
        print_json(
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

    base = args.base_url or base_url_of(locate(args, "StatusCallbackUrl", "StatusCallbackUrl", "", "--base-url").name)
    print(body_for(base, from_number=args.from_number, messaging_service=args.messaging_service or "",
                   fragment=args.fragment))  # fmt: skip
    return EXIT_OK


def run_ci360_check(args: argparse.Namespace) -> int:
    from smsbridge.adapters.ci360 import Ci360Credentials, Ci360Gateway  # noqa: PLC0415

    if args.url or args.tenant or args.secret:
        credentials = Ci360Credentials(args.url.rstrip("/"), args.tenant, args.secret)
    else:
        location = locate(args, "Ci360Secret", "Ci360Secret", args.secret_id, "--secret-id")
        secret = location.client("secretsmanager").get_secret_value(SecretId=location.name)["SecretString"]
        credentials = Ci360Credentials.parse(secret)
    ok, message = Ci360Gateway(credentials, timeout=10).check()
    print(message)
    if message.startswith("cannot reach "):  # no answer at all (domain.delivery.explain_check): exit 3, as documented
        return EXIT_UNREACHABLE
    return EXIT_OK if ok else EXIT_FOUND_PROBLEM


def run_ci360_sync(args: argparse.Namespace) -> int:
    from smsbridge.adapters.ci360 import Ci360Credentials, Ci360Gateway  # noqa: PLC0415
    from smsbridge.app.preferences import PreferenceSync  # noqa: PLC0415
    from smsbridge.errors import UsageError  # noqa: PLC0415

    ledger, records = ledger_and_sync_records(args)
    unknown = [phone for phone in args.phone or [] if not ledger.states_of(phone)]
    if unknown:  # a number the ledger does not know would reach CI360 as "not opted out"
        raise UsageError(
            f"no consent on record for {', '.join(unknown)}: nothing to send for "
            f"{'it' if len(unknown) == 1 else 'them'} (see smsbridge optouts get)"
        )
    job_type, sms_id_format = deployed_sync_settings(args)
    secret = locate(args, "Ci360Secret", "Ci360Secret", args.secret_id, "--secret-id")
    text = secret.client("secretsmanager").get_secret_value(SecretId=secret.name)["SecretString"]
    gateway = Ci360Gateway(Ci360Credentials.parse(text), max_connections=2, timeout=10)
    sync = PreferenceSync(ledger=ledger, records=records, api=lambda: gateway, poll_seconds=1,
                          settle_seconds=args.settle, stuck_after_seconds=args.stuck_after * 60,
                          job_type=job_type, sms_id_format=sms_id_format)  # fmt: skip
    report = sync.run(dry_run=args.dry_run, since=args.since, phones=args.phone)
    if args.json:
        print_json(as_json(report))
    else:
        print("\n".join(report.lines()))
    problem = report.outcome in ("failed", "busy") or report.stuck or report.earlier_failure
    return EXIT_FOUND_PROBLEM if problem else EXIT_OK


def deployed_sync_settings(args: argparse.Namespace) -> tuple[str, SmsIdFormat | None]:
    """The job type and ``sms_id`` form the deployment's scheduled sync uses (``Ci360PreferenceJobType``,
    ``Ci360SmsIdFormat``: its PreferencesFunction's environment, or the local stack's), so a run from here writes
    what CI360 is set up to read. Given the tables by name, the deployment is unknown: ``auto`` and the form the last
    job used."""
    from smsbridge.config import Settings  # noqa: PLC0415
    from smsbridge.ops.deployment import function_environment  # noqa: PLC0415
    from smsbridge.ops.local_state import LOCAL_STATE, project_root  # noqa: PLC0415

    if not (args.local or args.stack):
        return "auto", None
    state_file = args.state_file or project_root() / LOCAL_STATE
    environment = function_environment("PreferencesFunction", local=args.local, stack=args.stack,
                                       region=args.region, state_file=state_file)  # fmt: skip
    settings = Settings.from_env(environment)
    return settings.preference_job_type, settings.sms_id_format
