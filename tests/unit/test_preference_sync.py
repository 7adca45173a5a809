"""The sync's checkpoint rules with fake ports: it moves only past what CI360 confirmed, and never skips a change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from smsbridge.preference_sync import PreferenceSync
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
        clock=lambda: NOW,
        sleep=lambda _: None,
        polls=2,
        **options,
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
    api = FakePreferenceApi("Failed")
    sync, log = build([state(1)], api)
    assert sync.run().outcome == "failed"
    assert log.current[0].through == "" and not log.synced
    assert sync.run().outcome == "done"
    assert api.files[0] == api.files[1]  # the same file, sent again
    assert log.synced == {"+14155550001": True}


def test_running_job_is_followed_next_run_without_a_second_upload() -> None:
    api = FakePreferenceApi("Running", "Running", "Running", "Completed")
    sync, log = build([state(1)], api)
    assert sync.run().outcome == "running"
    assert log.current[0].pending_job == "job-1"
    assert sync.run().outcome == "done"
    assert api.jobs == ["job-1"] and len(api.files) == 1


def test_a_job_that_failed_while_pending_is_sent_again_in_the_same_run() -> None:
    api = FakePreferenceApi("Running", "Running", "Failed", "Completed")
    sync, log = build([state(1)], api)
    assert sync.run().outcome == "running"
    assert sync.run().outcome == "done"
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
