"""The CI360 gateway stub enforces the external-event contract: JWT, media type, event shape, and injected faults."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from smsbridge.local.ci360_stub import IDENTITY_TYPES, Ci360Stub

TENANT = "a1b2c3d4e5f6tenant"
SECRET = "s3cr3t-client-secret"
EVENT = "sms_reply_received"
EVENTS = "/marketingGateway/events"


# -- an independent client ------------------------------------------------------------------------------------------


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def make_token(
    tenant: str = TENANT,
    secret: str = SECRET,
    *,
    header: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
) -> str:
    """SAS's recipe: HS256 keyed with the ASCII bytes of base64(secret), over header_b64 + "." + payload_b64."""
    header_b64 = b64url(compact(header if header is not None else {"alg": "HS256", "typ": "JWT"}))
    payload_b64 = b64url(compact(payload if payload is not None else {"clientID": tenant}))
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    key = base64.b64encode(secret.encode())
    signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    return f"{header_b64}.{payload_b64}.{b64url(signature)}"


@dataclass
class Answer:
    status: int
    body: str
    content_type: str

    def json(self) -> dict[str, Any]:
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value


def call(
    stub: Ci360Stub,
    path: str = EVENTS,
    *,
    method: str = "POST",
    body: Any = None,
    raw: bytes | None = None,
    token: str | None = "valid",
    authorization: str | None = None,
    content_type: str | None = "application/json",
    timeout: float = 3.0,
) -> Answer:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(stub.url + path, data=data, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {make_token() if token == 'valid' else token}")
    if authorization is not None:
        request.add_header("Authorization", authorization)
    if content_type is not None and data is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, response.read().decode(), response.headers.get("Content-Type", ""))
    except urllib.error.HTTPError as error:
        with error:
            return Answer(error.code, error.read().decode(), error.headers.get("Content-Type", ""))


def event(**attributes: Any) -> dict[str, Any]:
    return {"eventName": EVENT, "customer_id": "cust-42", **attributes}


@pytest.fixture
def stub() -> Iterator[Ci360Stub]:
    server = Ci360Stub(tenant_id=TENANT, client_secret=SECRET, event_names=[EVENT, "sms_opt_out"])
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- acceptance -----------------------------------------------------------------------------------------------------


def test_events_accepts_and_records_a_correctly_signed_event(stub: Ci360Stub) -> None:
    # GIVEN an event with one identity and flat attributes
    body = event(text="YES", count=3, ratio=0.5, opted_in=True)

    # WHEN it is posted with a token signed the SAS way
    answer = call(stub, body=body)

    # THEN it is accepted and recorded as sent
    assert answer.status == 201
    assert answer.json() == {"status": "accepted"}
    assert [received.body for received in stub.events()] == [body]
    assert stub.events()[0].received_at > 0
    assert stub.rejected == []


def test_events_accepts_a_header_without_typ(stub: Ci360Stub) -> None:
    token = make_token(header={"alg": "HS256"})
    assert call(stub, body=event(), token=token).status == 201


@pytest.mark.parametrize("identity", IDENTITY_TYPES)
def test_events_accepts_each_identity_type(stub: Ci360Stub, identity: str) -> None:
    body = {"eventName": EVENT, identity: "someone"}
    assert call(stub, body=body).status == 201


def test_events_accepts_a_content_type_with_charset(stub: Ci360Stub) -> None:
    assert call(stub, body=event(), content_type="application/json; charset=utf-8").status == 201


def test_events_keeps_arrival_order_and_clear_forgets_them(stub: Ci360Stub) -> None:
    for n in range(3):
        call(stub, body=event(n=n))
    call(stub, body=event(nested={"a": 1}))

    assert [received.body["n"] for received in stub.events()] == [0, 1, 2]
    assert len(stub.rejected) == 1

    stub.clear()

    assert stub.events() == []
    assert stub.rejected == []


# -- the JWT --------------------------------------------------------------------------------------------------------


