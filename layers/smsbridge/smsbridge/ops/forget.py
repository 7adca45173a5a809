"""``smsbridge forget NUMBER``: erasure on request (GDPR Art. 17, CCPA) that keeps the number suppressed.

Removes the number in clear from every item of both tables and the dead-letter queue, and keeps its consent (states
and history, without the number) under its keyed hash (``ConsentLedger.erase``). Its events parked on the retry
queue are not read (a receive counts toward that queue's ``maxReceiveCount``): their claim tickets are retired, so
they fall away unsent. Rules and what cannot be reached at once: docs/erasure.md. The order makes a webhook arriving
mid-erasure either erased or recorded after it, never half: the consent items first, then the messages table (a
webhook's record and consent facts are one write), then the consent keys again, with the records of any fact found
there (its event id is its MessageSid).

With an ``account`` it erases only what that Twilio account's traffic left: its consent keys (``SCOPE#<account>#…``,
``EVENT#<account>#…``), its message records (``account_sid``), its contact memory (``SENDER#<account>#…``), the
consent lanes of its scopes, and the parked events of those facts. What is the number's across accounts stays in
clear while another account's consent names it: the preference sync's record of what CI360 was told (``PREF#``).
It refuses an account in which the number is opted out while another account's consent for it stays in clear: the
preference sync reads the clear states only (it has no erasure key), so that opt-out would no longer reach CI360.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from smsbridge.adapters.consent_table import ConsentLedger
from smsbridge.adapters.dynamodb import paged, translated_errors
from smsbridge.adapters.erasure_key import ErasureKey
from smsbridge.adapters.event_claims import DynamoSentEvents
from smsbridge.adapters.queues import QueueWalk, parked_event
from smsbridge.adapters.sync_records import SyncRecords
from smsbridge.domain.ci360_events import EventKind
from smsbridge.domain.claims import TICKETED, ClaimState, lane_key
from smsbridge.domain.privacy import mask_address
from smsbridge.errors import ConfigurationError, NotConfigured, UsageError

PASSES = 3  # consent re-checks: traffic for the number that keeps arriving is reported, not chased for ever
SQS_LONGEST_DELAY = timedelta(seconds=900)  # a parked event is due at most this long after it was parked (SQS)
QUEUE_LOOK_SECONDS = 30  # how long a queue message looked at stays hidden if forget dies before putting it back
TWILIO_FOLLOW_UP = (
    "Twilio keeps its own message logs. Delete each message: DELETE "
    "https://api.twilio.com/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}.json (or keep the record and "
    'redact its text: POST to the same URL with Body=""). Source: Twilio Support, "Deleting messages, message '
    'media or message bodies" (support.twilio.com/hc/en-us/articles/223133687). MessageSids: '
)
CI360_FOLLOW_UP = (
    "CI360 keeps the events and contact preference smsbridge sent for the number. No SAS source for deleting a "
    "person's data through an API was found (the CI360 samples smsbridge follows show none): raise it with your "
    "CI360 administrator or SAS support, and do it after this run's parked events are due (below)."
)


@dataclass
class Erasure:
    """What one run of ``forget`` found and did (no number in it: it is what is printed, stored and audited)."""

    dry_run: bool
    at: str
    by: str
    account: str = ""  # the one account erased; "" for every account
    counts: dict[str, int] = field(default_factory=dict)
    message_sids: list[str] = field(default_factory=list)
    parked_due: int = 0
    due_by: str = ""
    in_flight: int = 0
    arrived_during: int = 0
    sync_pending: bool = False

    @property
    def found_nothing(self) -> bool:
        return not any(self.counts.values()) and not self.parked_due and not self.in_flight

    def audit(self) -> dict[str, Any]:
        return {"at": self.at, "by": self.by, "account": self.account or None, "counts": self.counts,
                "parked_due": self.parked_due, "due_by": self.due_by or None,
                "arrived_during": self.arrived_during}  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {**self.audit(), "dry_run": self.dry_run, "found_nothing": self.found_nothing,
                "in_flight": self.in_flight, "sync_pending": self.sync_pending,
                "follow_up": {"twilio": TWILIO_FOLLOW_UP + (", ".join(self.message_sids) or "none on record"),
                              "ci360": CI360_FOLLOW_UP}}  # fmt: skip

    def lines(self, number: str) -> list[str]:
        shown = mask_address(number) + (f" in account {self.account}" if self.account else "")
        if self.found_nothing:
            return [f"{shown}: nothing on record in this deployment; nothing changed"]
        verb = "would remove" if self.dry_run else "removed"
        lines = [f"{shown}: {verb} (dry run: nothing changed)" if self.dry_run else f"{shown}: {verb}"]
        lines += [f"  {kind:<34} {count}" for kind, count in self.counts.items()]
        lines.append("  consent kept: its states and history, under the number's keyed hash (docs/erasure.md)")
        if self.account:
            lines.append("  other accounts' consent and records of the number: left as they are")
        if self.parked_due:
            lines.append(f"cannot be removed at once: {self.parked_due} parked event(s) on the retry queue (not read: "
                         f"reading counts toward its maxReceiveCount); their claims are retired, so the forwarder "
                         f"deletes them unsent when they come due: gone by {self.due_by}")  # fmt: skip
        if self.in_flight:
            lines.append(f"{self.in_flight} event(s) being sent right now: run forget again in a few minutes")
        if self.arrived_during:
            lines.append(f"{self.arrived_during} fact(s) arrived during the erasure and were erased too")
        if self.sync_pending:
            lines.append("a CI360 preference import in progress names the number until it ends: run forget again")
        lines += ["follow up outside smsbridge:", "  " + TWILIO_FOLLOW_UP + (", ".join(self.message_sids) or "none"),
                  "  " + CI360_FOLLOW_UP]  # fmt: skip
        if not self.dry_run:
            lines.append(f"audit: recorded in the consent table at {self.at} by {self.by} (without the number)")
        return lines


@dataclass(frozen=True)
class Deployment:
    """What ``forget`` works on: both tables, both queues, the erasure key, and who is asking."""

    ledger: ConsentLedger
    messages_table: str
    dynamodb: Any
    sqs: Any
    retry_queue_url: str
    dead_letter_queue_url: str
    erasure_key: ErasureKey
    caller: Callable[[], str]


def forget(number: str, where: Deployment, *, dry_run: bool, now: datetime, account: str = "") -> Erasure:
    """Erase ``number`` from ``where`` (with ``dry_run``: only count what would go); with ``account``, only what
    that account's traffic left."""
    run = Erasure(dry_run=dry_run, at=now.isoformat(), by=where.caller(), account=account)
    digest = "" if dry_run else _digest(where.erasure_key, number)
    everyone = where.ledger.clear_items(number)
    consent = _of_account(everyone, account)
    if len(consent) < len(everyone) and any(_opted_out(item) for item in consent):
        raise UsageError(
            f"{mask_address(number)} is opted out in {account} and other accounts keep consent for it in clear: "
            f"erasing {account}'s alone would hide that opt-out from the preference sync, which reads the clear "
            "states, and CI360 could be told the number may be messaged; forget it in every account (without "
            "--account). Nothing was changed"
        )
    items = _message_items(where, number, account, scopes={str(item["scope"]) for item in consent})
    sids = sorted({str(item["pk"]).removeprefix("MSG#") for item in items if str(item["pk"]).startswith("MSG#")})
    run.message_sids = sids
    event_ids = sorted({str(item["event_id"]) for item in consent if item.get("event_id")})
    _look_at_claims(where, sids + event_ids, run, now=now)
    run.counts = {
        "message records": sum(str(item["pk"]).startswith("MSG#") for item in items),
        "contact memory": sum(str(item["pk"]).startswith("CONTACT#") for item in items),
        "consent lanes": sum(str(item["pk"]).startswith("LANE#") for item in items),
        "preference sync records": sum(str(item["pk"]).startswith("PREF#") for item in items),
        "consent states and history (hashed)": len(consent),
    }
    run.counts |= _queues(where, number, dry_run=dry_run, account=account)
    run.sync_pending = _sync_names(where, number)
    if dry_run or run.found_nothing:
        return run
    hashed = where.erasure_key.digest
    where.ledger.erase(consent, digest, hashed=hashed, erased_at=now)
    for item in items:
        _delete(where, item)
    for _ in range(PASSES):  # facts written while the above ran: erased with their message records
        late = _of_account(where.ledger.clear_items(number), account)
        if not late:
            break
        run.arrived_during += len(late)
        where.ledger.erase(late, digest, hashed=hashed, erased_at=now)
        for event_id in {str(item.get("event_id", "")) for item in late}:
            for kind in ("INBOUND", "STATUS"):
                _delete(where, {"pk": f"MSG#{event_id}", "sk": kind}, number=number)
    where.ledger.record_erasure(run.audit(), at=now, erasure_id=uuid.uuid4().hex)
    return run


