"""`smsbridge forget` on the local stack: a number's messages, reply and STOP erased, its opt-out kept hashed."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from smsbridge.adapters.queues import parked_message
from smsbridge.domain.ci360_events import EventKind, PendingEvent
from smsbridge.local.ci360_stub import Ci360Stub
from smsbridge.local.server import STUB_SECRET, STUB_TENANT
from tests.e2e.test_local_stack import EVENT_NAMES, RunningStack, smsbridge, start_serve, stop_serve

pytestmark = pytest.mark.e2e
OURS = "+14155550199"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    stub = Ci360Stub(tenant_id=STUB_TENANT, client_secret=STUB_SECRET, event_names=EVENT_NAMES)
    stub.start()
    folder = tmp_path_factory.mktemp("forget")
    running = start_serve(folder / "local.json", stub, "--data-file", str(folder / "data.json"))
    try:
        yield running
    finally:
        stop_serve(running)
        stub.stop()


def settled(stack: RunningStack) -> list[str]:
    """``everything`` but what the forwarder itself changes whatever the test does: its own items (earlier tests'
    events may still be writing them) and the events it parks on the retry queue (a held one comes back when its
    delay ends)."""
    return sorted(item for item in everything(stack)
                  if '"SENT#' not in item and '"LANE#' not in item and not item.startswith("RetryQueue: "))  # fmt: skip


def everything(stack: RunningStack) -> list[str]:
    """Every item of every table and every message of every queue, as text (the test's Scan, not the command's)."""
    return table_items(stack) + queued(stack)


def table_items(stack: RunningStack) -> list[str]:
    dynamodb = stack.table()
    found = []
    for table in dynamodb.list_tables()["TableNames"]:
        for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            found += [json.dumps(item) for item in page["Items"]]
    return found


def queued(stack: RunningStack) -> list[str]:
    """Every message of every queue, visible, in flight or delayed alike (``<queue>: <body>``): SQS shows none of
    the last two, so they are read from the stack's data file (moto's own queues, ``local/data_file.py``), from a
    snapshot taken after everything the test did so far (it holds a marker written now)."""
    marker = {"pk": {"S": "TEST#snapshot"}, "sk": {"S": uuid.uuid4().hex}}
    consent_table = "smsbridge-local-ConsentTable"  # the forwarder maps no event from an item without record_type
    stack.table().put_item(TableName=consent_table, Item=marker)
    data_file = stack.state_file.with_name("data.json")
    wait_until(lambda: marker["sk"]["S"] in data_file.read_text(encoding="utf-8"), timeout=30)
    stack.table().delete_item(TableName=consent_table, Key=marker)
    queues = json.loads(data_file.read_text(encoding="utf-8"))["queues"]
    return [f"{queue}: {message['body']}" for queue, messages in queues.items() for message in messages]


def forwarded(stack: RunningStack, event_key: str) -> None:
    """Wait until the forwarder has settled the event ``event_key`` (its claim says so: sent, held, given up), so
    that its side effects (a held event's dead letter) are all there."""
    final = ('"accepted"', '"held"', '"dead_lettered"', '"unconfirmed"', '"superseded"')
    wait_until(lambda: any(f'"SENT#{event_key}"' in item and any(state in item for state in final)
                           for item in table_items(stack)), timeout=90)  # fmt: skip


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
    wait_until(lambda: sum('"SENT#' in item for item in table_items(stack)) >= 3, timeout=90)
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
    # WHEN the person later texts START THEN it opts them in as usual (once Twilio's API, the stand-in, confirms it)
    start = "SM" + "a1" * 16
    smsbridge("simulate", "inbound", "--url", inbound, "--from", customer, "--to", OURS, "--body", "START",
              "--message-sid", start, "--state-file", str(stack.state_file))  # fmt: skip
    wait_until(lambda: f"{customer}  scope {OURS}  opted_in" in run(stack, "optouts", "get", customer).stdout)
    forwarded(stack, f"opt_in:{start}")  # nothing of this test is still on its way when the next one looks


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
                         "--to", ours, "--body", body, "--account-sid", account, "--message-sid", sid,
                         "--state-file", str(stack.state_file))  # fmt: skip
        assert sent.returncode == 0, sent.stdout + sent.stderr
    sids = [sid for *_, sid in messages]
    wait_until(lambda: all(any('"SENT#' in item and sid in item for item in table_items(stack)) for sid in sids), 90)


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
    assert f"{customer}  scope {OURS_B}  opted_out" in shown.stdout, shown.stdout + shown.stderr
    assert f"{customer}  scope {OURS}  opted_in" in shown.stdout  # account A's, read from its keyed hash
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


