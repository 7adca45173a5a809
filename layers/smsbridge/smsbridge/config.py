"""Settings, read from the environment once per container. Nothing secret lives here: tokens are in Secrets Manager."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from smsbridge.errors import ConfigurationError


@dataclass(frozen=True)
class Settings:
    """Every setting smsbridge reads; the README's configuration table lists the variables."""

    messages_table: str
    auth_tokens_secret: str = ""
    public_base_url: str = ""
    url_fragment: str = ""
    max_body_bytes: int = 64 * 1024
    message_retention_days: int = 90
    token_cache_seconds: int = 300

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        settings = cls(
            messages_table=env.get("MESSAGES_TABLE", ""),
            auth_tokens_secret=env.get("TWILIO_AUTH_TOKENS_SECRET", ""),
            public_base_url=env.get("PUBLIC_BASE_URL", "").strip(),
            url_fragment=env.get("TWILIO_URL_FRAGMENT", "").strip().lstrip("#"),
            max_body_bytes=_positive_int(env, "MAX_BODY_BYTES", 64 * 1024),
            message_retention_days=_positive_int(env, "MESSAGE_RETENTION_DAYS", 90),
            token_cache_seconds=_positive_int(env, "TOKEN_CACHE_SECONDS", 300),
        )
        if not settings.messages_table:
            raise ConfigurationError("MESSAGES_TABLE is not set: the name of the DynamoDB messages table")
        if settings.public_base_url:
            _check_base_url(settings.public_base_url)
        return settings


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise ConfigurationError(f"{name} must be a positive whole number, not {raw!r}")
    return int(raw)


def _check_base_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ConfigurationError(f"PUBLIC_BASE_URL must be an absolute http(s) URL, not {url!r}")
    if parts.query or parts.fragment:
        raise ConfigurationError("PUBLIC_BASE_URL must not carry a query or fragment (set TWILIO_URL_FRAGMENT)")
