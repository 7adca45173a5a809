"""What of a person may appear in logs and console output."""

from __future__ import annotations

import re


def mask_address(address: str) -> str:
    """Mask a phone number or channel address, keeping the channel, the country prefix and the last two digits.

    ``+14155550123`` becomes ``+1******23``; ``whatsapp:+447700900123`` becomes ``whatsapp:+4********23``.
    Short codes and alphanumeric sender IDs are not personal and are returned unchanged.
    """
    channel, sep, number = address.rpartition(":")
    prefix = f"{channel}{sep}"
    if not number.startswith("+"):
        return address if len(number) <= 8 else prefix + number[:2] + "*" * (len(number) - 4) + number[-2:]
    digits = number[1:]
    if len(digits) <= 4:
        return prefix + "+" + "*" * len(digits)
    return prefix + "+" + digits[0] + "*" * (len(digits) - 3) + digits[-2:]


_NUMBER_IN_TEXT = re.compile(r"\+?\d[\d ()-]{5,}\d")


def mask_numbers_in(text: str) -> str:
    """``text`` (another system's message, e.g. CI360's ``statusDescription``) with anything that looks like a phone
    number masked, so it can be logged and printed."""
    return _NUMBER_IN_TEXT.sub(lambda match: mask_address(re.sub(r"[ ()-]", "", match.group())), text)


def mask_secret(secret: str) -> str:
    """A secret as logs may show it: its last four characters (``…cdef``), enough to tell two tokens apart."""
    return "…" + secret[-4:] if len(secret) >= 16 else "…"
