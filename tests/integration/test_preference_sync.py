"""The contact-preference sync and `smsbridge consent reconcile`, on moto with the CI360 stub."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import urllib3

from smsbridge.adapters.ci360 import Ci360Credentials, Ci360Gateway
from smsbridge.adapters.consent_table import ConsentLedger
from smsbridge.adapters.sync_records import SyncRecords
from smsbridge.app.preferences import PreferenceSync
from smsbridge.cli import main
from smsbridge.local.ci360_stub import Ci360Stub
from smsbridge.local.server import STUB_SECRET as SECRET
from smsbridge.local.server import STUB_TENANT as TENANT
from smsbridge.ops.simulate import inbound_params, status_params
from tests.conftest import API_BASE, LambdaContext, form_body, http_api_event, signed_headers
from tests.integration.conftest import Stack, load_function

CUSTOMER = "+14155550100"


@pytest.fixture
def stub(stack: Stack) -> Iterator[Ci360Stub]:
    with Ci360Stub(tenant_id=TENANT, client_secret=SECRET, event_names=["SMS Reply"]) as running:
        secret = stack.resources.name_of("Ci360Secret")
        credentials = {"gateway_url": running.url, "tenant_id": TENANT, "client_secret": SECRET}
        stack.secrets.put_secret_value(SecretId=secret, SecretString=json.dumps(credentials))
        yield running


def sync_for(stack: Stack, stub: Ci360Stub) -> PreferenceSync:
    gateway = Ci360Gateway(Ci360Credentials(stub.url, TENANT, SECRET))
    return PreferenceSync(
        ledger=ConsentLedger(stack.consent_table, client=stack.dynamodb),
        records=SyncRecords(stack.messages_table, client=stack.dynamodb),
        api=lambda: gateway,
        poll_seconds=0,
        settle_seconds=0,
        sleep=lambda _: None,
    )


def reply(stack: Stack, body: str, sender: str = CUSTOMER) -> None:
    params = inbound_params(body=body, sender=sender)
    url = f"{API_BASE}/twilio/inbound"
    assert (
        stack.handler.lambda_handler(
            http_api_event(url, form_body(params), signed_headers(url, params)), LambdaContext()
        )["statusCode"]
        == 200
    )


def cli(stack: Stack, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    tables = ["--consent-table", stack.consent_table, "--messages-table", stack.messages_table]
    secret = ["--secret-id", stack.resources.name_of("Ci360Secret"), "--settle", "0"] if args[0] == "ci360" else []
    capsys.readouterr()  # the webhook's metrics so far
    code = main([*args, *tables, *secret])
    return code, capsys.readouterr().out


def test_stop_then_start_reach_ci360_as_opt_out_true_then_false(stack: Stack, stub: Ci360Stub) -> None:
    sync = sync_for(stack, stub)
    reply(stack, "STOP")
    assert sync.run().outcome == "done"
    assert stub.preferences.current[("sms_id", CUSTOMER)] is True
    reply(stack, "START")
    report = sync.run()
    assert (report.outcome, [p.opted_out for p in report.preferences]) == ("done", [False])
    assert stub.preferences.current[("sms_id", CUSTOMER)] is False
    assert sync.run().outcome == "nothing"  # nothing changed since


def test_two_opt_outs_one_after_the_other_each_reach_ci360_in_their_own_job(stack: Stack, stub: Ci360Stub) -> None:
    # The regression: a job that ended "Imported" was read as still running, so the sync followed it forever and
    # no later opt-out ever reached CI360.
    sync = sync_for(stack, stub)
    reply(stack, "STOP", sender=CUSTOMER)
    first = sync.run()
    assert (first.outcome, first.status, first.job) == ("done", "Imported", "job-1")
    other = "+14155550101"
    reply(stack, "STOP", sender=other)
    second = sync.run()
    assert (second.outcome, second.job, [p.phone for p in second.preferences]) == ("done", "job-2", [other])
    assert stub.preferences.current == {("sms_id", CUSTOMER): True, ("sms_id", other): True}
    walked = [stub.preferences.jobs[job]["status"] for job in ("job-1", "job-2")]
    assert walked == ["Imported", "Imported"]


def test_the_file_is_uploaded_as_text_csv(stack: Stack, stub: Ci360Stub) -> None:
    gateway = Ci360Gateway(Ci360Credentials(stub.url, TENANT, SECRET))
    location = gateway.file_location()
    gateway.upload(location, b"identity_type,identity_value,preference_type,preference_value\n")
    assert len(stub.preferences.uploads) == 1
    # the stub refuses any other content type, as a signed URL that signed text/csv would
    refused = urllib3.request(
        "PUT", gateway.file_location(), body=b"x", headers={"Content-Type": "application/octet-stream"}
    )
    assert refused.status == 403 and b"SignatureDoesNotMatch" in refused.data


def test_a_failed_job_is_sent_again_and_the_checkpoint_waits(stack: Stack, stub: Ci360Stub) -> None:
    sync = sync_for(stack, stub)
    records = SyncRecords(stack.messages_table, client=stack.dynamodb)
    reply(stack, "STOP")
    stub.preferences.fail_next_jobs = 1
    stub.preferences.failure_description = f"Row 2: identity value {CUSTOMER} could not be matched"
    failed = sync.run()
    assert (failed.outcome, failed.status) == ("failed", "Failed Validation")
    assert failed.description == "Row 2: identity value +1********00 could not be matched"  # masked
    assert records.checkpoint()[0].through == ""  # not moved past the failed job
    assert ("sms_id", CUSTOMER) not in stub.preferences.current
    done = sync.run()
    assert done.outcome == "done" and [p.phone for p in done.preferences] == [CUSTOMER]
    assert stub.preferences.current[("sms_id", CUSTOMER)] is True
    assert records.checkpoint()[0].through == done.through != ""


def test_a_job_still_running_is_followed_on_the_next_run(stack: Stack, stub: Ci360Stub) -> None:
    sync = sync_for(stack, stub)
    stub.preferences.polls_per_status = 5  # more than one run's polls
    reply(stack, "STOP")
    assert sync.run().outcome == "running"
    assert sync.run().outcome == "done"  # the same job, found done; nothing sent twice
    assert len(stub.preferences.jobs) == 1


def test_dry_run_prints_and_sends_nothing(stack: Stack, stub: Ci360Stub, capsys: pytest.CaptureFixture[str]) -> None:
    reply(stack, "STOP")
    code, out = cli(stack, capsys, "ci360", "sync-preferences", "--dry-run")
    assert code == 0 and out.startswith("dry_run: 1 number (1 opted out") and f"{CUSTOMER}  OPT-OUT true" in out
    assert stub.preferences.jobs == {}


def test_reconcile_finds_planted_drift_and_its_fixes_remove_it(
    stack: Stack, stub: Ci360Stub, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # GIVEN a STOP never sent to CI360, and a 21610 that reached the messages table but not the ledger
    reply(stack, "STOP")
    blocked = "+14155550177"
    status = status_params(status="failed", error_code="21610", recipient=blocked, message_sid="SM" + "9" * 32)
    stack.dynamodb.put_item(TableName=stack.messages_table, Item=planted_21610(status))
    # WHEN reconciling THEN both drifts are named with their fixes
    fix = tmp_path / "twilio-blocks.csv"
    code, out = cli(stack, capsys, "consent", "reconcile", "--write-fix", str(fix))
    assert code == 1
    assert "1 number opted out here but not in CI360" in out and f"  {CUSTOMER}" in out
    assert f"1 number Twilio refuses (21610) that the ledger does not know:\n  {blocked}" in out
    # WHEN the printed fixes are run
    commands = [line.split("fix: smsbridge ", 1)[1].split() for line in out.splitlines() if "fix: smsbridge" in line]
    assert len(commands) == 2
    for command in commands:
        assert main(with_location(command, stack)) == 0
    capsys.readouterr()
    # THEN the Twilio opt-out is in the ledger; once synced, nothing drifts
    assert cli(stack, capsys, "ci360", "sync-preferences")[0] == 0
    code, out = cli(stack, capsys, "consent", "reconcile")
    assert (code, out.strip()) == (0, "no drift: the ledger, CI360's preferences and Twilio's refusals agree")
    assert stub.preferences.current[("sms_id", blocked)] is True


def test_a_21610_for_a_number_that_opted_out_by_webhook_is_no_drift(
    stack: Stack, stub: Ci360Stub, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a STOP by webhook (its state keyed by the Twilio account), then Twilio refusing that number with 21610
    reply(stack, "STOP")
    status = status_params(status="failed", error_code="21610", recipient=CUSTOMER, message_sid="SM" + "8" * 32)
    refused = {**planted_21610(status), "account_sid": {"S": dict(status)["AccountSid"]}}
    stack.dynamodb.put_item(TableName=stack.messages_table, Item=refused)
    # WHEN reconciling THEN the refusal is known to the ledger: only the unsynced STOP drifts
    code, out = cli(stack, capsys, "consent", "reconcile", "--json")
    assert code == 1 and json.loads(out)["unknown_to_ledger"] == []


def with_location(command: list[str], stack: Stack) -> list[str]:
    """A printed fix command, told where this test's tables and secret are."""
    if command[0] == "optouts":
        return [*command, "--table", stack.consent_table]
    return [
        *command,
        "--consent-table",
        stack.consent_table,
        "--messages-table",
        stack.messages_table,
        "--secret-id",
        stack.resources.name_of("Ci360Secret"),
    ]