def dead_letter(stack: RunningStack, phone: str, key: str) -> None:
    """A parked event of ``phone`` on the dead-letter queue, as the forwarder writes one."""
    sqs = boto3.client("sqs", endpoint_url=stack.aws_endpoint_url, region_name="us-east-1")
    [url] = [url for url in sqs.list_queues()["QueueUrls"] if "DeadLetterQueue" in url]
    event = PendingEvent(EventKind.REPLY, f"reply:{key}", phone, OURS, {"message_sid": key})
    body = parked_message(event, attempt=5, reason="400: event SMS Reply is not defined", ticket=uuid.uuid4().hex)
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))


def test_forget_finds_the_numbers_dead_letters_behind_many_others_and_only_its_own(stack: RunningStack) -> None:
    # GIVEN a number whose STOP's event is held on the dead-letter queue (no CI360 identity known for it), then
    # behind twelve other people's dead letters (one a longer number that holds this one), two more of its own
    customer, stop = "+14155550168", "SM" + "90" * 16
    smsbridge("simulate", "inbound", "--url", f"{stack.base_url}/twilio/inbound", "--from", customer, "--to", OURS,
              "--body", "STOP", "--message-sid", stop)  # fmt: skip
    wait_until(lambda: any('"SENT#' in item and stop in item and '"held"' in item for item in table_items(stack)), 90)
    others = [f"+1415555021{n:02d}" for n in range(11)] + [customer + "1"]
    for n, phone in enumerate(others):
        dead_letter(stack, phone, "SM" + f"{n:02d}" * 16)
    for sid in ("SM" + "91" * 16, "SM" + "92" * 16):
        dead_letter(stack, customer, sid)
    # WHEN the operator forgets the number
    done = run(stack, "forget", customer, "--json")
    assert done.returncode == 0, done.stderr
    # THEN its three dead letters are counted and gone, and every other one is still there
    assert json.loads(done.stdout)["counts"]["dead letters"] == 3
    whole_number = re.compile(r"(?<!\d)" + customer[1:] + r"(?!\d)")
    left = everything(stack)
    assert [item for item in left if whole_number.search(item)] == []
    assert all(sum(phone in item for item in left if item.startswith("DeadLetterQueue: ")) == 1 for phone in others)


def test_a_fact_after_forget_in_one_scope_leaves_the_other_scopes_erased_opt_out_showing(stack: RunningStack) -> None:
    # GIVEN a number opted out from two of our numbers, then forgotten
    customer, other_scope = "+14155550169", "+14155550197"
    inbound = f"{stack.base_url}/twilio/inbound"
    for ours in (OURS, other_scope):
        smsbridge("simulate", "inbound", "--url", inbound, "--from", customer, "--to", ours, "--body", "STOP")
    assert run(stack, "forget", customer).returncode == 0
    # WHEN it later texts HELP to the first THEN both scopes still read as opted out
    smsbridge("simulate", "inbound", "--url", inbound, "--from", customer, "--to", OURS, "--body", "HELP")
    shown = run(stack, "optouts", "get", customer)
    assert f"scope {OURS}  opted_out" in shown.stdout and f"scope {other_scope}  opted_out" in shown.stdout, (
        shown.stdout + shown.stderr
    )
    # WHEN it texts START to the first THEN that scope is opted in (once Twilio's API confirms it) and the other one
    # stays opted out
    start = "SM" + "a2" * 16
    smsbridge("simulate", "inbound", "--url", inbound, "--from", customer, "--to", OURS, "--body", "START",
              "--message-sid", start, "--state-file", str(stack.state_file))  # fmt: skip
    wait_until(lambda: f"scope {OURS}  opted_in" in run(stack, "optouts", "get", customer).stdout)
    forwarded(stack, f"opt_in:{start}")
    shown = run(stack, "optouts", "get", customer)
    assert f"scope {OURS}  opted_in" in shown.stdout and f"scope {other_scope}  opted_out" in shown.stdout, (
        shown.stdout + shown.stderr
    )
