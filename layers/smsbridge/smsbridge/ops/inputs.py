"""What the CLI accepts from a person: times, phone numbers, SIDs, counts and webhook URLs, checked at the edge.

Each check returns the value in the one form the rest of smsbridge uses, or raises ``InputError`` (a
``ValueError``) whose message says what was wrong and, where one exists, the fix. The command line (``cli/``) turns
these into argparse errors (exit status 2); ``optouts import`` uses the same checks per CSV line. The rules themselves
are the webhook's (``domain.payloads``), imported only when a check runs so that ``smsbridge --help`` stays fast.
"""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

_RELATIVE = re.compile(r"^(\d{1,6})([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_SEPARATORS = re.compile(r"[\s().\-]")
_NANP = re.compile(r"^[2-9]\d{2}[2-9]\d{6}$")  # a US/Canada number without its country code
_MESSAGE_SID = re.compile(r"^(SM|MM|IM)[0-9a-fA-F]{32}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_FUTURE_TOLERANCE = timedelta(minutes=5)  # clocks differ a little; more than this is a typo or a wrong zone


class InputError(ValueError):
    """A value a person gave is not what the command needs; the message says what to give instead."""


def since_time(text: str, *, now: datetime | None = None) -> str:
    """``--since``: an ISO 8601 date (midnight UTC), an ISO date-time with zone, or ``30m``/``24h``/``7d`` ago.

    Returned as the UTC ISO string the tables store (``2026-11-01T00:00:00+00:00``), so it compares as text too.
    """
    value = text.strip()
    relative = _RELATIVE.match(value)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        moment = (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: amount})
        return moment.astimezone(UTC).isoformat()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC).isoformat()
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise InputError(
            f"{text!r} is not a time: give an ISO 8601 date (2026-11-01), a date-time with zone "
            "(2026-11-01T08:00:00+00:00 or …Z), or an age (30m, 24h, 7d)"
        ) from None
    if moment.tzinfo is None:
        raise InputError(f"{text!r} has no time zone: add Z (UTC) or an offset such as +01:00")
    return moment.astimezone(UTC).isoformat()


def phone_number(text: str) -> str:
    """A person's number in E.164 (``+14155550100``) or a channel address (``whatsapp:+14155550100``).

    A number written another way is refused; the error suggests the E.164 form only when there is one reading
    (spaces and dashes dropped; ten US/Canada digits; 1 and ten digits; 00 for +).
    """
    from smsbridge.domain.payloads import is_phone  # noqa: PLC0415 - pydantic: only when a number is checked

    value = text.strip()
    if is_phone(value):
        short = _nanp_length_problem(value)
        if short:
            raise InputError(f"{text!r} is not a phone number: {short}")
        return value
    guess = _e164_guess(value)
    hint = f"; did you mean {guess}?" if guess and is_phone(guess) else " (E.164: + country code and number)"
    raise InputError(f"{text!r} is not an E.164 phone number such as +14155550100{hint}")


def _nanp_length_problem(value: str) -> str | None:
    """Why a +1 number (US, Canada and the rest of the North American plan) cannot be one: it has 10 digits after
    +1, the first of the area code and of the exchange 2-9. A digit short or too many is a typo, never a person."""
    number = value.rpartition(":")[2]
    if not number.startswith("+1") or _NANP.match(number[2:]):
        return None
    digits = len(number) - 2
    if digits != 10:
        return f"a +1 number has 10 digits after +1, this one {digits}"
    return "after +1, the area code and the exchange each start with 2-9"


def _e164_guess(value: str) -> str | None:
    digits = _SEPARATORS.sub("", value)
    if digits.startswith("+") and digits[1:].isdigit():
        return digits
    if not digits.isdigit():
        return None
    if _NANP.match(digits):
        return "+1" + digits
    if len(digits) == 11 and digits.startswith("1") and _NANP.match(digits[1:]):
        return "+" + digits
    if digits.startswith("00") and len(digits) > 8:
        return "+" + digits[2:]
    return None


def scope(text: str) -> str:
    """What a consent applies to: a Messaging Service SID (MG + 32 hex digits) or one of our sender addresses."""
    from smsbridge.domain.payloads import is_scope  # noqa: PLC0415 - pydantic: only when a scope is checked

    value = text.strip()
    if value[:2].upper() == "MG" and value[2:].isalnum() and not _SERVICE_SID.match(value):
        raise InputError(f"scope {text!r} looks like a Messaging Service SID but is not MG and 32 hex digits")
    if not is_scope(value):
        raise InputError(f"scope {text!r} is not a sender number or Messaging Service SID")
    return value


def _matching(text: str, pattern: re.Pattern[str], problem: str) -> str:
    """``text`` without surrounding blanks when ``pattern`` matches it; else an ``InputError`` (not ``problem``)."""
    value = text.strip()
    if not pattern.match(value):
        raise InputError(f"{text!r} is not {problem}")
    return value


