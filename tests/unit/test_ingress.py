"""The door: a webhook is recorded only when it is well-formed and signed by Twilio, and every change is refused."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsbridge.app.webhook import WebhookService
from smsbridge.domain.ingress import INBOUND_ROUTE, STATUS_ROUTE, IngressPolicy, WebhookRequest
from smsbridge.domain.signature import AuthTokens, compute_signature
from smsbridge.errors import (
    ForgedRequest,
    InvalidPayload,
    MethodNotAllowed,
    NotConfigured,
    PayloadTooLarge,
    RejectedRequest,
    UnsupportedMediaType,
)
from smsbridge.ops.simulate import TEST_AUTH_TOKEN, inbound_params, status_params
from tests.conftest import API_BASE, form_body, signed_headers
from tests.fakes import FakeMessageStore, StaticTokens

INBOUND_URL = f"{API_BASE}{INBOUND_ROUTE}"
STATUS_URL = f"{API_BASE}{STATUS_ROUTE}?o=01HZX3c9task-42_rt.7"
Params = list[tuple[str, str]]


def request_for(url: str, params: Params, headers: dict[str, str], method: str = "POST") -> WebhookRequest:
    parts = urlsplit(url)
    route = STATUS_ROUTE if parts.path.endswith("status") else INBOUND_ROUTE
    return WebhookRequest(
        method=method,
        route=route,
        reached_url=f"{parts.scheme}://{parts.netloc}{parts.path}",
        raw_query=parts.query,
        headers=headers,
        body=form_body(params),
    )


def make_service(tokens: str = TEST_AUTH_TOKEN, **policy: object) -> tuple[WebhookService, FakeMessageStore]:
    store = FakeMessageStore()
    service = WebhookService(
        policy=IngressPolicy(**policy),  # type: ignore[arg-type]
        tokens=StaticTokens(AuthTokens.parse(tokens)),
        store=store,
    )
    return service, store


def accept(service: WebhookService, request: WebhookRequest) -> object:
    if request.route == STATUS_ROUTE:
        return service.accept_status(request)
    return service.accept_inbound(request)


def mutations(url: str, params: Params) -> list[tuple[str, str, Params]]:
    """Every one-step change to a signed webhook: (description, url, params)."""
    changed: list[tuple[str, str, Params]] = []
    for index, (name, value) in enumerate(params):
        new_value = value + "1" if value else "x"
        changed.append((f"change {name}", url, [*params[:index], (name, new_value), *params[index + 1 :]]))
        changed.append((f"remove {name}", url, [*params[:index], *params[index + 1 :]]))
    changed.append(("add blank parameter", url, [*params, ("Extra", "")]))
    changed.append(("add parameter", url, [*params, ("Extra", "1")]))
    parts = urlsplit(url)
    changed.append(("host", parts._replace(netloc="evil.example.com").geturl(), params))
    changed.append(("scheme", parts._replace(scheme="http").geturl(), params))
    # Not the port: Twilio's own validators accept a signature made without it (twilio-python's vectors).
    changed.append(("path trailing slash", parts._replace(path=parts.path + "/").geturl(), params))
    changed.append(("path case", parts._replace(path=parts.path.upper()).geturl(), params))
    changed.append(("path prefix", parts._replace(path="/prod" + parts.path).geturl(), params))
    changed.append(
        ("query added", parts._replace(query=(parts.query + "&" if parts.query else "") + "x=1").geturl(), params)
    )
    if parts.query:
        changed.append(("query changed", parts._replace(query=parts.query + "9").geturl(), params))
        changed.append(("query removed", parts._replace(query="").geturl(), params))
    return changed


@pytest.mark.parametrize(
    ("url", "params"),
    [(INBOUND_URL, inbound_params(body="STOP")), (STATUS_URL, status_params(status="undelivered", error_code="30006"))],
    ids=["inbound", "status"],
)
class TestMutations:
    def test_untouched_webhook_is_accepted_and_recorded(self, url: str, params: Params) -> None:
        service, store = make_service()
        accepted = accept(service, request_for(url, params, signed_headers(url, params)))
        assert accepted.recorded  # type: ignore[attr-defined]
        assert len(store.inbound) + len(store.status) == 1

    def test_any_one_change_is_rejected_with_403_and_records_nothing(self, url: str, params: Params) -> None:
        headers = signed_headers(url, params)
        for description, new_url, new_params in mutations(url, params):
            service, store = make_service()
            with pytest.raises(RejectedRequest) as raised:
                accept(service, request_for(new_url, new_params, headers))
                pytest.fail(f"accepted after: {description}")
            assert raised.value.status_code == 403, f"{description}: {raised.value}"
            assert not store.inbound and not store.status, description

    def test_another_token_is_rejected(self, url: str, params: Params) -> None:
        service, store = make_service()
        with pytest.raises(ForgedRequest):
            accept(service, request_for(url, params, signed_headers(url, params, token="f" * 32)))
        assert not store.inbound and not store.status


addresses = st.one_of(
    st.from_regex(r"\+1[2-9]\d{9}", fullmatch=True),
    st.from_regex(r"\+44\d{10}", fullmatch=True),
    st.from_regex(r"whatsapp:\+[1-9]\d{9,12}", fullmatch=True),
)
bodies = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=160)
# Distinct names: Twilio's algorithm signs the *set* of a name's values, so dropping one of two identical pairs
# is invisible by design (twilio-python and twilio-node agree).
extras = st.dictionaries(st.from_regex(r"X[A-Za-z]{2,12}", fullmatch=True), st.text(max_size=10), max_size=4).map(
    lambda fields: list(fields.items())
)


@settings(max_examples=60, deadline=None)
@given(body=bodies, sender=addresses, recipient=addresses, extra=extras, data=st.data())
def test_generated_inbound_webhooks_are_accepted_and_any_change_rejected(
    body: str, sender: str, recipient: str, extra: Params, data: st.DataObject
) -> None:
    # GIVEN a valid inbound webhook with arbitrary text, numbers and unknown fields (blank ones included)
    params = inbound_params(body=body, sender=sender, recipient=recipient) + extra
    headers = signed_headers(INBOUND_URL, params)
    service, store = make_service()
    # WHEN it arrives untouched THEN it is accepted with its text and unknown fields intact
    accepted = service.accept_inbound(request_for(INBOUND_URL, params, headers))
    assert accepted.webhook.body == body
    assert all(accepted.webhook.fields.get(name) is not None for name, _ in extra)
    # WHEN any one thing about it changes THEN it is refused as forged
    description, url, changed = data.draw(st.sampled_from(mutations(INBOUND_URL, params)))
    service, store = make_service()  # a fresh store: only this request may write
    with pytest.raises(ForgedRequest):
        service.accept_inbound(request_for(url, changed, headers))
    assert not store.inbound, description


class TestConfiguredBaseUrl:
    def test_custom_domain_with_base_path_is_what_counts(self) -> None:
        # GIVEN Twilio calls a custom domain with a base path mapping; API Gateway reports the execute-api host
        params = inbound_params()
        public = "https://hooks.example.com/sms"
        headers = signed_headers(public + INBOUND_ROUTE, params)
        service, store = make_service(public_base_url=public + "/")
        # WHEN the request arrives through the mapping THEN it is verified against the configured URL
        service.accept_inbound(request_for(INBOUND_URL, params, headers))
        assert len(store.inbound) == 1

    def test_fragment_signed_or_not_both_verify(self) -> None:
        params = status_params()
        service, store = make_service(url_fragment="rc=3&rp=5xx,ct,rt")
        for signed in (STATUS_URL, STATUS_URL + "#rc=3&rp=5xx,ct,rt"):
            service.accept_status(request_for(STATUS_URL, params, signed_headers(signed, params)))
        assert len(store.status) == 1


class TestRefusals:
    def test_get_is_405(self) -> None:
        service, _ = make_service()
        params = inbound_params()
        with pytest.raises(MethodNotAllowed, match="POST"):
            service.accept_inbound(request_for(INBOUND_URL, params, signed_headers(INBOUND_URL, params), "GET"))

    def test_oversized_body_is_413_before_anything_is_parsed(self) -> None:
        service, _ = make_service(max_body_bytes=1024)
        params = inbound_params(body="x" * 2000)
        with pytest.raises(PayloadTooLarge, match="limit is 1024"):
            service.accept_inbound(request_for(INBOUND_URL, params, signed_headers(INBOUND_URL, params)))

    @pytest.mark.parametrize("content_type", ["", "text/plain", "multipart/form-data; boundary=x", "application/xml"])
    def test_other_media_types_are_415(self, content_type: str) -> None:
        service, _ = make_service()
        params = inbound_params()
        headers = {**signed_headers(INBOUND_URL, params), "content-type": content_type}
        with pytest.raises(UnsupportedMediaType, match="x-www-form-urlencoded"):
            service.accept_inbound(request_for(INBOUND_URL, params, headers))

    def test_missing_signature_is_403_with_its_reason(self) -> None:
        service, _ = make_service()
        params = inbound_params()
        headers = {k: v for k, v in signed_headers(INBOUND_URL, params).items() if k != "x-twilio-signature"}
        with pytest.raises(ForgedRequest, match="missing X-Twilio-Signature") as raised:
            service.accept_inbound(request_for(INBOUND_URL, params, headers))
        assert raised.value.reason == "missing_signature"

    def test_no_token_configured_refuses_everything(self) -> None:
        service, store = make_service(tokens="")
        params = inbound_params()
        with pytest.raises(NotConfigured):
            service.accept_inbound(request_for(INBOUND_URL, params, signed_headers(INBOUND_URL, params, token="")))
        assert not store.inbound

    def test_per_account_token_is_used_for_that_account_only(self) -> None:
        service, store = make_service(tokens='{"default": ["d"], "AC11111111111111111111111111111111": ["a1"]}')
        mine = inbound_params(account_sid="AC11111111111111111111111111111111")
        other = inbound_params()
        service.accept_inbound(request_for(INBOUND_URL, mine, signed_headers(INBOUND_URL, mine, "a1")))
        service.accept_inbound(request_for(INBOUND_URL, other, signed_headers(INBOUND_URL, other, "d")))
        with pytest.raises(ForgedRequest):
            service.accept_inbound(request_for(INBOUND_URL, mine, signed_headers(INBOUND_URL, mine, "d")))
        assert len(store.inbound) == 2

    def test_signed_but_malformed_fields_are_400_naming_them(self) -> None:
        service, store = make_service()
        params = [(n, v) for n, v in inbound_params() if n not in ("MessageSid", "SmsSid")]
        with pytest.raises(InvalidPayload) as raised:
            service.accept_inbound(request_for(INBOUND_URL, params, signed_headers(INBOUND_URL, params)))
        assert "MessageSid is required" in str(raised.value)
        assert raised.value.reason == "missing_field"
        params = [(n, "not-a-number" if n == "From" else v) for n, v in inbound_params()]
        with pytest.raises(InvalidPayload) as raised:
            service.accept_inbound(request_for(INBOUND_URL, params, signed_headers(INBOUND_URL, params)))
        assert "From: not a phone number" in str(raised.value)
        assert not store.inbound

    def test_json_body_with_body_sha256_is_verified_and_parsed(self) -> None:
        import json

        from smsbridge.domain.signature import body_sha256

        body = json.dumps(dict(inbound_params(body="YES"))).encode()
        url = f"{INBOUND_URL}?bodySHA256={body_sha256(body)}"
        headers = {"content-type": "application/json", "x-twilio-signature": compute_signature(TEST_AUTH_TOKEN, url)}
        service, store = make_service()
        request = WebhookRequest("POST", INBOUND_ROUTE, INBOUND_URL, urlsplit(url).query, headers, body)
        assert service.accept_inbound(request).webhook.body == "YES"
        tampered = WebhookRequest("POST", INBOUND_ROUTE, INBOUND_URL, urlsplit(url).query, headers, body + b" ")
        with pytest.raises(ForgedRequest):
            service.accept_inbound(tampered)
        assert len(store.inbound) == 1
