"""Twilio request signatures (``X-Twilio-Signature``): every rule in one place.

Twilio signs ``base64(HMAC-SHA1(auth_token, url + name1 + value1 + name2 + value2 ...))`` where ``url`` is the
exact URL it called (query string as sent) and the form parameters are sorted by name, repeated names with their
distinct values sorted. JSON bodies are not signed as parameters: Twilio appends ``bodySHA256=<hex>`` to the query
and signs the URL alone. The validators in twilio-python and twilio-node accept the URL with and without the
default port; twilio-node also accepts the query as a WHATWG URL parser re-encodes it (``'`` becomes ``%27``).

Twilio's Webhooks API (public beta) can sign with a shared key instead: the string signed is the same, the key is
the SharedKey's secret and the hash is the one named in ``X-Twilio-Webhooks-Signature-Settings:
key=<SharedKey id>,algorithm=HMAC_SHA256`` (or ``HMAC_SHA1``), as twilio-node 6.3.1's ``getSignatureAlgorithm`` and
``getExpectedTwilioSignature`` read it (``lib/webhooks/webhooks.js``).

This module is pure (stdlib only) so the webhook's cold path does not pay for the twilio package; the tests
check it against the official twilio-python and twilio-node vectors and against twilio's own validator.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

Params = Sequence[tuple[str, str]]

_DEFAULT_PORTS = {"https": "443", "http": "80"}
# Characters a WHATWG URL parser percent-encodes in the query of a special URL (twilio-node's `new URL()`).
_WHATWG_QUERY_SAFE = "!$&()*+,-./:;=?@_~%[]^`{|}\\"


HMAC_SHA1 = "HMAC_SHA1"
HMAC_SHA256 = "HMAC_SHA256"
_HASHES = {HMAC_SHA1: hashlib.sha1, HMAC_SHA256: hashlib.sha256}
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"


class UnsupportedSignature(ValueError):
    """A signature-settings header smsbridge cannot verify; ``reason`` names why (a metric suffix)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SharedKeySignature:
    """What ``X-Twilio-Webhooks-Signature-Settings`` says: the SharedKey Twilio signed with, and the hash."""

    key: str
    algorithm: str


def signature_settings(header: str) -> SharedKeySignature:
    """Read ``key=<id>,algorithm=<name>`` as twilio-node does: comma-separated ``name=value`` parts, names trimmed,
    the algorithm case-insensitive and ``HMAC_SHA1`` when not named. Raises ``UnsupportedSignature``."""
    parts: dict[str, str] = {}
    for part in header.split(","):
        name, separator, value = part.partition("=")
        if separator and name.strip() not in parts:
            parts[name.strip()] = value.strip()
    algorithm = (parts.get("algorithm") or HMAC_SHA1).upper()
    if algorithm not in _HASHES:
        raise UnsupportedSignature(
            f"{SETTINGS_HEADER} names the algorithm {parts.get('algorithm', '')[:40]!r}; "
            f"smsbridge verifies {HMAC_SHA1} and {HMAC_SHA256}",
            reason="unsupported_algorithm",
        )
    if not parts.get("key"):
        raise UnsupportedSignature(f"{SETTINGS_HEADER} names no key", reason="unknown_shared_key")
    return SharedKeySignature(parts["key"], algorithm)


def compute_signature(token: str, url: str, params: Params = (), algorithm: str = HMAC_SHA1) -> str:
    """The signature Twilio sends for ``url`` and the decoded form ``params`` (name, value pairs), made with an
    auth token (``HMAC_SHA1``) or a SharedKey secret (``algorithm`` from the signature-settings header)."""
    values_by_name: dict[str, set[str]] = {}
    for name, value in params:
        values_by_name.setdefault(name, set()).add(value)
    payload = url + "".join(name + value for name in sorted(values_by_name) for value in sorted(values_by_name[name]))
    digest = hmac.new(token.encode("utf-8"), payload.encode("utf-8"), _HASHES[algorithm]).digest()
    return base64.b64encode(digest).decode("ascii")


def body_sha256(body: bytes) -> str:
    """Hex SHA-256 of a raw body, as Twilio puts it in the ``bodySHA256`` query parameter."""
    return hashlib.sha256(body).hexdigest()


def port_variants(url: str) -> list[str]:
    """``url`` as given, with the scheme's default port added, and with any port removed (Twilio's validators)."""
    parts = urlsplit(url)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    prefix = f"{userinfo}@" if userinfo else ""
    host, port = _split_port(hostport)
    variants = [url]
    if port is None:
        default = _DEFAULT_PORTS.get(parts.scheme.lower())
        if default:
            variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default}")))
    else:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}")))
    return variants


def _split_port(hostport: str) -> tuple[str, str | None]:
    if hostport.startswith("["):  # IPv6 literal
        end = hostport.find("]")
        rest = hostport[end + 1 :]
        return hostport[: end + 1], rest[1:] if rest.startswith(":") else None
    host, sep, port = hostport.partition(":")
    return (host, port) if sep else (host, None)


def query_variants(raw_query: str) -> list[str]:
    """The raw query as received, then as twilio-node's URL parser re-encodes it (when that differs)."""
    variants = [raw_query]
    reencoded = quote(raw_query, safe=_WHATWG_QUERY_SAFE)
    if reencoded != raw_query:
        variants.append(reencoded)
    return variants


