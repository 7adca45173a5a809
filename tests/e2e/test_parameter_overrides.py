"""`smsbridge serve --parameter-overrides Key=Value`: the local stack runs with a deployment parameter other than
the template's default, as `sam deploy --parameter-overrides` would deploy it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from smsbridge.errors import ConfigurationError
from smsbridge.local.template import LocalResources, parameter_overrides
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def contains_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """(webhook base URL, moto endpoint, state file) of `smsbridge serve` run with KeywordPolicy=contains."""
    state_file = tmp_path_factory.mktemp("serve") / "local.json"
    command = [str(BIN / "smsbridge"), "serve", "--port", "0", "--state-file", str(state_file), "--sync-seconds", "0"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [*command, "--parameter-overrides", "KeywordPolicy=contains", "OptOutKeywords=ENOUGH"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:  # the banner ends with "ready"
        lines.append(line)
        if line.strip() == "ready":
            break
    output = "".join(lines)
    base = re.search(r"inbound webhook:\s+(http://127\.0\.0\.1:\d+)/twilio/inbound", output)
    aws = re.search(r"moto at (http://127\.0\.0\.1:\d+)", output)
    try:
        if not (base and aws):
            pytest.fail(f"smsbridge serve did not start:\n{output}")
        yield base.group(1), aws.group(1), state_file
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def _reply(base_url: str, body: str, sid: str) -> None:
    done = subprocess.run(
        [str(BIN / "smsbridge"), "simulate", "inbound", "--url", f"{base_url}/twilio/inbound", "--body", body,
         "--message-sid", sid],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def _record(aws_endpoint_url: str, sid: str) -> dict[str, dict[str, str]]:
    dynamodb = boto3.client("dynamodb", endpoint_url=aws_endpoint_url, region_name="us-east-1")
    key = {"pk": {"S": f"MSG#{sid}"}, "sk": {"S": "INBOUND"}}
    item: dict[str, dict[str, str]] = dynamodb.get_item(TableName="smsbridge-local-MessagesTable", Key=key)["Item"]
    return item


def test_serve_with_keyword_policy_contains_flags_opt_out_language(contains_stack: tuple[str, str, Path]) -> None:
    base_url, aws_endpoint_url, state_file = contains_stack
    # The functions were given the override, not the template's default (exact).
    environment = json.loads(state_file.read_text())["environment"]
    assert environment["KEYWORD_POLICY"] == "contains"
    # GIVEN a short reply with opt-out language that is not wholly a keyword
    sid = "SM" + "c" * 32
    _reply(base_url, "please stop texting me", sid)
    # THEN it is flagged for CI360, and consent is not changed (Twilio did not block the number)
    record = _record(aws_endpoint_url, sid)
    assert record["opt_out_suspected"] == {"BOOL": True}
    assert record["intent"] == {"S": "reply"}
    # AND a second override took effect too: the extra opt-out keyword opts out
    enough = "SM" + "d" * 32
    _reply(base_url, "Enough!", enough)
    assert _record(aws_endpoint_url, enough)["intent"] == {"S": "opt_out"}


def test_without_overrides_the_template_defaults_apply(template: dict[str, object]) -> None:
    default = LocalResources(prefix="t", template=template).function_environment("WebhookFunction")
    assert default["KEYWORD_POLICY"] == "exact"
    overridden = LocalResources(
        prefix="t", template=template, parameters=parameter_overrides(template, ["KeywordPolicy=contains"])
    ).function_environment("WebhookFunction")
    assert overridden["KEYWORD_POLICY"] == "contains"


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ("KeywordPolicy=sometimes", "is not one of exact, contains"),
        ("KeywordPolicy", "Key=Value"),
        ("KeywordPolcy=contains", "has no parameter KeywordPolcy"),
        ("MaxBodyBytes=12", "outside"),
        ("MaxBodyBytes=lots", "not a number"),
        ("KeywordLanguages=de", "must match"),
        ("PublicBaseUrl=https://hooks.example.com", "use --public-url"),
    ],
)
def test_a_bad_override_is_refused_with_what_is_wrong(pair: str, message: str, template: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parameter_overrides(template, [pair])
