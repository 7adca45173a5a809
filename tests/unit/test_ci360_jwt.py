"""The static JWT for the CI360 gateway, against tokens computed independently from SAS's recipe."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt
import pytest

from smsbridge.adapters.ci360 import Ci360Credentials, static_jwt
from smsbridge.errors import ConfigurationError

TENANT = "da1a105f5300013b4dde1b18"
SECRET = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5"


def test_token_equals_pyjwt_with_the_base64_text_of_the_secret_as_key() -> None:
    expected = jwt.encode({"clientID": TENANT}, base64.b64encode(SECRET.encode("utf-8")), algorithm="HS256")
    assert static_jwt(TENANT, SECRET) == expected


def test_token_matches_the_reference_recipe_byte_for_byte() -> None:
    def b64url(raw: bytes) -> bytes:
        return base64.urlsafe_b64encode(raw).rstrip(b"=")

    header = b64url(b'{"alg":"HS256","typ":"JWT"}')
    payload = b64url(json.dumps({"clientID": TENANT}, separators=(",", ":")).encode())
    signature = b64url(hmac.new(base64.b64encode(SECRET.encode()), header + b"." + payload, hashlib.sha256).digest())
    assert static_jwt(TENANT, SECRET) == (header + b"." + payload + b"." + signature).decode()


def test_token_is_not_keyed_with_the_raw_secret() -> None:
    raw_keyed = jwt.encode({"clientID": TENANT}, SECRET.encode(), algorithm="HS256")
    assert static_jwt(TENANT, SECRET) != raw_keyed
    claims = jwt.decode(static_jwt(TENANT, SECRET), base64.b64encode(SECRET.encode()), algorithms=["HS256"])
    assert claims == {"clientID": TENANT}


def test_credentials_secret_is_read_and_the_gateway_path_trimmed() -> None:
    secret = json.dumps(
        {
            "gateway_url": "https://extapigwservice-eu-prod.ci360.sas.com/marketingGateway/",
            "tenant_id": TENANT,
            "client_secret": SECRET,
        }
    )
    credentials = Ci360Credentials.parse(secret)
    assert credentials.gateway_url == "https://extapigwservice-eu-prod.ci360.sas.com"


@pytest.mark.parametrize(
    ("secret", "words"),
    [
        ("{", "not valid JSON"),
        ('{"gateway_url": "", "tenant_id": "t", "client_secret": ""}', "lacks gateway_url, client_secret"),
    ],
)
def test_incomplete_credentials_say_what_is_missing(secret: str, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        Ci360Credentials.parse(secret)
