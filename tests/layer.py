"""Builds the smsbridge layer as `sam build` does (layers/smsbridge/Makefile), for the layer tests and benchmarks."""

from __future__ import annotations

import ast
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


def smsbridge_imports(source: Path, module: str) -> set[str]:
    """Every smsbridge module ``source`` imports anywhere (module scope or inside a function), as dotted names."""
    package = module if source.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return {name for name in found if name.split(".")[0] == "smsbridge"}