def candidate_urls(base_url: str, raw_query: str = "", fragment: str = "") -> list[str]:
    """Every URL Twilio may have signed for a request that reached ``base_url`` with ``raw_query``.

    ``base_url`` is scheme, host and path (no query). ``fragment`` is the configured connection override
    (``rc=3&rp=5xx``): Twilio's docs do not say whether it is signed, so both forms are tried.
    """
    with_query = [f"{base_url}?{query}" for query in query_variants(raw_query)] if raw_query else [base_url]
    fragments = [""] + ([f"#{fragment.lstrip('#')}"] if fragment.strip("#") else [])
    urls: list[str] = []
    for url in with_query:
        for suffix in fragments:
            for variant in port_variants(url + suffix):
                if variant not in urls:
                    urls.append(variant)
    return urls


@dataclass(frozen=True)
class SignedContent:
    """What a request offers to be checked: the candidate URLs, its decoded form params and its raw body."""

    urls: Sequence[str]
    params: Params
    body: bytes
    is_json: bool = False


def signature_matches(
    content: SignedContent, signature: str, tokens: Iterable[str], algorithm: str = HMAC_SHA1
) -> bool:
    """True when ``signature`` was made by one of ``tokens`` over one of the candidate URLs.

    Form bodies are signed as parameters. JSON bodies are signed as the URL alone, and only count when the URL's
    ``bodySHA256`` equals the SHA-256 of the raw body. Every comparison runs in constant time.
    """
    given = signature.strip().encode("ascii", "replace")
    tokens = tuple(tokens)
    for url in content.urls:
        params: Params = content.params
        if content.is_json:
            if not _body_hash_matches(url, content.body):
                continue
            params = ()
        for token in tokens:
            if hmac.compare_digest(compute_signature(token, url, params, algorithm).encode("ascii"), given):
                return True
    return False


def _body_hash_matches(url: str, body: bytes) -> bool:
    query = urlsplit(url).query
    hashes = [value for name, value in parse_qsl(query, keep_blank_values=True) if name == "bodySHA256"]
    return len(hashes) == 1 and hmac.compare_digest(hashes[0].lower().encode(), body_sha256(body).encode())


@dataclass(frozen=True)
class AuthTokens:
    """Twilio auth tokens per AccountSid, each a list: the current token first, then the previous during a rotation.

    ``default`` serves every account without an entry of its own (single-account deployments, the local stack).
    ``shared_keys`` holds Webhooks-API SharedKey secrets, per AccountSid (or ``default``), then per key id, each a
    list for rotation. An empty set refuses everything: smsbridge fails closed.
    """

    by_account: dict[str, tuple[str, ...]]
    default: tuple[str, ...] = ()
    shared_keys: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)

    def for_account(self, account_sid: str) -> tuple[str, ...]:
        return self.by_account.get(account_sid, self.default)

    def shared_key(self, account_sid: str, key: str) -> tuple[str, ...]:
        """The secrets of SharedKey ``key`` for this account: its own entry; ``default``'s only for an account
        with no auth token of its own, the rule ``for_account`` applies to tokens (an account with its own token is
        never verified with a key that serves every account)."""
        if account_sid in self.shared_keys:
            return self.shared_keys[account_sid].get(key, ())
        if account_sid in self.by_account:
            return ()
        return self.shared_keys.get("default", {}).get(key, ())

    @property
    def is_empty(self) -> bool:
        return not self.default and not any(self.by_account.values()) and not self.shared_keys

    @classmethod
    def parse(cls, secret: str) -> AuthTokens:
        """Read the secret's text: a bare token, or JSON ``{"default": [...], "AC...": [...], "shared_keys":
        {"AC..." or "default": {"<SharedKey id>": [...]}}}``.

        A JSON value may be one token or a list of tokens (current first). Raises ``ValueError`` saying what is
        wrong; the message never contains a token.
        """
        text = secret.strip()
        if not text:
            return cls(by_account={})
        if not text.startswith(("{", "[")):
            return cls(by_account={}, default=(text,))
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"auth token secret is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
        if not isinstance(document, dict):
            raise ValueError("auth token secret must be a JSON object of AccountSid -> token or list of tokens")
        shared = _shared_keys(document.pop("shared_keys", {}))
        entries = {str(key): _token_list(str(key), value) for key, value in document.items()}
        default = entries.pop("default", ())
        return cls(by_account={key: value for key, value in entries.items() if value}, default=default,
                   shared_keys=shared)  # fmt: skip


def _shared_keys(value: object) -> dict[str, dict[str, tuple[str, ...]]]:
    if not isinstance(value, dict) or not all(isinstance(keys, dict) for keys in value.values()):
        raise ValueError('auth token secret entry "shared_keys" must map an AccountSid (or default) to {key id: [...]}')
    found = {
        str(account): {str(key): _token_list(f"shared_keys.{account}.{key}", secrets) for key, secrets in keys.items()}
        for account, keys in value.items()
    }
    return {account: {key: secrets for key, secrets in keys.items() if secrets} for account, keys in found.items()}


def _token_list(key: str, value: object) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(item, str) for item in values):
        raise ValueError(f"auth token secret entry {key!r} must be a string or a list of strings")
    return tuple(item.strip() for item in values if item.strip())