def planted_21610(params: list[tuple[str, str]]) -> dict[str, Any]:
    fields = dict(params)
    return {
        "pk": {"S": f"MSG#{fields['MessageSid']}"},
        "sk": {"S": "STATUS"},
        "kind": {"S": "status"},
        "status": {"S": "failed"},
        "error_code": {"N": "21610"},
        "recipient": {"S": fields["To"]},
        "sender": {"S": fields["From"]},
        "scope": {"S": fields["From"]},
        "updated_at": {"S": "2026-11-27T13:00:00+00:00"},
        "message_sid": {"S": fields["MessageSid"]},
    }


def job_pending_for(stack: Stack, stub: Ci360Stub, *, hours: int) -> None:
    """A STOP's import job that CI360 keeps processing, sent ``hours`` ago."""
    stub.preferences.polls_per_status = 10_000
    reply(stack, "STOP")
    assert sync_for(stack, stub).run().outcome == "running"
    records = SyncRecords(stack.messages_table, client=stack.dynamodb)
    checkpoint, pending = records.checkpoint()
    sent = datetime.fromisoformat(checkpoint.pending_since) - timedelta(hours=hours)
    records.save(replace(checkpoint, pending_since=sent.isoformat()), pending)


def test_a_job_stuck_past_the_bound_is_reported_by_sync_and_reconcile(
    stack: Stack, stub: Ci360Stub, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a job CI360 keeps processing, sent three hours ago
    job_pending_for(stack, stub, hours=3)
    # WHEN the sync and reconcile look THEN both name the job as stuck and fail
    code, out = cli(stack, capsys, "ci360", "sync-preferences")
    assert code == 1
    assert "running: 1 number (1 opted out, 0 not), job job-1 (Queued)" in out
    assert "STUCK: pending for 180 min; ask SAS support about job job-1" in out
    code, out = cli(stack, capsys, "consent", "reconcile")
    assert code == 1 and out.startswith("CI360 import job job-1 STUCK: pending for 180 min")
    # a shorter wait is only pending, not stuck
    code, out = cli(stack, capsys, "consent", "reconcile", "--stuck-after", "240")
    assert "CI360 import job job-1 pending for 180 min (the next sync follows it)" in out and "STUCK" not in out
    assert len(stub.preferences.jobs) == 1  # followed, never sent twice


def test_two_overlapping_runs_send_one_job(stack: Stack, stub: Ci360Stub) -> None:
    # GIVEN a run that a second run starts under while the first reads the ledger (before it saves its job)
    reply(stack, "STOP")
    second = sync_for(stack, stub)
    overlapped: list[str] = []

    class LedgerThatLetsASecondRunIn(ConsentLedger):
        def changed_states(self, after: str, until: str) -> list[dict[str, Any]]:
            overlapped.append(second.run().outcome)
            return super().changed_states(after, until)

    first = sync_for(stack, stub)
    first.ledger = LedgerThatLetsASecondRunIn(stack.consent_table, client=stack.dynamodb)
    # WHEN both run THEN the second finds the lease held and sends nothing; one job reaches CI360
    assert first.run().outcome == "done"
    assert overlapped == ["busy"]
    assert list(stub.preferences.jobs) == ["job-1"]
    # and the lease is given back: the next run goes ahead
    assert sync_for(stack, stub).run().outcome == "nothing"


def test_an_abandoned_lease_is_taken_over_once_expired(stack: Stack, stub: Ci360Stub) -> None:
    records = SyncRecords(stack.messages_table, client=stack.dynamodb)
    now = datetime.now(UTC)
    assert records.take_lease("crashed-run", now=now - timedelta(minutes=20), until=now - timedelta(minutes=10))
    assert not records.take_lease("other", now=now - timedelta(minutes=15), until=now)  # still held then
    reply(stack, "STOP")
    assert sync_for(stack, stub).run().outcome == "done"


def test_the_function_counts_a_stuck_job_for_its_alarm(
    stack: Stack, stub: Ci360Stub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a job CI360 has been processing for three hours
    job_pending_for(stack, stub, hours=3)
    # WHEN the scheduled function runs with the template's settings
    for name, value in stack.resources.function_environment("PreferencesFunction").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "smsbridge")
    function = load_function("preferences", stack.logs)
    function.sync.poll_seconds = 0
    capsys.readouterr()
    assert function.lambda_handler({}, LambdaContext())["outcome"] == "running"
    # THEN it emits the metrics the PreferenceJobStuckAlarm watches
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = {metric["Name"] for doc in emitted for directive in doc["_aws"]["CloudWatchMetrics"]
             for metric in directive["Metrics"]}  # fmt: skip
    assert {"PreferenceSync_running", "PreferenceJobStuck", "PreferenceJobPendingSeconds"} <= names
    assert "PreferenceJobStatusUnknown" not in names


def test_a_number_not_in_the_ledger_is_never_sent(
    stack: Stack, stub: Ci360Stub, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a number the ledger has never heard of WHEN it is named for a sync THEN nothing goes to CI360
    reply(stack, "STOP")
    capsys.readouterr()
    tables = ["--consent-table", stack.consent_table, "--messages-table", stack.messages_table]
    secret = ["--secret-id", stack.resources.name_of("Ci360Secret")]
    code = main(["ci360", "sync-preferences", "--phone", CUSTOMER, "--phone", "+14155550999", *tables, *secret])
    assert code == 2
    assert capsys.readouterr().err == (
        "smsbridge: no consent on record for +14155550999: nothing to send for it (see smsbridge optouts get)\n"
    )
    assert stub.preferences.jobs == {}


def test_dry_run_and_reconcile_as_json(stack: Stack, stub: Ci360Stub, capsys: pytest.CaptureFixture[str]) -> None:
    reply(stack, "STOP")
    code, out = cli(stack, capsys, "ci360", "sync-preferences", "--dry-run", "--json")
    plan = json.loads(out)
    assert code == 0 and plan["outcome"] == "dry_run"
    assert [(p["phone"], p["opted_out"]) for p in plan["preferences"]] == [(CUSTOMER, True)]
    code, out = cli(stack, capsys, "consent", "reconcile", "--json")
    drift = json.loads(out)
    assert code == 1
    assert drift == {"drift": True, "not_in_ci360": [CUSTOMER], "only_in_ci360": [], "unknown_to_ledger": [],
                     "pending_job": "", "pending_seconds": 0.0, "stuck": False}  # fmt: skip
