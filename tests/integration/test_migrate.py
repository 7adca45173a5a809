"""``migrate`` on moto: what v0.1 wrote (consent keyed without the account, contact memory by scope) rewritten to
the keys v0.2 reads, with every opt-out intact, once, resumably, and never over a newer fact."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from smsbridge.adapters.consent_table import ConsentLedger
from smsbridge.adapters.contacts import DynamoContacts
from smsbridge.adapters.dynamodb import attributes, plain
from smsbridge.cli import main
from smsbridge.domain.ci360_events import Correlation
from smsbridge.domain.consent import ConsentAction, ConsentEvent, ConsentSource, ConsentStatus
from smsbridge.errors import StoreUnavailable
from smsbridge.ops.migrate import CHANGED, NO_ACCOUNT, UNKNOWN_SOURCE, MigrationReport, migrate
from smsbridge.ops.optouts import selected_states
from smsbridge.ops.simulate import TEST_ACCOUNT_SID
from tests.integration.conftest import Stack

ACCOUNT, OTHER_ACCOUNT = TEST_ACCOUNT_SID, "AC" + "b" * 32
OURS, SERVICE = "+14155550199", "MG" + "5" * 32
ALICE, BOB, CAROL, DAVE, ERIN, FRANK = (f"+1415555010{n}" for n in range(1, 7))
NOW = datetime.now(UTC).replace(microsecond=0)
T1, T2 = NOW - timedelta(days=30), NOW - timedelta(days=20)


def sid(n: int) -> str:
    return "SM" + f"{n:032x}"


def put(stack: Stack, table: str, item: dict[str, Any]) -> None:
    stack.dynamodb.put_item(TableName=table, Item=attributes(item))


def v01_fact(stack: Stack, phone: str, message: str, action: str, at: datetime, *, scope: str = OURS,
             source: str = "reply_keyword", account: str | None = ACCOUNT) -> None:  # fmt: skip
    """A consent fact as v0.1 wrote it: the history entry (with the webhook's account) and, when it sets one, the
    state (without it), both keyed by the bare scope."""
    order = f"{at.isoformat(timespec='microseconds')}#{message}"
    status = {"opt_out": "opted_out", "opt_in": "opted_in"}.get(action)
    put(stack, stack.consent_table, {
        "pk": f"PHONE#{phone}", "sk": f"EVENT#{scope}#{message}#{action}", "record_type": "event", "phone": phone,
        "scope": scope, "action": action, "effect": status or "none", "source": source,
        "occurred_at": at.isoformat(), "order_key": order, "event_id": message, "rule": "keyword_exact",
        "account_sid": account, "recorded_at": at.isoformat(),
    })  # fmt: skip
    if status:
        put(stack, stack.consent_table, {
            "pk": f"PHONE#{phone}", "sk": f"SCOPE#{scope}", "record_type": "state", "phone": phone, "scope": scope,
            "status": status, "updated_at": at.isoformat(), "order_key": order, "source": source,
            "event_id": message, "state_scope": scope, "state_updated_at": at.isoformat(),
            "changed_at": at.isoformat(),
        })  # fmt: skip


def v01_contact(stack: Stack, phone: str, datahub_id: str, message: str, *, status_account: str | None) -> None:
    """Contact memory as v0.1 wrote it (``SCOPE#<scope>``), and the status record it came with, if still kept."""
    seen = NOW - timedelta(hours=1)
    put(stack, stack.messages_table, {
        "pk": f"CONTACT#{phone}", "sk": f"SCOPE#{OURS}", "datahub_id": datahub_id, "task_code": "TSK_1",
        "message_sid": message, "seen_at": seen.isoformat(), "expires_at": int((NOW + timedelta(days=7)).timestamp()),
    })  # fmt: skip
    if status_account:
        put(stack, stack.messages_table, {"pk": f"MSG#{message}", "sk": "STATUS", "kind": "status",
                                          "message_sid": message, "account_sid": status_account, "sender": OURS,
                                          "recipient": phone, "scope": OURS, "status": "delivered"})  # fmt: skip


def seed_v01(stack: Stack) -> None:
    v01_fact(stack, ALICE, sid(1), "opt_out", T1)  # STOP
    v01_fact(stack, BOB, sid(2), "opt_out", T1)  # STOP, then START
    v01_fact(stack, BOB, sid(3), "opt_in", T2)
    v01_fact(stack, CAROL, sid(4), "help", T1)  # HELP: history only
    v01_fact(stack, DAVE, sid(5), "opt_out", T1, source="twilio_21610", account=OTHER_ACCOUNT, scope=SERVICE)
    v01_fact(stack, ERIN, "import-abc", "opt_out", T1, source="import", account=None)  # a CSV row: no account
    ledger(stack).record(
        ConsentEvent(FRANK, OURS, ConsentAction.OPT_OUT, T2, ConsentSource.REPLY_KEYWORD, sid(6), account_sid=ACCOUNT),
        recorded_at=T2,
    )  # fmt: skip  (written by v0.2)
    v01_contact(stack, ALICE, "DH-ALICE", sid(7), status_account=OTHER_ACCOUNT)
    v01_contact(stack, BOB, "DH-BOB", sid(8), status_account=None)  # its status record expired


def ledger(stack: Stack) -> ConsentLedger:
    return ConsentLedger(stack.consent_table, client=stack.dynamodb)


def tables(stack: Stack) -> list[dict[str, Any]]:
    items = [plain(item) for table in (stack.consent_table, stack.messages_table)
             for item in stack.dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]]  # fmt: skip
    return sorted(items, key=lambda item: (item["pk"], item["sk"]))


def run(stack: Stack, **options: Any) -> MigrationReport:
    return migrate(stack.consent_table, stack.messages_table, stack.dynamodb, now=NOW, **options)


def counts(report: MigrationReport) -> tuple[int, ...]:
    return (report.states, report.history, report.contacts, report.superseded, report.already_current,
            report.without_account)  # fmt: skip


def test_every_v01_fact_moves_under_its_account_and_every_opt_out_stays(stack: Stack) -> None:
    seed_v01(stack)
    # WHEN the tables are migrated, naming the deployment's account for what the evidence does not name
    report = run(stack, account_sid=ACCOUNT)
    # THEN states, history and contact memory moved; v0.2's and the imported facts stay as they are
    assert counts(report) == (3, 5, 2, 0, 2, 2)
    assert not report.skipped
    # AND every opt-out is intact, read the way the CLI reads it, each under the account of its evidence
    opted_out = {(s["phone"], s.get("account_sid")) for s in selected_states(ledger(stack), status="opted_out")}
    assert opted_out == {(ALICE, ACCOUNT), (DAVE, OTHER_ACCOUNT), (ERIN, None), (FRANK, ACCOUNT)}
    [bob] = ledger(stack).get(BOB)
    assert (bob.account_sid, bob.status, [e["event_id"] for e in bob.history]) == (
        ACCOUNT, ConsentStatus.OPTED_IN, [sid(2), sid(3)])  # fmt: skip
    [carol] = ledger(stack).get(CAROL)
    assert (carol.account_sid, carol.status, [e["action"] for e in carol.history]) == (ACCOUNT, None, ["help"])
    assert ledger(stack).state(ALICE, OURS) is None  # no fact of a webhook is left without its account
    [erin] = ledger(stack).get(ERIN)
    assert (erin.account_sid, erin.status) == (None, ConsentStatus.OPTED_OUT)
    # AND a reply finds its contact by the current lookup: the status record's account, else the one given
    contacts = DynamoContacts(stack.messages_table, window=timedelta(days=1), client=stack.dynamodb)
    found = contacts.latest(ALICE, OURS, now=NOW, account_sid=OTHER_ACCOUNT, sender=OURS)
    assert found == Correlation("DH-ALICE", "TSK_1", "")
    assert contacts.latest(BOB, OURS, now=NOW, account_sid=ACCOUNT, sender=OURS) == Correlation("DH-BOB", "TSK_1", "")
    assert not any(item["sk"].startswith("SCOPE#+") for item in tables(stack) if item["pk"].startswith("CONTACT#"))


def test_a_second_run_finds_nothing_to_do(stack: Stack) -> None:
    seed_v01(stack)
    run(stack, account_sid=ACCOUNT)
    after_first = tables(stack)
    report = run(stack, account_sid=ACCOUNT)
    assert counts(report) == (0, 0, 0, 0, 12, 2)  # 8 consent facts and 2 contacts moved, 2 of v0.2, 2 imported
    assert report.changed == 0
    assert "nothing to migrate: every item is in the current format" in report.lines()
    assert tables(stack) == after_first


def test_a_dry_run_writes_nothing_and_counts_what_the_run_does(stack: Stack) -> None:
    seed_v01(stack)
    before = tables(stack)
    dry = run(stack, account_sid=ACCOUNT, dry_run=True)
    assert tables(stack) == before
    assert dry.lines()[0].startswith("would rewrite 3 states, 5 history entries, 2 contact memory items")
    assert counts(dry) == counts(run(stack, account_sid=ACCOUNT))


class FailingAfter:
    """A DynamoDB client whose transactions fail after ``writes`` of them (a run cut short half-way)."""

    def __init__(self, client: Any, writes: int) -> None:
        self.client, self.left = client, writes

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def transact_write_items(self, **request: Any) -> Any:
        if self.left == 0:
            raise StoreUnavailable("the network went away")
        self.left -= 1
        return self.client.transact_write_items(**request)


def test_a_run_stopped_half_way_loses_nothing_and_the_next_one_finishes(stack: Stack) -> None:
    seed_v01(stack)
    with pytest.raises(StoreUnavailable):
        migrate(stack.consent_table, stack.messages_table, FailingAfter(stack.dynamodb, 4), account_sid=ACCOUNT)
    # every opt-out readable meanwhile, whether its item was moved yet or not
    opted_out = {s["phone"] for s in selected_states(ledger(stack), status="opted_out")}
    assert opted_out == {ALICE, DAVE, ERIN, FRANK}
    report = run(stack, account_sid=ACCOUNT)
    assert report.states + report.history + report.contacts == 10 - 4
    assert counts(run(stack, account_sid=ACCOUNT))[:4] == (0, 0, 0, 0)
    assert {s["phone"] for s in selected_states(ledger(stack), status="opted_out")} == opted_out


def test_a_newer_v02_state_is_never_overwritten_and_the_number_is_synced_again(stack: Stack) -> None:
    # GIVEN v0.1 recorded a STOP, and since the upgrade a START for the same account opted the number in
    v01_fact(stack, ALICE, sid(1), "opt_out", T1)
    start = ConsentEvent(
        ALICE, OURS, ConsentAction.OPT_IN, T2, ConsentSource.REPLY_KEYWORD, sid(2), account_sid=ACCOUNT
    )
    ledger(stack).record(start, recorded_at=T2)
    # WHEN migrated THEN the START stays in force, the STOP joins its history, and the v0.1 state is gone
    report = run(stack)
    assert (report.states, report.history, report.superseded) == (0, 1, 1)
    [record] = ledger(stack).get(ALICE)
    assert (record.status, [e["event_id"] for e in record.history]) == (ConsentStatus.OPTED_IN, [sid(1), sid(2)])
    # AND the number's status changed (no v0.1 opt-out holds it any more): the preference sync sends it again
    assert next(iter(ledger(stack).changed_states(T2.isoformat(), NOW.isoformat())))["phone"] == ALICE


def test_what_cannot_be_placed_is_left_as_it_is_and_said(stack: Stack) -> None:
    # GIVEN a contact whose status record expired, and a fact keyed without an account from no known source
    v01_contact(stack, BOB, "DH-BOB", sid(8), status_account=None)
    put(stack, stack.consent_table, {"pk": f"PHONE#{CAROL}", "sk": f"SCOPE#{OURS}", "record_type": "state",
                                     "phone": CAROL, "scope": OURS, "status": "opted_out",
                                     "order_key": "x", "updated_at": T1.isoformat()})  # fmt: skip
    before = tables(stack)
    # WHEN migrated without an account THEN both are skipped, with the reason, and stay; CAROL stays opted out
    report = run(stack)
    assert report.skipped == {NO_ACCOUNT: 1, UNKNOWN_SOURCE: 1}
    assert tables(stack) == before
    assert [s["phone"] for s in selected_states(ledger(stack), status="opted_out")] == [CAROL]
    # AND given the account, the contact moves
    assert run(stack, account_sid=ACCOUNT).contacts == 1


def test_an_item_changed_between_read_and_move_is_skipped_not_overwritten(stack: Stack) -> None:
    v01_fact(stack, ALICE, sid(1), "opt_out", T1)

    class ChangingUnderfoot(FailingAfter):
        def transact_write_items(self, **request: Any) -> Any:  # a CSV import lands on the bare key meanwhile
            put(stack, stack.consent_table, {"pk": f"PHONE#{ALICE}", "sk": f"SCOPE#{OURS}", "record_type": "state",
                                             "phone": ALICE, "scope": OURS, "status": "opted_in", "source": "import",
                                             "order_key": "z", "updated_at": T2.isoformat()})  # fmt: skip
            return self.client.transact_write_items(**request)

    report = migrate(stack.consent_table, stack.messages_table, ChangingUnderfoot(stack.dynamodb, 9))
    assert report.skipped[CHANGED] >= 1
    assert ledger(stack).state(ALICE, OURS)["source"] == "import"  # type: ignore[index]


def test_the_command_migrates_a_deployment_and_reports_what_it_did(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_v01(stack)
    where = ["--consent-table", stack.consent_table, "--messages-table", stack.messages_table]
    before = tables(stack)
    # A dry run first, as docs/upgrade.md says: it changes nothing and counts what a run would move
    assert main(["migrate", *where, "--account-sid", ACCOUNT, "--dry-run"]) == 0
    assert "would rewrite 3 states, 5 history entries, 2 contact memory items" in capsys.readouterr().out
    assert tables(stack) == before
    # The run itself, as JSON
    assert main(["migrate", *where, "--account-sid", ACCOUNT, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["states"], report["history"], report["contacts"], report["changed"]) == (3, 5, 2, 10)
    assert report["skipped"] == {}
    # Then nothing is left to do
    assert main(["migrate", *where]) == 0
    assert "nothing to migrate" in capsys.readouterr().out


def test_the_command_says_when_items_are_left_for_want_of_an_account(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    v01_contact(stack, BOB, "DH-BOB", sid(8), status_account=None)
    where = ["--consent-table", stack.consent_table, "--messages-table", stack.messages_table]
    assert main(["migrate", *where]) == 1  # found a problem: an item it could not place
    assert f"skipped 1: {NO_ACCOUNT}" in capsys.readouterr().out


@pytest.mark.parametrize("account", ["", "AC…", "AC123", "MG" + "0" * 32])
def test_a_wrong_account_sid_is_a_usage_error_before_anything_is_read(
    account: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_status:
        main(["migrate", "--consent-table", "c", "--messages-table", "m", "--account-sid", account])
    assert exit_status.value.code == 2
    assert "account SID" in capsys.readouterr().err
