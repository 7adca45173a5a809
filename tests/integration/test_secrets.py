"""Auth tokens from Secrets Manager: read once, cached, refreshed, and never fail open."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from smsbridge.adapters.secrets import SecretTokenSource
from smsbridge.errors import NotConfigured, RetryableError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def secrets() -> Iterator[object]:
    with mock_aws():
        client = boto3.client("secretsmanager")
        client.create_secret(Name="tokens", SecretString='{"default": ["t1"]}')
        yield client


def test_tokens_are_cached_until_max_age_then_reread(secrets: object) -> None:
    clock = Clock()
    source = SecretTokenSource("tokens", max_age=300, client=secrets, clock=clock)  # type: ignore[arg-type]
    assert source.current().for_account("AC1") == ("t1",)
    secrets.put_secret_value(SecretId="tokens", SecretString='{"default": ["t2", "t1"]}')  # type: ignore[attr-defined]
    clock.now += 299
    assert source.current().for_account("AC1") == ("t1",)
    clock.now += 1
    assert source.current().for_account("AC1") == ("t2", "t1")


def test_failed_refresh_keeps_the_tokens_in_force(secrets: object) -> None:
    clock = Clock()
    source = SecretTokenSource("tokens", max_age=300, client=secrets, clock=clock)  # type: ignore[arg-type]
    source.current()
    clock.now += 400
    with Stubber(secrets) as stub:  # type: ignore[arg-type]
        stub.add_client_error("get_secret_value", service_error_code="InternalServiceError")
        assert source.current().for_account("AC1") == ("t1",)


def test_first_read_failing_is_retryable(secrets: object) -> None:
    source = SecretTokenSource("tokens", client=secrets)  # type: ignore[arg-type]
    with Stubber(secrets) as stub, pytest.raises(RetryableError):  # type: ignore[arg-type]
        stub.add_client_error("get_secret_value", service_error_code="InternalServiceError")
        source.current()


def test_missing_empty_or_malformed_secret_refuses_and_is_reread_soon(secrets: object) -> None:
    clock = Clock()
    source = SecretTokenSource("absent", max_age=300, client=secrets, clock=clock)  # type: ignore[arg-type]
    with pytest.raises(NotConfigured, match="has no value"):
        source.current()
    secrets.create_secret(Name="absent", SecretString="{broken")  # type: ignore[attr-defined]
    with pytest.raises(NotConfigured, match="has no value"):  # the answer is cached: no read per request
        source.current()
    clock.now += 30
    with pytest.raises(NotConfigured, match="not valid JSON"):
        source.current()
    secrets.put_secret_value(SecretId="absent", SecretString='{"default": []}')  # type: ignore[attr-defined]
    clock.now += 30
    with pytest.raises(NotConfigured, match="no Twilio auth token"):
        source.current()
    secrets.put_secret_value(SecretId="absent", SecretString="t9")  # type: ignore[attr-defined]
    clock.now += 30
    assert source.current().for_account("AC1") == ("t9",)


def test_unset_secret_name_refuses() -> None:
    with pytest.raises(NotConfigured, match="TWILIO_AUTH_TOKENS_SECRET"):
        SecretTokenSource("", client=object()).current()  # type: ignore[arg-type]
