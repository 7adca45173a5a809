"""DynamoDB write and read units per message, counted by the meter (tests/meter.py), not timed.

The webhook and the forwarder run in process against moto, on tables made from template.yaml; the forwarder is
handed the records the webhook's writes put on the tables' streams (through the template's stream filters), as
Lambda would, and CI360 is a stand-in that accepts every event. Each kind of message is run ``count`` times, on
its own numbers, and the units are divided by ``count``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto import mock_aws

from smsbridge.app.forwarder import Forwarder, build_forwarder
from smsbridge.app.webhook import INBOUND_ROUTE, STATUS_ROUTE, WebhookService, build_webhook_service, webhook_request
from smsbridge.config import Settings
from smsbridge.domain.ci360_events import Correlation, callback_query
from smsbridge.domain.signature import AuthTokens
from smsbridge.local.event_sources import matches
from smsbridge.local.template import LocalResources, create_resources, load_template, stream_sources
from smsbridge.ops.simulate import TEST_AUTH_TOKEN, inbound_params, status_params
from tests.conftest import API_BASE, ROOT, form_body, http_api_event, signed_headers
from tests.fakes import FakeGateway, StaticTokens
from tests.meter import Meter, Reading

OURS, SERVICE = "+14155550199", "MG" + "5" * 32  # sent through a Messaging Service: contact memory under both
# us-east-1 on-demand list prices, USD per million request units, since DynamoDB's price cut of 1 November 2024.
# Not read from AWS's own pricing page (no stored copy): a secondary source, airbyte.com "Amazon DynamoDB Pricing"
# (21 July 2025). Check https://aws.amazon.com/dynamodb/pricing/on-demand/ before relying on the dollars.
WRITE_REQUEST_UNIT_USD_PER_MILLION = 0.625
READ_REQUEST_UNIT_USD_PER_MILLION = 0.125
GOALS = {"sent + delivered": 6.0, "STOP": 10.0}  # write units per message, webhook and forwarder together


@dataclass(frozen=True)
class Units:
    """What one kind of message costs, per message."""

    kind: str
    webhook_writes: float
    forwarder_writes: float
    webhook_reads: float
    forwarder_reads: float
    calls: dict[str, float]

    @property
    def writes(self) -> float:
        return self.webhook_writes + self.forwarder_writes

    @property
    def reads(self) -> float:
        return self.webhook_reads + self.forwarder_reads

    @property
    def usd_per_million(self) -> float:
        return self.writes * WRITE_REQUEST_UNIT_USD_PER_MILLION + self.reads * READ_REQUEST_UNIT_USD_PER_MILLION


class MessageRig:
    """The webhook and the forwarder in process on moto (inside ``mock_aws``), each with a meter on its clients."""

    def __init__(self, template: dict[str, Any], prefix: str = "cap") -> None:
        resources = LocalResources(prefix=prefix, template=template)
        create_resources(resources, boto3.session.Session())
        self.webhook: WebhookService = build_webhook_service(
            Settings.from_env(resources.function_environment("WebhookFunction"))
        )
        self.webhook.tokens = StaticTokens(AuthTokens.parse(TEST_AUTH_TOKEN))
        self.gateway = FakeGateway()
        dynamodb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
        settings = Settings.from_env(resources.function_environment("ForwarderFunction"))
        self.forwarder: Forwarder = build_forwarder(settings, dynamodb=dynamodb, sqs=sqs)
        self.forwarder.gateway = lambda: self.gateway
        self.webhook_meter = Meter().attach(self.webhook.store.client)  # type: ignore[attr-defined]
        self.forwarder_meter = Meter().attach(dynamodb, sqs)
        session = boto3.session.Session()  # Lambda's stream reading: not metered
        self._streams, self._dynamodb = session.client("dynamodbstreams"), session.client("dynamodb")
        self._sources = [
            (resources.name_of(source.table), source.filters)
            for source in stream_sources(template, "ForwarderFunction")
        ]
        self._last: dict[str, str] = {}  # stream ARN and shard → the last sequence number handed over

    def status(self, status: str, sid: str, recipient: str, correlation: Correlation | None, *,
               service: str = SERVICE, **extra: str) -> None:  # fmt: skip
        params = status_params(status=status, message_sid=sid, recipient=recipient, sender=OURS,
                               messaging_service_sid=service, **extra)  # fmt: skip
        self._post(STATUS_ROUTE, params, callback_query(correlation) if correlation else "")

    def inbound(self, body: str, sender: str) -> None:
        params = inbound_params(body=body, sender=sender, recipient=OURS, messaging_service_sid=SERVICE)
        self._post(INBOUND_ROUTE, params)

    def _post(self, route: str, params: list[tuple[str, str]], query: str = "") -> None:
        url = f"{API_BASE}{route}" + (f"?{query}" if query else "")
        request = webhook_request(http_api_event(url, form_body(params), signed_headers(url, params)), route)
        accept = self.webhook.accept_status if route == STATUS_ROUTE else self.webhook.accept_inbound
        accept(request)

    def forward(self) -> None:
        """Hand the forwarder every new stream record of both tables that passes the template's filters."""
        for table, filters in self._sources:
            records = [record for record in self._new_records(table)
                       if not filters or any(matches(pattern, record) for pattern in filters)]  # fmt: skip
            if records:
                report = self.forwarder.handle({"Records": records})
                assert not report.failed_records, report

    def _new_records(self, table: str) -> list[dict[str, Any]]:
        arn = self._dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        found = []
        for shard in self._streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            last = self._last.get(arn + shard["ShardId"])
            position: dict[str, Any] = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": last}
                                        if last else {"ShardIteratorType": "TRIM_HORIZON"})  # fmt: skip
            iterator = self._streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], **position)
            for record in self._streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"]:
                self._last[arn + shard["ShardId"]] = record["dynamodb"]["SequenceNumber"]
                found.append({**record, "eventSourceARN": arn})
        return found

    def reset(self) -> tuple[Reading, Reading]:
        return self.webhook_meter.reset(), self.forwarder_meter.reset()


