"""The CI360 contracts no vendor source settles, each a deployment setting, against the stub playing a tenant
that answers one way or the other: the attributes' shape (Ci360AttributeShape), the import job type
(Ci360PreferenceJobType, with its fallback) and the form of sms_id (Ci360SmsIdFormat)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from smsbridge.adapters.ci360 import Ci360Credentials, Ci360Gateway, JobTypeRefused
from smsbridge.adapters.consent_table import ConsentLedger
from smsbridge.adapters.sync_records import SyncRecords
from smsbridge.app.preferences import PreferenceSync
from smsbridge.config import Settings
from smsbridge.domain.ci360_events import (
    AttributeShape,
    Correlation,
    EventKind,
    EventMapping,
    PendingEvent,
    with_identity,
)
from smsbridge.domain.delivery import Outcome
from smsbridge.domain.preferences import (
    GENERIC_IMPORT_JOB,
    SMS_IMPORT_JOB,
    Preference,
    SmsIdFormat,
    preferences_csv,
)
from smsbridge.errors import ConfigurationError
from smsbridge.local.ci360_stub import Ci360Stub, StubContract
from smsbridge.local.server import STUB_SECRET as SECRET
from smsbridge.local.server import STUB_TENANT as TENANT
from tests.integration.conftest import Stack
from tests.integration.test_preference_sync import CUSTOMER, reply

REPLY = PendingEvent(EventKind.REPLY, "reply:SM1", CUSTOMER, "+15005550006",
                     {"message_sid": "SM1", "intent": "reply", "reply_text": "hello"})  # fmt: skip


def tenant(contract: StubContract) -> Ci360Stub:
    return Ci360Stub(tenant_id=TENANT, client_secret=SECRET, event_names=["SMS Reply"], contract=contract)


def gateway(stub: Ci360Stub) -> Ci360Gateway:
    return Ci360Gateway(Ci360Credentials(stub.url, TENANT, SECRET), max_connections=1, timeout=5)


def reply_body(shape: AttributeShape) -> dict[str, Any]:
    event = with_identity(REPLY, EventMapping(attribute_shape=shape), Correlation("DH1", "TSK_1"), "hold")
    assert event is not None
    return event.body()


# -- Ci360AttributeShape ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", list(AttributeShape))
def test_a_tenant_takes_the_attribute_shape_it_reads_and_refuses_the_other(shape: AttributeShape) -> None:
    other = AttributeShape.NESTED if shape is AttributeShape.FLAT else AttributeShape.FLAT
    with tenant(StubContract(attribute_shape=shape)) as stub:
        taken = gateway(stub).send(reply_body(shape))
        refused = gateway(stub).send(reply_body(other))
        [event] = stub.events()
    assert taken.outcome is Outcome.ACCEPTED
    assert event.attributes == {"message_sid": "SM1", "intent": "reply", "reply_text": "hello", "event_id": "reply:SM1",
                                "task_code": "TSK_1"}  # fmt: skip
    assert (event.body["eventName"], event.body["datahub_id"]) == ("SMS Reply", "DH1")
    assert ("attributes" in event.body) is (shape is AttributeShape.NESTED)
    assert refused.outcome is Outcome.REJECTED and f"Ci360AttributeShape={shape}" in refused.reason


def test_the_stub_plays_the_tenant_a_deployment_s_settings_expect() -> None:
    tables = {"MESSAGES_TABLE": "m", "CONSENT_TABLE": "c"}
    assert StubContract.of(Settings.from_env(tables)) == StubContract()
    chosen = Settings.from_env({**tables, "CI360_ATTRIBUTE_SHAPE": "nested", "CI360_SMS_ID_FORMAT": "sas_example",
                                "CI360_PREFERENCE_JOB_TYPE": GENERIC_IMPORT_JOB})  # fmt: skip
    assert StubContract.of(chosen) == StubContract(AttributeShape.NESTED, SmsIdFormat.SAS_EXAMPLE,
                                                   frozenset({GENERIC_IMPORT_JOB}))  # fmt: skip


# -- Ci360SmsIdFormat ------------------------------------------------------------------------------------------------


def import_file(stub: Ci360Stub, content: bytes) -> dict[str, Any]:
    """Upload ``content``, start its job and poll it to its end: CI360's last answer."""
    api = gateway(stub)
    location = api.file_location()
    api.upload(location, content)
    job = api.start_preference_import(location, SMS_IMPORT_JOB)
    status = api.job_status(job)
    while status.status not in ("Imported", "Failed Validation"):
        status = api.job_status(job)
    return {"status": status.status, "description": status.description}