def assert_refused(answer: Answer, status: int, code: str | None) -> None:
    assert answer.status == status, answer.body
    assert answer.content_type.startswith("application/json")
    assert answer.json().get("code") == code
    assert answer.json()["message"]


def test_events_refuses_a_token_signed_with_another_secret(stub: Ci360Stub) -> None:
    answer = call(stub, body=event(), token=make_token(secret="not-the-secret"))

    assert_refused(answer, 401, "MKTCMN74261")
    assert "does not match any access point" in answer.json()["message"]
    assert stub.events() == []
    assert stub.rejected[0][0] == 401


def test_events_refuses_a_token_keyed_with_the_raw_secret(stub: Ci360Stub) -> None:
    # GIVEN a token keyed with the secret's bytes instead of the base64 text of the secret
    header_b64 = b64url(compact({"alg": "HS256", "typ": "JWT"}))
    payload_b64 = b64url(compact({"clientID": TENANT}))
    digest = hmac.new(SECRET.encode(), f"{header_b64}.{payload_b64}".encode(), hashlib.sha256).digest()
    token = f"{header_b64}.{payload_b64}.{b64url(digest)}"

    # WHEN / THEN
    assert_refused(call(stub, body=event(), token=token), 401, "MKTCMN74261")


def test_events_refuses_another_tenant(stub: Ci360Stub) -> None:
    answer = call(stub, body=event(), token=make_token(tenant="someone-else"))

    assert_refused(answer, 401, "MKTCMN74248")
    assert stub.events() == []


@pytest.mark.parametrize(
    "payload",
    [
        {"clientID": TENANT, "exp": 9999999999},
        {"clientID": TENANT, "iat": 1},
        {"tenant": TENANT},
        {},
        {"clientID": 42},
    ],
    ids=["exp", "iat", "no-clientID", "empty", "clientID-not-a-string"],
)
def test_events_refuses_a_payload_other_than_exactly_client_id(stub: Ci360Stub, payload: dict[str, Any]) -> None:
    answer = call(stub, body=event(), token=make_token(payload=payload))

    assert_refused(answer, 401, "MKTCMN74224")


@pytest.mark.parametrize(
    "header",
    [{"alg": "HS512", "typ": "JWT"}, {"alg": "none", "typ": "JWT"}, {"typ": "JWT"}, {"alg": "HS256", "typ": "JWS"}],
    ids=["HS512", "none", "no-alg", "typ-not-JWT"],
)
def test_events_refuses_a_header_other_than_hs256(stub: Ci360Stub, header: dict[str, Any]) -> None:
    assert_refused(call(stub, body=event(), token=make_token(header=header)), 401, "MKTCMN74224")


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer a.b", "Bearer a.b.c.d", "Bearer !!!.@@@.###", "Bearer a.b."],
    ids=["missing", "empty", "basic", "no-token", "two-segments", "four-segments", "not-base64url", "no-signature"],
)
def test_events_refuses_a_missing_or_malformed_authorization(stub: Ci360Stub, authorization: str | None) -> None:
    answer = call(stub, body=event(), token=None, authorization=authorization)

    assert_refused(answer, 401, "MKTCMN74224")


def test_events_refuses_a_padded_token(stub: Ci360Stub) -> None:
    header_b64, payload_b64, signature_b64 = make_token().split(".")
    token = ".".join(part + "=" * (-len(part) % 4) for part in (header_b64, payload_b64, signature_b64))
    assert token != make_token()

    assert_refused(call(stub, body=event(), token=token), 401, "MKTCMN74224")


def test_events_checks_the_token_before_the_body(stub: Ci360Stub) -> None:
    answer = call(stub, raw=b"not json", content_type="text/plain", token=None)

    assert_refused(answer, 401, "MKTCMN74224")


