"""Lambda proxy events (HTTP API payload 2.0, function URLs, REST API payload 1.0) as ``WebhookRequest``s.

The webhook resolves every event as payload 2.0. A REST API (1.0) event is first rewritten into that shape:
``rawPath`` becomes the matched resource (so routing ignores stage and base-path prefixes) and
``requestContext.http.path`` keeps the path as called. REST API events carry no raw query string and lose the
order of its parameters; the query is rebuilt in alphabetical order, which is the order of every URL smsbridge
itself builds. Prefer the HTTP API (the template's default) when the query is not yours.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import quote, urlencode

from smsbridge.domain.ingress import WebhookRequest
from smsbridge.errors import InvalidPayload


def as_http_api_event(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` in payload 2.0 shape; 2.0 events and function-URL events are returned as they are."""
    if event.get("version") == "2.0" or "rawPath" in event:
        return event
    context = event.get("requestContext") or {}
    headers = {name.lower(): ",".join(values) for name, values in (event.get("multiValueHeaders") or {}).items()}
    headers.update({name.lower(): value for name, value in (event.get("headers") or {}).items()})
    query = event.get("multiValueQueryStringParameters") or {
        name: [value] for name, value in (event.get("queryStringParameters") or {}).items()
    }
    pairs = sorted((name, value) for name, values in query.items() for value in values)
    return {
        "version": "2.0",
        "routeKey": f"{event.get('httpMethod', '')} {event.get('resource', '')}",
        "rawPath": event.get("resource") or event.get("path", "/"),
        "rawQueryString": urlencode(pairs, quote_via=quote),
        "headers": headers,
        "body": event.get("body"),
        "isBase64Encoded": bool(event.get("isBase64Encoded")),
        "requestContext": {
            "domainName": context.get("domainName", headers.get("host", "")),
            "requestId": context.get("requestId", ""),
            "stage": "$default",  # rawPath is the resource: no stage to strip
            "http": {
                "method": event.get("httpMethod", ""),
                "path": context.get("path") or event.get("path", "/"),
                "sourceIp": (context.get("identity") or {}).get("sourceIp", ""),
            },
        },
    }


def webhook_request(event: dict[str, Any], route: str) -> WebhookRequest:
    """The request carried by a payload 2.0 ``event`` that matched ``route``."""
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    scheme = headers.get("x-forwarded-proto", "https").split(",")[0].strip() or "https"
    host = context.get("domainName") or headers.get("host", "")
    return WebhookRequest(
        method=http.get("method", ""),
        route=route,
        reached_url=f"{scheme}://{host}{http.get('path') or event.get('rawPath', route)}",
        raw_query=event.get("rawQueryString", ""),
        headers=headers,
        body=_body(event),
    )


def _body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidPayload("request body is marked base64 but is not valid base64") from None
