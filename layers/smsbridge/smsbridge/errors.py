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

from collections.abc import Sequence
from typing import Any, ClassVar


class SmsBridgeError(Exception):
    """Base of every error smsbridge raises on purpose."""


class RejectedRequest(SmsBridgeError):
    """A webhook smsbridge refuses; ``status_code`` is the HTTP answer and the message says why."""

    status_code: ClassVar[int] = 400
    reason: str = "invalid"
    setting: ClassVar[str] = ""  # the setting involved, for the log only (answers never name settings)

    def log_fields(self) -> dict[str, Any]:
        """What an operator needs to see in the log besides the message (nothing secret, nothing personal)."""
        return {"setting": self.setting} if self.setting else {}


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
    """The request cannot be shown to come from Twilio.

    For the log (never the answer): ``urls_tried`` (the URLs the signature was checked against),
    ``tokens_tried`` (the tokens, masked) and ``hint`` (the likely cause, in one line).
    """

    status_code = 403

    def __init__(
        self, message: str, reason: str, *, urls_tried: Sequence[str] = (), tokens_tried: Sequence[str] = (),
        hint: str = "",
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.reason = reason
        self.urls_tried = tuple(urls_tried)
        self.tokens_tried = tuple(tokens_tried)
        self.hint = hint

    def log_fields(self) -> dict[str, Any]:
        fields = super().log_fields()
        if self.urls_tried:
            fields.update(urls_tried=list(self.urls_tried), tokens_tried=list(self.tokens_tried))
        return {**fields, "hint": self.hint} if self.hint else fields


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
