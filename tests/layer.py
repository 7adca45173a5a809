"""Builds the smsbridge layer as `sam build` does (layers/smsbridge/Makefile), for the layer tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

LAYER_SOURCE = ROOT / "layers" / "smsbridge"


def build_layer(artifacts_dir: Path, python: str = sys.executable) -> Path:
    """Run the layer's build target into ``artifacts_dir``; return the directory Lambda would mount at /opt/python.

    ``python`` compiles the modules: `sam build` uses python3.13 (the runtime); a test uses its own interpreter so
    the compiled files are the ones it loads.
    """
    environment = {**os.environ, "ARTIFACTS_DIR": str(artifacts_dir), "PYTHON313": python}
    subprocess.run(
        ["make", "--no-print-directory", "-s", "build-SmsBridgeLayer"],
        cwd=LAYER_SOURCE,
        env=environment,
        check=True,
        capture_output=True,
    )
    return artifacts_dir / "python"
