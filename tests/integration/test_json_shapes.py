"""`optouts get --json` and `optouts list --json` print what docs/operations.md documents: the same keys at every
level, and values of the documented types (a documented `null` may be null, a string or a number)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from smsbridge.cli import main
from smsbridge.ops.simulate import inbound_params
from tests.conftest import API_BASE, LambdaContext, form_body, http_api_event, signed_headers
from tests.documents import all_text
from tests.integration.conftest import Stack

CUSTOMER, SID = "+14155550100", "SM" + "41" * 16


def documented(name: str) -> Any:
    block = re.search(rf"<!-- json-shape: {name} -->\s*```json\n(.*?)```", all_text(), re.DOTALL)
    assert block, f"neither the README nor docs/ documents a JSON shape for {name}"
    return json.loads(block.group(1))


def conforms(actual: Any, shape: Any, where: str = "$") -> list[str]:  # noqa: PLR0911 - one case per JSON type
    """Where ``actual`` departs from the documented ``shape`` (empty when it conforms)."""
    if isinstance(shape, dict):
        if not isinstance(actual, dict):
            return [f"{where}: not an object"]
        if set(actual) != set(shape):
            return [f"{where}: keys {sorted(actual)} are not the documented {sorted(shape)}"]
        return [problem for key in shape for problem in conforms(actual[key], shape[key], f"{where}.{key}")]
    if isinstance(shape, list):
        if not isinstance(actual, list):
            return [f"{where}: not a list"]
        return [problem for i, item in enumerate(actual) for problem in conforms(item, shape[0], f"{where}[{i}]")]
    if shape is None:
        return [] if actual is None or isinstance(actual, str | int) else [f"{where}: {actual!r}"]
    return [] if type(actual) is type(shape) else [f"{where}: {actual!r} is not a {type(shape).__name__}"]


@pytest.fixture
def stopped(stack: Stack) -> Stack:
    params = inbound_params(body="STOP", sender=CUSTOMER, message_sid=SID)
    url = f"{API_BASE}/twilio/inbound"
    event = http_api_event(url, form_body(params), signed_headers(url, params))
    assert stack.handler.lambda_handler(event, LambdaContext())["statusCode"] == 200
    return stack


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_optouts_get_json_has_the_documented_shape(stopped: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    got = run_json(capsys, "optouts", "get", CUSTOMER, "--consent-table", stopped.consent_table)
    assert conforms(got, documented("optouts get")) == []
    assert got["scopes"][0]["status"] == "opted_out"
    assert [entry["event_id"] for entry in got["scopes"][0]["history"]] == [SID]


def test_optouts_list_json_has_the_documented_shape(stopped: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    got = run_json(capsys, "optouts", "list", "--consent-table", stopped.consent_table, "--status", "opted_out")
    assert conforms(got, documented("optouts list")) == []
    assert (got["count"], got["states"][0]["phone"]) == (1, CUSTOMER)


def test_an_unknown_number_is_an_empty_list_of_scopes(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    got = run_json(capsys, "optouts", "get", CUSTOMER, "--consent-table", stack.consent_table)
    assert got == {"phone": CUSTOMER, "scopes": []}


def test_the_shape_check_catches_a_missing_or_mistyped_field() -> None:
    shape = documented("optouts list")
    state = dict(shape["states"][0])
    del state["source"]
    assert conforms({"count": 1, "states": [state]}, shape)
    assert conforms({"count": "1", "states": []}, shape)


def test_ci360_events_json_lists_each_event_with_its_attributes(capsys: pytest.CaptureFixture[str]) -> None:
    events = run_json(capsys, "ci360", "events")["events"]
    assert "SMS Opt-Out" in [event["name"] for event in events]
    opt_out = next(event for event in events if event["name"] == "SMS Opt-Out")
    assert opt_out["identity"] == "datahub_id"
    assert {"name", "type", "meaning"} == set(opt_out["attributes"][0])
    assert "customer_number" in [attribute["name"] for attribute in opt_out["attributes"]]
