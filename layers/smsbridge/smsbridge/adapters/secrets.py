"""Secrets from Secrets Manager, parsed and cached per container, so a request costs no secret read.

A value is kept ``max_age`` seconds. When a refresh fails, the value already read stays in force; with none
read yet the caller gets a ``RetryableError`` (5xx, or a retry later). A secret that is missing, empty or
malformed is ``NotConfigured``: that answer is cached too, for at most 30 seconds, so a fix is seen quickly
without a read per request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from smsbridge.adapters.dynamodb import CLIENT_CONFIG
from smsbridge.errors import ConfigurationError, NotConfigured, RetryableError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from smsbridge.domain.signature import AuthTokens

T = TypeVar("T")
RECHECK_SECONDS = 30


class CachedSecret(Generic[T]):
    """One secret, turned into a ``T`` by ``parse`` (which raises ``ValueError`` or ``ConfigurationError``)."""

    def __init__(
        self,
        secret_id: str,
        parse: Callable[[str], T],
        *,
        setting: str,
        max_age: float = 300,
        client: SecretsManagerClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.secret_id = secret_id
        self.parse = parse
        self.setting = setting
        self.max_age = max_age
        self.client: SecretsManagerClient = client or boto3.client("secretsmanager", config=CLIENT_CONFIG)
        self._clock = clock
        self._value: T | None = None
        self._problem: NotConfigured | None = None
        self._next_read = 0.0

    def value(self) -> T:
        if not self.secret_id:
            raise NotConfigured(f"{self.setting} is not set")
        now = self._clock()
        if now >= self._next_read:
            try:
                self._value, self._problem = self._read(), None
                self._next_read = now + self.max_age
            except NotConfigured as problem:
                self._value, self._problem = None, problem
                self._next_read = now + min(self.max_age, RECHECK_SECONDS)
            except RetryableError:
                if self._value is None and self._problem is None:
                    raise
                self._next_read = now + min(self.max_age, RECHECK_SECONDS)
        if self._problem is not None:
            raise self._problem
        assert self._value is not None  # set whenever there is no problem
        return self._value

    def _read(self) -> T:
        try:
            secret = self.client.get_secret_value(SecretId=self.secret_id)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            if code == "ResourceNotFoundException":
                raise NotConfigured(f"secret {self.secret_id} ({self.setting}) has no value") from exc
            raise RetryableError(f"Secrets Manager refused to read {self.secret_id}: {code}") from exc
        except BotoCoreError as exc:
            raise RetryableError(f"Secrets Manager could not be reached: {type(exc).__name__}") from exc
        try:
            return self.parse(secret.get("SecretString", ""))
        except (ValueError, ConfigurationError) as exc:
            raise NotConfigured(f"secret {self.secret_id} ({self.setting}): {exc}") from exc


def _auth_tokens(text: str) -> AuthTokens:
    from smsbridge.domain.signature import AuthTokens  # noqa: PLC0415 - the webhook's: the forwarder never loads it

    tokens = AuthTokens.parse(text)
    if tokens.is_empty:
        raise ValueError("no Twilio auth token is configured in it")
    return tokens


class SecretTokenSource:
    """``TokenSource``: the Twilio auth tokens (format: ``AuthTokens.parse``). No token: every webhook is refused."""

    def __init__(self, secret_id: str, *, max_age: float = 300, client: SecretsManagerClient | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.secret = CachedSecret(secret_id, _auth_tokens, setting="TWILIO_AUTH_TOKENS_SECRET", max_age=max_age,
                                   client=client, clock=clock)  # fmt: skip

    def current(self) -> AuthTokens:
        return self.secret.value()
