"""Every error smsbridge raises, split by what the caller should do about it.

::

    SmsBridgeError
    ├── RejectedRequest            the webhook is refused with a 4xx; nothing was recorded
    │   ├── MethodNotAllowed       405: not a POST
    │   ├── PayloadTooLarge        413: body over the configured limit
    │   ├── UnsupportedMediaType   415: neither a form nor a signed JSON body
    │   ├── ForgedRequest          403: signature missing or wrong, unknown account or key (``reason`` says which)
    │   └── InvalidPayload         400: unreadable, or signed but at the wrong URL, not in Twilio's shape, or
    │                                   with a field missing or malformed (``reason`` says which)
    ├── RetryableError             our side failed; the sender should retry (5xx)
    │   ├── NotConfigured          no auth token to verify with: every webhook is refused until one is set
    │   └── StoreUnavailable       DynamoDB did not take the write
    ├── ConfigurationError         a setting is missing or malformed (raised at start)
    ├── UsageError                 the CLI was given something it cannot use (exit status 2)
    └── NotReachable               the CLI cannot reach what it works on: local stack, AWS, a port (exit status 3)
"""

from __future__ import annotations

from typing import ClassVar


class SmsBridgeError(Exception):
    """Base of every error smsbridge raises on purpose."""


class RejectedRequest(SmsBridgeError):
    """A webhook smsbridge refuses; ``status_code`` is the HTTP answer and the message says why."""

    status_code: ClassVar[int] = 400
    reason: str = "invalid"
    setting: ClassVar[str] = ""  # the setting involved, for the log only (answers never name settings)


class MethodNotAllowed(RejectedRequest):
    """The webhook did not use POST."""

    status_code = 405
    reason = "method"


class PayloadTooLarge(RejectedRequest):
    """The body is larger than ``MAX_BODY_BYTES``."""

    status_code = 413
    reason = "too_large"
    setting = "MAX_BODY_BYTES"


class UnsupportedMediaType(RejectedRequest):
    """The body is neither ``application/x-www-form-urlencoded`` nor JSON."""

    status_code = 415
    reason = "media_type"


class ForgedRequest(RejectedRequest):
    """The request cannot be shown to come from Twilio."""

    status_code = 403

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class InvalidPayload(RejectedRequest):
    """A webhook whose body cannot be read, or a signed one whose fields are missing, malformed or not in
    Twilio's shape (``reason`` names which, for the ``Rejected_<reason>`` metric)."""

    status_code = 400

    def __init__(self, message: str, reason: str = "payload") -> None:
        super().__init__(message)
        self.reason = reason


class RetryableError(SmsBridgeError):
    """A failure on smsbridge's side; the same request may succeed later."""


class NotConfigured(RetryableError):
    """No Twilio auth token is configured, so no webhook can be verified."""


class StoreUnavailable(RetryableError):
    """The durable write did not happen (DynamoDB throttled, failed or timed out)."""


class ConfigurationError(SmsBridgeError):
    """A setting is missing or malformed."""


class UsageError(SmsBridgeError):
    """A command-line value or a file given to the CLI is wrong; nothing was changed. The message says the fix."""


class NotReachable(SmsBridgeError):
    """What the CLI works on does not answer: the local stack is not running, AWS or a port is unavailable."""
