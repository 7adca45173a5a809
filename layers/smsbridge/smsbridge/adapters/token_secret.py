"""Twilio auth tokens from Secrets Manager, cached per container so a webhook costs no secret read."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from smsbridge.adapters.dynamodb import CLIENT_CONFIG
from smsbridge.domain.signature import AuthTokens
from smsbridge.errors import NotConfigured, RetryableError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


class SecretTokenSource:
    """``TokenSource`` reading one secret (see ``AuthTokens.parse`` for its format), refreshed every ``max_age``.

    When a refresh fails, the tokens already read stay in force; with none read yet, the webhook answers 5xx.
    An empty or missing secret means no token: every webhook is refused (fail closed).
    """

    def __init__(
        self,
        secret_id: str,
        *,
        max_age: float = 300,
        client: SecretsManagerClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.secret_id = secret_id
        self.max_age = max_age
        self.client: SecretsManagerClient = client or boto3.client("secretsmanager", config=CLIENT_CONFIG)
        self._clock = clock
        self._tokens: AuthTokens | None = None
        self._next_read = 0.0

    def current(self) -> AuthTokens:
        """The tokens in force. Empty tokens (secret unset or empty) are re-read after at most 30 s."""
        if not self.secret_id:
            raise NotConfigured("TWILIO_AUTH_TOKENS_SECRET is not set, so no webhook can be verified")
        now = self._clock()
        if self._tokens is None or now >= self._next_read:
            try:
                self._tokens = self._read()
                self._next_read = now + (self.max_age if not self._tokens.is_empty else min(self.max_age, 30))
            except NotConfigured:
                self._tokens, self._next_read = AuthTokens(by_account={}), now + min(self.max_age, 30)
            except RetryableError:
                if self._tokens is None:
                    raise
                self._next_read = now + min(self.max_age, 30)
        return self._tokens

    def _read(self) -> AuthTokens:
        try:
            secret = self.client.get_secret_value(SecretId=self.secret_id)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            if code == "ResourceNotFoundException":
                raise NotConfigured(f"secret {self.secret_id} has no value; put the Twilio auth token in it") from exc
            raise RetryableError(f"Secrets Manager refused to read {self.secret_id}: {code}") from exc
        except BotoCoreError as exc:
            raise RetryableError(f"Secrets Manager could not be reached: {type(exc).__name__}") from exc
        try:
            return AuthTokens.parse(secret.get("SecretString", ""))
        except ValueError as exc:
            raise NotConfigured(f"secret {self.secret_id}: {exc}") from exc