# -- media type and body --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_events_refuses_a_body_that_is_not_declared_json(stub: Ci360Stub, content_type: str | None) -> None:
    answer = call(stub, raw=json.dumps(event()).encode(), content_type=content_type)

    assert_refused(answer, 415, None)


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[1, 2]", b'"text"', b'{"eventName": "x",', b"\xff\xfe", b'{"eventName": NaN}'],
    ids=["empty", "garbage", "array", "string", "truncated", "not-utf8", "nan"],
)
def test_events_refuses_a_body_that_is_not_a_json_object(stub: Ci360Stub, raw: bytes) -> None:
    assert_refused(call(stub, raw=raw), 400, None)


def test_events_refuses_duplicate_keys(stub: Ci360Stub) -> None:
    raw = b'{"eventName": "sms_reply_received", "customer_id": "a", "customer_id": "b"}'
    assert_refused(call(stub, raw=raw), 400, None)


@pytest.mark.parametrize("body", [{"customer_id": "c"}, {"eventName": 7, "customer_id": "c"}])
def test_events_requires_an_event_name(stub: Ci360Stub, body: dict[str, Any]) -> None:
    answer = call(stub, body=body)

    assert_refused(answer, 400, None)
    assert answer.json()["message"] == "eventName is required"


def test_events_refuses_an_unknown_event_name(stub: Ci360Stub) -> None:
    answer = call(stub, body=event(eventName="never_published"))

    assert_refused(answer, 400, None)
    assert answer.json()["message"] == "event never_published is not defined or not published"


def test_events_refuses_an_event_without_identity(stub: Ci360Stub) -> None:
    answer = call(stub, body={"eventName": EVENT, "text": "YES"})

    assert_refused(answer, 400, None)
    message = answer.json()["message"]
    assert "exactly one identity of datahub_id, customer_id, subject_id, login_id is required" in message
    assert "none" in message


def test_events_refuses_an_event_with_two_identities(stub: Ci360Stub) -> None:
    answer = call(stub, body=event(datahub_id="dh-1"))

    assert_refused(answer, 400, None)
    assert "got datahub_id, customer_id" in answer.json()["message"]


@pytest.mark.parametrize("value", ["", "   ", None, 42, ["a"]], ids=["empty", "blank", "null", "number", "list"])
def test_events_refuses_an_identity_that_is_not_a_non_empty_string(stub: Ci360Stub, value: Any) -> None:
    answer = call(stub, body={"eventName": EVENT, "subject_id": value})

    assert_refused(answer, 400, None)
    assert "subject_id" in answer.json()["message"]


@pytest.mark.parametrize("value", [{"a": 1}, [1, 2], None], ids=["object", "list", "null"])
def test_events_refuses_an_attribute_that_is_not_flat(stub: Ci360Stub, value: Any) -> None:
    answer = call(stub, body=event(details=value))

    assert_refused(answer, 400, None)
    assert answer.json()["message"] == "attribute details must be a flat value"
    assert stub.events() == []


# -- faults ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503])
def test_fail_next_answers_the_fault_status_then_recovers(stub: Ci360Stub, status: int) -> None:
    # GIVEN two failures to come
    stub.faults.fail_status = status
    stub.faults.fail_next = 2

    # WHEN three events are posted
    answers = [call(stub, body=event(n=n)) for n in range(3)]

    # THEN the first two fail, the third is accepted
    assert [answer.status for answer in answers] == [status, status, 201]
    assert answers[0].json() == {"message": "stub fault"}
    assert stub.faults.fail_next == 0
    assert [received.body["n"] for received in stub.events()] == [2]
    assert [refusal[0] for refusal in stub.rejected] == [status, status]


def test_fail_next_403_is_the_request_limit_without_a_ci360_code(stub: Ci360Stub) -> None:
    stub.faults.fail_status = 403
    stub.faults.fail_next = 1

    answer = call(stub, body=event())

    assert answer.status == 403
    assert answer.json() == {"message": "Forbidden: request limit exceeded"}
    assert "MKTCMN" not in answer.body


def test_fail_next_comes_before_the_jwt_checks(stub: Ci360Stub) -> None:
    stub.faults.fail_next = 1

    assert call(stub, body=event(), token=None).status == 503


