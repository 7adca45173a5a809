"""Cold start: importing each function's module in a fresh interpreter, against what any verifying, recording
handler must import: boto3 with one DynamoDB client, and Twilio's ``RequestValidator``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from tests.bench.harness import Row, median
from tests.conftest import ROOT
from tests.layer import build_layer

ENVIRONMENT = {
    "MESSAGES_TABLE": "t",
    "CONSENT_TABLE": "c",
    "TWILIO_AUTH_TOKENS_SECRET": "s",
    "CI360_SECRET": "s",
    "RETRY_QUEUE_URL": "q",
    "DEAD_LETTER_QUEUE_URL": "d",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "smsbridge",
}
# CPU time of the import in the child (what a Lambda INIT spends; this shared machine's load inflates wall time).
TIMER = "import time; t = time.process_time(); {statement}; print(time.process_time() - t)"
BASELINE = "import boto3; boto3.client('dynamodb'); from twilio.request_validator import RequestValidator"


def _import_seconds(statement: str, cwd: str, layer: Path) -> float:
    env = {**os.environ, **ENVIRONMENT, "PYTHONPATH": str(layer), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", TIMER.format(statement=statement)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def largest_imports(function: str, layer: Path, count: int = 6) -> list[tuple[str, float]]:
    """The packages that cost most to import: each module's own time (``-X importtime``), summed per package."""
    env = {**os.environ, **ENVIRONMENT, "PYTHONPATH": str(layer), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import app"],
        cwd=ROOT / "functions" / function,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    costs: Counter[str] = Counter()
    for line in done.stderr.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+\d+ \| *(\S+)", line)
        if found:
            costs[found.group(2).split(".")[0]] += int(found.group(1))
    return [(name, micros / 1000) for name, micros in costs.most_common(count)]


def run(rounds: int = 7) -> tuple[list[Row], dict[str, list[tuple[str, float]]]]:
    """Each function imported from the layer as `sam build` makes it (runtime modules, compiled), as in Lambda."""
    with tempfile.TemporaryDirectory() as artifacts:
        layer = build_layer(Path(artifacts))
        return _run(rounds, layer)


def _run(rounds: int, layer: Path) -> tuple[list[Row], dict[str, list[tuple[str, float]]]]:
    rows, largest = [], {}
    baseline = median([_import_seconds(BASELINE, str(ROOT), layer) for _ in range(rounds)])
    for function in ("webhook", "forwarder"):
        cwd = str(ROOT / "functions" / function)
        seconds = median([_import_seconds("import app", cwd, layer) for _ in range(rounds)])
        rows.append(
            Row(
                f"{function} cold import (median of {rounds})",
                seconds * 1000,
                baseline * 1000,
                "ms",
                "<= 1.3x",
                "baseline: boto3 + a DynamoDB client + twilio's RequestValidator",
            )
        )
        largest[function] = largest_imports(function, layer)
    return rows, largest
