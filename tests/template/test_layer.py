"""The smsbridge layer holds what the three functions import, and nothing of the local stack or the CLI."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from smsbridge.local.template import LocalResources
from tests.conftest import ROOT
from tests.layer import LAYER_SOURCE, build_layer

FUNCTIONS = {"webhook": "WebhookFunction", "forwarder": "ForwarderFunction", "preferences": "PreferencesFunction"}
# Never in the layer: what `smsbridge serve` and the CLI use (they run on an operator's machine, not in Lambda).
LOCAL_ONLY = ("smsbridge.local", "smsbridge.cli", "smsbridge.simulate", "smsbridge.twilio_setup")


def _module_file(name: str) -> Path | None:
    path = LAYER_SOURCE.joinpath(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.exists():
            return candidate
    return None


def _smsbridge_imports(source: Path, module: str) -> set[str]:
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


def import_graph() -> set[str]:
    """The smsbridge modules the three functions' handlers reach, transitively (parents included)."""
    handlers = [ROOT / "functions" / function / "app.py" for function in FUNCTIONS]
    pending = [name for handler in handlers for name in _smsbridge_imports(handler, "")]
    reached: set[str] = set()
    while pending:
        name = pending.pop()
        source = _module_file(name)
        if source is None or name in reached:
            continue  # a class or function imported from a module, not a module
        reached.add(name)
        parts = name.split(".")
        pending += [".".join(parts[:depth]) for depth in range(1, len(parts))]
        pending += _smsbridge_imports(source, name)
    return reached


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_layer(tmp_path_factory.mktemp("layer"))


def _modules_in(layer: Path) -> set[str]:
    names = set()
    for path in layer.rglob("*.py"):
        parts = path.relative_to(layer).with_suffix("").parts
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_the_layer_holds_exactly_the_modules_the_functions_import(layer: Path) -> None:
    built = _modules_in(layer)
    assert built == import_graph()
    assert not [name for name in built if name.startswith(LOCAL_ONLY)]
    # Compiled for the interpreter that built it, so Lambda's read-only /opt needs no compiling at a cold start.
    assert all(path.with_suffix(".py").exists() or path.parent.name == "__pycache__" for path in layer.rglob("*.pyc"))
    assert len(list(layer.rglob("*.pyc"))) == len(built)


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_each_handler_imports_from_the_built_layer_alone(function: str, layer: Path, template: dict[str, Any]) -> None:
    environment = LocalResources(prefix="t", template=template).function_environment(FUNCTIONS[function])
    script = (
        "import app, smsbridge, sys; assert callable(app.lambda_handler); "
        "print(smsbridge.__file__); print(sorted(m for m in sys.modules if m.startswith('smsbridge.local')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT / "functions" / function,
        env={**os.environ, **environment, "PYTHONPATH": str(layer), "AWS_DEFAULT_REGION": "us-east-1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    where, local_modules = done.stdout.splitlines()[-2:]
    assert Path(where).is_relative_to(layer)  # the built layer, not the source tree
    assert local_modules == "[]"
