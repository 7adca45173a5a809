"""Twilio's Messages API, read with urllib3: the Message resource a consent fact is checked against.

``GET {api_url}/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}.json`` with HTTP basic auth, the account's SID
and auth token (the webhook's tokens, from Secrets Manager). Not ``twilio.rest``: importing it costs a cold start
the forwarder should not pay. Sources: docs/contracts.md ("Twilio Messages API").

Nothing here logs or puts in an error a body, a number or a token: errors name the HTTP status and Twilio's code.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, Protocol

import urllib3

from smsbridge.adapters.https import connection_pool
from smsbridge.domain.verification import ACCOUNT_SID, MESSAGE_SID, TwilioMessage, parse_message_resource
from smsbridge.errors import ConfigurationError, RetryableError

DEFAULT_API_URL = "https://api.twilio.com"
MESSAGE_PATH = "/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}.json"


class AccountTokens(Protocol):
    """The auth tokens of each account, current first (``domain/signature.AuthTokens`` is one)."""

    def for_account(self, account_sid: str) -> tuple[str, ...]: ...


class TwilioUnavailable(RetryableError):
    """Twilio's API did not answer, or answered 429, 5xx or something unreadable: ask again later."""


class TwilioMessages:
    """Fetches Message resources. ``tokens`` gives the current tokens (``SecretTokenSource.current``), read per call
    so a rotated token is used as soon as the secret's cache has it."""

    def __init__(self, tokens: Callable[[], AccountTokens], *, api_url: str = DEFAULT_API_URL,
                 timeout: float = 5.0, max_connections: int = 4) -> None:  # fmt: skip
        self.tokens = tokens
        self.api_url = api_url.rstrip("/")
        self.pool = connection_pool(max_connections=max_connections, timeout=timeout)

    def fetch(self, account_sid: str, message_sid: str) -> TwilioMessage | None:
        """The message, or None when Twilio has none of that SID in the account (404).

        ``ValueError`` for a SID not in Twilio's form (nothing is requested); ``ConfigurationError`` when Twilio
        refuses every token of the account (401/403), or it has none; ``TwilioUnavailable`` otherwise."""
        if not ACCOUNT_SID.fullmatch(account_sid):
            raise ValueError("account_sid is not an AccountSid (AC and 32 hex digits)")
        if not MESSAGE_SID.fullmatch(message_sid):
            raise ValueError("message_sid is not a MessageSid (SM or MM and 32 hex digits)")
        tokens = self.tokens().for_account(account_sid)
        if not tokens:
            raise ConfigurationError("no Twilio auth token is configured for the account")
        url = self.api_url + MESSAGE_PATH.format(account_sid=account_sid, message_sid=message_sid)
        status, text = 0, ""
        for token in tokens:  # the current token; the previous ones only while Twilio refuses it (a rotation)
            status, text = self._get(url, account_sid, token)
            if status not in (401, 403):
                break
        if status == 404:
            return None
        if status in (401, 403):
            raise ConfigurationError(f"Twilio refused the account's credentials: {status}{_code(text)}")
        if status == 200:
            try:
                return parse_message_resource(_object(text))
            except ValueError as exc:  # the message names the field, never its value
                raise TwilioUnavailable(f"Twilio's Message resource is not in its documented form: {exc}") from None
        raise TwilioUnavailable(f"Twilio's Messages API answered {status}{_code(text)}")

    def _get(self, url: str, account_sid: str, token: str) -> tuple[int, str]:
        credentials = base64.b64encode(f"{account_sid}:{token}".encode()).decode("ascii")
        headers = {"Authorization": f"Basic {credentials}", "Accept": "application/json"}
        try:
            response: Any = self.pool.request("GET", url, headers=headers)
        except urllib3.exceptions.HTTPError as exc:  # timeouts, refused or dropped connections
            raise TwilioUnavailable(f"Twilio's Messages API could not be reached: {type(exc).__name__}") from None
        return int(response.status), response.data.decode("utf-8", "replace")


def _object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError("the answer is not JSON") from None
    if not isinstance(value, dict):
        raise ValueError("the answer is not a JSON object")
    return value


def _code(text: str) -> str:
    """`` (Twilio error 20003)`` from an error answer's JSON ``code``, or nothing: Twilio's ``message`` may quote
    the request, so it is never repeated."""
    try:
        code = json.loads(text).get("code")
    except (json.JSONDecodeError, AttributeError):
        return ""
    return f" (Twilio error {code})" if isinstance(code, int) and not isinstance(code, bool) else ""
