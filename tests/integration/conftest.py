"""The webhook handler against moto, with tables and secrets created from template.yaml."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from smsbridge.adapters.dynamodb import plain
from smsbridge.local.template import LocalResources, create_resources
from smsbridge.simulate import TEST_AUTH_TOKEN
from tests.conftest import ROOT


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
    """A fresh import of functions/webhook/app.py, as a new Lambda container would do it, logging into ``logs``.

    Powertools' Logger is configured once per process and keeps its first stream; the test's own stream makes the
    logs readable whatever ran before.
    """
    for handler in logging.getLogger("smsbridge").handlers:  # configured by an earlier test: reused by Powertools
        if isinstance(handler, logging.StreamHandler):
            handler.stream = logs
    spec = importlib.util.spec_from_file_location("webhook_app_under_test", ROOT / "functions" / "webhook" / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    with contextlib.redirect_stdout(logs):
        spec.loader.exec_module(module)
    return module


@pytest.fixture
def stack(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with mock_aws():
        resources = LocalResources(prefix="test", template=template)
        create_resources(resources, boto3.session.Session())
        for name, value in resources.function_environment("WebhookFunction").items():
            monkeypatch.setenv(name, value)
        secrets = boto3.client("secretsmanager")
        logs = io.StringIO()
        built = Stack(load_webhook_module(logs), resources, boto3.client("dynamodb"), secrets, logs)
        built.set_tokens(json.dumps({"default": [TEST_AUTH_TOKEN]}))
        yield built
