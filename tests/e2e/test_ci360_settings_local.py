"""`smsbridge serve --parameter-overrides Ci360AttributeShape=nested Ci360SmsIdFormat=sas_example
Ci360PreferenceJobType=CONTACT_PREFERENCE_IMPORT`: the local stack's forwarder sends nested attributes to a CI360 stub
that reads them so (and refuses flat ones), `smoke --local` passes against it, and `ci360 sync-preferences --local`
writes numbers in the form, under the job type, the stack is set to."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from moto.moto_api._internal.models import moto_api_backend

from smsbridge.cli import main
from smsbridge.domain.ci360_events import SMOKE_EVENT_NAME, AttributeShape
from smsbridge.domain.preferences import GENERIC_IMPORT_JOB, SmsIdFormat
from smsbridge.local.server import LocalStack
from smsbridge.ops.simulate import TEST_AUTH_TOKEN

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def nested_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    saved = dict(os.environ)  # the local stack points boto3 at its moto server through the environment
    moto_api_backend.reset()  # moto keeps its state per process: another module's stack left its tables behind
    overrides = ["Ci360AttributeShape=nested", "Ci360SmsIdFormat=sas_example",
                 f"Ci360PreferenceJobType={GENERIC_IMPORT_JOB}"]  # fmt: skip
    running = LocalStack(auth_token=TEST_AUTH_TOKEN, port=0, sync_seconds=0, retry_base_seconds=1,
                         state_file=tmp_path_factory.mktemp("nested") / "local.json", echo=lambda _: None,
                         parameter_overrides=overrides)  # fmt: skip
    running.start()
    try:
        yield running
    finally:
        running.stop()
        moto_api_backend.reset()  # and leaves none behind for the next module's stack
        os.environ.clear()
        os.environ.update(saved)


def test_serve_with_nested_attributes_sends_them_nested_and_smoke_passes(
    nested_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stub = nested_stack.stub
    assert stub is not None
    assert (stub.contract.attribute_shape, stub.contract.sms_id_format) == (AttributeShape.NESTED,
                                                                            SmsIdFormat.SAS_EXAMPLE)  # fmt: skip
    capsys.readouterr()
    code = main(["smoke", "--local", "--state-file", str(nested_stack.state_file)])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0 and lines[-1] == "all hops passed", "\n".join(lines)
    smoke_events = [event for event in stub.events() if event.body["eventName"] == SMOKE_EVENT_NAME]
    assert smoke_events
    for event in smoke_events:
        assert set(event.body) == {"eventName", "datahub_id", "attributes"}
        assert event.attributes["message_sid"].startswith("SM")
    assert not any(line.startswith("confirm in CI360") for line in lines)  # --stack only


def test_sync_preferences_from_the_command_line_uses_the_stacks_sms_id_form_and_job_type(
    nested_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stub = nested_stack.stub
    assert stub is not None
    # GIVEN a customer texts STOP to the stack set to Ci360SmsIdFormat=sas_example, CONTACT_PREFERENCE_IMPORT
    customer, state = "+14155550177", str(nested_stack.state_file)
    assert main(["simulate", "inbound", "--url", f"{nested_stack.base_url}/twilio/inbound", "--from", customer,
                 "--body", "STOP"]) == 0  # fmt: skip
    capsys.readouterr()
    # WHEN an operator runs the sync from the command line (no scheduled run has used the settings before it)
    code = main(["ci360", "sync-preferences", "--local", "--state-file", state, "--settle", "0"])
    out = capsys.readouterr().out
    # THEN CI360 gets the number as the tenant holds it (+0 then the E.164 digits), under the stack's job type only
    assert code == 0 and out.startswith("done:"), out
    assert stub.preferences.current.get(("sms_id", "+0" + customer[1:])) is True
    assert ("sms_id", customer) not in stub.preferences.current
    assert {job["jobType"] for job in stub.preferences.jobs.values()} == {GENERIC_IMPORT_JOB}