@pytest.mark.parametrize("form", list(SmsIdFormat))
def test_a_tenant_imports_numbers_in_the_form_it_holds_them_in_and_fails_the_other(form: SmsIdFormat) -> None:
    other = SmsIdFormat.SAS_EXAMPLE if form is SmsIdFormat.E164 else SmsIdFormat.E164
    preferences = [Preference(CUSTOMER, True)]
    with tenant(StubContract(sms_id_format=form)) as stub:
        taken = import_file(stub, preferences_csv(preferences, sms_id_format=form))
        refused = import_file(stub, preferences_csv(preferences, sms_id_format=other))
        held = dict(stub.preferences.current)
    assert taken == {"status": "Imported", "description": ""}
    assert held == {("sms_id", "+014155550100" if form is SmsIdFormat.SAS_EXAMPLE else CUSTOMER): True}
    assert refused["status"] == "Failed Validation" and "Ci360SmsIdFormat" in refused["description"]


# -- Ci360PreferenceJobType ------------------------------------------------------------------------------------------


def test_a_tenant_that_refuses_the_sms_job_type_answers_a_4xx_the_gateway_reports_as_such() -> None:
    with tenant(StubContract(job_types=frozenset({GENERIC_IMPORT_JOB}))) as stub:
        api = gateway(stub)
        location = api.file_location()
        api.upload(location, preferences_csv([Preference(CUSTOMER, True)]))
        with pytest.raises(JobTypeRefused) as refused:
            api.start_preference_import(location, SMS_IMPORT_JOB)
        assert api.start_preference_import(location, GENERIC_IMPORT_JOB)  # the same file, the other type
    assert refused.value.job_type == SMS_IMPORT_JOB and refused.value.reason.startswith("400")


@pytest.fixture
def generic_tenant(stack: Stack) -> Iterator[Ci360Stub]:
    with tenant(StubContract(job_types=frozenset({GENERIC_IMPORT_JOB}))) as running:
        credentials = {"gateway_url": running.url, "tenant_id": TENANT, "client_secret": SECRET}
        stack.secrets.put_secret_value(SecretId=stack.resources.name_of("Ci360Secret"),
                                       SecretString=json.dumps(credentials))  # fmt: skip
        yield running


def sync_with(stack: Stack, stub: Ci360Stub, job_type: str = "auto") -> PreferenceSync:
    api = gateway(stub)
    return PreferenceSync(ledger=ConsentLedger(stack.consent_table, client=stack.dynamodb),
                          records=SyncRecords(stack.messages_table, client=stack.dynamodb), api=lambda: api,
                          poll_seconds=0, settle_seconds=0, sleep=lambda _: None, job_type=job_type)  # fmt: skip


def test_auto_falls_back_to_the_generic_job_type_records_it_and_starts_there_next_time(
    stack: Stack, generic_tenant: Ci360Stub
) -> None:
    reply(stack, "STOP")
    first = sync_with(stack, generic_tenant).run()
    assert (first.outcome, first.job_type) == ("done", GENERIC_IMPORT_JOB)
    assert first.job_type_refused.startswith(f"{SMS_IMPORT_JOB}: 400")
    assert generic_tenant.preferences.current == {("sms_id", CUSTOMER): True}
    assert any(f"job type {GENERIC_IMPORT_JOB} (fallback: CI360 refused {SMS_IMPORT_JOB}" in line
               for line in first.lines())  # fmt: skip
    refusals = len(generic_tenant.rejected)
    reply(stack, "START")
    second = sync_with(stack, generic_tenant).run()  # a new container: what worked comes from the sync record
    assert (second.outcome, second.job_type) == ("done", GENERIC_IMPORT_JOB)
    assert len(generic_tenant.rejected) == refusals  # the refused type was not tried again
    assert second.job_type_refused == first.job_type_refused  # still reported while the fallback is in use
    checkpoint, _ = SyncRecords(stack.messages_table, client=stack.dynamodb).checkpoint()
    assert (checkpoint.job_type, checkpoint.job_type_refused) == (GENERIC_IMPORT_JOB, first.job_type_refused)


def test_a_job_type_set_explicitly_is_the_only_one_tried(stack: Stack, generic_tenant: Ci360Stub) -> None:
    reply(stack, "STOP")
    with pytest.raises(ConfigurationError, match=f"refused job type {SMS_IMPORT_JOB}.*Ci360PreferenceJobType"):
        sync_with(stack, generic_tenant, SMS_IMPORT_JOB).run()
    assert sync_with(stack, generic_tenant, GENERIC_IMPORT_JOB).run().job_type_refused == ""
