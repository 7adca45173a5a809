"""`smsbridge forget` on the local stack: a number's messages, reply and STOP erased, its opt-out kept hashed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from smsbridge.local.ci360_stub import Ci360Stub
from smsbridge.local.server import STUB_SECRET, STUB_TENANT
from tests.e2e.test_local_stack import EVENT_NAMES, RunningStack, smsbridge, start_serve, stop_serve

pytestmark = pytest.mark.e2e
OURS = "+14155550199"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    stub = Ci360Stub(tenant_id=STUB_TENANT, client_secret=STUB_SECRET, event_names=EVENT_NAMES)
    stub.start()
    running = start_serve(tmp_path_factory.mktemp("forget") / "local.json", stub)
    try:
        yield running
    finally:
        stop_serve(running)
        stub.stop()


def settled(stack: RunningStack) -> list[str]:
    """``everything`` but the forwarder's own items, which earlier tests' events may still be writing, and the events
    it parked (a held one comes back on the retry queue when its delay ends, whatever the test does)."""
    return sorted(item for item in everything(stack)
                  if '"SENT#' not in item and '"LANE#' not in item and not item.startswith('{"event": '))  # fmt: skip


def everything(stack: RunningStack) -> list[str]:
    """Every item of every table and every message of every queue, as text (the test's Scan, not the command's)."""
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.aws_endpoint_url, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=stack.aws_endpoint_url, region_name="us-east-1")
    found = []
    for table in dynamodb.list_tables()["TableNames"]:
        found += [json.dumps(item) for item in dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]]
    for url in sqs.list_queues().get("QueueUrls", []):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        found += [message["Body"] for message in messages.get("Messages", [])]
    return found


def run(stack: RunningStack, *args: str) -> Any:
    return smsbridge(*args, "--local", "--state-file", str(stack.state_file))


def wait_until(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_forget_erases_every_copy_of_the_number_and_keeps_it_opted_out(stack: RunningStack) -> None:
    # GIVEN a delivered message, a reply and a STOP from one number, and the forwarder's events for them
    customer, digits = "+14155550163", "14155550163"
    status = f"{stack.base_url}/twilio/status?dh=DH-9&tc=TSK_1"
    inbound = f"{stack.base_url}/twilio/inbound"
    smsbridge("simulate", "status", "--url", status, "--status", "delivered", "--to", customer, "--from", OURS,
              "--message-sid", "SM" + "71" * 16)  # fmt: skip
    for body, sid in (("Is the sale on?", "SM" + "72" * 16), ("STOP", "SM" + "73" * 16)):
        smsbridge("simulate", "inbound", "--url", inbound, "--from", customer, "--to", OURS, "--body", body,
                  "--message-sid", sid)  # fmt: skip
    wait_until(lambda: sum('"SENT#' in item for item in everything(stack)) >= 3, timeout=90)
    assert any(digits in item for item in everything(stack))
    # WHEN the operator forgets the number
    done = run(stack, "forget", customer, "--json")
    assert done.returncode == 0, done.stderr
    erasure = json.loads(done.stdout)
    assert erasure["counts"]["message records"] == 3 and erasure["counts"]["contact memory"] == 1
    assert erasure["counts"]["consent states and history (hashed)"] == 2
    assert customer not in done.stdout and "SM" + "73" * 16 in erasure["follow_up"]["twilio"]
    assert "DELETE https://api.twilio.com/2010-04-01/Accounts/" in erasure["follow_up"]["twilio"]
    assert "No SAS source for deleting a person's data" in erasure["follow_up"]["ci360"]  # docs/contracts.md: unknown
    # THEN no item in any table or queue holds the number or its digits
    assert [item for item in everything(stack) if digits in item] == []
    # AND the number still reads as opted out, and the erasure is audited without it
    shown = run(stack, "optouts", "get", customer)
    assert f"{customer}  scope {OURS}  opted_out" in shown.stdout, shown.stdout + shown.stderr
    audits = [item for item in everything(stack) if "AUDIT#erasure" in item]
    assert len(audits) == 1 and '"local"' in audits[0]
    # WHEN it runs again THEN it finds nothing and changes nothing
    again = run(stack, "forget", customer)
    assert again.returncode == 0 and "nothing on record" in again.stdout
    assert len([item for item in everything(stack) if "AUDIT#erasure" in item]) == 1
    # WHEN the person later texts START THEN it opts them in as usual
    smsbridge("simulate", "inbound", "--url", inbound, "--from", customer, "--to", OURS, "--body", "START")
    shown = run(stack, "optouts", "get", customer)
    assert f"{customer}  scope {OURS}  opted_in" in shown.stdout


def test_forgetting_an_unknown_number_changes_nothing_and_says_so(stack: RunningStack) -> None:
    before = settled(stack)
    done = run(stack, "forget", "+14155550164")
    assert done.returncode == 0, done.stderr
    assert "+1********64: nothing on record in this deployment; nothing changed" in done.stdout
    assert settled(stack) == before


def test_a_dry_run_counts_and_changes_nothing(stack: RunningStack) -> None:
    customer = "+14155550165"
    smsbridge("simulate", "inbound", "--url", f"{stack.base_url}/twilio/inbound", "--from", customer, "--to", OURS,
              "--body", "STOP")  # fmt: skip
    before = settled(stack)
    done = run(stack, "forget", customer, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "would remove (dry run: nothing changed)" in done.stdout
    assert settled(stack) == before


def test_an_invalid_number_is_one_line_and_exit_2(stack: RunningStack) -> None:
    done = run(stack, "forget", "call me")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1


ACCOUNT_A, ACCOUNT_B = "AC" + "a1" * 16, "AC" + "b2" * 16
OURS_B = "+14155550198"  # account B's number


def texts(stack: RunningStack, customer: str, *messages: tuple[str, str, str, str]) -> None:
    """Each (account, our number, body, MessageSid) texted by ``customer``; returns once the forwarder has claimed an
    event of each (so no event of them is still on its way into the lanes when the test goes on)."""
    for account, ours, body, sid in messages:
        sent = smsbridge("simulate", "inbound", "--url", f"{stack.base_url}/twilio/inbound", "--from", customer,
                         "--to", ours, "--body", body, "--account-sid", account, "--message-sid", sid)  # fmt: skip
        assert sent.returncode == 0, sent.stdout + sent.stderr
    sids = [sid for *_, sid in messages]
    wait_until(lambda: all(any('"SENT#' in item and sid in item for item in everything(stack)) for sid in sids), 90)


def test_forget_in_one_account_erases_its_records_and_leaves_the_other_accounts_in_clear(stack: RunningStack) -> None:
    # GIVEN a number that replied, texted STOP then START to account A's number, and STOP to account B's
    customer, digits = "+14155550166", "14155550166"
    texts(stack, customer, (ACCOUNT_A, OURS, "Is the sale on?", "SM" + "81" * 16),
          (ACCOUNT_A, OURS, "STOP", "SM" + "82" * 16), (ACCOUNT_A, OURS, "START", "SM" + "83" * 16),
          (ACCOUNT_B, OURS_B, "STOP", "SM" + "84" * 16))  # fmt: skip
    # WHEN the operator forgets the number in account A only
    done = run(stack, "forget", customer, "--account", ACCOUNT_A, "--json")
    assert done.returncode == 0, done.stderr
    erasure = json.loads(done.stdout)
    assert erasure["account"] == ACCOUNT_A and erasure["counts"]["message records"] == 3
    assert erasure["counts"]["consent states and history (hashed)"] == 3  # A's state, its STOP and START
    # THEN nothing of account A's names the number any more, and account B's records and opt-out stay in clear
    left = [item for item in everything(stack) if digits in item]
    assert [item for item in left if ACCOUNT_A in item or "SM" + "81" * 16 in item] == []
    assert any(ACCOUNT_B in item and '"opted_out"' in item for item in left)
    assert any("SM" + "84" * 16 in item and '"MSG#' in item for item in left)
    shown = run(stack, "optouts", "get", customer)
    assert f"{customer}  scope {OURS_B}  opted_out" in shown.stdout and f"scope {OURS} " not in shown.stdout
    assert any("AUDIT#erasure" in item and ACCOUNT_A in item for item in everything(stack))


def test_forget_in_one_account_refuses_to_hide_its_opt_out_behind_another_accounts(stack: RunningStack) -> None:
    # GIVEN a number opted out in account A and with consent in clear in account B
    customer, sid = "+14155550167", "SM" + "85" * 16
    texts(stack, customer, (ACCOUNT_A, OURS, "STOP", sid), (ACCOUNT_B, OURS_B, "START", "SM" + "86" * 16))
    before = settled(stack)
    # WHEN the operator forgets it in account A only THEN it is refused in one line, and nothing changed
    done = run(stack, "forget", customer, "--account", ACCOUNT_A)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stdout + done.stderr
    assert "forget it in every account (without --account)" in done.stderr and customer not in done.stderr
    assert settled(stack) == before
