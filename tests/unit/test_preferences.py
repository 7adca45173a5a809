"""Consent as CI360 contact preferences: one preference per number, the import file, the job's states."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from smsbridge.domain.preferences import (
    GENERIC_IMPORT_JOB,
    SMS_IMPORT_JOB,
    Checkpoint,
    JobState,
    JobStatus,
    Preference,
    SmsIdFormat,
    job_state,
    job_types_to_try,
    preference_of,
    preferences_csv,
    sms_id,
)


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
    # SAS's validator takes only sms_id for SMS preferences: there is no way to send another identity type
    with pytest.raises(TypeError):
        preferences_csv([Preference("+1", True)], "subject_id")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("status", "state"),
    [
        # SAS's sample (contact_preference.py, upload_contact_preferences): the only statuses it knows
        ("Queued", JobState.RUNNING),
        ("Processing Identities", JobState.RUNNING),
        ("Processing Preferences", JobState.RUNNING),
        ("Processing", JobState.RUNNING),
        ("Imported", JobState.DONE),
        ("Failed Validation", JobState.FAILED),
        # tolerant of case and spacing; any "Failed…" ends the job
        (" imported ", JobState.DONE),
        ("Failed", JobState.FAILED),
        ("FAILED  VALIDATION", JobState.FAILED),
        # invented words are not taken as an end: followed as running, but reported as unknown
        ("Completed", JobState.UNKNOWN),
        ("Pending", JobState.UNKNOWN),
        ("", JobState.UNKNOWN),
    ],
)
def test_job_states_are_sas_statuses(status: str, state: JobState) -> None:
    assert job_state(status) is state


def test_a_job_status_carries_ci360s_description() -> None:
    failed = JobStatus("Failed Validation", "line 2: identity_type must be sms_id")
    assert (failed.state, failed.description) == (JobState.FAILED, "line 2: identity_type must be sms_id")


def test_pending_seconds_counts_from_when_the_job_was_sent() -> None:
    sent = Checkpoint("", "job-1", "2026-11-27T13:00:00+00:00", "2026-11-27T13:00:00+00:00")
    assert sent.pending_seconds(datetime(2026, 11, 27, 15, 30, tzinfo=UTC)) == 9000
    assert Checkpoint(through="2026-11-27T13:00:00+00:00").pending_seconds(datetime.now(UTC)) is None


def test_sms_id_is_e164_or_sas_s_example_form() -> None:
    assert sms_id("+14155550100") == sms_id("+14155550100", SmsIdFormat.E164) == "+14155550100"
    # SAS's example file: +01123125123 … +010123125123, "+0" then the E.164 digits
    assert sms_id("+14155550100", SmsIdFormat.SAS_EXAMPLE) == "+014155550100"
    content = preferences_csv([Preference("+447700900123", True)], sms_id_format=SmsIdFormat.SAS_EXAMPLE)
    assert content.decode().splitlines()[1] == "sms_id,+0447700900123,OPT-OUT,true"


def test_job_types_to_try_start_with_what_worked_and_fall_back_only_under_auto() -> None:
    assert job_types_to_try("auto") == [SMS_IMPORT_JOB, GENERIC_IMPORT_JOB]
    assert job_types_to_try("auto", GENERIC_IMPORT_JOB) == [GENERIC_IMPORT_JOB, SMS_IMPORT_JOB]
    assert job_types_to_try(SMS_IMPORT_JOB, GENERIC_IMPORT_JOB) == [SMS_IMPORT_JOB]