def _digest(key: ErasureKey, number: str) -> str:
    try:
        return key.digest(number)
    except NotConfigured as exc:
        raise ConfigurationError(f"{exc}: deploy this version of smsbridge first (it creates the key)") from exc


def _of_account(items: list[dict[str, Any]], account: str) -> list[dict[str, Any]]:
    """Consent items (``clear_items``): every one, or only ``account``'s (its keys carry the account)."""
    if not account:
        return items
    return [item for item in items if str(item["sk"]).startswith((f"SCOPE#{account}#", f"EVENT#{account}#"))]


def _opted_out(item: dict[str, Any]) -> bool:
    return item["record_type"] == "state" and item.get("status") == "opted_out"


def _message_items(where: Deployment, number: str, account: str, *, scopes: set[str]) -> list[dict[str, Any]]:
    """Every messages-table item that holds the number (with ``account``, that account's: its records and contact
    memory, and the lanes of its ``scopes``): one filtered Scan (the table has no index by number; docs/erasure.md
    gives its cost), keys only."""
    values = {":n": {"S": number}, ":contact": {"S": f"CONTACT#{number}"}, ":lane": {"S": f"LANE#{number}|"}}
    if account:
        expression = ("((sender = :n OR recipient = :n) AND account_sid = :account) OR begins_with(pk, :lane) "
                      "OR (pk = :contact AND begins_with(sk, :sender))")  # fmt: skip
        values |= {":account": {"S": account}, ":sender": {"S": f"SENDER#{account}#"}}
    else:
        expression = "sender = :n OR recipient = :n OR pk IN (:contact, :pref) OR begins_with(pk, :lane)"
        values |= {":pref": {"S": f"PREF#{number}"}}
    request = {"TableName": where.messages_table, "ConsistentRead": True, "ProjectionExpression": "pk, sk",
               "FilterExpression": expression, "ExpressionAttributeValues": values}  # fmt: skip
    items = list(paged(where.dynamodb, "scan", request))
    if not account:
        return items
    lanes = {f"LANE#{lane_key(number, scope)}" for scope in scopes}
    return [item for item in items if not str(item["pk"]).startswith("LANE#") or str(item["pk"]) in lanes]