@contextmanager
def rig() -> Iterator[MessageRig]:
    """A ``MessageRig`` on a fresh moto, fake credentials set if the environment has none (no AWS is reached)."""
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):  # fmt: skip
        os.environ.setdefault(name, value)
    with mock_aws():
        yield MessageRig(load_template(ROOT / "template.yaml"))


def _sid(kind: int, n: int) -> str:
    return f"SM{kind:02d}{n:030d}"


def _number(kind: int, n: int) -> str:
    return f"+1415{kind:02d}{n:05d}"


def _correlation(kind: int, n: int) -> Correlation:
    return Correlation(f"DH{kind}-{n}", "TSK_1", f"RTC{n}")


def _sent_and_delivered(rig: MessageRig, kind: int, n: int) -> None:
    for status in ("sent", "delivered"):
        rig.status(status, _sid(kind, n), _number(kind, n), _correlation(kind, n))


def _read_too(rig: MessageRig, kind: int, n: int) -> None:
    _sent_and_delivered(rig, kind, n)
    rig.status("read", _sid(kind, n), _number(kind, n), _correlation(kind, n))


def _reply(rig: MessageRig, kind: int, n: int) -> None:
    rig.inbound("What time does the store open?", _number(kind, n))


def _stop(rig: MessageRig, kind: int, n: int) -> None:
    rig.inbound("STOP", _number(kind, n))


def _unsubscribed(rig: MessageRig, kind: int, n: int) -> None:
    """A send Twilio refused with 21610 (the number had texted STOP to Twilio): its one status callback."""
    rig.status("failed", _sid(kind, n), _number(kind, n), _correlation(kind, n), error_code="21610")


Step = Callable[[MessageRig, int, int], None]
# kind: (what happened before, not counted; the message counted)
SCENARIOS: dict[str, tuple[Step | None, Step]] = {
    "sent + delivered": (None, _sent_and_delivered),
    "sent + delivered + read": (None, _read_too),
    "reply": (_sent_and_delivered, _reply),
    "STOP": (_sent_and_delivered, _stop),
    "21610": (None, _unsubscribed),
}


def measure(rig: MessageRig, kind: str, count: int) -> Units:
    """Run ``count`` messages of ``kind`` through the webhook and the forwarder; the units per message."""
    number = list(SCENARIOS).index(kind) + 1
    before, message = SCENARIOS[kind]
    if before:
        for n in range(count):
            before(rig, number, n)
        rig.forward()
    rig.reset()
    for n in range(count):
        message(rig, number, n)
    rig.forward()
    webhook, forwarder = rig.reset()
    calls = {name: total / count for name, total in (webhook.calls + forwarder.calls).items()}
    return Units(kind, webhook.writes / count, forwarder.writes / count, webhook.reads / count,
                 forwarder.reads / count, calls)  # fmt: skip


def measure_all(count: int) -> list[Units]:
    with rig() as running:
        return [measure(running, kind, count) for kind in SCENARIOS]


def report(measured: list[Units]) -> list[str]:
    """The section of docs/benchmarks.md: units per message with their goals, and dollars per million."""
    lines = [
        "## DynamoDB units per message (issue 19)",
        "",
        "Counted by the meter on every AWS call (`tests/meter.py`), webhook and forwarder in process on moto, the",
        "forwarder fed the stream records the webhook's writes made, CI360 a stand-in that accepts. Dollars at",
        f"us-east-1 on-demand list prices: ${WRITE_REQUEST_UNIT_USD_PER_MILLION} per million write request units, "
        f"${READ_REQUEST_UNIT_USD_PER_MILLION} per million read request units (since 1 November 2024; see",
        "`tests/bench/bench_capacity.py` for the source, and check AWS's pricing page before relying on them).",
        "",
        "| message | write units (webhook + forwarder) | read units (webhook + forwarder) | goal | met "
        "| USD per million messages |",
        "| --- | ---: | ---: | --- | --- | ---: |",
    ]
    for units in measured:
        goal = GOALS.get(units.kind)
        met = "" if goal is None else ("yes" if units.writes <= goal else "NO")
        lines.append(
            f"| {units.kind} | {units.writes:g} ({units.webhook_writes:g} + {units.forwarder_writes:g}) | "
            f"{units.reads:g} ({units.webhook_reads:g} + {units.forwarder_reads:g}) | "
            f"{'' if goal is None else f'<= {goal:g} write units'} | {met} | {units.usd_per_million:.2f} |"
        )
    lines.append("")
    return lines


def run(count: int) -> list[str]:
    return report(measure_all(count))


if __name__ == "__main__":
    print("\n".join(run(10)))
