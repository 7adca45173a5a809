"""The re-cut property of issue 21 at a large size: thousands of re-cuts of genuine webhooks of every kind, with
Twilio verification off and on (``tests/integration/test_recut_property.py``), and what became of them."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import ROOT

EXAMPLES, QUICK_EXAMPLES = 3000, 200
_COUNTS = re.compile(r"re-cut property, (\d+) examples: (\{.*\})")


def run(quick: bool) -> list[str]:
    """Both properties at ``EXAMPLES`` examples each: the report's lines (a failure is reported, not raised)."""
    examples = QUICK_EXAMPLES if quick else EXAMPLES
    environment = {**os.environ, "RECUT_EXAMPLES": str(examples), "RECUT_VERIFIED_EXAMPLES": str(examples)}
    command = [sys.executable, "-m", "pytest", "tests/integration/test_recut_property.py", "-q", "-s",
               "-p", "no:cacheprovider"]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, check=False)
    found = _COUNTS.search(done.stdout)
    outcome = next((line for line in reversed(done.stdout.splitlines()) if " passed" in line or " failed" in line), "")
    return [
        "## Re-cut requests (issue 21's property, large run)",
        "",
        f"- {examples:,} examples each, Twilio verification off and on: {outcome.strip('= ') or 'no result'}",
        f"- what became of the {found.group(1) if found else '?'} re-cuts: {found.group(2) if found else '?'}",
        "- `refused` and `signature_broken` never reach the ledger; `unverified_opt_out` is the genuine sender's own",
        "  opt-out from a re-cut copy (it applies at once); with verification on, every fact a re-cut adds beyond the",
        "  genuine request's must end `contradicted` (`verified_contradicted`)",
        "",
    ]
