"""Fixtures shared by every tier: a clean AWS environment, a Lambda context, signed webhook builders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from smsbridge.domain.signature import compute_signature
from smsbridge.local.server import LambdaContext
from smsbridge.local.server import http_api_event as local_http_api_event
from smsbridge.local.template import load_template
from smsbridge.ops.simulate import TEST_AUTH_TOKEN

ROOT = Path(__file__).resolve().parent.parent
API_HOST = "abc123def4.execute-api.us-east-1.amazonaws.com"
API_BASE = f"https://{API_HOST}"


@pytest.fixture(autouse=True)
def clean_aws_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reaches real AWS: fake credentials, one region, no endpoint or profile from the developer's shell."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "smsbridge")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "smsbridge")
    yield


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def form_body(params: list[tuple[str, str]]) -> bytes:
    return urlencode(params).encode()


def signed_headers(url: str, params: list[tuple[str, str]], token: str = TEST_AUTH_TOKEN) -> dict[str, str]:
    return {
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
        "x-twilio-signature": compute_signature(token, url, params),
        "i-twilio-idempotency-token": "50609cf4-07f3-4e3f-ac42-044bd13bbc6c",
        "user-agent": "TwilioProxy/1.1",
    }


def http_api_event(url: str, body: bytes, headers: dict[str, str], method: str = "POST") -> dict[str, Any]:
    """A payload 2.0 event as API Gateway's HTTP API ($default stage) builds it for a request to ``url`` (the local
    stack's builder, so tests and ``smsbridge serve`` hand the handler the same shape)."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    sent = {"host": parts.netloc, "x-forwarded-proto": parts.scheme, **headers}
    return local_http_api_event(method, target, sent, body, "54.172.60.1", request_id="JKJaXmPLvHcESHA=")


def function_url_event(url: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """A Lambda function URL event: payload 2.0 with a lambda-url host and no stage."""
    event = http_api_event(url, body, headers)
    event["routeKey"] = "$default"
    return event


def rest_api_event(url: str, body: bytes, headers: dict[str, str], stage: str = "prod") -> dict[str, Any]:
    """A REST API (payload 1.0) event for ``url``, whose path starts with ``/{stage}``: plain body, decoded query."""
    parts = urlsplit(url)
    resource = parts.path.removeprefix(f"/{stage}")
    query: dict[str, list[str]] = {}
    for pair in parts.query.split("&") if parts.query else []:
        name, _, value = pair.partition("=")
        query.setdefault(name, []).append(value)
    canonical = {name.title(): value for name, value in headers.items()}
    return {
        "resource": resource,
        "path": resource,
        "httpMethod": "POST",
        "headers": {"Host": parts.netloc, **canonical},
        "multiValueHeaders": {"Host": [parts.netloc], **{k: [v] for k, v in canonical.items()}},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "requestContext": {
            "domainName": parts.netloc,
            "path": parts.path,
            "stage": stage,
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "54.172.60.1"},
        },
        "body": body.decode(),
        "isBase64Encoded": False,
    }
