"""The CI360 external-event gateway: static JWT, pooled keep-alive connections, answers judged once.

The static JWT follows SAS's recipe: HS256 over ``{"clientID": <tenant id>}``, keyed with the *base64 text* of
the access point's client secret (not the decoded secret). It never expires, so it is built once per container.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import urllib3

from smsbridge.adapters.https import connection_pool
from smsbridge.adapters.secrets import CachedSecret
from smsbridge.domain.ci360_events import Flat
from smsbridge.domain.delivery import Outcome, Verdict, explain_check, judge_response
from smsbridge.domain.preferences import JobStatus
from smsbridge.domain.privacy import mask_numbers_in
from smsbridge.errors import ConfigurationError, RetryableError

EVENTS_PATH = "/marketingGateway/events"
CONFIGURATION_PATH = "/marketingGateway/configuration"
FILE_TRANSFER_PATH = "/marketingData/fileTransferLocation"
TABLE_JOBS_PATH = "/marketingData/tableJobs"
UPLOAD_CONTENT_TYPE = "text/csv"


class JobTypeRefused(ConfigurationError):
    """CI360 refused to create an import job of this type. What such a refusal looks like is not documented: any
    4xx rejection of the job creation but 401 and 403 (the credentials, the request limit) is taken as one."""

    def __init__(self, job_type: str, reason: str) -> None:
        super().__init__(f"CI360 refused job type {job_type}: {reason}")
        self.job_type = job_type
        self.reason = reason


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def static_jwt(tenant_id: str, client_secret: str) -> str:
    """The bearer token for the external gateway: ``base64url(header).base64url(claims).signature``."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = _b64url(json.dumps({"clientID": tenant_id}, separators=(",", ":")).encode())
    key = base64.b64encode(client_secret.encode("utf-8"))
    signature = _b64url(hmac.new(key, header + b"." + claims, hashlib.sha256).digest())
    return (header + b"." + claims + b"." + signature).decode("ascii")


@dataclass(frozen=True)
class Ci360Credentials:
    """An access point's gateway address, tenant id and client secret (from Secrets Manager)."""

    gateway_url: str
    tenant_id: str
    client_secret: str

    @classmethod
    def parse(cls, secret: str) -> Ci360Credentials:
        """Read ``{"gateway_url": "https://extapigwservice-prod.ci360.sas.com", "tenant_id": "…",
        "client_secret": "…"}`` (the access point's External gateway address, Tenant ID and Client secret)."""
        try:
            document = json.loads(secret or "{}")
        except json.JSONDecodeError:
            raise ConfigurationError("the CI360 secret is not valid JSON") from None
        missing = [key for key in ("gateway_url", "tenant_id", "client_secret") if not document.get(key)]
        if missing:
            raise ConfigurationError(f"the CI360 secret lacks {', '.join(missing)}")
        url = str(document["gateway_url"]).rstrip("/").removesuffix("/marketingGateway")
        return cls(url, str(document["tenant_id"]), str(document["client_secret"]))


