"""Consent as CI360 contact preferences: one preference per number, the import file, the job's states."""

from __future__ import annotations

import pytest

from smsbridge.domain.preferences import JobState, Preference, job_state, preference_of, preferences_csv


def test_opted_out_for_any_sender_is_opted_out_in_ci360() -> None:
    states = [{"status": "opted_in", "scope": "+14155550199"}, {"status": "opted_out", "scope": "MG" + "1" * 32}]
    assert preference_of("+14155550100", states) == Preference("+14155550100", True)
    assert preference_of("+14155550100", states[:1]).opted_out is False
    assert preference_of("+14155550100", []).opted_out is False


def test_import_file_has_the_sample_columns() -> None:
    content = preferences_csv([Preference("+14155550100", True), Preference("+14155550101", False)])
    assert content.decode().splitlines() == [
        "identity_type,identity_value,preference_type,preference_value",
        "sms_id,+14155550100,OPT-OUT,true",
        "sms_id,+14155550101,OPT-OUT,false",
    ]
    assert preferences_csv([Preference("+1", True)], "subject_id").decode().splitlines()[1].startswith("subject_id,")


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("Completed", JobState.DONE),
        ("COMPLETE", JobState.DONE),
        ("Failed", JobState.FAILED),
        ("Error", JobState.FAILED),
        ("Running", JobState.RUNNING),
        ("Pending", JobState.RUNNING),
        ("", JobState.RUNNING),
    ],
)
def test_job_states(status: str, state: JobState) -> None:
    assert job_state(status) is state
