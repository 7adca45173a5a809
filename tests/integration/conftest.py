"""The webhook handler against moto, with tables and secrets created from template.yaml."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from smsbridge.adapters.dynamodb import plain
from smsbridge.local.template import LocalResources, create_resources
from smsbridge.local.twilio_api_stub import TwilioApiStub
from smsbridge.ops.simulate import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN
from tests.conftest import ROOT, LambdaContext


@dataclass
class Stack:
    handler: ModuleType
    resources: LocalResources
    dynamodb: Any
    secrets: Any
    logs: io.StringIO

    @property
    def messages_table(self) -> str:
        return self.resources.name_of("MessagesTable")

    def items(self) -> list[dict[str, Any]]:
        return self.dynamodb.scan(TableName=self.messages_table, ConsistentRead=True)["Items"]

    @property
    def consent_table(self) -> str:
        return self.resources.name_of("ConsentTable")

    def consent_items(self) -> list[dict[str, Any]]:
        items = self.dynamodb.scan(TableName=self.consent_table, ConsistentRead=True)["Items"]
        return [plain(item) for item in items]

    def set_tokens(self, secret: str) -> None:
        self.secrets.put_secret_value(SecretId=self.resources.name_of("TwilioAuthTokensSecret"), SecretString=secret)


def load_webhook_module(logs: io.StringIO) -> ModuleType:
    return load_function("webhook", logs)


def load_function(name: str, logs: io.StringIO) -> ModuleType:
    """A fresh import of functions/<name>/app.py, as a new Lambda container would do it, logging into ``logs``.

    Powertools' Logger is configured once per process and keeps its first stream; the test's own stream makes the
    logs readable whatever ran before.
    """
    shared = logging.getLogger("smsbridge")  # configured by an earlier test (or an in-process local stack): reused
    for handler in shared.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.stream = logs
    for log_filter in list(shared.filters):  # e.g. the local stack's console filter of refusals
        shared.removeFilter(log_filter)
    shared.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO"))  # a local stack may have left WARNING
    spec = importlib.util.spec_from_file_location(f"{name}_app_under_test", ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    with contextlib.redirect_stdout(logs):
        spec.loader.exec_module(module)
    return module


# The webhook's own rules, tested apart from Twilio verification (tests/integration/test_twilio_verification.py
# turns it on, as deployments have it by default): with it on, every opt-in waits for the verifier.
WEBHOOK_RULES_ALONE = {"TwilioVerification": "false"}


def build_stack(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                parameters: dict[str, str] | None = None) -> Stack:  # fmt: skip
    """The template's tables, queues and secrets on the current AWS emulation, and a fresh webhook handler, with
    the deployment ``parameters`` given (default: ``WEBHOOK_RULES_ALONE``)."""
    resources = LocalResources(prefix="test", template=template,
                               parameters=WEBHOOK_RULES_ALONE if parameters is None else parameters)  # fmt: skip
    create_resources(resources, boto3.session.Session())
    for name, value in resources.function_environment("WebhookFunction").items():
        monkeypatch.setenv(name, value)
    logs = io.StringIO()
    built = Stack(load_webhook_module(logs), resources, boto3.client("dynamodb"), boto3.client("secretsmanager"), logs)
    built.set_tokens(json.dumps({"default": [TEST_AUTH_TOKEN]}))
    return built


@pytest.fixture
def stack(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with mock_aws():
        yield build_stack(template, monkeypatch)


@contextlib.contextmanager
def running_moto_server() -> Iterator[str]:
    """moto in server mode on 127.0.0.1 (DynamoDB Streams are only served this way): its URL, until the end."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    with running_moto_server() as url:
        yield url


def build_server_stack(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch, moto_server: str) -> Stack:
    """``build_stack`` on the moto server at ``moto_server``, emptied first (also usable outside pytest, with
    ``pytest.MonkeyPatch.context()``)."""
    with urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")):
        pass
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return build_stack(template, monkeypatch)


@pytest.fixture
def server_stack(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch, moto_server: str) -> Stack:
    return build_server_stack(template, monkeypatch, moto_server)


VERIFIED = {"TwilioVerification": "true"}


class Verifier:
    """The verifier Lambda, handed the consent table's pending entries as the stream would hand them over."""

    def __init__(self, stack: Stack, module: Any, logs: io.StringIO) -> None:
        self.stack, self.module, self.logs = stack, module, logs
        self.sequence = 0

    def check(self, items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """``run`` through the verifier service alone, not its Lambda handler: Powertools' handler decorators and
        Hypothesis's data generation do not mix (draws come out inconsistent between examples)."""
        handler = self.module.lambda_handler
        self.module.lambda_handler = lambda event, _: self.module.verifier.handle(event).response()
        try:
            return self.run(items)
        finally:
            self.module.lambda_handler = handler

    def run(self, items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """One batch: every entry now pending (of ``items``, typed, when given), in the order recorded. The Lambda's
        answer (failed records)."""
        raw = items if items is not None else self.stack.dynamodb.scan(
            TableName=self.stack.consent_table, ConsistentRead=True)["Items"]  # fmt: skip
        pending = sorted((item for item in raw if item.get("verification", {}).get("S") == "pending"),
                         key=lambda item: item["recorded_at"]["S"])  # fmt: skip
        records = []
        for item in pending:
            self.sequence += 1
            records.append({
                "eventName": "INSERT",
                "eventSourceARN": f"arn:aws:dynamodb:us-east-1:000000000000:table/{self.stack.consent_table}/stream/1",
                "dynamodb": {"NewImage": item, "SequenceNumber": str(self.sequence)},
            })  # fmt: skip
        with contextlib.redirect_stdout(self.logs):  # Powertools prints its metrics (EMF) on stdout
            answer: dict[str, Any] = self.module.lambda_handler({"Records": records}, LambdaContext())
        return answer

    def metric(self, name: str) -> float:
        """The sum of an EMF metric the verifier logged (what the template's alarms watch)."""
        total = 0.0
        for line in self.logs.getvalue().splitlines():
            if line.startswith("{") and '"_aws"' in line:
                total += sum(json.loads(line).get(name, []))  # EMF: a list of values per metric
        return total


@pytest.fixture
def twilio() -> Iterator[TwilioApiStub]:
    with TwilioApiStub({TEST_ACCOUNT_SID: TEST_AUTH_TOKEN}) as stub:
        yield stub


@pytest.fixture
def verified(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch, twilio: TwilioApiStub) -> Iterator[
        tuple[Stack, Verifier]]:  # fmt: skip
    from moto import mock_aws

    with mock_aws():
        stack = build_stack(template, monkeypatch, parameters=VERIFIED)
        for name, value in stack.resources.function_environment("VerifierFunction").items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("TWILIO_API_URL", twilio.url)
        logs = io.StringIO()
        yield stack, Verifier(stack, load_function("verifier", logs), logs)