def test_malformed_next_answers_502_html_then_recovers(stub: Ci360Stub) -> None:
    stub.faults.malformed_next = 1

    first, second = call(stub, body=event()), call(stub, body=event())

    assert (first.status, first.body) == (502, "<html>bad gateway</html>")
    assert first.content_type.startswith("text/html")
    assert second.status == 201
    assert stub.faults.malformed_next == 0


def test_latency_still_answers(stub: Ci360Stub) -> None:
    stub.faults.latency = 0.05

    assert call(stub, body=event()).status == 201
    assert len(stub.events()) == 1


def test_down_drops_the_connection_without_an_answer(stub: Ci360Stub) -> None:
    stub.faults.down = True

    with pytest.raises((ConnectionError, urllib.error.URLError)) as raised:
        call(stub, body=event())

    # http.client's RemoteDisconnected, or a reset, possibly wrapped by urllib: never an HTTP answer
    assert not isinstance(raised.value, urllib.error.HTTPError)
    if isinstance(raised.value, urllib.error.URLError):
        assert isinstance(raised.value.reason, ConnectionError)
    assert stub.rejected == [(0, "fault: connection dropped")]
    assert stub.events() == []

    # WHEN the gateway comes back THEN it answers again
    stub.faults.down = False
    assert call(stub, body=event()).status == 201


def test_hang_outlasts_a_short_client_timeout(stub: Ci360Stub) -> None:
    # GIVEN a gateway that hangs much longer than the client waits (stop() wakes it)
    stub.faults.hang = 30.0

    # WHEN / THEN the client times out
    with pytest.raises((TimeoutError, urllib.error.URLError)) as raised:
        call(stub, body=event(), timeout=0.2)

    if isinstance(raised.value, urllib.error.URLError):
        assert isinstance(raised.value.reason, TimeoutError)
    assert stub.events() == []


# -- other routes ---------------------------------------------------------------------------------------------------


def test_healthcheck_is_up_without_authentication(stub: Ci360Stub) -> None:
    answer = call(stub, "/marketingGateway/commons/healthcheck", method="GET", token=None)

    assert answer.status == 200
    assert answer.json() == {"status": "UP"}


def test_configuration_answers_a_valid_token(stub: Ci360Stub) -> None:
    answer = call(stub, "/marketingGateway/configuration", method="GET")

    assert answer.status == 200
    assert answer.json() == {"agentName": "smsbridge-stub", "type": "general"}


@pytest.mark.parametrize(
    ("token", "code"),
    [(None, "MKTCMN74224"), (make_token(secret="wrong"), "MKTCMN74261"), (make_token(tenant="other"), "MKTCMN74248")],
    ids=["missing", "wrong-secret", "wrong-tenant"],
)
def test_configuration_checks_the_jwt(stub: Ci360Stub, token: str | None, code: str) -> None:
    answer = call(stub, "/marketingGateway/configuration", method="GET", token=token)

    assert_refused(answer, 401, code)


def test_unknown_path_is_404(stub: Ci360Stub) -> None:
    assert call(stub, "/marketingGateway/nothing", body=event()).status == 404
    assert call(stub, "/", method="GET").status == 404


def test_events_with_get_is_405(stub: Ci360Stub) -> None:
    assert call(stub, EVENTS, method="GET").status == 405


# -- wait_for and life cycle ----------------------------------------------------------------------------------------


def test_wait_for_returns_once_events_arrive(stub: Ci360Stub) -> None:
    # GIVEN events posted from another thread
    posters = [threading.Thread(target=call, args=(stub,), kwargs={"body": event(n=n)}) for n in range(3)]
    for poster in posters:
        poster.start()

    # WHEN waiting for them
    received = stub.wait_for(3, timeout=3.0)

    # THEN all three are there
    for poster in posters:
        poster.join()
    assert sorted(item.body["n"] for item in received) == [0, 1, 2]


