"""The sync's checkpoint rules with fake ports: it moves only past what CI360 confirmed, and never skips a change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from smsbridge.app.preferences import PreferenceSync
from smsbridge.domain.preferences import Checkpoint, JobStatus
from tests.fakes import FakeConsentChanges, FakePreferenceApi, FakeSyncLog

NOW = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)


def state(n: int, status: str = "opted_out", minute: int = 0) -> dict[str, Any]:
    return {
        "phone": f"+1415555{n:04d}",
        "scope": "+14155550199",
        "status": status,
        "changed_at": f"2026-11-27T13:{minute:02d}:00+00:00",
    }


def build(states: list[dict[str, Any]], api: FakePreferenceApi, **options: Any) -> tuple[PreferenceSync, FakeSyncLog]:
    log = FakeSyncLog()
    sync = PreferenceSync(
        ledger=FakeConsentChanges(states),
        records=log,
        api=lambda: api,
        sleep=lambda _: None,
        **{"polls": 2, "clock": lambda: NOW, **options},
    )
    return sync, log


def test_done_moves_the_checkpoint_to_the_end_of_the_window() -> None:
    sync, log = build([state(1), state(2, "opted_in")], FakePreferenceApi())
    report = sync.run()
    assert report.outcome == "done"
    assert report.lag_seconds == 3600  # the oldest change was at 13:00, CI360 confirmed at 14:00
    assert log.synced == {"+14155550001": True, "+14155550002": False}
    assert log.current[0].through == "2026-11-27T13:59:30+00:00" and not log.current[0].pending_job


def test_failed_job_leaves_the_checkpoint_and_the_next_run_sends_the_same_numbers() -> None:
    api = FakePreferenceApi("Queued", JobStatus("Failed Validation", "line 2: preference_value must be true or false"))
    sync, log = build([state(1)], api)
    failed = sync.run()
    assert (failed.outcome, failed.status) == ("failed", "Failed Validation")
    assert "CI360 says: line 2: preference_value must be true or false" in "\n".join(failed.lines())
    assert log.current[0].through == "" and not log.synced
    assert sync.run().outcome == "done"
    assert api.files[0] == api.files[1]  # the same file, sent again
    assert log.synced == {"+14155550001": True}


def test_running_job_is_followed_next_run_without_a_second_upload() -> None:
    api = FakePreferenceApi("Queued", "Processing Identities", "Processing")
    sync, log = build([state(1)], api)
    assert sync.run().outcome == "running"
    assert log.current[0].pending_job == "job-1"
    assert sync.run().outcome == "done"
    assert api.jobs == ["job-1"] and len(api.files) == 1


def test_a_job_that_failed_while_pending_is_sent_again_in_the_same_run() -> None:
    api = FakePreferenceApi("Queued", "Processing Identities", JobStatus("Failed Validation", "bad row"), "Queued")
    sync, log = build([state(1)], api)
    assert sync.run().outcome == "running"
    again = sync.run()
    assert again.outcome == "done"
    assert again.earlier_failure == "job job-1 Failed Validation: bad row"
    assert "the previous job failed (job job-1 Failed Validation: bad row)" in "\n".join(again.lines())
    assert api.jobs == ["job-1", "job-2"]
    assert log.synced == {"+14155550001": True}


def test_big_windows_are_cut_between_change_times_and_nothing_is_skipped() -> None:
    # GIVEN five changes, three of them at the same minute, and jobs of at most two numbers
    states = [state(1, minute=1), state(2, minute=2), state(3, minute=2), state(4, minute=2), state(5, minute=3)]
    api = FakePreferenceApi()
    sync, log = build(states, api, max_numbers=2)
    # WHEN syncs run until nothing is left
    outcomes = [sync.run().outcome for _ in range(4)]
    # THEN every number reached CI360, and no cut split a minute
    assert outcomes == ["done", "done", "nothing", "nothing"]
    assert sorted(log.synced) == [f"+1415555000{n}" for n in range(1, 6)]
    first_file = api.files[0].decode()
    assert all(f"+1415555000{n}" in first_file for n in (1, 2, 3, 4))  # minute 2 kept whole


def test_since_and_phone_runs_never_move_the_checkpoint_back() -> None:
    api = FakePreferenceApi()
    sync, log = build([state(1, minute=5)], api)
    sync.run()
    through = log.current[0].through
    assert sync.run(since="2026-11-27T00:00:00+00:00").outcome == "done"
    assert sync.run(phones=["+14155550001"]).outcome == "done"
    assert log.current[0].through == through


def test_dry_run_sends_nothing_and_keeps_the_checkpoint() -> None:
    api = FakePreferenceApi()
    sync, log = build([state(1)], api)
    report = sync.run(dry_run=True)
    assert report.outcome == "dry_run" and [p.phone for p in report.preferences] == ["+14155550001"]
    assert api.files == [] and log.current[0].through == ""


def test_changes_younger_than_the_settle_time_wait() -> None:
    fresh = {**state(1), "changed_at": "2026-11-27T13:59:50+00:00"}
    sync, log = build([fresh], FakePreferenceApi(), settle_seconds=30)
    assert sync.run().outcome == "nothing"
    assert log.current[0].through == "2026-11-27T13:59:30+00:00" < fresh["changed_at"]


def test_two_opt_outs_one_after_the_other_each_reach_ci360_in_their_own_job() -> None:
    # GIVEN a first opt-out synced through SAS's statuses, then a second one made later
    states = [state(1, minute=1)]
    api = FakePreferenceApi("Queued", "Processing Identities", "Processing Preferences", "Imported")
    now = [NOW.replace(hour=13, minute=15)]
    sync, log = build(states, api, polls=4, clock=lambda: now[0])
    assert sync.run().outcome == "done"
    states.append(state(2, minute=30))
    now[0] = NOW
    # WHEN the next run comes THEN the second goes in a second job, and the checkpoint passes both
    second = sync.run()
    assert (second.outcome, [p.phone for p in second.preferences]) == ("done", ["+14155550002"])
    assert api.jobs == ["job-1", "job-2"]
    assert log.synced == {"+14155550001": True, "+14155550002": True}


def test_an_unknown_status_is_followed_as_running_and_reported() -> None:
    api = FakePreferenceApi("Queued", "Waiting For Capacity", "Imported")
    sync, _ = build([state(1)], api)
    first = sync.run()
    assert (first.outcome, first.unknown_status) == ("running", "Waiting For Capacity")
    assert "unknown job status 'Waiting For Capacity'" in "\n".join(first.lines())
    assert sync.run().outcome == "done" and api.jobs == ["job-1"]


def test_a_job_pending_past_the_bound_is_reported_stuck() -> None:
    # GIVEN a job sent at 13:00 that CI360 still processes
    log = FakeSyncLog()
    log.current = (Checkpoint("", "job-7", "2026-11-27T12:59:30+00:00", "2026-11-27T13:00:00+00:00"), [])
    api = FakePreferenceApi(*["Processing Preferences"] * 4)
    late = NOW.replace(hour=15, minute=1)
    sync = PreferenceSync(ledger=FakeConsentChanges([]), records=log, api=lambda: api, clock=lambda: late,
                          sleep=lambda _: None, polls=2, stuck_after_seconds=2 * 3600)  # fmt: skip
    # WHEN runs find it still pending after two hours THEN it is stuck, said so, and still followed (not resent)
    report = sync.run()
    assert (report.outcome, report.stuck, report.pending_seconds) == ("running", True, 7260)
    assert "STUCK: pending for 121 min; ask SAS support about job job-7" in "\n".join(report.lines())
    early = PreferenceSync(ledger=FakeConsentChanges([]), records=log, api=lambda: api, sleep=lambda _: None,
                           clock=lambda: NOW.replace(hour=14), polls=2, stuck_after_seconds=2 * 3600)  # fmt: skip
    assert early.run().stuck is False
    assert api.jobs == []


def test_a_run_finding_the_lease_held_does_nothing() -> None:
    api = FakePreferenceApi()
    sync, log = build([state(1)], api)
    log.lease = ("another-run", NOW.replace(hour=15))
    report = sync.run()
    assert report.outcome == "busy" and api.files == [] and log.current[0].through == ""
    log.lease = ("another-run", NOW.replace(hour=13))  # expired: taken over
    assert sync.run().outcome == "done"
    assert log.lease is None  # given back


def test_the_checkpoint_remembers_the_last_job_and_how_it_ended() -> None:
    api = FakePreferenceApi(JobStatus("Failed Validation", "bad header"))
    sync, log = build([state(1)], api, polls=1)
    sync.run()
    assert (log.current[0].last_job, log.current[0].last_outcome) == ("job-1", "Failed Validation: bad header")
    sync.run()
    assert (log.current[0].last_job, log.current[0].last_outcome) == ("job-2", "Imported")
