"""Words for summaries: counts with the right singular or plural (the CLI, the preference sync)."""

from __future__ import annotations


def counted(number: int, noun: str, plural: str = "") -> str:
    """``1 state``, ``2 states``, ``0 states`` (``plural`` for nouns that do not just take an s)."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"
