"""Artifact sizes from `sam build`, and how much of the smsbridge layer the webhook actually imports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.bench.bench_cold_start import ENVIRONMENT
from tests.conftest import ROOT

BUILD = ROOT / ".aws-sam" / "build"


def folder_bytes(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def artifact_sizes() -> dict[str, int]:
    return {child.name: folder_bytes(child) for child in sorted(BUILD.iterdir()) if child.is_dir()}


def layer_share_imported(function: str = "webhook") -> tuple[int, int]:
    """(bytes of smsbridge modules the function imports, bytes of all smsbridge modules in the built layer)."""
    layer = BUILD / "SmsBridgeLayer" / "python"
    package = layer / "smsbridge"
    script = (
        "import sys, app; print('\\n'.join(m.__file__ for m in list(sys.modules.values()) "
        "if getattr(m, '__file__', None) and '/python/smsbridge/' in m.__file__))"
    )
    env = {**os.environ, **ENVIRONMENT, "PYTHONPATH": str(layer), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT / "functions" / function,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    imported = sum(Path(line).stat().st_size for line in done.stdout.split() if line.endswith(".py"))
    return imported, sum(file.stat().st_size for file in package.rglob("*.py"))
