"""What to do with CI360's answer: done, try again later, or give up and keep it in the dead-letter queue.

Retry: no answer (network error, timeout; *ambiguous* when the request had gone out: a read timeout or a dropped
connection, after which CI360 may hold the event), 5xx, 429, 408, and 403 without a CI360 code (the gateway's request
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


# Errors raised after the request went out: CI360 may have handled the event, its answer was lost.
AMBIGUOUS_ERRORS = frozenset({"ReadTimeoutError", "ProtocolError", "IncompleteRead", "RemoteDisconnected"})


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str
    ambiguous: bool = False  # no answer, but the request may have reached CI360


def judge_response(status: int | None, body: str = "", error: str = "") -> Verdict:
    """Classify one answer from the CI360 gateway (``status`` None: no answer, ``error`` says why)."""
    if status is None:
        return Verdict(Outcome.RETRY, f"no answer: {error or 'connection failed'}", ambiguous=error in AMBIGUOUS_ERRORS)
    if 200 <= status < 300:
        return Verdict(Outcome.ACCEPTED, str(status))
    code = _AUTH_CODE.search(body)
    if status == 403 and not code:
        return Verdict(Outcome.RETRY, "403 without a CI360 code: the gateway's request limit")
    if status >= 500 or status in (408, 429):
        return Verdict(Outcome.RETRY, f"{status} from the gateway")
    detail = f" {code.group(0)}" if code else ""
    return Verdict(Outcome.REJECTED, f"{status}{detail}: {body[:300]}".rstrip(": "))


CONNECT_TIMEOUT_SECONDS = 2.0  # the gateway client's connect timeout (at most its read timeout)
BOOKKEEPING_SECONDS = 2.0  # the claim before a send and the record after it, at DynamoDB's usual latency


def connect_timeout(read_timeout: float) -> float:
    return min(CONNECT_TIMEOUT_SECONDS, read_timeout)


def send_reserve_seconds(read_timeout: float) -> float:
    """The longest one event's claim, send and record can take: a send is not started with less time left."""
    return connect_timeout(read_timeout) + read_timeout + BOOKKEEPING_SECONDS


def retry_delay(attempt: int, *, first: int = FIRST_DELAY_SECONDS) -> int:
    """Seconds to wait before attempt number ``attempt`` (1 = the first retry), doubling from ``first``."""
    return int(min(MAX_DELAY_SECONDS, first * 2 ** max(0, attempt - 1)))


_CHECK_CODES = {
    "MKTCMN74248": "the gateway does not know this tenant: check the tenant id, and that the gateway address is "
    "your region's (US extapigwservice-prod, EU extapigwservice-eu-prod, …; take it from the access point)",
    "MKTCMN74261": "the client secret does not match any access point of this tenant (wrong secret, or the access "
    "point is not active)",
    "MKTCMN74224": "the gateway could not read the token (malformed JWT)",
    "MKTCMN74282": "the tenant is not licensed for this API",
}


def explain_check(status: int | None, body: str, error: str, gateway_url: str) -> tuple[bool, str]:
    """Plain words for the answer to ``GET /marketingGateway/configuration``: (all well?, what to do)."""
    if status is None:
        return False, f"cannot reach {gateway_url} ({error}): check the gateway address and the network"
    if 200 <= status < 300:
        return True, f"OK: {gateway_url} accepted the credentials ({body.strip()[:200]})"
    code = re.search(r"MKTCMN\d{5}", body)
    if code and code.group(0) in _CHECK_CODES:
        return False, f"{status} {code.group(0)}: {_CHECK_CODES[code.group(0)]}"
    if status == 404:
        return False, f"{gateway_url} answers, but not as a CI360 external gateway (404): check the address"
    if status == 403:
        return False, "403 without a CI360 code: the gateway's request limit, or this IP is not allowed for the tenant"
    return False, f"unexpected answer {status}: {body.strip()[:300]}"
