"""Webhook cost per request, warm, in process: the full handler against a bare Twilio-validator baseline.

DynamoDB is stubbed at the client for both (every write returns at once), so the figure is smsbridge's own
work: resolver, signature, model, classification, the write's construction, logging and metrics.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import io
import logging
import os
import time
from typing import Any
from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator

from smsbridge.domain.signature import AuthTokens
from smsbridge.local.server import LambdaContext
from smsbridge.ops.simulate import TEST_AUTH_TOKEN, inbound_params, status_params
from tests.bench.harness import Row, percentile
from tests.conftest import API_BASE, ROOT, form_body, http_api_event, signed_headers
from tests.fakes import StaticTokens


class InstantDynamoDB:
    """A DynamoDB client whose writes succeed at once (the same for the handler and the baseline)."""

    def put_item(self, **request: Any) -> dict[str, Any]:
        return {}

    update_item = transact_write_items = put_item


def load_webhook(sink: io.StringIO) -> Any:
    """The webhook module as a Lambda container loads it, logging into ``sink`` (CloudWatch's stand-in)."""
    os.environ.update(
        MESSAGES_TABLE="bench-messages",
        CONSENT_TABLE="bench-consent",
        TWILIO_AUTH_TOKENS_SECRET="bench",
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_SERVICE_NAME="smsbridge",
        POWERTOOLS_METRICS_NAMESPACE="smsbridge",
    )
    spec = importlib.util.spec_from_file_location("bench_webhook_app", ROOT / "functions" / "webhook" / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    for handler in logging.getLogger("smsbridge").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.stream = sink
    with contextlib.redirect_stdout(sink):
        spec.loader.exec_module(module)
    module.service.tokens = StaticTokens(AuthTokens.parse(TEST_AUTH_TOKEN))
    module.service.store.client = InstantDynamoDB()
    return module


def events(count: int) -> list[dict[str, Any]]:
    made = []
    for n in range(count):
        route, params = (
            ("/twilio/inbound", inbound_params(body="STOP" if n % 4 == 0 else "Thanks!"))
            if n % 2
            else ("/twilio/status", status_params(status="delivered"))
        )
        url = f"{API_BASE}{route}"
        made.append(http_api_event(url, form_body(params), signed_headers(url, params)))
    return made


def baseline(event: dict[str, Any], client: InstantDynamoDB, validator: RequestValidator) -> None:
    body = base64.b64decode(event["body"]).decode()
    params = dict(parse_qsl(body, keep_blank_values=True))
    url = f"https://{event['requestContext']['domainName']}{event['rawPath']}"
    if not validator.validate(url, params, event["headers"]["x-twilio-signature"]):
        raise AssertionError("baseline rejected a valid webhook")
    client.put_item(
        TableName="bench", Item={"pk": {"S": params["MessageSid"]}}, ConditionExpression="attribute_not_exists(pk)"
    )


def run(count: int = 3000) -> list[Row]:
    sink = io.StringIO()
    module = load_webhook(sink)
    sample = events(count)
    client, validator, context = InstantDynamoDB(), RequestValidator(TEST_AUTH_TOKEN), LambdaContext()
    full: list[float] = []
    bare: list[float] = []
    with contextlib.redirect_stdout(sink):
        for event in sample[:200]:  # warm both paths
            module.lambda_handler(event, context)
            baseline(event, client, validator)
        for event in sample:  # interleaved, so machine noise hits both alike
            start = time.perf_counter()
            answer = module.lambda_handler(event, context)
            full.append(time.perf_counter() - start)
            assert answer["statusCode"] in (200, 204), answer
            start = time.perf_counter()
            baseline(event, client, validator)
            bare.append(time.perf_counter() - start)
            sink.seek(0)
            sink.truncate()
    goal = "<= 1.5x"
    return [
        Row("webhook warm p50 per request", percentile(full, 0.5) * 1e6, percentile(bare, 0.5) * 1e6, "us", goal),
        Row("webhook warm p99 per request", percentile(full, 0.99) * 1e6, percentile(bare, 0.99) * 1e6, "us", goal),
    ]
