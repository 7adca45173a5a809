"""The consent ledger's side of Twilio verification: facts waiting for Twilio's word, and what its answer writes.

A history entry with ``verification = pending`` (``consent_table.consent_writes``) is settled once, by the first
copy of the verifier to write its outcome (every write here is conditioned on the entry still being pending):

- confirmed: the entry says ``verified`` (with Twilio's own time of the message); a ``held`` fact (an opt-in, or a
  re-cut request's fact) moves the state now, if it is still the newest fact for its number;
- contradicted: the entry says ``contradicted`` and never counts again; an ``applied`` fact (an opt-out, which moved
  the state at once) is retracted: while it is still the fact behind the state, a new fact (source ``retraction``)
  puts back the state the history had before it, so CI360 hears of the change like any other. A number with no
  earlier fact goes back to ``opted_in``: it may be messaged, as before the forged opt-out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3

from smsbridge.adapters.consent_table import consent_writes, entry_key, state_key, state_write
from smsbridge.adapters.dynamodb import CLIENT_CONFIG, Write, attributes, paged, plain, translated_errors, write_once
from smsbridge.domain.consent import ConsentAction, ConsentCheck, ConsentEvent, ConsentSource, ConsentStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PENDING, VERIFIED, CONTRADICTED = "pending", "verified", "contradicted"


@dataclass(frozen=True)
class PendingFact:
    """A consent fact waiting for Twilio's word, as its history entry holds it."""

    event: ConsentEvent
    check: ConsentCheck
    recorded_at: str
    attributed_query: str | None

    @classmethod
    def of(cls, item: dict[str, Any]) -> PendingFact:
        """The fact of a plain history entry (``KeyError``/``ValueError`` for an entry that is not one)."""
        event = ConsentEvent(
            phone=item["phone"], scope=item["scope"], action=ConsentAction(item["action"]),
            occurred_at=datetime.fromisoformat(item["occurred_at"]), source=ConsentSource(item["source"]),
            event_id=item["event_id"], rule=item.get("rule") or "", keyword=item.get("keyword"),
            matcher_version=item.get("matcher_version"), account_sid=item.get("account_sid"),
            suppresses=item.get("effect") == ConsentStatus.OPTED_OUT.value, sender=item.get("sender"),
            check=ConsentCheck(item["check"]),
        )  # fmt: skip
        return cls(event, ConsentCheck(item["check"]), item.get("recorded_at", ""), item.get("attributed_query"))


