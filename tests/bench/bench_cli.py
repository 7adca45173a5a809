"""`smsbridge --help`: the wall time of the command line's start, against starting Python with argparse alone."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.bench.harness import Row, median

SMSBRIDGE = Path(sys.executable).parent / "smsbridge"


def _wall_seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True)
    return time.perf_counter() - start


def run(rounds: int = 9) -> list[Row]:
    baseline = median([_wall_seconds([sys.executable, "-c", "import argparse"]) for _ in range(rounds)])
    helped = median([_wall_seconds([str(SMSBRIDGE), "--help"]) for _ in range(rounds)])
    return [
        Row(f"smsbridge --help wall time (median of {rounds})", helped * 1000, baseline * 1000, "ms", "<= 3x",
            "baseline: python -c 'import argparse'; also under 300 ms"),
    ]  # fmt: skip
