"""DynamoDB failing under the webhook: Twilio gets a 5xx, nothing is half-written, the retried webhook lands once."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

from smsbridge.ops.simulate import inbound_params, status_params
from tests.conftest import API_BASE, LambdaContext, form_body, http_api_event, signed_headers
from tests.integration.conftest import Stack


class FailingFirst:
    """Wraps the real client: the first write raises ``error``, the next ones go through."""

    def __init__(self, client: Any, error: Exception) -> None:
        self.client, self.error, self.failed = client, error, False

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.client, name)
        if name not in ("put_item", "update_item", "transact_write_items"):
            return real

        def call(**request: Any) -> Any:
            if not self.failed:
                self.failed = True
                raise self.error
            return real(**request)

        return call


def client_error(code: str, operation: str = "TransactWriteItems", reasons: list[str] | None = None) -> Exception:
    from botocore.exceptions import ClientError

    response: dict[str, Any] = {"Error": {"Code": code, "Message": code}}
    if reasons:
        response["CancellationReasons"] = [{"Code": reason} for reason in reasons]
    return ClientError(response, operation)  # type: ignore[arg-type]


FAULTS = {
    "throttled": client_error("ProvisionedThroughputExceededException", "PutItem"),
    "service_error": client_error("InternalServerError", "PutItem"),
    "transaction_throttled": client_error("TransactionCanceledException", reasons=["ThrottlingError", "None"]),
    "read_timeout": ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
    "unreachable": EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
}


def post(stack: Stack, route: str, params: list[tuple[str, str]]) -> int:
    url = f"{API_BASE}{route}"
    event = http_api_event(url, form_body(params), signed_headers(url, params))
    return int(stack.handler.lambda_handler(event, LambdaContext())["statusCode"])


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize(
    ("route", "params"),
    [
        ("/twilio/inbound", inbound_params(body="STOP")),
        ("/twilio/status", status_params(status="failed", error_code="21610")),
    ],
    ids=["stop", "status_21610"],
)
def test_dynamodb_fault_is_503_with_no_partial_state_and_the_retry_lands_once(
    stack: Stack, fault: str, route: str, params: list[tuple[str, str]]
) -> None:
    # GIVEN DynamoDB fails the first write
    store = stack.handler.service.store
    store.client = FailingFirst(store.client, FAULTS[fault])
    # WHEN the webhook arrives THEN Twilio gets 503 and neither the message nor its consent fact is written
    assert post(stack, route, params) == 503
    assert stack.items() == [] and stack.consent_items() == []
    # WHEN Twilio retries (twice) THEN the message and its opt-out are on record exactly once
    assert post(stack, route, params) in (200, 204)
    assert post(stack, route, params) in (200, 204)
    assert len(stack.items()) == 1
    assert [item["record_type"] for item in stack.consent_items()].count("event") == 1