def _delete(where: Deployment, item: dict[str, Any], *, number: str = "") -> None:
    """Delete one item (idempotent); with ``number``, only if the record is the number's."""
    request: dict[str, Any] = {"TableName": where.messages_table,
                               "Key": {"pk": {"S": str(item["pk"])}, "sk": {"S": str(item["sk"])}}}  # fmt: skip
    if number:
        request |= {"ConditionExpression": "sender = :n OR recipient = :n",
                    "ExpressionAttributeValues": {":n": {"S": number}}}  # fmt: skip
    with translated_errors(f"erase in {where.messages_table}"):
        try:
            where.dynamodb.delete_item(**request)
        except where.dynamodb.exceptions.ConditionalCheckFailedException:
            pass  # not there, or not the number's


def _look_at_claims(where: Deployment, ids: list[str], run: Erasure, *, now: datetime) -> None:
    """The claims of the number's events: a parked or dead-lettered one gets a ticket no message carries (its
    copies then fall away unsent); one being sent now is counted. Claims hold no number and stay (exactly once)."""
    claims = DynamoSentEvents(where.messages_table, client=where.dynamodb)
    found = claims.claims_of([f"{kind.value}:{an_id}" for an_id in ids for kind in EventKind])
    run.in_flight = sum(claim.state is ClaimState.CLAIMED for claim in found.values())
    parked = [key for key, claim in found.items() if claim.state is ClaimState.PARKED and claim.ticket != "retired"]
    if parked:
        gone_by = now + SQS_LONGEST_DELAY + _visibility_timeout(where)
        run.parked_due, run.due_by = len(parked), gone_by.isoformat(timespec="seconds")
    if not run.dry_run:
        for key in (key for key, claim in found.items() if claim.state in TICKETED):
            claims.retire_ticket(key, reason="erased on request (smsbridge forget)")


def _visibility_timeout(where: Deployment) -> timedelta:
    """How long a received retry-queue message stays hidden: the deployed queue's own setting, asked (one call)."""
    with translated_errors("read the retry queue's settings"):
        found = where.sqs.get_queue_attributes(QueueUrl=where.retry_queue_url, AttributeNames=["VisibilityTimeout"])
    return timedelta(seconds=int(found["Attributes"]["VisibilityTimeout"]))


def _queues(where: Deployment, number: str, *, dry_run: bool, account: str) -> dict[str, int]:
    """Delete the dead letters of the number (with ``account``, only those of that account's facts), after looking
    at every one; the others are put back after the walk. The retry queue is not read: every receive counts toward
    its ``maxReceiveCount`` (template.yaml), so reading it could push other people's events to the dead-letter
    queue; the number's parked events there fall away unsent on their retired tickets (``_look_at_claims``)."""
    removed = 0
    with QueueWalk(where.sqs, where.dead_letter_queue_url, visibility_timeout=QUEUE_LOOK_SECONDS) as walk:
        for message in walk:
            if _names(message["Body"], number, account):
                removed += 1
                if not dry_run:
                    walk.remove(message)
    return {"dead letters": removed}


def _names(body: str, number: str, account: str) -> bool:
    """Whether a queue message is a parked event of ``number`` (of a fact of ``account``, when given); a message
    that is not one (Lambda's description of a stream batch: shards and sequence numbers) names no number."""
    try:
        event = parked_event(body).event
    except (ValueError, KeyError, TypeError):
        return False
    return event.phone == number and (not account or event.account_sid == account)


def _sync_names(where: Deployment, number: str) -> bool:
    """Whether the preference sync's pending CI360 import names the number (kept until the job ends)."""
    _, pending = SyncRecords(where.messages_table, client=where.dynamodb).checkpoint()
    return any(preference.phone == number for preference in pending)
