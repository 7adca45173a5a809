"""``smsbridge ci360 connector-body``: the body to paste into CI360's Twilio connector endpoint, for a base URL
that is checked first (the stack's, read from its outputs, or one given by hand)."""

from __future__ import annotations

from urllib.parse import urlsplit

from smsbridge.domain.ci360_events import connector_body
from smsbridge.domain.ingress import INBOUND_ROUTE, STATUS_ROUTE
from smsbridge.errors import ConfigurationError

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def check_base_url(url: str) -> str:
    """The stack's base URL without a trailing slash, or a ConfigurationError saying what is wrong with ``url``.

    https only (plain http only on this machine, for `make serve`), no query or fragment, and no webhook route:
    the base is what comes before ``/twilio/status`` (a custom domain may carry a base path of its own).
    """
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    for route in (STATUS_ROUTE, INBOUND_ROUTE):
        if path.endswith(route) or f"{route}/" in parts.path:
            base = url.strip().split(route, 1)[0]
            raise ConfigurationError(f"--base-url is the stack's base URL, not a webhook URL: give {base} "
                                     f"(without {route}), or --stack NAME")  # fmt: skip
    local = parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK
    if not parts.netloc or not (parts.scheme == "https" or local):
        raise ConfigurationError(f"--base-url must be an https URL (Twilio calls it over the internet), not {url!r}")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ConfigurationError("--base-url takes no query or fragment: smsbridge adds the correlation query and "
                                 "the connection overrides itself")  # fmt: skip
    if path.endswith("/twilio"):
        raise ConfigurationError(
            f"--base-url ends in /twilio: give the part before it ({url.split('/twilio', maxsplit=1)[0]})"
        )
    return f"{parts.scheme}://{parts.netloc}{path}"


def base_url_of(status_callback_url: str) -> str:
    """The base URL of a stack from its ``StatusCallbackUrl`` output."""
    return check_base_url(status_callback_url.removesuffix(STATUS_ROUTE))


def body_for(base_url: str, *, from_number: bool = False, messaging_service: str = "", fragment: str = "") -> str:
    """The connector body for the stack at ``base_url`` (checked): sent through a Messaging Service (the SID given,
    else a CI360 variable to map), or ``From=`` a number when ``from_number``."""
    if messaging_service and not (messaging_service.startswith("MG") and len(messaging_service) == 34):
        raise ConfigurationError(f"--messaging-service takes a Messaging Service SID (MG + 32 characters), "
                                 f"not {messaging_service!r}")  # fmt: skip
    sender = None if from_number else (messaging_service or "{{$messagingServiceSid}}")
    return connector_body(check_base_url(base_url) + STATUS_ROUTE, messaging_service=sender, fragment=fragment)
