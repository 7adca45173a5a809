"""What commands print: JSON (``--json``; shapes in docs/operations.md), and a file or stdout to write to."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO


def as_json(value: Any) -> Any:
    """A dataclass (or a value with ``to_json``) as plain JSON values."""
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    from dataclasses import asdict, is_dataclass  # noqa: PLC0415

    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return value


def print_json(value: Any) -> None:
    import json  # noqa: PLC0415

    print(json.dumps(value, indent=2, sort_keys=True, default=str))


@contextmanager
def open_output(path: Path) -> Iterator[TextIO]:
    """``path`` opened for writing text, or stdout for ``-``."""
    if str(path) == "-":
        yield sys.stdout
    else:
        with open(path, "w", encoding="utf-8", newline="") as out:
            yield out
