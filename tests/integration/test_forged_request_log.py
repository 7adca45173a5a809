"""A refused signature explains itself in the log (WARNING): the URLs checked, the token's last digits and a hint;
the answer to the caller stays terse, and nothing secret or personal is logged."""

from __future__ import annotations

import json

import pytest

from smsbridge.ops.simulate import TEST_AUTH_TOKEN, inbound_params
from tests.conftest import API_BASE, LambdaContext, form_body, http_api_event, signed_headers
from tests.integration.conftest import Stack

INBOUND_URL = f"{API_BASE}/twilio/inbound"


def test_a_bad_signature_logs_the_urls_checked_the_masked_token_and_a_hint(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "f" * 32
    params = inbound_params(body="STOP", sender="+14155557788")
    event = http_api_event(INBOUND_URL, form_body(params), signed_headers(INBOUND_URL, params, token=wrong))
    answer = stack.handler.lambda_handler(event, LambdaContext())
    # THEN the caller gets the terse answer only
    assert answer["statusCode"] == 403
    assert answer["body"] == "X-Twilio-Signature does not match this request\n"
    # AND the log's WARNING line says what was checked and what to look at
    lines = [json.loads(line) for line in (stack.logs.getvalue() + capsys.readouterr().out).splitlines()
             if '"webhook rejected"' in line]  # fmt: skip
    [record] = lines
    assert record["level"] == "WARNING" and record["reason"] == "bad_signature"
    assert INBOUND_URL in record["urls_tried"]
    assert record["tokens_tried"] == ["…" + TEST_AUTH_TOKEN[-4:]]
    assert "another auth token" in record["hint"]
    logged = json.dumps(record)
    for secret in (TEST_AUTH_TOKEN, wrong, "+14155557788", "STOP"):
        assert secret not in logged
