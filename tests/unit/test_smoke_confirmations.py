"""`smsbridge smoke --stack` says, for each CI360 contract smsbridge cannot check from outside, how to confirm the
deployment's setting in CI360, before its verdict line."""

from __future__ import annotations

from smsbridge.config import Settings
from smsbridge.domain.preferences import GENERIC_IMPORT_JOB, SMS_IMPORT_JOB, Checkpoint
from smsbridge.ops.smoke import Hop, SmokeReport, confirmations

TABLES = {"MESSAGES_TABLE": "m", "CONSENT_TABLE": "c"}


def test_each_unsettled_contract_says_where_to_look_and_what_to_change_if_it_is_not_so() -> None:
    lines = confirmations(Settings.from_env(TABLES), Checkpoint())
    assert lines[0].startswith("confirm in CI360")
    [shape] = [line for line in lines if "Ci360AttributeShape=flat" in line]
    assert "Snowy" in shape and "'smsbridge smoke test'" in shape and "Ci360AttributeShape=nested" in shape
    [job] = [line for line in lines if "Ci360PreferenceJobType=auto" in line]
    assert f"{SMS_IMPORT_JOB}, not yet used" in job and "OPT-OUT true" in job
    [form] = [line for line in lines if "Ci360SmsIdFormat=e164" in line]
    assert "+14155550100" in form and "+014155550100" in form and "Ci360SmsIdFormat=sas_example" in form


def test_a_recorded_fallback_and_the_chosen_settings_are_named() -> None:
    settings = Settings.from_env({**TABLES, "CI360_ATTRIBUTE_SHAPE": "nested", "CI360_SMS_ID_FORMAT": "sas_example"})
    refused = f"{SMS_IMPORT_JOB}: 400 invalid jobType"
    lines = confirmations(settings, Checkpoint(job_type=GENERIC_IMPORT_JOB, job_type_refused=refused))
    text = "\n".join(lines)
    assert "Ci360AttributeShape=nested" in text and "redeploy with Ci360AttributeShape=flat" in text
    assert f"({GENERIC_IMPORT_JOB}; CI360 refused {refused}; Ci360PreferenceJobType=auto)" in text
    assert "Ci360SmsIdFormat=sas_example: +014155550100" in text and "redeploy with Ci360SmsIdFormat=e164" in text


def test_the_verdict_stays_the_last_line() -> None:
    report = SmokeReport([Hop("webhook reply", ok=True)], confirmations=["confirm in CI360: …"])
    assert report.lines()[-2:] == ["confirm in CI360: …", "all hops passed"]
