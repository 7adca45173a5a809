"""docs/contracts.md: every contract names the test that pins it, and that test exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "docs" / "contracts.md"
STANDINGS = {"confirmed", "inferred", "unknown"}
_TEST_REF = re.compile(r"(tests/[\w/]+\.py)::(\w+)")


def contract_rows() -> list[list[str]]:
    """The table rows of docs/contracts.md (header and separator rows left out), as lists of cells."""
    rows = []
    for line in CONTRACTS.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|") or line.startswith("| Contract") or set(line) <= set("|- "):
            continue
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_every_contract_has_evidence_a_standing_and_a_test() -> None:
    rows = contract_rows()
    assert len(rows) >= 3
    for cells in rows:
        assert len(cells) == 5, f"a contract row needs 5 cells: {cells}"
        contract, _done, evidence, standing, test = cells
        assert evidence, f"no evidence for: {contract}"
        assert standing.strip("*") in STANDINGS, f"standing of {contract!r} is {standing!r}"
        assert _TEST_REF.search(test), f"no test named for: {contract}"


def test_every_named_test_exists() -> None:
    missing = []
    for cells in contract_rows():
        for path, name in _TEST_REF.findall(cells[4]):
            source = ROOT / path
            if not source.exists() or not re.search(rf"def {name}\(", source.read_text(encoding="utf-8")):
                missing.append(f"{path}::{name}")
    assert not missing, f"docs/contracts.md names tests that do not exist: {missing}"
