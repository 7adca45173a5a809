"""``smsbridge trace MESSAGE_SID``: the story of one message, in time order.

From the stack's own records: the webhooks received for it (the messages table), the consent facts it set (the
consent ledger's history, with rule and matcher version), the CI360 events derived from it (what the forwarder
recorded as accepted; what waits in the dead-letter queue, with attempts and the last error), and nothing else.
Phone numbers are masked; message text is never shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smsbridge.adapters.consent_table import ConsentLedger
from smsbridge.adapters.contacts import contact_key
from smsbridge.adapters.dynamodb import plain
from smsbridge.adapters.message_table import message_key
from smsbridge.domain.ci360_events import DEFAULT_EVENT_NAMES, EventKind, parse_correlation
from smsbridge.domain.privacy import mask_address
from smsbridge.ops.replay import parked_list

_STATUS_KINDS = {kind.value for kind in (EventKind.SENT, EventKind.DELIVERED, EventKind.UNDELIVERED,
                                         EventKind.FAILED, EventKind.READ)}  # fmt: skip


@dataclass(frozen=True)
class Step:
    """One thing that happened to the message: ``type`` is webhook, consent, ci360 or dead_letter."""

    at: str
    type: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "type": self.type, "summary": self.summary, **self.details}


@dataclass
class Trace:
    message_sid: str
    steps: list[Step] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.steps)

    def to_json(self) -> dict[str, Any]:
        return {"message_sid": self.message_sid, "found": self.found, "steps": [step.to_json() for step in self.steps]}

    def lines(self) -> list[str]:
        if not self.steps:
            return [f"{self.message_sid}: nothing on record (a wrong SID, another stack, or older than the retention)"]
        return [f"{self.message_sid}"] + [f"  {step.at}  {step.type:<11} {step.summary}" for step in self.steps]


def ci360_records(client: Any, table: str, message_sid: str) -> list[dict[str, Any]]:
    """What the forwarder recorded about the CI360 events of this message: one dict per event key
    (``key``, ``kind``, ``event_name``, ``outcome``, ``reason``, ``at``), from the event's claim
    (``adapters.event_claims.DynamoSentEvents``; states in ``domain/claims.py``)."""
    found = []
    for kind in EventKind:
        key = f"{kind.value}:{message_sid}"
        item = client.get_item(TableName=table, Key={"pk": {"S": f"SENT#{key}"}, "sk": {"S": "CI360"}},
                               ConsistentRead=True).get("Item")  # fmt: skip
        if item:
            record = plain(item)
            at = record.get("settled_at") or record.get("sent_at") or record.get("claimed_at", "")
            found.append({"key": key, "kind": kind.value, "event_name": record.get("event_name", ""),
                          "outcome": _outcome(record.get("state", "accepted")), "reason": record.get("reason", ""),
                          "at": at})  # fmt: skip
    return found


def _outcome(state: str) -> str:
    """A claim's state in the words the forwarder, ``recover`` and the logs use: CI360 took it is ``sent``."""
    return "sent" if state == "accepted" else state


