"""The smsbridge layer holds what the three functions import, and nothing of the local stack or the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from smsbridge.local.template import LocalResources
from tests.conftest import ROOT
from tests.layer import LAYER_SOURCE, build_layer, smsbridge_imports

FUNCTIONS = {"webhook": "WebhookFunction", "forwarder": "ForwarderFunction", "verifier": "VerifierFunction",
             "preferences": "PreferencesFunction"}  # fmt: skip
# The layer is packaged by folder: these folders whole, and the package's top-level modules.
RUNTIME_FOLDERS = ("domain", "adapters", "app")
# Never in the layer: what an operator runs and the local stack (they run on an operator's machine, not in Lambda).
OPERATOR_ONLY = ("smsbridge.ops", "smsbridge.cli", "smsbridge.local")


def _module_file(name: str) -> Path | None:
    path = LAYER_SOURCE.joinpath(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.exists():
            return candidate
    return None


def import_graph() -> set[str]:
    """The smsbridge modules the three functions' handlers reach, transitively (parents included)."""
    handlers = [ROOT / "functions" / function / "app.py" for function in FUNCTIONS]
    pending = [name for handler in handlers for name in smsbridge_imports(handler, "")]
    reached: set[str] = set()
    while pending:
        name = pending.pop()
        source = _module_file(name)
        if source is None or name in reached:
            continue  # a class or function imported from a module, not a module
        reached.add(name)
        parts = name.split(".")
        pending += [".".join(parts[:depth]) for depth in range(1, len(parts))]
        pending += smsbridge_imports(source, name)
    return reached


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_layer(tmp_path_factory.mktemp("layer"))


def _modules_in(layer: Path) -> set[str]:
    return _modules_in_paths(layer, list(layer.rglob("*.py")))


def _source_modules() -> set[str]:
    """The modules of the runtime folders and the package's top level, as the source tree holds them."""
    package = LAYER_SOURCE / "smsbridge"
    paths = [*package.glob("*.py"), *(path for folder in RUNTIME_FOLDERS for path in (package / folder).rglob("*.py"))]
    return _modules_in_paths(LAYER_SOURCE, paths)


def _modules_in_paths(root: Path, paths: list[Path]) -> set[str]:
    names = set()
    for path in paths:
        parts = path.relative_to(root).with_suffix("").parts
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_the_layer_holds_the_runtime_folders_whole_and_nothing_an_operator_runs(layer: Path) -> None:
    built = _modules_in(layer)
    assert built == _source_modules()  # by folder: a new module in app/ ships without touching a list
    assert import_graph() <= built  # everything the three handlers reach
    assert not [name for name in built if name.startswith(OPERATOR_ONLY)]
    # Compiled for the interpreter that built it, so Lambda's read-only /opt needs no compiling at a cold start.
    assert all(path.with_suffix(".py").exists() or path.parent.name == "__pycache__" for path in layer.rglob("*.pyc"))
    assert len(list(layer.rglob("*.pyc"))) == len(built)


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_each_handler_imports_from_the_built_layer_alone(function: str, layer: Path, template: dict[str, Any]) -> None:
    environment = LocalResources(prefix="t", template=template).function_environment(FUNCTIONS[function])
    script = (
        "import app, smsbridge, sys; assert callable(app.lambda_handler); "
        f"print(smsbridge.__file__); print(sorted(m for m in sys.modules if m.startswith({OPERATOR_ONLY!r})))"
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
    where, operator_modules = done.stdout.splitlines()[-2:]
    assert Path(where).is_relative_to(layer)  # the built layer, not the source tree
    assert operator_modules == "[]"
