"""``smsbridge optouts get | list | export | import``: read, export and import the consent ledger."""

from __future__ import annotations

import argparse
import sys

from smsbridge.cli.exits import EXIT_FOUND_PROBLEM, EXIT_OK
from smsbridge.cli.location import consent_ledger, location_options
from smsbridge.cli.options import NEW_FILE, PHONE, SCOPE, SINCE, json_flag
from smsbridge.cli.output import open_output, print_json
from smsbridge.cli.parsing import Commands, actions, command, old_name
from smsbridge.text import counted


def add(commands: Commands, summary: str) -> None:
    where = location_options(("--consent-table", "the consent table's name"))
    old_name(where, "--table", "consent_table")
    optouts = command(
        commands,
        "optouts",
        summary,
        "smsbridge optouts get +14155550100 --local",
        "smsbridge optouts list --local --since 7d",
    )
    optout_actions = actions(optouts)
    get = command(
        optout_actions,
        "get",
        "a number's state per scope and its history",
        "smsbridge optouts get +14155550100 --stack smsbridge",
        "smsbridge optouts get +14155550100 --local --json",
        parents=[where],
    )
    get.add_argument("phone", type=PHONE, help="the number, E.164 (e.g. +14155550100)")
    json_flag(get)
    get.set_defaults(run=run_optouts_get)
    for name, action_summary, examples in (
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
        listing = command(optout_actions, name, action_summary, *examples, parents=[where])
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
            json_flag(listing)
        listing.set_defaults(run=run_optouts_list if name == "list" else run_optouts_export)
    optout_actions.choices["export"].add_argument(
        "--output", "-o", type=NEW_FILE, default="-", help="file to write (default: stdout)"
    )
    load = command(
        optout_actions,
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


def run_optouts_get(args: argparse.Namespace) -> int:
    from smsbridge.ops.optouts import record_json  # noqa: PLC0415

    records = consent_ledger(args).get(args.phone)
    if args.json:
        print_json({"phone": args.phone, "scopes": [record_json(record) for record in records]})
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
            detail = "  ".join(f"{k} {entry[k]}" for k in ("keyword", "rule", "matcher_version", "verification")
                               if entry.get(k))  # fmt: skip
            print(f"  {entry['occurred_at']}  {entry['action']:<8} {entry['source']:<20} {entry['event_id']}  {detail}")
    return EXIT_OK


def run_optouts_list(args: argparse.Namespace) -> int:
    from smsbridge.ops.optouts import STATE_FIELDS, selected_states  # noqa: PLC0415

    states = list(selected_states(consent_ledger(args), scope=args.scope, status=args.status, since=args.since))
    if args.json:
        print_json(
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
    from smsbridge.ops.inputs import committable_problem  # noqa: PLC0415
    from smsbridge.ops.optouts import export_csv, selected_states  # noqa: PLC0415

    states = selected_states(consent_ledger(args), scope=args.scope, status=args.status, since=args.since)
    problem = committable_problem(args.output) if str(args.output) != "-" else None
    if problem:
        print(f"smsbridge: warning: {problem}; write it outside the checkout or add it to .gitignore", file=sys.stderr)
    show = sys.stderr.isatty()
    progress = (lambda n: print(f"\r{n} exported", end="", file=sys.stderr, flush=True)) if show else None
    with open_output(args.output) as out:
        count = export_csv(states, out, progress)
    print(("\r" if show else "") + counted(count, "state") + " exported", file=sys.stderr)
    return EXIT_OK


def run_optouts_import(args: argparse.Namespace) -> int:
    from smsbridge.clock import utc_now  # noqa: PLC0415
    from smsbridge.ops.optouts import events_from_csv, import_events, open_csv  # noqa: PLC0415

    now = utc_now()
    with open_csv(args.file) as source:
        rows = list(events_from_csv(source, imported_at=now))  # every line checked before anything is written
    summary = import_events(consent_ledger(args), rows, dry_run=args.dry_run, imported_at=now)
    print("\n".join(summary.lines(args.dry_run)))
    return EXIT_FOUND_PROBLEM if summary.problems else EXIT_OK
