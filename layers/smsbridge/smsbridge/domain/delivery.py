"""What to do with CI360's answer: done, try again later, or give up and keep it in the dead-letter queue.

Retry: no answer (network error, timeout), 5xx, 429, 408, and 403 without a CI360 code (the gateway's request
limit, 700,000 requests per 5 minutes per IP, answers 403). Give up at once: 400, 401, 404, 415 and 403 with an
``MKTCMN742xx`` code (bad JWT, unknown tenant, ...): retrying cannot fix them. Retries wait longer each time,
up to SQS's 15-minute maximum, for about seven hours in all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

MAX_ATTEMPTS = 32
FIRST_DELAY_SECONDS = 30
MAX_DELAY_SECONDS = 900  # SQS DelaySeconds maximum
_AUTH_CODE = re.compile(r"MKTCMN742\d\d")


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    RETRY = "retry"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str


def judge_response(status: int | None, body: str = "", error: str = "") -> Verdict:
    """Classify one answer from the CI360 gateway (``status`` None: no answer, ``error`` says why)."""
    if status is None:
        return Verdict(Outcome.RETRY, f"no answer: {error or 'connection failed'}")
    if 200 <= status < 300:
        return Verdict(Outcome.ACCEPTED, str(status))
    code = _AUTH_CODE.search(body)
    if status == 403 and not code:
        return Verdict(Outcome.RETRY, "403 without a CI360 code: the gateway's request limit")
    if status >= 500 or status in (408, 429):
        return Verdict(Outcome.RETRY, f"{status} from the gateway")
    detail = f" {code.group(0)}" if code else ""
    return Verdict(Outcome.REJECTED, f"{status}{detail}: {body[:300]}".rstrip(": "))


def retry_delay(attempt: int) -> int:
    """Seconds to wait before attempt number ``attempt`` (1 = the first retry)."""
    return int(min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2 ** max(0, attempt - 1)))
