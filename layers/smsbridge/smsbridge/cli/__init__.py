"""``smsbridge``: the command line. Each subcommand calls the same code the Lambda functions use.

Layout: one module per command group (``cli/serve.py``, ``cli/optouts.py``, …), named as the command, and
``GROUPS`` below, which lists each group with the one-line summary ``smsbridge --help`` shows. Beside them: the
parser parts every command shares (``parsing``), checked option values and shared options (``options``), the
``--local`` / ``--stack NAME`` options and finding a deployment's resources (``location``), JSON and file output
(``output``), and the exit statuses with the one-line explanation of an expected failure (``exits``).

A command group module:

- defines ``add(commands: Commands, summary: str) -> None``, which adds the parser ``smsbridge <group>`` with
  ``parsing.command(commands, "<group>", summary, *examples, …)``, its options (and actions, with
  ``parsing.actions``), and sets ``run`` on each parser that runs something: ``parser.set_defaults(run=handler)``;
- has a handler ``(args: argparse.Namespace) -> int`` per command, returning an ``exits`` status (an expected
  failure is raised as an ``errors`` exception: ``main`` prints its one line and exits with its status). A handler
  imports what it needs when it runs, so that building a parser loads no AWS SDK, pydantic or moto; the command's
  logic lives in ``ops/`` (or ``app/``), not here.

Adding a command group is one such module and one line in ``GROUPS``. ``smsbridge --help`` imports no group
module (it lists ``GROUPS``); ``smsbridge <group> …`` imports and builds that group only.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from smsbridge.cli.exits import EXIT_INTERRUPTED, EXIT_STATUSES, explain
from smsbridge.cli.parsing import Parser, Version

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Sequence

    from smsbridge.cli.parsing import Commands

# Each command group: its one-line summary (shown by `smsbridge --help`). Its parser is in smsbridge.cli.<group>.
GROUPS = {
    "serve": "run the whole loop locally (moto for AWS, the webhook over HTTP)",
    "simulate": "send a correctly signed Twilio webhook to a URL",
    "optouts": "read, export and import the consent ledger",
    "ci360": "set up and check the CI360 side",
    "consent": "compare the ledger with CI360 and Twilio",
    "replay": "list dead-lettered events, or move them back to be sent again",
    "recover": "send, once, the CI360 events of facts on record that never reached CI360 "
    "(after stream retries ran out)",
    "trace": "the story of one message: webhooks, consent facts, CI360 events, dead letters",
    "twilio": "set up the Twilio side",
    "smoke": "prove a deployment hop by hop (the go-live check)",
    "migrate": "rewrite what v0.1 stored to the current keys, once after an upgrade",
    "forget": "erase a person's number on request, keeping it suppressed (its consent kept as a keyed hash)",
}


def build_parser(groups: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The ``smsbridge`` parser. Every command group is listed with its summary; the parsers of ``groups`` (default:
    all, the full tree) are built, each importing its module. ``main`` builds only the group it runs."""
    parser = Parser(
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
    parser.add_argument("--version", action=Version)
    commands = parser.add_subparsers(
        title="commands", dest="command", required=True, metavar="COMMAND", parser_class=Parser
    )
    for name, summary in GROUPS.items():
        if groups is None or name in groups:
            _group_adder(name)(commands, summary)
        else:  # listed with its summary; never parsed with, since main builds the group it runs
            commands.add_parser(name, help=summary)
    return parser


def _group_adder(name: str) -> Callable[[Commands, str], None]:
    from importlib import import_module  # noqa: PLC0415

    add: Callable[[Commands, str], None] = import_module(f"{__name__}.{name}").add
    return add


def _named_group(words: Sequence[str]) -> list[str]:
    """The command group ``words`` run, if any: the first word that is not an option (``smsbridge``'s own options,
    --help and --version, take no value)."""
    first = next((word for word in words if not word.startswith("-")), "")
    return [first] if first in GROUPS else []


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_named_group(words)).parse_args(words)
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
