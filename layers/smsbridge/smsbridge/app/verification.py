"""The verifier: consent facts checked with Twilio's own record of the message, off the webhook's path.

It reads the consent table's stream (history entries with ``verification = pending``: every opt-in, and every
fact from a request in doubt, ``domain/payloads.consent_check``), fetches each fact's message from Twilio's Messages
API (``adapters/twilio_messages.py``) with its account's credentials, judges it (``domain/verification.py``) and
writes the outcome (``adapters/consent_checks.py``): a held fact moves the state only when confirmed, an applied
opt-out that Twilio contradicts is retracted. A keyword reply's text is not kept, so Twilio's text is judged by
reading it again with the keyword rules: it must carry the same consent action.

When Twilio cannot be reached (or refuses the credentials) the record fails and the stream brings it again, with
every later record of its shard behind it, in order: opt-ins wait (held, retried, alarmed), opt-outs have already
applied. Copies side by side settle a fact once (each write is conditioned on the fact being pending).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3

from smsbridge.adapters.consent_checks import DynamoConsentChecks, PendingFact
from smsbridge.adapters.dynamodb import CLIENT_CONFIG, stream_change
from smsbridge.adapters.secrets import SecretTokenSource
from smsbridge.adapters.twilio_messages import TwilioMessages
from smsbridge.clock import utc_now
from smsbridge.config import Settings
from smsbridge.domain.consent import ConsentSource
from smsbridge.domain.keywords import KeywordRules
from smsbridge.domain.payloads import carries_action
from smsbridge.domain.verification import (
    BODY_DIFFERS,
    REDACTED,
    TwilioMessage,
    Verification,
    VerificationVerdict,
    verify_inbound,
    verify_status,
)
from smsbridge.errors import ConfigurationError, RetryableError

__all__ = ["ConsentVerifier", "Settings", "VerificationReport", "build_verifier"]

_STATUS_SOURCES = {ConsentSource.TWILIO_21610: 21610, ConsentSource.TWILIO_30004: 30004}


@dataclass
class VerificationReport:
    """What became of a stream batch: outcomes by name, and the first record to bring again (the stream retries
    from it, so the records after it wait in order)."""

    outcomes: Counter[str] = field(default_factory=Counter)
    failed_records: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # why Twilio could not be asked (no values, no numbers)

    def response(self) -> dict[str, list[dict[str, str]]]:
        return {"batchItemFailures": [{"itemIdentifier": record} for record in self.failed_records]}


class ConsentVerifier:
    def __init__(
        self,
        *,
        checks: DynamoConsentChecks,
        messages: Callable[[str, str], TwilioMessage | None],
        keywords: KeywordRules | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.checks = checks
        self.messages = messages  # (account SID, message SID) → Twilio's resource, None when it has none
        self.keywords = keywords or KeywordRules()
        self.clock = clock

    def handle(self, event: Mapping[str, Any]) -> VerificationReport:
        """A batch of consent-table stream records: each pending fact checked, in order, until Twilio cannot be
        asked (that record and the rest come again)."""
        report = VerificationReport()
        for record in event.get("Records") or []:
            change = stream_change(record)
            if change is None or change.new.get("verification") != "pending":
                continue
            try:
                outcome = self.verify(change.new)
            except (RetryableError, ConfigurationError) as problem:
                report.outcomes["unavailable"] += 1
                report.problems.append(str(problem))
                report.failed_records.append(str(record["dynamodb"]["SequenceNumber"]))
                break
            except (KeyError, ValueError):
                outcome = "malformed"  # an entry no release writes: nothing to check, nothing to retry
            report.outcomes[outcome] += 1
        return report

    def verify(self, image: Mapping[str, Any]) -> str:
        """Check one fact (a stream image of its entry) with Twilio and write the outcome: ``confirmed``,
        ``contradicted``, ``retracted`` (contradicted, and the state it had set put back), ``unverifiable`` (Twilio
        redacted what would tell) or ``settled`` (another copy, or the genuine request, settled it first)."""
        fact = self.checks.pending(dict(image))
        if fact is None:
            return "settled"
        event = fact.event
        try:
            message = self.messages(event.account_sid or "", event.event_id)
        except ValueError:
            message = None  # a SID not in Twilio's form: Twilio has no such message
        verdict = self.judge(fact, message)
        now = self.clock()
        if verdict.verdict is VerificationVerdict.CONFIRMED:
            return "confirmed" if self.checks.confirm(fact, sent_at=verdict.sent_at, at=now) else "settled"
        if verdict.verdict is VerificationVerdict.UNVERIFIABLE:
            self.checks.settle(fact, "unverifiable", reason=verdict.reason, at=now)
            return "unverifiable"
        return self.checks.contradict(fact, reason=verdict.reason, at=now)

    def judge(self, fact: PendingFact, message: TwilioMessage | None) -> Verification:
        """Twilio's verdict on the fact: the message is the one the webhook described, and (for a keyword reply)
        its text carries the same consent action by the keyword rules."""
        event = fact.event
        code = _STATUS_SOURCES.get(event.source)
        if code is not None:
            return verify_status(message, account_sid=event.account_sid or "", message_sid=event.event_id,
                                 recipient=event.phone, error_code=code, sender=event.sender)  # fmt: skip
        found = verify_inbound(message, account_sid=event.account_sid or "", message_sid=event.event_id,
                               sender=event.phone, recipient=event.sender or "", body=None)  # fmt: skip
        if not found.confirmed or message is None or event.source is ConsentSource.TWILIO_OPT_OUT_TYPE:
            return found  # OptOutType is Twilio's own reading: the resource does not hold it to compare
        if not message.body:  # Message Redaction removed the text: the action can be neither confirmed nor denied
            return Verification(VerificationVerdict.UNVERIFIABLE, REDACTED, found.sent_at)
        if not carries_action(message.body, event.action, self.keywords, sender=event.sender or ""):
            return Verification(VerificationVerdict.CONTRADICTED, BODY_DIFFERS, found.sent_at)
        return found


def build_verifier(settings: Settings) -> ConsentVerifier:
    tokens = SecretTokenSource(settings.auth_tokens_secret, max_age=settings.token_cache_seconds)
    lookup = TwilioMessages(tokens.current, api_url=settings.twilio_api_url)
    return ConsentVerifier(
        checks=DynamoConsentChecks(settings.consent_table, client=boto3.client("dynamodb", config=CLIENT_CONFIG)),
        messages=lookup.fetch,
        keywords=settings.keywords,
    )
