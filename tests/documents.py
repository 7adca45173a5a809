"""The project's documents as the tests read them: README.md and every docs/*.md, their command blocks, headings
and links. One place, so that a test of "what the documentation shows" covers every page."""

from __future__ import annotations

import re
import shlex
from functools import cache

from tests.conftest import ROOT

README = "README.md"
_FENCE = re.compile(r"^[ \t]*```.*?^[ \t]*```[ \t]*$", flags=re.DOTALL | re.MULTILINE)
_LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")


@cache
def pages() -> dict[str, str]:
    """Path from the repository root → text: README.md first, then docs/*.md by name."""
    paths = [ROOT / README, *sorted((ROOT / "docs").glob("*.md"))]
    return {path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8") for path in paths}


def all_text() -> str:
    """Every page, one after another."""
    return "\n".join(pages().values())


def commands(block: str) -> list[str]:
    """The commands of one ```bash block, in order: a command goes on over a trailing `\\` and an open quote."""
    found = []
    pending = ""
    for line in block.splitlines():
        pending = f"{pending}\n{line}" if pending else line.strip()
        if not pending or pending.endswith("\\"):
            continue
        try:
            shlex.split(pending, comments=True)
        except ValueError:  # an open quote: the command goes on
            continue
        found.append(pending)
        pending = ""
    return found


def bash_blocks() -> list[tuple[str, list[str]]]:
    """(page, its commands) for every ```bash block of every page, in page order."""
    return [
        (page, commands(block))
        for page, text in pages().items()
        for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)
    ]


def prose(text: str) -> str:
    """The text without its fenced blocks (a `#` comment in a block is not a heading)."""
    return _FENCE.sub("", text)


def anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, each space a hyphen."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    return {anchor(heading) for heading in re.findall(r"^#{1,6} (.+)$", prose(text), flags=re.MULTILINE)}


def links(text: str) -> list[str]:
    """The targets of the Markdown links outside fenced blocks and inline code."""
    return _LINK.findall(re.sub(r"`[^`\n]*`", "", prose(text)))