def message_sid(text: str) -> str:
    """A Twilio message SID: SM (or MM) and 32 hex digits."""
    return _matching(text, _MESSAGE_SID, "a message SID (SM and 32 hex digits, e.g. from `simulate` or Twilio)")


def not_in_future(moment: datetime, *, now: datetime, what: str) -> datetime:
    """Refuse a time after ``now``: a consent fact dated ahead would outrank every real one until then."""
    if moment > now + _FUTURE_TOLERANCE:
        raise InputError(f"{what} {moment.isoformat()} is in the future (it would outrank every change until then)")
    return moment


def positive_count(text: str) -> int:
    """A count of 1 or more (``--max``)."""
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise InputError(f"{text!r}: give 1 or more (leave the option out for no limit)")
    return value


def seconds(text: str) -> float:
    """A duration in seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{text!r} is not a number of seconds") from None
    if value < 0 or not math.isfinite(value):
        raise InputError(f"{text!r}: give 0 or more seconds")
    return value


def port(text: str) -> int:
    """A TCP port, 0 (any free port) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise InputError(f"{text!r}: a port is 0 (any free port) to 65535")
    return value


def web_url(text: str) -> str:
    """An http(s) URL with a host."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not re.fullmatch(r"[A-Za-z0-9.:-]+", parts.hostname or ""):
        raise InputError(f"{text!r} is not an http(s) URL such as https://example.com/twilio/inbound")
    return text.strip()


def local_host_problem(url: str) -> str | None:
    """Why Twilio cannot reach ``url`` from the internet (loopback, private or link-local address), or None."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return f"{host} is this machine's (or a private network's) name"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.is_loopback or address.is_private or address.is_link_local or address.is_unspecified:
        return f"{host} is a loopback or private address"
    return None


def service_sid(text: str) -> str:
    """A Messaging Service SID: MG and 32 hex digits."""
    return _matching(text, _SERVICE_SID, "a Messaging Service SID (MG and 32 hex digits, from the Twilio console)")


def account_sid(text: str) -> str:
    """A Twilio account SID: AC and 32 hex digits."""
    return _matching(text, _ACCOUNT_SID, "an account SID (AC and 32 hex digits, from the Twilio console)")


def auth_token(text: str) -> str:
    """A Twilio auth token: 32 letters and digits. The message never repeats the value (it is a secret)."""
    value = text.strip()
    if not re.fullmatch(r"[0-9A-Za-z]{32}", value):
        shown = "a placeholder" if not value.isascii() or "<" in value else f"{len(value)} characters"
        raise InputError(
            f"the auth token is not 32 letters and digits (this is {shown}): copy it from the Twilio console"
        )
    return value


def error_code(text: str) -> str:
    """A Twilio error code: digits, e.g. 30006."""
    value = text.strip()
    if not value.isdigit() or len(value) > 6:
        raise InputError(f"{text!r} is not a Twilio error code (digits, e.g. 30006)")
    return value


def url_fragment(text: str) -> str:
    """Twilio connection overrides: ``name=value`` pairs joined by ``&`` (e.g. ``rc=3&rp=5xx,ct,rt``)."""
    value = text.strip().lstrip("#")
    pairs = value.split("&") if value else []
    if not pairs or any(not re.fullmatch(r"[a-z]{1,8}=[A-Za-z0-9,._-]{1,100}", pair) for pair in pairs):
        raise InputError(f"{text!r} is not a list of connection overrides such as rc=3&rp=5xx,ct,rt")
    return value


def committable_problem(path: Path) -> str | None:
    """Why writing personal data to ``path`` may leak it: it is inside a git working tree and not ignored there
    (a later ``git add .`` would commit it). None outside a repository, when ignored, or without git."""
    import shutil  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    git = shutil.which("git")
    folder = path.resolve().parent
    if git is None or not folder.is_dir():
        return None
    try:
        ignored = subprocess.run(  # noqa: S603 - git, with a path the user gave
            [git, "-C", str(folder), "check-ignore", "-q", path.resolve().name],
            capture_output=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if ignored.returncode != 1:  # 0: ignored; 128: not in a repository (or git failed)
        return None
    return f"{path} is inside a git repository and not ignored: the phone numbers in it could be committed"


def new_file(text: str) -> Path:
    """A file to write: its folder must exist (``-`` is stdout where the command allows it)."""
    if not text.strip():
        raise InputError("no file name given")
    path = Path(text)
    if text != "-" and not path.parent.is_dir():
        raise InputError(f"cannot write {text}: the folder {path.parent} does not exist")
    if path.is_dir():
        raise InputError(f"cannot write {text}: it is a folder")
    return path
