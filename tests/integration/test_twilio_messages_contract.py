"""The Messages API adapter against the local stand-in, and the stand-in against twilio-python's own client.

The last tests prove the stand-in speaks Twilio's shape: twilio-python's ``MessageInstance`` (the real library,
pointed at the stand-in as ``adapters/twilio_api.py`` does) reads its resource and its errors.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from smsbridge.adapters.twilio_messages import TwilioMessages, TwilioUnavailable
from smsbridge.domain.signature import AuthTokens
from smsbridge.domain.verification import VerificationVerdict, verify_inbound
from smsbridge.errors import ConfigurationError, RetryableError
from smsbridge.local.twilio_api_stub import TwilioApiStub

ACCOUNT = "AC" + "c" * 32
TOKEN = "d" * 32
PERSON = "+14155550123"
OUR_NUMBER = "+14155550199"
SENT = datetime(2026, 12, 5, 9, 30, 15, tzinfo=UTC)


@pytest.fixture
def twilio() -> Iterator[TwilioApiStub]:
    with TwilioApiStub({ACCOUNT: TOKEN}) as stub:
        yield stub


def adapter(stub: TwilioApiStub, *tokens: str) -> TwilioMessages:
    known = AuthTokens(by_account={ACCOUNT: tokens or (TOKEN,)})
    return TwilioMessages(lambda: known, api_url=stub.url, timeout=2.0)


def test_an_inbound_message_is_fetched_and_bears_out_its_webhook(twilio: TwilioApiStub) -> None:
    sid = twilio.add_message(ACCOUNT, sender=PERSON, recipient=OUR_NUMBER, body="START", date_sent=SENT)["sid"]
    message = adapter(twilio).fetch(ACCOUNT, sid)
    assert message is not None
    assert (message.sid, message.sender, message.recipient, message.body) == (sid, PERSON, OUR_NUMBER, "START")
    assert message.direction == "inbound" and message.status == "received" and message.date_sent == SENT
    verdict = verify_inbound(message, account_sid=ACCOUNT, message_sid=sid, sender=PERSON, recipient=OUR_NUMBER,
                             body="START")  # fmt: skip
    assert (verdict.verdict, verdict.sent_at) == (VerificationVerdict.CONFIRMED, SENT)
    assert [(r.method, r.status) for r in twilio.requests] == [("GET", 200)]
    assert twilio.requests[0].path == f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json"


def test_a_message_twilio_does_not_have_is_none(twilio: TwilioApiStub) -> None:
    assert adapter(twilio).fetch(ACCOUNT, "SM" + "0" * 32) is None
    assert [r.status for r in twilio.requests] == [404]


def test_a_wrong_token_is_a_configuration_error_naming_no_secret(twilio: TwilioApiStub) -> None:
    with pytest.raises(ConfigurationError, match="401") as raised:
        adapter(twilio, "wrong-token-0123456789").fetch(ACCOUNT, "SM" + "0" * 32)
    assert "wrong-token" not in str(raised.value) and "20003" in str(raised.value)
    assert not isinstance(raised.value, RetryableError)


def test_another_account_s_credentials_are_refused(twilio: TwilioApiStub) -> None:
    other = "AC" + "e" * 32
    twilio.add_account(other, "f" * 32)
    sid = twilio.add_message(ACCOUNT, sender=PERSON, recipient=OUR_NUMBER)["sid"]
    tokens = AuthTokens(by_account={other: ("f" * 32,)}, default=("f" * 32,))
    stranger = TwilioMessages(lambda: tokens, api_url=twilio.url)
    with pytest.raises(ConfigurationError, match="401"):  # Twilio's 20003: "Verify the correct Account"
        stranger.fetch(ACCOUNT, sid)


def test_during_a_rotation_the_previous_token_is_tried_once_the_current_is_refused(twilio: TwilioApiStub) -> None:
    sid = twilio.add_message(ACCOUNT, sender=PERSON, recipient=OUR_NUMBER)["sid"]
    assert adapter(twilio, "not-yet-active-token", TOKEN).fetch(ACCOUNT, sid) is not None
    assert [r.status for r in twilio.requests] == [401, 200]


def test_an_account_without_a_token_is_a_configuration_error_before_any_request(twilio: TwilioApiStub) -> None:
    empty = AuthTokens(by_account={})
    with pytest.raises(ConfigurationError, match="no Twilio auth token"):
        TwilioMessages(lambda: empty, api_url=twilio.url).fetch(ACCOUNT, "SM" + "0" * 32)
    assert twilio.requests == []


@pytest.mark.parametrize("refuse", [False, True])
def test_twilio_down_is_retryable_and_back_up_answers_again(twilio: TwilioApiStub, refuse: bool) -> None:
    sid = twilio.add_message(ACCOUNT, sender=PERSON, recipient=OUR_NUMBER)["sid"]
    twilio.set_down(True, refuse=refuse)
    with pytest.raises(TwilioUnavailable, match="could not be reached" if refuse else "503"):
        adapter(twilio).fetch(ACCOUNT, sid)
    twilio.set_down(False)
    assert adapter(twilio).fetch(ACCOUNT, sid) is not None


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_retryable(twilio: TwilioApiStub, status: int) -> None:
    twilio.fail_next(1, status)
    with pytest.raises(RetryableError, match=str(status)):
        adapter(twilio).fetch(ACCOUNT, "SM" + "0" * 32)


def test_an_unreachable_api_is_retryable() -> None:
    stub = TwilioApiStub({ACCOUNT: TOKEN})
    stub.start()
    url = stub.url
    stub.stop()  # nothing listens on the port now
    known = AuthTokens(by_account={ACCOUNT: (TOKEN,)})
    with pytest.raises(TwilioUnavailable, match="could not be reached"):
        TwilioMessages(lambda: known, api_url=url, timeout=1.0).fetch(ACCOUNT, "SM" + "0" * 32)


@pytest.mark.parametrize(
    ("account_sid", "message_sid"),
    [
        (ACCOUNT, "SM" + "0" * 31), (ACCOUNT, "XX" + "0" * 32), (ACCOUNT, "SM" + "0" * 32 + "/../../x"),
        ("AC123", "SM" + "0" * 32), (ACCOUNT + "?x=1", "SM" + "0" * 32), (ACCOUNT, "SM" + "g" * 32),
    ],
)  # fmt: skip
def test_a_malformed_sid_is_refused_before_any_request(twilio: TwilioApiStub, account_sid: str,
                                                       message_sid: str) -> None:  # fmt: skip
    with pytest.raises(ValueError, match="Sid"):
        adapter(twilio).fetch(account_sid, message_sid)
    assert twilio.requests == []


def test_a_resource_out_of_twilio_s_form_is_retryable_naming_the_field(twilio: TwilioApiStub) -> None:
    sid = twilio.add_message(ACCOUNT, sender=PERSON, recipient=OUR_NUMBER, direction="Not A Direction")["sid"]
    with pytest.raises(TwilioUnavailable, match="direction"):
        adapter(twilio).fetch(ACCOUNT, sid)


def test_the_local_admin_path_registers_a_message_the_api_then_serves(twilio: TwilioApiStub) -> None:
    payload = {"account_sid": ACCOUNT, "from": PERSON, "to": OUR_NUMBER, "body": "STOP",
               "date_sent": "Sat, 05 Dec 2026 09:30:15 +0000"}  # fmt: skip
    request = urllib.request.Request(twilio.url + "/_local/messages", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")  # fmt: skip
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 201
        sid = json.loads(answer.read())["sid"]
    message = adapter(twilio).fetch(ACCOUNT, sid)
    assert message is not None and (message.sender, message.body, message.date_sent) == (PERSON, "STOP", SENT)
    assert twilio.api_requests == 1


def test_the_admin_path_keeps_working_while_the_api_is_down(twilio: TwilioApiStub) -> None:
    twilio.set_down(True, refuse=True)
    payload = {"account_sid": ACCOUNT, "from": PERSON, "to": OUR_NUMBER, "body": "START"}
    request = urllib.request.Request(twilio.url + "/_local/messages", data=json.dumps(payload).encode(),
                                     method="POST")  # fmt: skip
    with urllib.request.urlopen(request, timeout=5) as answer:
        sid = json.loads(answer.read())["sid"]
    with pytest.raises(TwilioUnavailable):
        adapter(twilio).fetch(ACCOUNT, sid)
    twilio.set_down(False)
    assert adapter(twilio).fetch(ACCOUNT, sid) is not None


# -- the stand-in read by twilio-python itself


def twilio_client(stub: TwilioApiStub, token: str = TOKEN) -> Client:
    client = Client(ACCOUNT, token)
    client.api.base_url = stub.url  # as adapters/twilio_api.py points the CLI at a stand-in
    return client


def test_twilio_python_reads_the_stand_in_s_resource(twilio: TwilioApiStub) -> None:
    sid = twilio.add_message(ACCOUNT, sender=OUR_NUMBER, recipient=PERSON, body="Our offer", direction="outbound-api",
                             error_code=21610, messaging_service_sid="MG" + "1" * 32)["sid"]  # fmt: skip
    message = twilio_client(twilio).messages(sid).fetch()
    assert (message.sid, message.account_sid, message.from_, message.to) == (sid, ACCOUNT, OUR_NUMBER, PERSON)
    assert message.direction == "outbound-api" and message.status == "failed"
    assert message.error_code == 21610 and message.error_message == "Attempt to send to unsubscribed recipient"
    assert message.num_segments == "1" and message.num_media == "0" and message.api_version == "2010-04-01"
    assert isinstance(message.date_created, datetime) and message.date_created.tzinfo is UTC
    assert message.date_sent is None  # it never left Twilio
    assert message.uri == f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json"
    assert message.subresource_uris is not None and "media" in message.subresource_uris


def test_twilio_python_reads_an_inbound_date_sent_as_the_adapter_does(twilio: TwilioApiStub) -> None:
    sid = twilio.add_message(ACCOUNT, sender=PERSON, recipient=OUR_NUMBER, body="STOP", date_sent=SENT)["sid"]
    message = twilio_client(twilio).messages(sid).fetch()
    assert message.date_sent == SENT and message.direction == "inbound" and message.status == "received"
    fetched = adapter(twilio).fetch(ACCOUNT, sid)
    assert fetched is not None and fetched.date_sent == message.date_sent


@pytest.mark.parametrize(("token", "status", "code"), [(TOKEN, 404, 20404), ("e" * 32, 401, 20003)])
def test_twilio_python_reads_the_stand_in_s_errors(twilio: TwilioApiStub, token: str, status: int,
                                                    code: int) -> None:  # fmt: skip
    with pytest.raises(TwilioRestException) as raised:
        twilio_client(twilio, token).messages("SM" + "0" * 32).fetch()
    assert (raised.value.status, raised.value.code) == (status, code)
