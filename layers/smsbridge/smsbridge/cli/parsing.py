"""The argparse parts every command shares: the parser class, a command with its summary and examples, actions.

``smsbridge --help`` imports this module and ``exits`` only, so it stays light: the checked value types and the
shared options are in ``options``, the deployment options in ``location``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias

from smsbridge.cli.exits import EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from collections.abc import Sequence


class Parser(argparse.ArgumentParser):
    """argparse with plain-text help kept as written, and usage errors as one line with exit status 2."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(**kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


# What ``add_subparsers`` returns: the commands of ``smsbridge``, or the actions of a command group.
Commands: TypeAlias = "argparse._SubParsersAction[Parser]"


def command(group: Commands, name: str, summary: str, *examples: str, parents: Sequence[Parser] = ()) -> Parser:
    """A subcommand with its one-line summary and examples (shown under its --help)."""
    epilog = "examples:\n" + "\n".join(f"  {example}" for example in examples) if examples else None
    return group.add_parser(
        name, help=summary, description=summary[0].upper() + summary[1:] + ".", epilog=epilog, parents=list(parents)
    )


def actions(parser: Parser) -> Commands:
    """The actions of a command group (``smsbridge optouts get``, ``… list``): one is required."""
    return parser.add_subparsers(title="actions", dest="action", required=True, metavar="ACTION", parser_class=Parser)


def old_name(parser: Any, flag: str, dest: str) -> None:
    """Keep a flag's earlier name working (hidden from --help) so older scripts and notes still run."""
    parser.add_argument(flag, dest=dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


class Version(argparse.Action):
    """``--version``: the installed package's version, looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print smsbridge's version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> NoReturn:
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 - only for --version

        try:
            number = version("smsbridge")
        except PackageNotFoundError:
            number = "unknown (not installed)"
        print(f"smsbridge {number}")  # on stdout, as argparse's own --version, for `$(smsbridge --version)`
        parser.exit(EXIT_OK)
