"""What the webhook refuses, end to end: the status code, the metric, nothing recorded, no secret in the answer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from smsbridge.ops.simulate import inbound_params, status_params
from tests.conftest import API_BASE, LambdaContext, form_body, http_api_event, signed_headers
from tests.integration.conftest import Stack, load_webhook_module

INBOUND_URL, STATUS_URL = f"{API_BASE}/twilio/inbound", f"{API_BASE}/twilio/status"
ACCOUNT_A, ACCOUNT_B = "AC" + "a" * 32, "AC" + "b" * 32


def post(handler: Any, url: str, params: list[tuple[str, str]], token: str | None = None) -> dict[str, Any]:
    headers = signed_headers(url, params, token) if token else signed_headers(url, params)
    return handler.lambda_handler(http_api_event(url, form_body(params), headers), LambdaContext())  # type: ignore[no-any-return]


def metrics(capsys: pytest.CaptureFixture[str]) -> set[str]:
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    return {metric["Name"] for doc in emf for d in doc["_aws"]["CloudWatchMetrics"] for metric in d["Metrics"]}


@pytest.mark.parametrize(
    ("url", "params", "right_url"),
    [(STATUS_URL, inbound_params(body="STOP"), INBOUND_URL), (INBOUND_URL, status_params(), STATUS_URL)],
    ids=["inbound-at-status-url", "status-at-inbound-url"],
)
def test_wrong_door_is_400_naming_the_right_url_and_records_nothing(
    stack: Stack, capsys: pytest.CaptureFixture[str], url: str, params: list[tuple[str, str]], right_url: str
) -> None:
    answer = post(stack.handler, url, params)
    assert answer["statusCode"] == 400
    assert right_url in answer["body"]
    assert stack.items() == [] and stack.consent_items() == []
    assert "Rejected_wrong_door" in metrics(capsys)


def test_re_split_stop_is_400_counted_and_the_genuine_stop_after_it_opts_out(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    genuine = inbound_params(body="STOP")
    resplit = [("BodyS", "TOP") if name == "Body" else (name, value) for name, value in genuine]
    headers = signed_headers(INBOUND_URL, genuine)
    answer = stack.handler.lambda_handler(http_api_event(INBOUND_URL, form_body(resplit), headers), LambdaContext())
    assert answer["statusCode"] == 400 and "Body is required" in answer["body"]
    assert stack.items() == [] and "Rejected_missing_field" in metrics(capsys)
    assert post(stack.handler, INBOUND_URL, genuine)["statusCode"] == 200
    assert [item["status"] for item in stack.consent_items() if item["record_type"] == "state"] == ["opted_out"]


def test_unknown_account_is_403_and_its_answer_names_no_secret(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN tokens configured per account only
    stack.set_tokens(json.dumps({ACCOUNT_A: "a" * 32, ACCOUNT_B: ["b" * 32]}))
    stack.handler.service.tokens.secret._next_read = 0
    # WHEN an unsigned request names an account without a token THEN 403 (not 503: not our fault, no 5xx alarm)
    answer = post(stack.handler, INBOUND_URL, inbound_params(account_sid="AC" + "c" * 32), token="c" * 32)
    assert answer["statusCode"] == 403
    assert not any(word in answer["body"].lower() for word in ("secret", "arn:", "twilio_auth"))
    assert "Rejected_unknown_account" in metrics(capsys)
    assert '"level":"WARNING"' in stack.logs.getvalue().replace(" ", "")
    # AND account B's token cannot speak for account A
    assert post(stack.handler, INBOUND_URL, inbound_params(account_sid=ACCOUNT_A), token="b" * 32)["statusCode"] == 403
    assert post(stack.handler, INBOUND_URL, inbound_params(account_sid=ACCOUNT_B), token="b" * 32)["statusCode"] == 200
    assert len(stack.items()) == 1


def test_unreadable_secret_is_503_whose_answer_names_no_secret_arn_or_setting(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:smsbridge-missing-AbCdEf"
    monkeypatch.setenv("TWILIO_AUTH_TOKENS_SECRET", arn)
    handler = load_webhook_module(stack.logs)
    answer = post(handler, INBOUND_URL, inbound_params())
    assert answer["statusCode"] == 503
    for revealing in (arn, "123456789012", "arn:", "TWILIO_AUTH_TOKENS_SECRET", "secret"):
        assert revealing not in answer["body"]
    assert arn in stack.logs.getvalue()  # the operator finds it in the log
    assert stack.items() == []
