"""The erasure key: the per-deployment secret (``ErasureKeySecret``) that turns a forgotten number into the keyed
hash its consent is kept under (``smsbridge forget``, docs/erasure.md).

HMAC-SHA256 with a key only the deployment holds: unlike a plain hash, it cannot be reversed by hashing every
possible number. The key is read once, on the first lookup of a number's consent by the CLI (``optouts get`` merges
a number's hashed consent with its clear one, ``forget`` hashes), and kept for the process.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from smsbridge.adapters.secrets import CachedSecret
from smsbridge.errors import ConfigurationError, NotConfigured

MIN_KEY_CHARACTERS = 32
SETTING = "ErasureKeySecret"


def _key_bytes(text: str) -> bytes:
    key = text.strip()
    if len(key) < MIN_KEY_CHARACTERS:
        raise ValueError(f"the key must be at least {MIN_KEY_CHARACTERS} characters")
    return key.encode()


class ErasureKey:
    """The keyed hash of numbers. ``find`` says where the secret is (its id and a Secrets Manager client); it is
    called on first use only, so a command that never hashes never looks the secret up."""

    def __init__(self, find: Callable[[], tuple[str, Any]]) -> None:
        self._find = find
        self._secret: CachedSecret[bytes] | None = None

    @classmethod
    def of(cls, secret_id: str, client: Any) -> ErasureKey:
        return cls(lambda: (secret_id, client))

    def digest(self, phone: str) -> str:
        """HMAC-SHA256(key, number) in hex; ``NotConfigured`` when the deployment has no usable key."""
        if self._secret is None:
            try:
                secret_id, client = self._find()
            except (KeyError, ConfigurationError) as exc:  # a deployment (or local state) from before the key
                raise NotConfigured(f"this deployment has no {SETTING}: {exc}") from exc
            self._secret = CachedSecret(secret_id, _key_bytes, setting=SETTING, max_age=float("inf"), client=client)
        return hmac.new(self._secret.value(), phone.encode(), hashlib.sha256).hexdigest()
