"""The README's configuration table lists every deployment parameter of template.yaml, and only those, with the
environment variables each one sets on the functions."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def configuration_rows() -> list[tuple[set[str], set[str]]]:
    """(parameters, variables) of each row of the table under `## Configuration`."""
    section = README.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 4 or cells[0] in ("Parameter", "---"):
            continue
        parameters = set(re.findall(r"`([A-Za-z0-9]+)`", cells[0]))
        variables = set(re.findall(r"`([A-Z0-9_]+)`", cells[1]))
        rows.append((parameters, variables))
    return rows


def _variables_set_by(template: dict[str, Any]) -> dict[str, set[str]]:
    """Parameter → the function environment variables whose value is a plain Ref to it."""
    found: dict[str, set[str]] = {}
    functions = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    environments = [template["Globals"]["Function"], *functions]
    for properties in environments:
        for variable, value in properties.get("Environment", {}).get("Variables", {}).items():
            if isinstance(value, dict) and value.get("Ref") in template["Parameters"]:
                found.setdefault(value["Ref"], set()).add(variable)
    return found


def test_every_template_parameter_has_a_row_and_every_row_a_parameter(template: dict[str, Any]) -> None:
    documented = [name for parameters, _ in configuration_rows() for name in parameters]
    assert len(documented) == len(set(documented)), "a parameter is listed twice"
    assert set(documented) == set(template["Parameters"])


def test_each_row_names_the_variables_its_parameter_sets(template: dict[str, Any]) -> None:
    sets = _variables_set_by(template)
    for parameters, variables in configuration_rows():
        if len(parameters) == 1:
            [parameter] = parameters
            assert sets.get(parameter, set()) <= variables, (parameter, variables)
        else:  # a row for a family (OptOutKeywords, OptInKeywords, …) lists theirs, or elides the middle with …
            assert variables, parameters
