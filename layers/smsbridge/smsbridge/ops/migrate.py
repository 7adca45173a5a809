"""``smsbridge migrate``: rewrite what v0.1 wrote to the keys v0.2 reads, so that the code knows one format.

v0.1 keyed consent and contact memory without the Twilio account; v0.2 keys them by account::

    consent   PHONE#<phone>    SCOPE#<scope>                          →  SCOPE#<account>#<scope>
    consent   PHONE#<phone>    EVENT#<scope>#<event id>#<action>      →  EVENT#<account>#<scope>#<event id>#<action>
    messages  CONTACT#<phone>  SCOPE#<scope>                          →  SENDER#<account>#<scope>

**Which items are v0.1's.** A consent fact keyed by the bare scope is either v0.1's or a CSV import without an
account (v0.2 keeps those apart from every account's facts, by design, under the same key). The ``source``
attribute tells them apart: a fact a webhook brought (``reply_keyword``, ``twilio_opt_out_type``, ``twilio_21610``,
``twilio_30004``) always names its account since v0.2, so one keyed without it is v0.1's and is rewritten; an
``import`` (or ``manual``) fact is left as it is and counted as kept without an account. A fact with no source,
or one not known, cannot be told apart: it is left as it is (it still reads as a fact without an account, the
safe side for an opt-out) and reported as skipped.

**Where the account comes from.** From the evidence first: a v0.1 history entry carries the ``account_sid`` of
the webhook that brought it; a v0.1 state takes the account of its history entry (same event id and scope); a
contact memory item the account of the status record of its ``message_sid`` while the messages table keeps it.
Only where the evidence names none is ``account_sid`` used (the CLI can default it to the one account of the
deployment's auth-token secret when there is exactly one); with neither, the item is left as it is and reported
as skipped with the reason. The evidence wins over ``account_sid``: a deployment that served two accounts keeps
each fact with its own.

**How.** Each item moves in one transaction: the item written under its new key, conditionally (a history entry
or contact only where none is; a state only where the account's state is older, so that a newer v0.2 state is
never overwritten by an older v0.1 one), and the old key deleted on condition that it is unchanged. Where the
current key already holds something newer, the v0.1 item is only deleted (``superseded``); when that changes the
number's status (a v0.1 opt-out replaced by the account's newer opt-in), the surviving state's ``changed_at`` is
moved to now, so the preference sync sends the number to CI360 again. Stopped half-way (Ctrl-C, an error), a run
leaves every item either moved or not, and the next run finds only the rest; a run with nothing left to move
changes nothing. ``dry_run`` makes the same decisions and writes nothing.

Both tables are read whole with a paginated Scan: a one-time operator command, worth the read capacity. The moves
pass through the consent table's stream; the forwarder finds each of their CI360 events already on record (claims
are keyed by event id, which does not change) and sends nothing again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from smsbridge.adapters.change_index import CONSENT_BUCKET, SLOT_ATTRIBUTE, change_slot
from smsbridge.adapters.consent_table import entry_key, state_key
from smsbridge.adapters.contacts import contact_key
from smsbridge.adapters.dynamodb import attribute, attributes, paged, plain, translated_errors
from smsbridge.adapters.message_table import message_key
from smsbridge.clock import utc_now
from smsbridge.domain.consent import WEBHOOK_SOURCES, ConsentSource, scoped
from smsbridge.errors import StoreUnavailable
from smsbridge.text import counted

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

NO_ACCOUNT = "no account on record and none given (--account-sid)"
UNKNOWN_SOURCE = "keyed without an account, from no known source: cannot tell v0.1's from an import; left as is"
CHANGED = "changed while migrating: run again"


@dataclass
class MigrationReport:
    """What a run moved (or, with ``dry_run``, would move), per kind of item."""

    dry_run: bool = False
    states: int = 0  # v0.1 states rewritten under their account
    history: int = 0  # v0.1 history entries rewritten under their account
    contacts: int = 0  # v0.1 contact memory items rewritten under their account
    superseded: int = 0  # v0.1 items deleted: the current key holds a newer one
    already_current: int = 0  # consent facts and contact memory already in the current format
    without_account: int = 0  # CSV-imported facts kept without an account, by design
    skipped: Counter[str] = field(default_factory=Counter)  # left as they are, by reason

    @property
    def changed(self) -> int:
        return self.states + self.history + self.contacts + self.superseded

    def lines(self) -> list[str]:
        verb = "would rewrite" if self.dry_run else "rewrote"
        lines = [
            f"{verb} {counted(self.states, 'state')}, {counted(self.history, 'history entry', 'history entries')}, "
            f"{counted(self.contacts, 'contact memory item')}; {'would delete' if self.dry_run else 'deleted'} "
            f"{self.superseded} superseded by a newer item of their account",
            f"{self.already_current} already current; {counted(self.without_account, 'imported fact')} kept "
            "without an account (by design)",
        ]
        lines += [f"skipped {count}: {reason}" for reason, count in sorted(self.skipped.items())]
        if not self.changed and not self.skipped:
            lines.append("nothing to migrate: every item is in the current format")
        return lines


def migrate(
    consent_table: str,
    messages_table: str,
    client: DynamoDBClient,
    *,
    account_sid: str | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> MigrationReport:
    """Rewrite every v0.1 item of both tables to the current keys (rules in the module docstring)."""
    run = _Migration(client, consent_table, messages_table, account_sid=account_sid, dry_run=dry_run,
                     now=(now or utc_now()).isoformat())  # fmt: skip
    for item in paged(client, "scan", {"TableName": consent_table, "ConsistentRead": True}):
        if (item["pk"], item["sk"]) in run.written:  # moved by this run, met again further on
            continue
        if item.get("record_type") == "state":
            run.state(item)
        elif item.get("record_type") == "event":
            run.entry(item)
    contacts = {"TableName": messages_table, "ConsistentRead": True, "FilterExpression": "begins_with(pk, :contact)",
                "ExpressionAttributeValues": {":contact": {"S": "CONTACT#"}}}  # fmt: skip
    for item in paged(client, "scan", contacts):
        if (item["pk"], item["sk"]) not in run.written:
            run.contact(item)
    return run.report


class _Migration:
    def __init__(self, client: DynamoDBClient, consent_table: str, messages_table: str, *, account_sid: str | None,
                 dry_run: bool, now: str) -> None:  # fmt: skip
        self.client, self.consent_table, self.messages_table = client, consent_table, messages_table
        self.account_sid, self.dry_run, self.now = account_sid, dry_run, now
        self.report = MigrationReport(dry_run=dry_run)
        self.written: set[tuple[str, str]] = set()

    def _v01(self, item: dict[str, Any], bare_key: str) -> bool:
        """Whether a consent fact is v0.1's (counting the others): keyed by the bare scope, and from a webhook."""
        if item["sk"] != bare_key:
            self.report.already_current += 1
            return False
        source = item.get("source")
        if source in WEBHOOK_SOURCES:
            return True
        if source in {ConsentSource.IMPORT, ConsentSource.MANUAL}:
            self.report.without_account += 1
        else:
            self.report.skipped[UNKNOWN_SOURCE] += 1
        return False

    def entry(self, item: dict[str, Any]) -> None:
        phone, scope, event_id, action = item["phone"], item["scope"], item["event_id"], item["action"]
        if not self._v01(item, f"EVENT#{scope}#{event_id}#{action}"):
            return
        account = item.get("account_sid") or self.account_sid
        if not account:
            self.report.skipped[NO_ACCOUNT] += 1
            return
        new_key = entry_key(phone, scoped(account, scope), event_id, action)
        if self._read(self.consent_table, new_key) is not None:  # on record under the account already
            self._move("superseded", [_delete(self.consent_table, item)])
            return
        moved = {**item, "account_sid": account, **_plain_key(new_key)}
        self._move("history", [_put(self.consent_table, moved, "attribute_not_exists(pk)"),
                               _delete(self.consent_table, item)], moved)  # fmt: skip

    def state(self, item: dict[str, Any]) -> None:
        phone, scope = item["phone"], item["scope"]
        if not self._v01(item, f"SCOPE#{scope}"):
            return
        account = self._account_of_state(item) or self.account_sid
        if not account:
            self.report.skipped[NO_ACCOUNT] += 1
            return
        new_key = state_key(phone, scoped(account, scope))
        current = self._read(self.consent_table, new_key)
        if current is not None and str(current.get("order_key", "")) >= str(item["order_key"]):
            # the account's state is newer: it stays and the v0.1 one goes
            writes = [_delete(self.consent_table, item)]
            if current.get("status") != item.get("status"):  # the number's status changes: sync it to CI360 again
                writes.append({"Update": {
                    "TableName": self.consent_table, "Key": new_key,
                    "UpdateExpression": "SET #changed_at = :now, #slot = :slot",
                    "ConditionExpression": "#order_key = :seen",
                    "ExpressionAttributeNames": {"#changed_at": "changed_at", "#order_key": "order_key",
                                                 "#slot": SLOT_ATTRIBUTE},
                    "ExpressionAttributeValues": {":now": {"S": self.now}, ":seen": attribute(current["order_key"]),
                                                  ":slot": {"S": change_slot(self.now, phone, CONSENT_BUCKET)}},
                }})  # fmt: skip
            self._move("superseded", writes)
            return
        moved = {**item, "account_sid": account, **_plain_key(new_key)}
        if current is not None and current.get("status") != item.get("status"):
            moved["changed_at"] = self.now  # as above: the preference sync sends the number again
        if moved.get("changed_at"):  # in the ByChange index from now on, as states written since v0.3 are
            moved[SLOT_ATTRIBUTE] = change_slot(str(moved["changed_at"]), phone, CONSENT_BUCKET)
        newer = _put(self.consent_table, moved, "attribute_not_exists(#order_key) OR #order_key < :order_key")
        self._move("states", [newer, _delete(self.consent_table, item)], moved)

    def contact(self, item: dict[str, Any]) -> None:
        if not str(item["sk"]).startswith("SCOPE#"):
            self.report.already_current += 1
            return
        phone, label = str(item["pk"]).removeprefix("CONTACT#"), str(item["sk"]).removeprefix("SCOPE#")
        status = self._read(self.messages_table, message_key(str(item.get("message_sid", "")), "STATUS"))
        account = (status or {}).get("account_sid") or self.account_sid
        if not account:
            self.report.skipped[NO_ACCOUNT] += 1
            return
        new_key = contact_key(phone, label, account)
        current = self._read(self.messages_table, new_key)
        if current is not None and str(current.get("seen_at", "")) >= str(item.get("seen_at", "")):
            self._move("superseded", [_delete(self.messages_table, item)])
            return
        moved = {**item, **_plain_key(new_key)}
        newer = _put(self.messages_table, moved, "attribute_not_exists(#seen_at) OR #seen_at < :seen_at")
        self._move("contacts", [newer, _delete(self.messages_table, item)], moved)

    def _account_of_state(self, state: dict[str, Any]) -> str | None:
        """The account of the history entry behind a v0.1 state (moved already or not)."""
        request = {
            "TableName": self.consent_table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :event)",
            "FilterExpression": "event_id = :id AND #scope = :scope",
            "ExpressionAttributeNames": {"#scope": "scope"},
            "ExpressionAttributeValues": {":pk": {"S": state["pk"]}, ":event": {"S": "EVENT#"},
                                          ":id": {"S": state["event_id"]}, ":scope": {"S": state["scope"]}},
            "ConsistentRead": True,
        }  # fmt: skip
        return next((str(e["account_sid"]) for e in paged(self.client, "query", request) if e.get("account_sid")), None)

    def _read(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        with translated_errors(f"read {table}"):
            found = self.client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return plain(found) if found else None

    def _move(self, kind: str, writes: list[dict[str, Any]], moved: dict[str, Any] | None = None) -> None:
        """Apply ``writes`` at once and count them under ``kind`` (a count of the report); when a condition fails
        (the item changed since it was read), nothing is written and the item is counted as skipped."""
        if not self.dry_run and not _transact(self.client, writes):
            self.report.skipped[CHANGED] += 1
            return
        setattr(self.report, kind, getattr(self.report, kind) + 1)
        if moved is not None:
            self.written.add((moved["pk"], moved["sk"]))


def _put(table: str, item: dict[str, Any], condition: str) -> dict[str, Any]:
    """Write ``item`` on ``condition``, which compares with the item's own ``order_key`` / ``seen_at``, if any."""
    put: dict[str, Any] = {"TableName": table, "Item": attributes(item), "ConditionExpression": condition}
    compared = [name for name in ("order_key", "seen_at") if f"#{name}" in condition]
    if compared:
        put["ExpressionAttributeNames"] = {f"#{name}": name for name in compared}
        put["ExpressionAttributeValues"] = {f":{name}": attribute(item[name]) for name in compared}
    return {"Put": put}


def _delete(table: str, old: dict[str, Any]) -> dict[str, Any]:
    """Delete ``old`` on condition that it is still there as it was read (its ``order_key`` / ``seen_at``)."""
    unchanged = [name for name in ("order_key", "seen_at") if name in old]
    delete: dict[str, Any] = {
        "TableName": table,
        "Key": attributes({"pk": old["pk"], "sk": old["sk"]}),
        "ConditionExpression": " AND ".join(["attribute_exists(pk)", *(f"#{name} = :{name}" for name in unchanged)]),
    }
    if unchanged:
        delete["ExpressionAttributeNames"] = {f"#{name}": name for name in unchanged}
        delete["ExpressionAttributeValues"] = {f":{name}": attribute(old[name]) for name in unchanged}
    return {"Delete": delete}


def _plain_key(key: dict[str, Any]) -> dict[str, str]:
    return {"pk": key["pk"]["S"], "sk": key["sk"]["S"]}


def _transact(client: DynamoDBClient, writes: list[dict[str, Any]]) -> bool:
    """Apply ``writes`` in one transaction; False, writing nothing, when a condition fails."""
    try:
        client.transact_write_items(TransactItems=writes)  # type: ignore[arg-type]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        reasons = [reason.get("Code", "None") for reason in exc.response.get("CancellationReasons", [])]
        if code == "TransactionCanceledException" and "ConditionalCheckFailed" in reasons:
            return False
        raise StoreUnavailable(f"DynamoDB refused the migration's write: {code}") from exc
    except BotoCoreError as exc:
        raise StoreUnavailable(f"DynamoDB could not be reached: {type(exc).__name__}") from exc
    return True
