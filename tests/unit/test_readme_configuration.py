"""The configuration table (docs/configuration.md) lists every deployment parameter of template.yaml, and only those,
with the environment variables each one sets on the functions and the template's default."""

from __future__ import annotations

import re
from typing import Any

from tests.documents import pages

PAGE = "docs/configuration.md"


def configuration_table() -> list[tuple[set[str], set[str], str]]:
    """(parameters, variables, default) of each row of the table under `## Deploy parameters`."""
    section = pages()[PAGE].split("\n## Deploy parameters\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 4 or cells[0] in ("Parameter", "---"):
            continue
        parameters = set(re.findall(r"`([A-Za-z0-9]+)`", cells[0]))
        variables = set(re.findall(r"`([A-Z0-9_]+)`", cells[1]))
        rows.append((parameters, variables, cells[2]))
    return rows


def configuration_rows() -> list[tuple[set[str], set[str]]]:
    """(parameters, variables) of each row."""
    return [(parameters, variables) for parameters, variables, _ in configuration_table()]


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


def test_each_literal_default_is_the_templates(template: dict[str, Any]) -> None:
    """`empty` is an empty default, a value without spaces is the default itself; words (a new secret, see …) are
    read by people."""
    for parameters, _, default in configuration_table():
        if len(parameters) != 1:
            continue
        [parameter] = parameters
        actual = str(template["Parameters"][parameter].get("Default", ""))
        if default == "empty":
            assert actual == "", (parameter, actual)
        elif " " not in default or default.strip("`") == actual:
            assert default.strip("`") == actual, (parameter, default, actual)