class DynamoConsentChecks:
    """Reads pending facts and writes Twilio's verdict on them (the verifier's port on the consent table)."""

    def __init__(self, table_name: str, *, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self.client: DynamoDBClient = client or boto3.client("dynamodb", config=CLIENT_CONFIG)

    def pending(self, item: dict[str, Any]) -> PendingFact | None:
        """The fact of a stream image, read again (strongly consistent) and only if it is still pending: a copy of
        the verifier, or the genuine request replacing a re-cut copy's entry, may have settled it since."""
        event = PendingFact.of(item).event
        key = entry_key(event.phone, event.scope_key, event.event_id, event.action.value)
        with translated_errors(f"read {self.table_name}"):
            found = self.client.get_item(TableName=self.table_name, Key=key, ConsistentRead=True).get("Item")
        current = plain(found) if found else {}
        return PendingFact.of(current) if current.get("verification") == PENDING else None

    def confirm(self, fact: PendingFact, *, sent_at: datetime | None, at: datetime) -> bool:
        """Twilio confirmed the fact: say so, and move the state for a held one. False: settled already."""
        writes = [self._settled(fact, VERIFIED, at, sent_at=sent_at)]
        if fact.check is ConsentCheck.HELD and fact.event.new_status is not None:
            writes.append(state_write(self.table_name, fact.event, at, attributed=fact.attributed_query))
        return write_once(self.client, writes)

    def contradict(self, fact: PendingFact, *, reason: str, at: datetime) -> str:
        """Twilio contradicted the fact: say so, and retract an applied one, in one transaction (a crash leaves both
        or neither: the stream brings the fact again while it is pending). ``contradicted``, ``retracted`` (a state
        was put back), or ``settled`` (another copy settled it first)."""
        settled = self._settled(fact, CONTRADICTED, at, reason=reason)
        if fact.check is not ConsentCheck.APPLIED:
            return CONTRADICTED if write_once(self.client, [settled]) else "settled"
        event = fact.event
        before = self.status_before(event)
        restored = ConsentEvent(
            phone=event.phone, scope=event.scope, occurred_at=at, source=ConsentSource.RETRACTION,
            action=ConsentAction.OPT_OUT if before is ConsentStatus.OPTED_OUT else ConsentAction.OPT_IN,
            event_id=f"{event.event_id}-retracted", rule=f"retracts_{event.event_id}", account_sid=event.account_sid,
            sender=event.sender,
        )  # fmt: skip
        # the state only while the contradicted fact is still the one behind it (a newer fact may have moved it)
        state = state_write(self.table_name, restored, at, replaces=event.event_id)
        if not write_once(self.client, [settled, state]):
            return "settled"
        with translated_errors(f"read {self.table_name}"):
            found = self.client.get_item(TableName=self.table_name, Key=state_key(event.phone, event.scope_key),
                                         ConsistentRead=True).get("Item")  # fmt: skip
        if not found or plain(found).get("event_id") != restored.event_id:
            return CONTRADICTED
        write_once(self.client, consent_writes(self.table_name, restored, at)[:1])  # the history says why it moved
        return "retracted"

    def status_before(self, event: ConsentEvent) -> ConsentStatus | None:
        """The state the history gives (phone, scope) just before ``event``: the newest earlier fact in effect
        (neither contradicted nor held unconfirmed). One query of this number's entries for the scope."""
        prefix = f"EVENT#{event.scope_key}#"
        request = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": f"PHONE#{event.phone}"}, ":prefix": {"S": prefix}},
            "ConsistentRead": True,
        }
        in_effect = [
            entry
            for entry in paged(self.client, "query", request)
            if entry.get("order_key", "") < event.order_key
            and entry.get("effect") in (ConsentStatus.OPTED_OUT.value, ConsentStatus.OPTED_IN.value)
            and entry.get("verification") != CONTRADICTED
            and not (entry.get("verification") == PENDING and entry.get("check") == ConsentCheck.HELD.value)
        ]
        if not in_effect:
            return None
        return ConsentStatus(max(in_effect, key=lambda entry: entry["order_key"])["effect"])

    def settle(self, fact: PendingFact, outcome: str, *, reason: str, at: datetime) -> bool:
        """Write Twilio's verdict on the fact and nothing else (False: settled already)."""
        return write_once(self.client, [self._settled(fact, outcome, at, reason=reason)])

    def _settled(self, fact: PendingFact, outcome: str, at: datetime, *, sent_at: datetime | None = None,
                 reason: str = "") -> Write:  # fmt: skip
        event = fact.event
        values = {"verification": outcome, "verified_at": at.isoformat(), "verification_reason": reason or None,
                  "twilio_sent_at": sent_at.isoformat() if sent_at else None}  # fmt: skip
        present = {name: value for name, value in values.items() if value is not None}
        return Write(
            "Update",
            {
                "TableName": self.table_name,
                "Key": entry_key(event.phone, event.scope_key, event.event_id, event.action.value),
                # settled: nothing left to replace it (``consent_writes``' doubtful entries)
                "UpdateExpression": "SET " + ", ".join(f"#{name} = :{name}" for name in present) + " REMOVE #doubtful",
                "ConditionExpression": "#verification = :pending",
                "ExpressionAttributeNames": {**{f"#{name}": name for name in present}, "#doubtful": "doubtful"},
                "ExpressionAttributeValues": {
                    **{f":{name}": value for name, value in attributes(present).items()},
                    ":pending": {"S": PENDING},
                },
            },
            required=True,
        )
