"""Option values checked as argparse reads them (from ``ops/inputs.py``), and the options several commands share."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from smsbridge.cli.parsing import Parser
from smsbridge.ops import inputs

# Spelled out here, not imported, so that building a parser imports nothing heavy; tests check they match the source.
TEST_TOKEN_HELP = "the documented test token 0123…cdef"


def _checked(check: Callable[[str], Any], *, blank_allowed: bool = False) -> Callable[[str], Any]:
    """An argparse ``type`` from an ``ops.inputs`` check: its message becomes the usage error (exit status 2), with
    the likely cause when the value is empty (an unset shell variable) or a placeholder pasted from the docs.
    ``blank_allowed``: "" is a value the option documents (``--fragment ''``: none); else "" is refused, so an
    option whose default means "not given" has the default None."""

    def convert(text: str) -> Any:
        if text == "" and blank_allowed:
            return text
        try:
            return check(text)
        except inputs.InputError as error:
            raise argparse.ArgumentTypeError(f"{error}{_likely_cause(text)}") from None

    convert.__name__ = check.__name__
    return convert


def _likely_cause(text: str) -> str:
    if not text.strip():
        return " (it is empty: an unset shell variable?)"
    if "…" in text or "..." in text or ("<" in text and ">" in text):
        return " (a placeholder from the docs: give the real value)"
    return ""


SINCE = _checked(inputs.since_time)
PHONE = _checked(inputs.phone_number)
SCOPE = _checked(inputs.scope)
MESSAGE_SID = _checked(inputs.message_sid)
COUNT = _checked(inputs.positive_count)
SECONDS = _checked(inputs.seconds)
PORT = _checked(inputs.port)
URL = _checked(inputs.web_url)
SERVICE_SID = _checked(inputs.service_sid)
ACCOUNT_SID = _checked(inputs.account_sid)
AUTH_TOKEN = _checked(inputs.auth_token)
ERROR_CODE = _checked(inputs.error_code)
FRAGMENT = _checked(inputs.url_fragment, blank_allowed=True)
NEW_FILE = _checked(inputs.new_file)


def json_flag(parser: Parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (shape in docs/operations.md) instead of text")


def stuck_after(parser: Parser) -> None:
    parser.add_argument(
        "--stuck-after",
        type=COUNT,
        default=120,
        metavar="MINUTES",
        help="call a CI360 import job pending longer than this stuck (default 120, as PreferenceJobStuckMinutes)",
    )


def default_fragment() -> str:
    """Twilio's connection overrides smsbridge prints and sets (one value: ``twilio_setup.DEFAULT_URL_FRAGMENT``)."""
    from smsbridge.ops.twilio_setup import DEFAULT_URL_FRAGMENT  # noqa: PLC0415

    return DEFAULT_URL_FRAGMENT
