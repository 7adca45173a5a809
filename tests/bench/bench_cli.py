"""`smsbridge --help`: the wall time of the command line's start, against starting Python with argparse alone.

Both run with their bytecode cached, as a user's second run does (the standard library ships compiled; our
modules are compiled by a first, unmeasured run into a private cache, whatever ``PYTHONDONTWRITEBYTECODE`` says)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.harness import Row, median

SMSBRIDGE = Path(sys.executable).parent / "smsbridge"


def _wall_seconds(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True, env=env)
    return time.perf_counter() - start


def run(rounds: int = 9) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="smsbridge-pycache-") as cache:
        env = {**os.environ, "PYTHONPYCACHEPREFIX": cache}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        _wall_seconds([str(SMSBRIDGE), "--help"], env)  # compiles our modules into the cache
        baseline = median([_wall_seconds([sys.executable, "-c", "import argparse"], env) for _ in range(rounds)])
        helped = median([_wall_seconds([str(SMSBRIDGE), "--help"], env) for _ in range(rounds)])
    return [
        Row(f"smsbridge --help wall time (median of {rounds})", helped * 1000, baseline * 1000, "ms", "<= 3x",
            "baseline: python -c 'import argparse'; also under 300 ms"),
    ]  # fmt: skip
