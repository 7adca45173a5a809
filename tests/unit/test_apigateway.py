"""Events from every front door become the same request: HTTP API, function URL and REST API."""

from __future__ import annotations

import pytest

from smsbridge.adapters.apigateway import as_http_api_event, webhook_request
from smsbridge.errors import InvalidPayload
from tests.conftest import form_body, http_api_event, rest_api_event

URL = "https://abc123def4.execute-api.us-east-1.amazonaws.com/prod/twilio/status?b=2&a=1"
PARAMS = [("From", "+14155550100"), ("FromCity", "")]


def test_http_api_event_is_decoded_from_base64_with_blank_values() -> None:
    event = http_api_event(URL, form_body(PARAMS), {"x-twilio-signature": "sig"})
    request = webhook_request(as_http_api_event(event), "/twilio/status")
    assert request.body == b"From=%2B14155550100&FromCity="
    assert request.raw_query == "b=2&a=1"
    assert request.reached_url == "https://abc123def4.execute-api.us-east-1.amazonaws.com/prod/twilio/status"
    assert request.header("X-Twilio-Signature") == "sig"


def test_rest_api_event_keeps_stage_in_reached_url_and_routes_on_the_resource() -> None:
    event = as_http_api_event(rest_api_event(URL, form_body(PARAMS), {"x-twilio-signature": "sig"}))
    assert event["rawPath"] == "/twilio/status"
    request = webhook_request(event, "/twilio/status")
    assert request.reached_url.endswith("/prod/twilio/status")
    assert request.raw_query == "a=1&b=2"  # REST API loses the order: rebuilt alphabetically
    assert request.header("x-twilio-signature") == "sig"
    assert request.method == "POST"


def test_bad_base64_is_a_400() -> None:
    event = http_api_event(URL, b"", {})
    event["body"] = "not base64!"
    with pytest.raises(InvalidPayload, match="base64"):
        webhook_request(event, "/twilio/status")


def test_plain_text_body_is_taken_as_utf8() -> None:
    event = http_api_event(URL, b"", {})
    event.update(body="Body=caf%C3%A9", isBase64Encoded=False)
    assert webhook_request(event, "/twilio/status").body == b"Body=caf%C3%A9"