class Ci360Gateway:
    """``EventGateway`` over HTTPS. One pool per container; ``max_connections`` bounds the concurrency."""

    def __init__(self, credentials: Ci360Credentials, *, max_connections: int = 16, timeout: float = 5.0) -> None:
        self.credentials = credentials
        self.pool = connection_pool(max_connections=max_connections, timeout=timeout)
        self.headers = {
            "Authorization": f"Bearer {static_jwt(credentials.tenant_id, credentials.client_secret)}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def send(self, body: dict[str, Flat]) -> Verdict:
        status, text, error = self._request("POST", EVENTS_PATH, json.dumps(body).encode("utf-8"))
        return judge_response(status, text, error)

    def check(self) -> tuple[bool, str]:
        """Call the configuration endpoint, which validates the JWT: (all well?, what is wrong and what to do).

        ``smsbridge ci360 check``, the smoke test's credentials hop and ``serve``'s banner all say it this way."""
        status, body, error = self._request("GET", CONFIGURATION_PATH, None)
        return explain_check(status, body, error, self.credentials.gateway_url)

    def _request(
        self, method: str, path: str, body: bytes | None, *, url: str = "", headers: dict[str, str] | None = None
    ) -> tuple[int | None, str, str]:
        try:
            response: Any = self.pool.request(method, url or self.credentials.gateway_url + path, body=body,
                                              headers=self.headers if headers is None else headers)  # fmt: skip
        except urllib3.exceptions.HTTPError as exc:
            return None, "", type(exc).__name__
        return int(response.status), response.data.decode("utf-8", "replace"), ""

    # -- contact preferences (``/marketingData``), for the preference sync

    def file_location(self) -> str:
        """A signed URL to upload an import file to."""
        answer = self._json("POST", FILE_TRANSFER_PATH, {})
        if not answer.get("signedURL"):
            raise RetryableError(f"CI360 POST {FILE_TRANSFER_PATH} answered no signedURL")
        return str(answer["signedURL"])

    def upload(self, signed_url: str, content: bytes) -> None:
        """PUT the file to the signed URL (the URL is the credential: no JWT). ``text/csv``, as SAS's samples send it:
        a signed URL may sign its content type, so a different one could be refused."""
        status, text, error = self._request("PUT", "", content, url=signed_url,
                                            headers={"Content-Type": UPLOAD_CONTENT_TYPE})  # fmt: skip
        if status is None or not 200 <= status < 300:
            raise RetryableError(f"upload to CI360 failed: {status or error} {text[:200]}")

    def start_preference_import(self, signed_url: str, job_type: str) -> str:
        """Create the import job of ``job_type`` for the uploaded file: its id. ``JobTypeRefused`` when CI360 refuses
        the job (``domain/preferences.py`` ``job_types_to_try`` says what to try next)."""
        job = {"jobType": job_type, "fileLocation": signed_url, "headerRowIncluded": True}
        status, text, error = self._request("POST", TABLE_JOBS_PATH, json.dumps(job).encode())
        verdict = judge_response(status, text, error)
        if verdict.outcome is Outcome.REJECTED and status not in (401, 403):
            raise JobTypeRefused(job_type, mask_numbers_in(verdict.reason))
        answer = self._answer("POST", TABLE_JOBS_PATH, verdict, text)
        if not answer.get("id"):
            raise RetryableError(f"CI360 POST {TABLE_JOBS_PATH} answered no job id")
        return str(answer["id"])

    def job_status(self, job_id: str) -> JobStatus:
        answer = self._json("GET", f"{TABLE_JOBS_PATH}/{job_id}", None)
        # statusDescription is CI360's text about the file: numbers in it are masked before anyone logs or prints it.
        return JobStatus(str(answer.get("status", "")), mask_numbers_in(str(answer.get("statusDescription") or "")))

    def _json(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        status, text, error = self._request(method, path, None if body is None else json.dumps(body).encode())
        return self._answer(method, path, judge_response(status, text, error), text)

    @staticmethod
    def _answer(method: str, path: str, verdict: Verdict, text: str) -> dict[str, Any]:
        """CI360's JSON answer, or the error the verdict calls for."""
        if verdict.outcome is Outcome.REJECTED:
            raise ConfigurationError(f"CI360 refused {method} {path}: {verdict.reason}")
        if verdict.outcome is Outcome.RETRY:
            raise RetryableError(f"CI360 {method} {path}: {verdict.reason}")
        try:
            answer = json.loads(text or "{}")
        except json.JSONDecodeError:
            raise RetryableError(f"CI360 {method} {path} answered something that is not JSON") from None
        if not isinstance(answer, dict):
            raise RetryableError(f"CI360 {method} {path} answered something that is not an object")
        return answer


class SecretGatewaySource:
    """The CI360 gateway for the credentials in a secret (format: ``Ci360Credentials.parse``), rebuilt when they
    change, so its connection pool lives as long as the container."""

    def __init__(self, secret_id: str, *, max_connections: int, timeout: float, max_age: float = 300,
                 client: Any = None) -> None:  # fmt: skip
        self.secret = CachedSecret(secret_id, Ci360Credentials.parse, setting="CI360_SECRET", max_age=max_age,
                                   client=client)  # fmt: skip
        self.max_connections = max_connections
        self.timeout = timeout
        self._gateway: Ci360Gateway | None = None

    def gateway(self) -> Ci360Gateway:
        credentials = self.secret.value()
        if self._gateway is None or self._gateway.credentials != credentials:
            self._gateway = Ci360Gateway(credentials, max_connections=self.max_connections, timeout=self.timeout)
        return self._gateway
