"""The webhook Lambda end to end in one process: API Gateway events in, DynamoDB (moto) records out."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.stub import Stubber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsbridge.ops.simulate import TEST_AUTH_TOKEN, inbound_params, status_params
from smsbridge.ops.twilio_setup import DEFAULT_URL_FRAGMENT
from tests.conftest import (
    API_BASE,
    LambdaContext,
    form_body,
    function_url_event,
    http_api_event,
    rest_api_event,
    signed_headers,
)
from tests.integration.conftest import Stack

INBOUND_URL = f"{API_BASE}/twilio/inbound"
STATUS_URL = f"{API_BASE}/twilio/status"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def post(stack: Stack, url: str, params: list[tuple[str, str]], **overrides: Any) -> dict[str, Any]:
    headers = {**signed_headers(url, params), **overrides.pop("headers", {})}
    event = http_api_event(url, form_body(params), headers, **overrides)
    return stack.handler.lambda_handler(event, LambdaContext())  # type: ignore[no-any-return]


def attribute(item: dict[str, Any], name: str) -> Any:
    return next(iter(item[name].values()))


class TestInbound:
    def test_stop_is_recorded_and_answered_with_empty_twiml(self, stack: Stack) -> None:
        # GIVEN a signed STOP reply WHEN Twilio posts it
        params = inbound_params(body="STOP")
        answer = post(stack, INBOUND_URL, params)
        # THEN Twilio gets an empty TwiML answer and the message is on record with its sender and scope
        assert answer["statusCode"] == 200
        assert answer["headers"]["Content-Type"] == "text/xml"
        assert answer["body"] == EMPTY_TWIML
        [item] = stack.items()
        assert attribute(item, "pk") == f"MSG#{dict(params)['MessageSid']}"
        assert attribute(item, "sender") == dict(params)["From"]
        assert attribute(item, "scope") == dict(params)["To"]
        assert attribute(item, "intent") == "opt_out"
        assert attribute(item, "keyword") == "STOP"
        assert "body" not in item
        assert attribute(item, "delivery_id") == "50609cf4-07f3-4e3f-ac42-044bd13bbc6c"
        assert "FromCity" not in item["fields"]["M"]  # blanks are signed, not stored
        assert item["fields"]["M"]["ApiVersion"] == {"S": "2010-04-01"}

    def test_same_webhook_twice_is_one_record(self, stack: Stack) -> None:
        params = inbound_params(body="START")
        assert post(stack, INBOUND_URL, params)["statusCode"] == 200
        assert post(stack, INBOUND_URL, params)["statusCode"] == 200
        assert len(stack.items()) == 1

    @pytest.mark.parametrize("front_door", ["http_api", "function_url", "rest_api"])
    def test_every_front_door_is_accepted(self, stack: Stack, front_door: str) -> None:
        # GIVEN the URL Twilio calls through each kind of front door (REST API with its stage prefix)
        url = {
            "http_api": INBOUND_URL,
            "function_url": "https://a1b2c3d4e5.lambda-url.us-east-1.on.aws/twilio/inbound",
            "rest_api": f"{API_BASE}/prod/twilio/inbound",
        }[front_door]
        params = inbound_params(body="Hello")
        build = {"http_api": http_api_event, "function_url": function_url_event, "rest_api": rest_api_event}[front_door]
        # WHEN the event arrives THEN it is verified and recorded
        answer = stack.handler.lambda_handler(
            build(url, form_body(params), signed_headers(url, params)), LambdaContext()
        )
        assert answer["statusCode"] == 200, answer["body"]
        assert len(stack.items()) == 1

    def test_forged_webhook_gets_403_writes_nothing_and_is_counted(
        self, stack: Stack, capsys: pytest.CaptureFixture[str]
    ) -> None:
        params = inbound_params(body="STOP")
        answer = post(stack, INBOUND_URL, params, headers=signed_headers(INBOUND_URL, params, token="f" * 32))
        assert answer["statusCode"] == 403
        assert "does not match" in answer["body"]
        assert stack.items() == []
        emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
        assert [doc["Rejected_bad_signature"] for doc in emf if "Rejected_bad_signature" in doc] == [[1.0]]


class TestStatus:
    def test_out_of_order_callbacks_end_at_the_highest_status(self, stack: Stack) -> None:
        # GIVEN callbacks for one message arriving delivered, sent, queued, delivered again
        sid = "SM" + "c" * 32
        url = f"{STATUS_URL}?o=task42"
        answers = [
            post(stack, url, status_params(status=s, message_sid=sid))["statusCode"]
            for s in ("delivered", "sent", "queued", "delivered")
        ]
        # THEN each is acknowledged, and the record stays delivered with one forward move in its history
        assert answers == [204, 204, 204, 204]
        [item] = stack.items()
        assert attribute(item, "status") == "delivered"
        assert [entry["M"]["status"]["S"] for entry in item["history"]["L"]] == ["delivered"]
        assert attribute(item, "callback_query") == "o=task42"

    def test_forward_moves_are_all_kept(self, stack: Stack) -> None:
        sid = "SM" + "d" * 32
        for status in ("sent", "undelivered"):
            post(
                stack,
                STATUS_URL,
                status_params(status=status, message_sid=sid, error_code="30006" * (status != "sent")),
            )
        [item] = stack.items()
        assert attribute(item, "status") == "undelivered"
        assert attribute(item, "error_code") == "30006"
        assert [e["M"]["status"]["S"] for e in item["history"]["L"]] == ["sent", "undelivered"]

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        order=st.permutations(["queued", "sent", "delivered", "read"]), repeats=st.lists(st.integers(0, 3), max_size=4)
    )
    def test_any_order_with_repeats_never_regresses(self, stack: Stack, order: list[str], repeats: list[int]) -> None:
        sid = "SM" + uuid.uuid4().hex
        sequence = order + [order[i] for i in repeats]
        for status in sequence:
            post(stack, STATUS_URL, status_params(status=status, message_sid=sid))
        item = stack.dynamodb.get_item(
            TableName=stack.messages_table, Key={"pk": {"S": f"MSG#{sid}"}, "sk": {"S": "STATUS"}}
        )
        assert item["Item"]["status"] == {"S": "read"}
        ranks = [int(e["M"].get("rank", {"N": "0"})["N"]) for e in item["Item"]["history"]["L"]]
        assert ranks == sorted(ranks)
        statuses = [e["M"]["status"]["S"] for e in item["Item"]["history"]["L"]]
        assert len(statuses) == len(set(statuses))


class TestRefusals:
    def test_get_is_405_with_allow_header(self, stack: Stack) -> None:
        answer = post(stack, INBOUND_URL, inbound_params(), method="GET")
        assert answer["statusCode"] == 405
        assert "POST" in answer["body"]
        assert answer["headers"]["Allow"] == "POST"

    def test_oversized_body_is_413(self, stack: Stack) -> None:
        answer = post(stack, INBOUND_URL, inbound_params(body="x" * 70_000))
        assert answer["statusCode"] == 413
        assert "65536" in answer["body"] and "MAX_BODY_BYTES" not in answer["body"]  # settings: the log only
        assert "MAX_BODY_BYTES" in stack.logs.getvalue()

    def test_json_content_type_without_body_hash_is_refused(self, stack: Stack) -> None:
        answer = post(stack, INBOUND_URL, inbound_params(), headers={"content-type": "text/plain"})
        assert answer["statusCode"] == 415

    def test_signed_webhook_with_bad_field_is_400_naming_it(self, stack: Stack) -> None:
        params = status_params(status="teleported")
        answer = post(stack, STATUS_URL, params)
        assert answer["statusCode"] == 400
        assert "MessageStatus" in answer["body"]
        assert stack.items() == []


class TestOwnFailures:
    def test_dynamodb_failure_is_503_then_the_retry_records_once(self, stack: Stack) -> None:
        # GIVEN DynamoDB throttles the first write
        params = inbound_params(body="STOP")
        with Stubber(stack.handler.service.store.client) as stub:
            stub.add_client_error("put_item", service_error_code="ProvisionedThroughputExceededException")
            answer = post(stack, INBOUND_URL, params)
        # THEN Twilio gets a 5xx (so its retry policy can retry) and nothing is half-written
        assert answer["statusCode"] == 503
        assert stack.items() == []
        # WHEN Twilio retries THEN the message is recorded exactly once
        assert post(stack, INBOUND_URL, params)["statusCode"] == 200
        assert post(stack, INBOUND_URL, params)["statusCode"] == 200
        assert len(stack.items()) == 1

    def test_empty_token_secret_refuses_every_webhook(self, stack: Stack) -> None:
        stack.set_tokens('{"default": []}')
        stack.handler.service.tokens.secret._next_read = 0  # the cache expires
        answer = post(stack, INBOUND_URL, inbound_params())
        assert answer["statusCode"] == 503
        assert "secret" not in answer["body"].lower() and "TWILIO" not in answer["body"]
        assert "no Twilio auth token" in stack.logs.getvalue()
        assert stack.items() == []

    def test_unset_token_secret_is_logged_at_start(self, stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
        from tests.integration.conftest import load_webhook_module

        monkeypatch.delenv("TWILIO_AUTH_TOKENS_SECRET")
        module = load_webhook_module(stack.logs)
        assert "TWILIO_AUTH_TOKENS_SECRET is not set" in stack.logs.getvalue()
        params = inbound_params()
        event = http_api_event(INBOUND_URL, form_body(params), signed_headers(INBOUND_URL, params))
        answer = module.lambda_handler(event, LambdaContext())
        assert answer["statusCode"] == 503


def test_logs_hold_no_phone_number_body_or_token(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    params = inbound_params(body="my secret words", sender="+14155557777")
    post(stack, INBOUND_URL, params)
    post(stack, INBOUND_URL, params, headers=signed_headers(INBOUND_URL, params, token="f" * 32))
    post(stack, STATUS_URL, status_params(recipient="+14155557777", status="failed", error_code="21610"))
    logs = stack.logs.getvalue() + capsys.readouterr().out
    assert "inbound accepted" in logs
    assert "webhook rejected" in logs
    for secret in ("+14155557777", "4155557777", "my secret words", TEST_AUTH_TOKEN, "f" * 32):
        assert secret not in logs


headers_st = st.dictionaries(
    st.sampled_from(
        [
            "content-type",
            "x-twilio-signature",
            "content-encoding",
            "x-twilio-webhooks-signature-settings",
            "i-twilio-idempotency-token",
        ]
    ),
    st.one_of(
        st.text(max_size=40),
        st.sampled_from(
            [
                "application/x-www-form-urlencoded",
                "application/json",
                "application/x-www-form-urlencoded; charset=latin-1",
            ]
        ),
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=200).map(str.encode),
        st.builds(form_body, st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)))),
    ),
    headers=headers_st,
    query=st.text(max_size=30),
    route=st.sampled_from(["/twilio/inbound", "/twilio/status"]),
    method=st.sampled_from(["POST", "POST", "GET", "PUT"]),
    base64_flag=st.booleans(),
)
def test_fuzzed_requests_never_get_5xx_or_a_record(
    stack: Stack, body: bytes, headers: dict[str, str], query: str, route: str, method: str, base64_flag: bool
) -> None:
    event = http_api_event(f"{API_BASE}{route}", body, headers, method=method)
    event["rawQueryString"] = query
    if not base64_flag:
        event.update(body=body.decode("utf-8", "replace"), isBase64Encoded=False)
    answer = stack.handler.lambda_handler(event, LambdaContext())
    assert 400 <= answer["statusCode"] < 500, answer
    assert stack.items() == []


def test_signed_json_body_is_recorded(stack: Stack) -> None:
    from smsbridge.domain.signature import body_sha256, compute_signature

    body = json.dumps(dict(inbound_params(body="HELP"))).encode()
    url = f"{INBOUND_URL}?bodySHA256={body_sha256(body)}"
    headers = {"content-type": "application/json", "x-twilio-signature": compute_signature(TEST_AUTH_TOKEN, url)}
    answer = stack.handler.lambda_handler(http_api_event(url, body, headers), LambdaContext())
    assert answer["statusCode"] == 200
    assert len(stack.items()) == 1


@pytest.mark.parametrize("route", ["/twilio/status?dh=DH1&rtc=R1&tc=TSK_1", "/twilio/inbound"])
def test_a_webhook_signed_over_the_printed_fragment_url_is_accepted(stack: Stack, route: str) -> None:
    # GIVEN the URL as connector-body and twilio configure print it (the stack's default TwilioUrlFragment), and
    # Twilio signing the URL with its fragment (its docs do not say whether it does)
    url = f"{API_BASE}{route}"
    params = status_params(status="delivered") if "status" in route else inbound_params(body="HELLO")
    signed = {**signed_headers(f"{url}#{DEFAULT_URL_FRAGMENT}", params)}
    # WHEN it arrives (a fragment is never sent) THEN it is accepted and recorded
    answer = stack.handler.lambda_handler(http_api_event(url, form_body(params), signed), LambdaContext())
    assert answer["statusCode"] in (200, 204)
    assert [attribute(i, "message_sid") for i in stack.items() if "kind" in i] == [dict(params)["MessageSid"]]
    # AND one signed over a fragment the stack was not told about is refused
    other = {**signed_headers(f"{url}#rc=5&rp=all", params)}
    assert (
        stack.handler.lambda_handler(http_api_event(url, form_body(params), other), LambdaContext())["statusCode"]
        == 403
    )
