"""Imports point one way: cli → local → ops → app → adapters → ports and settings → domain → the base modules.

A module may import its own layer and any layer below it, never one above: the layer Lambda runs (app, adapters,
domain) then never reaches an operator's tools, and the pure core never reaches AWS. docs/architecture.md explains
each folder's job.
"""

from __future__ import annotations

import pytest

from tests.layer import LAYER_SOURCE, smsbridge_imports

PACKAGE = LAYER_SOURCE / "smsbridge"
# Lowest first. The base modules import nothing of smsbridge; local/ (the local stack) may use everything but the CLI.
LAYERS = (
    ("smsbridge", "smsbridge.errors", "smsbridge.clock", "smsbridge.text"),
    ("smsbridge.domain",),
    ("smsbridge.config", "smsbridge.ports"),
    ("smsbridge.adapters",),
    ("smsbridge.app",),
    ("smsbridge.ops",),
    ("smsbridge.local",),
    ("smsbridge.cli",),
)


def layer_of(module: str) -> int:
    """The layer of ``module``: the most specific prefix in ``LAYERS`` that names it or a package holding it."""
    best = (-1, -1)
    for level, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                best = max(best, (len(prefix), level))
    if best[1] < 0:
        raise AssertionError(f"{module} belongs to no layer: add its folder to LAYERS")
    return best[1]


def _modules() -> dict[str, object]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(LAYER_SOURCE).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _known(name: str) -> str | None:
    """``name`` as a module of the package (``from pkg import name`` may name a class, not a module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_layer_above_its_own(module: str) -> None:
    own = layer_of(module)
    upward = sorted(
        target
        for name in smsbridge_imports(MODULES[module], module)  # type: ignore[arg-type]
        if (target := _known(name)) is not None and layer_of(target) > own
    )
    assert not upward, f"{module} (layer {own}) imports {upward}, which sit above it"


def test_the_layers_are_told_apart() -> None:
    # The test above can fail: a module in app/ importing ops/ sits above it, and so does domain/ importing adapters/.
    assert layer_of("smsbridge.app.forwarder") < layer_of("smsbridge.ops.replay")
    assert layer_of("smsbridge.domain.consent") < layer_of("smsbridge.adapters.consent_table")
    assert layer_of("smsbridge") < layer_of("smsbridge.domain") < layer_of("smsbridge.cli")