def test_wait_for_gives_up_after_the_timeout(stub: Ci360Stub) -> None:
    call(stub, body=event())

    assert len(stub.wait_for(2, timeout=0.05)) == 1


def test_stub_url_is_the_bound_loopback_port(stub: Ci360Stub) -> None:
    assert stub.port > 0
    assert stub.url == f"http://127.0.0.1:{stub.port}"


def test_stub_refuses_connections_once_stopped() -> None:
    server = Ci360Stub(tenant_id=TENANT, client_secret=SECRET, event_names=[EVENT])
    server.start()
    url = server.url
    server.stop()
    server.stop()  # idempotent

    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/marketingGateway/commons/healthcheck", timeout=1)


# -- contact preferences (SAS's contact_preference.py flow) ----------------------------------------------------------

GOOD_FILE = b"identity_type,identity_value,preference_type,preference_value\nsms_id,+14155550100,OPT-OUT,true\n"


def start_import(
    stub: Ci360Stub, content: bytes = GOOD_FILE, job_type: str = "CONTACT_PREFERENCE_SMS_IMPORT"
) -> Answer:
    signed_url = call(stub, "/marketingData/fileTransferLocation", body={}).json()["signedURL"]
    upload = call(stub, signed_url.removeprefix(stub.url), method="PUT", raw=content, token=None,
                  content_type="text/csv")  # fmt: skip
    assert upload.status == 200
    return call(stub, "/marketingData/tableJobs", body={"jobType": job_type, "fileLocation": signed_url,
                                                        "headerRowIncluded": True})  # fmt: skip


def statuses(stub: Ci360Stub, job_id: str, polls: int) -> list[dict[str, Any]]:
    return [call(stub, f"/marketingData/tableJobs/{job_id}", method="GET").json() for _ in range(polls)]


def test_preference_job_walks_sas_statuses_one_per_poll(stub: Ci360Stub) -> None:
    started = start_import(stub)
    assert started.status == 201 and started.json()["status"] == "Queued"
    walked = [answer["status"] for answer in statuses(stub, started.json()["id"], 5)]
    assert walked == ["Queued", "Processing Identities", "Processing Preferences", "Imported", "Imported"]
    assert stub.preferences.current == {("sms_id", "+14155550100"): True}


def test_a_file_sas_would_refuse_fails_validation_with_a_description(stub: Ci360Stub) -> None:
    started = start_import(stub, GOOD_FILE.replace(b"sms_id,", b"subject_id,"))
    final = statuses(stub, started.json()["id"], 3)[-1]
    assert final == {"id": started.json()["id"], "jobType": "CONTACT_PREFERENCE_SMS_IMPORT",
                     "status": "Failed Validation",
                     "statusDescription": "line 2: identity_type must be sms_id for SMS preferences"}  # fmt: skip
    assert stub.preferences.current == {}


def test_fail_next_jobs_fails_validation_with_the_given_description(stub: Ci360Stub) -> None:
    stub.preferences.fail_next_jobs = 1
    stub.preferences.failure_description = "Import rejected by the tenant"
    failed = statuses(stub, start_import(stub).json()["id"], 3)[-1]
    assert (failed["status"], failed["statusDescription"]) == ("Failed Validation", "Import rejected by the tenant")
    assert statuses(stub, start_import(stub).json()["id"], 4)[-1]["status"] == "Imported"  # only the next one


def test_preference_import_refuses_another_job_type_and_an_upload_not_as_text_csv(stub: Ci360Stub) -> None:
    assert start_import(stub, job_type="CONTACT_PREFERENCE_IMPORT").status == 400
    signed_url = call(stub, "/marketingData/fileTransferLocation", body={}).json()["signedURL"]
    refused = call(stub, signed_url.removeprefix(stub.url), method="PUT", raw=GOOD_FILE, token=None,
                   content_type="application/octet-stream")  # fmt: skip
    assert refused.status == 403 and "SignatureDoesNotMatch" in refused.json()["message"]
