"""The README is a front page a newcomer reads in minutes: at most 250 lines, a table of contents near the top, and
every link between the README and docs/ leads somewhere. Every command block pastes as written: no placeholder a
shell cannot run, and the `--local` form shown wherever a command has one."""

from __future__ import annotations

import argparse
import re
import shlex
from posixpath import dirname, join, normpath

import pytest

from smsbridge.cli import build_parser
from tests.conftest import ROOT
from tests.documents import README, all_text, anchors, bash_blocks, links, pages

README_MOST_LINES = 250
# What a pasted command cannot run: `…`, an optional part in brackets, a <value to fill in>.
# Commands whose --local form does nothing a reader can use: Twilio cannot call a loopback URL.
NO_LOCAL_FORM = {("twilio", "configure")}
UNRUNNABLE = {"…": "an ellipsis", "[--": "bracket syntax", "<": "a <placeholder>"}


def _target(page: str, link: str) -> tuple[str, str]:
    """(page, anchor) a relative link from ``page`` leads to."""
    path, _, fragment = link.partition("#")
    return (normpath(join(dirname(page), path)) if path else page), fragment


def test_the_readme_is_a_front_page_of_at_most_250_lines() -> None:
    assert len(pages()[README].splitlines()) <= README_MOST_LINES


def test_the_readme_has_a_table_of_contents_near_the_top_whose_links_resolve() -> None:
    text = pages()[README]
    assert "\n## Contents\n" in "\n".join(text.splitlines()[:15]), "no table of contents in the first 15 lines"
    entries = links(text.split("\n## Contents\n", 1)[1].split("\n## ", 1)[0])
    headings = anchors(text)
    assert {link.removeprefix("#") for link in entries if link.startswith("#")} == headings - {"smsbridge", "contents"}
    assert [link for link in entries if not link.startswith("#") and not (ROOT / link).is_file()] == []


@pytest.mark.parametrize("page", list(pages()))
def test_every_internal_link_leads_to_a_page_and_heading_that_exist(page: str) -> None:
    broken = []
    for link in links(pages()[page]):
        if re.match(r"[a-z]+:", link):
            continue  # https:, mailto:
        target, fragment = _target(page, link)
        if target not in pages():
            if not (ROOT / target).exists():
                broken.append(f"{link}: no {target}")
            continue
        if fragment and fragment not in anchors(pages()[target]):
            broken.append(f"{link}: {target} has no heading #{fragment}")
    assert broken == []


def test_the_reference_lives_in_docs_one_page_per_subject() -> None:
    subjects = ("deploy", "twilio", "ci360", "consent", "operations", "configuration", "refusals", "troubleshooting",
                "upgrade")  # fmt: skip
    for subject in subjects:
        assert f"docs/{subject}.md" in pages()
        assert f"(docs/{subject}.md" in pages()[README], f"the README does not link docs/{subject}.md"


def test_no_command_block_holds_a_placeholder_a_shell_cannot_run() -> None:
    found = [
        (page, command, why)
        for page, block in bash_blocks()
        for command in block
        for text, why in UNRUNNABLE.items()
        if text in shlex.join(shlex.split(command, comments=True))  # comments may say anything
    ]
    assert found == []


def _options(words: list[str]) -> tuple[tuple[str, ...], set[str]] | None:
    """(command words, its options) of a `.venv/bin/smsbridge …` command, or None for another program."""
    if not words or not words[0].endswith("bin/smsbridge"):
        return None
    parser = build_parser()
    path: list[str] = []
    for word in words[1:]:
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None or word not in sub.choices:
            break
        parser = sub.choices[word]
        path.append(word)
    return tuple(path), set(parser._option_string_actions)


def test_a_command_shown_for_a_deployed_stack_is_shown_with_local_too_where_it_has_one() -> None:
    shown: dict[tuple[str, ...], set[str]] = {}
    takes_local = set()
    for _, block in bash_blocks():
        for command in block:
            words = shlex.split(command, comments=True)
            starts = [0] + [i + 1 for i, word in enumerate(words) if word == "|"]
            for start, end in zip(starts, [*starts[1:], len(words) + 1], strict=True):
                found = _options(words[start : end - 1])
                if found:
                    path, options = found
                    shown.setdefault(path, set()).update(w for w in words[start : end - 1] if w.startswith("--"))
                    takes_local |= {path} if "--local" in options else set()
    missing = [" ".join(path) for path in sorted(takes_local - NO_LOCAL_FORM)
               if "--stack" in shown[path] and "--local" not in shown[path]]  # fmt: skip
    assert missing == [], "blocks show these with --stack only"


def test_the_documents_mention_no_command_group_the_cli_lacks() -> None:
    parser = build_parser()
    groups = set(next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices)
    mentioned = set(re.findall(r"\.venv/bin/smsbridge ([a-z0-9-]+)", all_text())) - {"--help", "--version"}
    assert mentioned <= groups