def trace_message(
    message_sid: str,
    *,
    messages: Any,
    messages_table: str,
    ledger: ConsentLedger,
    sqs: Any,
    dead_letter_queue_url: str,
) -> Trace:
    """Gather every record of ``message_sid`` and order them by time."""
    steps: list[Step] = []
    people: set[tuple[str, str, str, str]] = set()  # (the person's number, the scope, the account, our number)
    identity = ""
    for kind in ("INBOUND", "STATUS"):
        item = messages.get_item(TableName=messages_table, Key=message_key(message_sid, kind), ConsistentRead=True)
        if "Item" not in item:
            continue
        record = plain(item["Item"])
        person, ours = (
            (record["sender"], record["recipient"]) if kind == "INBOUND" else (record["recipient"], record["sender"])
        )
        people.add((person, record["scope"], str(record.get("account_sid") or ""), ours))
        if kind == "INBOUND":
            steps.append(_inbound_step(record))
        else:
            steps += _status_steps(record)
            correlation = parse_correlation(record.get("callback_query") or "")
            identity = correlation.datahub_id if correlation else identity
    for person, scope, account_sid, ours in sorted(people):
        for label in dict.fromkeys((ours, scope)):  # the contact memory's two labels, as the forwarder reads them
            contact = None if identity else messages.get_item(
                TableName=messages_table, Key=contact_key(person, label, account_sid)).get("Item")  # fmt: skip
            identity = str(plain(contact).get("datahub_id", "")) if contact else identity
        steps += _consent_steps(ledger, person, message_sid)
    parked = [entry for entry in parked_list(sqs, dead_letter_queue_url=dead_letter_queue_url)
              if entry.key.endswith(f":{message_sid}")]  # fmt: skip
    accepted = ci360_records(messages, messages_table, message_sid)
    for record in accepted:
        steps.append(Step(record["at"], "ci360", f"{record['event_name']} ({record['kind']}) {record['outcome']}",
                          {"event_name": record["event_name"], "kind": record["kind"], "outcome": record["outcome"],
                           "identity": identity or None, "attempts": None, "last_error": None}))  # fmt: skip
    for entry in parked:
        name = DEFAULT_EVENT_NAMES.get(EventKind(entry.kind), "") or entry.kind
        steps.append(Step(entry.parked_at, "dead_letter",
                          f"{entry.kind} parked after {entry.attempts} attempts: {entry.reason}",
                          {"event_name": name, "kind": entry.kind, "outcome": "dead_lettered",
                           "identity": identity or None, "attempts": entry.attempts,
                           "last_error": entry.reason}))  # fmt: skip
    steps.sort(key=lambda step: (step.at, _ORDER[step.type]))
    return Trace(message_sid, steps)


_ORDER = {"webhook": 0, "consent": 1, "ci360": 2, "dead_letter": 3}


def _inbound_step(record: dict[str, Any]) -> Step:
    intent, keyword = record.get("intent", ""), record.get("keyword") or ""
    summary = f"inbound {mask_address(record['sender'])} -> {mask_address(record['recipient'])}  intent {intent}"
    return Step(record["received_at"], "webhook", summary + (f" ({keyword})" if keyword else ""), {
        "webhook": "inbound", "status": None, "error_code": None, "intent": intent, "keyword": keyword or None,
        "rule": record.get("rule"), "matcher_version": record.get("matcher_version"),
        "from": mask_address(record["sender"]), "to": mask_address(record["recipient"]),
    })  # fmt: skip


def _status_steps(record: dict[str, Any]) -> list[Step]:
    history = record.get("history") or [{"status": record["status"], "at": record["updated_at"],
                                         "error_code": record.get("error_code")}]  # fmt: skip
    steps = []
    for entry in history:
        code = entry.get("error_code")
        summary = f"status {entry['status']}" + (f" (error {code})" if code is not None else "")
        steps.append(Step(str(entry["at"]), "webhook", summary, {
            "webhook": "status", "status": entry["status"], "error_code": int(code) if code is not None else None,
            "from": mask_address(record["sender"]), "to": mask_address(record["recipient"]),
        }))  # fmt: skip
    return steps


def _consent_steps(ledger: ConsentLedger, person: str, message_sid: str) -> list[Step]:
    steps = []
    for scope_record in ledger.get(person):
        for entry in scope_record.history:
            if entry.get("event_id") != message_sid:
                continue
            rule = entry.get("rule") or ""
            summary = f"{entry['action']} for scope {scope_record.scope}  rule {rule}" + (
                f"  matcher {entry['matcher_version']}" if entry.get("matcher_version") else "")  # fmt: skip
            steps.append(Step(str(entry["occurred_at"]), "consent", summary, {
                "action": entry["action"], "effect": entry.get("effect"), "scope": scope_record.scope,
                "rule": rule or None, "keyword": entry.get("keyword"), "matcher_version": entry.get("matcher_version"),
                "source": entry.get("source"), "phone": mask_address(person),
            }))  # fmt: skip
    return steps
