"""template.yaml: wiring, least privilege and agreement with the code, checked offline (no AWS account)."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
from typing import Any

import pytest
from samtranslator.translator.transform import transform

from smsbridge.adapters.dynamodb import client_worst_case_seconds
from smsbridge.adapters.message_table import message_key
from smsbridge.config import Settings
from smsbridge.domain.delivery import send_reserve_seconds
from smsbridge.domain.ingress import INBOUND_ROUTE, STATUS_ROUTE
from smsbridge.local.template import LocalResources
from smsbridge.ops.twilio_setup import DEFAULT_URL_FRAGMENT
from tests.conftest import ROOT


class OfflinePolicyLoader:
    """SAM asks IAM for managed policy ARNs only when a template names one; this template names none."""

    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture(scope="module")
def cloudformation(template: dict[str, Any]) -> dict[str, Any]:
    sam = copy.deepcopy(template)
    for resource in sam["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://offline/code.zip"
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = "s3://offline/layer.zip"
    parameters = {"AWS::Region": "us-east-1", "AWS::Partition": "aws", "AWS::AccountId": "123456789012"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # SAM reads the region even when given one
        return transform(sam, parameters, OfflinePolicyLoader())  # type: ignore[no-any-return]


def test_webhook_routes_are_the_ones_the_code_serves(template: dict[str, Any]) -> None:
    events = template["Resources"]["WebhookFunction"]["Properties"]["Events"]
    routes = {(e["Properties"]["Path"], e["Properties"]["Method"]) for e in events.values() if e["Type"] == "HttpApi"}
    assert routes == {(INBOUND_ROUTE, "ANY"), (STATUS_ROUTE, "ANY")}


def test_outputs_give_the_urls_to_paste_into_twilio(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    for name, route in (("InboundUrl", INBOUND_ROUTE), ("StatusCallbackUrl", STATUS_ROUTE)):
        for branch in outputs[name]["Value"]["Fn::If"][1:]:
            assert branch["Fn::Sub"].endswith(route)


def test_messages_table_is_keyed_as_the_adapter_writes_and_streams_both_images(template: dict[str, Any]) -> None:
    table = template["Resources"]["MessagesTable"]["Properties"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == list(message_key("SM1", "INBOUND"))
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"


def test_template_gives_the_webhook_every_setting_it_needs(template: dict[str, Any]) -> None:
    environment = LocalResources(prefix="t", template=template).function_environment("WebhookFunction")
    settings = Settings.from_env(environment)
    assert settings.messages_table == "t-MessagesTable"
    assert settings.auth_tokens_secret == "t-TwilioAuthTokensSecret"
    assert settings.max_body_bytes == 65536


def _statements(cloudformation: dict[str, Any], role: str) -> list[dict[str, Any]]:
    policies = cloudformation["Resources"][role]["Properties"].get("Policies", [])
    return [statement for policy in policies for statement in policy["PolicyDocument"]["Statement"]]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_webhook_may_only_write_its_table_and_read_its_secret(cloudformation: dict[str, Any]) -> None:
    statements = _statements(cloudformation, "WebhookFunctionRole")
    actions = {action for s in statements for action in _as_list(s["Action"])}
    assert actions == {"dynamodb:PutItem", "dynamodb:UpdateItem", "secretsmanager:GetSecretValue"}
    for statement in statements:
        for resource in _as_list(statement["Resource"]):
            assert resource != "*" and "*" not in str(resource), statement


# Managed policies a role may carry, each with the reason it is acceptable. Anything else (SAM's
# AWSLambdaDynamoDBExecutionRole or AWSLambdaSQSQueueExecutionRole above all: every stream and queue in the account)
# fails the test below.
ALLOWED_MANAGED_POLICIES = {
    "service-role/AWSLambdaBasicExecutionRole": (
        "logs:CreateLogGroup/CreateLogStream/PutLogEvents on '*': a function's log group is named after its"
        " generated name, which its own role cannot reference without a circular dependency"
    ),
}
# Statements that may grant Resource "*", by action, with the reason (none are needed by the functions today).
ALLOWED_WILDCARD_ACTIONS: dict[str, str] = {
    "cloudwatch:PutMetricData": "CloudWatch metrics have no resource-level permissions",
    "xray:PutTraceSegments": "X-Ray has no resource-level permissions",
    "xray:PutTelemetryRecords": "X-Ray has no resource-level permissions",
}


def _policy_documents(cloudformation: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every IAM policy document in the translated template: role policies and standalone policies."""
    documents = []
    for name, resource in cloudformation["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            documents += [(name, policy["PolicyDocument"]) for policy in properties.get("Policies", [])]
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append((name, properties["PolicyDocument"]))
    return documents


def test_no_policy_anywhere_grants_wildcard_actions_or_resources(cloudformation: dict[str, Any]) -> None:
    roles = {name: r["Properties"] for name, r in cloudformation["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    assert set(roles) == {"WebhookFunctionRole", "ForwarderRole", "VerifierRole", "PreferencesFunctionRole"}
    for role, properties in roles.items():
        for arn in properties.get("ManagedPolicyArns", []):
            policy = json.dumps(arn).split(":policy/")[-1].strip('"}')
            assert policy in ALLOWED_MANAGED_POLICIES, f"{role} carries the managed policy {policy}"
    documents = _policy_documents(cloudformation)
    assert {name for name, _ in documents} == set(roles)
    for name, document in documents:
        for statement in document["Statement"]:
            actions = _as_list(statement["Action"])
            assert all("*" not in action for action in actions), (name, statement)
            if any(resource == "*" for resource in _as_list(statement["Resource"])):
                assert set(actions) <= set(ALLOWED_WILDCARD_ACTIONS), (name, statement)


def test_forwarder_keeps_its_event_sources_but_gets_no_managed_policy_for_them(
    cloudformation: dict[str, Any], template: dict[str, Any]
) -> None:
    # SAM's Events stay (the local stack reads them); the explicit role is what keeps SAM's policies out.
    events = template["Resources"]["ForwarderFunction"]["Properties"]["Events"]
    assert {e["Type"] for e in events.values()} == {"DynamoDB", "SQS", "Schedule"}  # Schedule: the recovery sweep
    assert template["Resources"]["ForwarderFunction"]["Properties"]["Role"] == {"Fn::GetAtt": ["ForwarderRole", "Arn"]}
    # SAM silently drops a function's Policies when it has a Role: the forwarder's statements belong in ForwarderRole.
    assert "Policies" not in template["Resources"]["ForwarderFunction"]["Properties"]
    managed = json.dumps(cloudformation["Resources"]["ForwarderRole"]["Properties"]["ManagedPolicyArns"])
    assert "DynamoDBExecutionRole" not in managed and "SQSQueueExecutionRole" not in managed


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    topic = resources["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}, "the AWS-managed alias/aws/sns refuses CloudWatch"
    key = resources["AlarmTopicKey"]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Condition"] == resources["AlarmTopic"]["Condition"]
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    [cloudwatch] = [s for s in statements if s.get("Principal", {}).get("Service") == "cloudwatch.amazonaws.com"]
    assert cloudwatch["Effect"] == "Allow"
    assert set(_as_list(cloudwatch["Action"])) >= {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert "Condition" not in cloudwatch  # a condition CloudWatch's request does not carry would drop every alarm
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert alarms and all(a["AlarmActions"]["Fn::If"][1] == [{"Ref": "AlarmTopic"}] for a in alarms)


def test_http_api_invokes_the_webhook_with_payload_2(cloudformation: dict[str, Any]) -> None:
    api = cloudformation["Resources"]["HttpApi"]["Properties"]["Body"]
    for route in (INBOUND_ROUTE, STATUS_ROUTE):
        integration = api["paths"][route]["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]
        assert integration["payloadFormatVersion"] == "2.0"


def test_consent_ledger_is_recoverable_and_survives_stack_deletion(template: dict[str, Any]) -> None:
    resource = template["Resources"]["ConsentTable"]
    assert resource["DeletionPolicy"] == "Retain"
    assert resource["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert resource["Properties"]["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert [index["IndexName"] for index in resource["Properties"]["GlobalSecondaryIndexes"]] == ["ByChange"]


def test_the_change_indexes_are_sharded_and_project_only_what_their_readers_read(template: dict[str, Any]) -> None:
    from smsbridge.adapters.change_index import CONSENT_INDEX, MESSAGES_INDEX, SLOT_ATTRIBUTE

    indexes = {name: {i["IndexName"]: i for i in template["Resources"][name]["Properties"]["GlobalSecondaryIndexes"]}
               for name in ("MessagesTable", "ConsentTable")}  # fmt: skip
    messages, consent = indexes["MessagesTable"][MESSAGES_INDEX], indexes["ConsentTable"][CONSENT_INDEX]
    # keyed by <bucket>#<shard>, never one partition per bucket; a callback in the same bucket writes no index
    assert messages["KeySchema"] == [{"AttributeName": SLOT_ATTRIBUTE, "KeyType": "HASH"}]
    assert messages["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert [k["AttributeName"] for k in consent["KeySchema"]] == [SLOT_ATTRIBUTE, "changed_at"]
    assert consent["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["record_type", "phone"]}


def test_template_keyword_parameters_are_valid_settings(template: dict[str, Any]) -> None:
    # Every allowed policy and language list the template accepts must be one the code accepts.
    environment = LocalResources(prefix="t", template=template).function_environment("WebhookFunction")
    for policy in template["Parameters"]["KeywordPolicy"]["AllowedValues"]:
        Settings.from_env({**environment, "KEYWORD_POLICY": policy, "KEYWORD_LANGUAGES": "en,es,fr"})


def _resource_names(resource: Any) -> set[str]:
    """The logical ids a policy resource points at (through Fn::GetAtt, Ref or Fn::Sub)."""
    text = repr(resource)
    return {
        name
        for name in (
            "MessagesTable",
            "ConsentTable",
            "RetryQueue",
            "DeadLetterQueue",
            "TwilioAuthTokensSecret",
            "Ci360Secret",
        )
        if name in text
    }


def test_each_function_may_touch_only_its_own_resources(cloudformation: dict[str, Any]) -> None:
    expected = {
        "WebhookFunctionRole": {
            "dynamodb:PutItem": {"MessagesTable", "ConsentTable"},
            "dynamodb:UpdateItem": {"MessagesTable", "ConsentTable"},
            "secretsmanager:GetSecretValue": {"TwilioAuthTokensSecret"},
        },
        "ForwarderRole": {
            "dynamodb:GetItem": {"MessagesTable"},
            "dynamodb:UpdateItem": {"MessagesTable"},  # the event claims
            "dynamodb:DeleteItem": {"MessagesTable"},
            # the recovery sweep: the change indexes, the facts and their claims (no Scan)
            "dynamodb:Query": {"MessagesTable", "ConsentTable"},
            "dynamodb:BatchGetItem": {"MessagesTable", "ConsentTable"},
            "sqs:SendMessage": {"RetryQueue", "DeadLetterQueue"},
            "secretsmanager:GetSecretValue": {"Ci360Secret"},
            # Its event sources: this stack's two streams and its retry queue, nothing else in the account.
            "dynamodb:DescribeStream": {"MessagesTable", "ConsentTable"},
            "dynamodb:GetRecords": {"MessagesTable", "ConsentTable"},
            "dynamodb:GetShardIterator": {"MessagesTable", "ConsentTable"},
            "dynamodb:ListStreams": {"MessagesTable", "ConsentTable"},
            # ... and the dead-letter queue, where the recovery sweep takes the stream's batch descriptions.
            "sqs:ReceiveMessage": {"RetryQueue", "DeadLetterQueue"},
            "sqs:DeleteMessage": {"RetryQueue", "DeadLetterQueue"},
            "sqs:GetQueueAttributes": {"RetryQueue"},
            "sqs:ChangeMessageVisibility": {"RetryQueue", "DeadLetterQueue"},
        },
        "PreferencesFunctionRole": {
            "dynamodb:Query": {"ConsentTable"},  # the table and its ByChange index (no Scan)
            "dynamodb:GetItem": {"ConsentTable", "MessagesTable"},
            "dynamodb:PutItem": {"MessagesTable"},
            "dynamodb:DeleteItem": {"MessagesTable"},  # gives the sync's lease back
            "dynamodb:BatchWriteItem": {"MessagesTable"},
            "secretsmanager:GetSecretValue": {"Ci360Secret"},
        },
    }
    for role, grants in expected.items():
        found: dict[str, set[str]] = {}
        for statement in _statements(cloudformation, role):
            for action in _as_list(statement["Action"]):
                found.setdefault(action, set()).update(_resource_names(statement["Resource"]))
        assert found == grants, role


def test_stream_sources_report_partial_failures_bisect_and_keep_what_they_give_up(
    cloudformation: dict[str, Any],
) -> None:
    mappings = {
        name: r["Properties"]
        for name, r in cloudformation["Resources"].items()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
    }
    forwarder = [m for m in mappings.values() if m["FunctionName"] == {"Ref": "ForwarderFunction"}]
    streams = [m for m in forwarder if "StartingPosition" in m]
    queues = [m for m in forwarder if "StartingPosition" not in m]
    assert len(streams) == 2 and len(queues) == 1
    for mapping in streams:
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["BisectBatchOnFunctionError"] is True
        assert "DeadLetterQueue" in repr(mapping["DestinationConfig"]["OnFailure"])
        assert 0 < mapping["MaximumRetryAttempts"] <= 100
        # records are given up within the hour, well inside the stream's 24 h, and the sweep finds their facts
        assert 60 <= mapping["MaximumRecordAgeInSeconds"] <= 3600
        assert "NewImage" in mapping["FilterCriteria"]["Filters"][0]["Pattern"]
        low, high = parameter_bounds(cloudformation, mapping["ParallelizationFactor"])
        assert 1 <= low <= high <= 10  # the service's range
    [queue] = queues
    assert queue["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    low, high = parameter_bounds(cloudformation, queue["ScalingConfig"]["MaximumConcurrency"])
    assert 2 <= low <= high <= 1000  # the service's range


def test_the_verifier_keeps_pending_facts_in_order_until_twilio_answers(cloudformation: dict[str, Any]) -> None:
    [mapping] = [r["Properties"] for r in cloudformation["Resources"].values()
                 if r["Type"] == "AWS::Lambda::EventSourceMapping"
                 and r["Properties"]["FunctionName"] == {"Ref": "VerifierFunction"}]  # fmt: skip
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["ConsentTable", "StreamArn"]}
    assert json.loads(mapping["FilterCriteria"]["Filters"][0]["Pattern"]) == {
        "dynamodb": {"NewImage": {"verification": {"S": ["pending"]}}}
    }
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # a fact Twilio cannot be asked about now is held, not given up: retried, in order, while the stream keeps it
    assert mapping["MaximumRetryAttempts"] == -1 and mapping["MaximumRecordAgeInSeconds"] == -1
    assert not mapping.get("BisectBatchOnFunctionError") and "DestinationConfig" not in mapping
    function = cloudformation["Resources"]["VerifierFunction"]["Properties"]
    assert function["Timeout"] >= mapping["BatchSize"] * 5  # a fetch takes at most 5 s (TwilioMessages)


def parameter_bounds(template: dict[str, Any], value: Any) -> tuple[int, int]:
    """The bounds of the Number parameter a setting is given as (``!Ref``), which hold its default."""
    parameter = template["Parameters"][value["Ref"]]
    assert parameter["MinValue"] <= parameter["Default"] <= parameter["MaxValue"]
    return parameter["MinValue"], parameter["MaxValue"]


def test_retry_queue_visibility_is_at_least_six_forwarder_timeouts(template: dict[str, Any]) -> None:
    timeout = template["Resources"]["ForwarderFunction"]["Properties"]["Timeout"]
    queue = template["Resources"]["RetryQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * timeout
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 3
    for name in ("RetryQueue", "DeadLetterQueue"):
        assert template["Resources"][name]["Properties"]["SqsManagedSseEnabled"] is True


def test_the_alarms_exist_and_notify_when_an_email_is_given(template: dict[str, Any]) -> None:
    alarms = {
        name: r["Properties"] for name, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert set().union(*(_watched(a) for a in alarms.values())) == {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/Lambda", "Errors"),
        ("AWS/ApiGateway", "5xx"),
        ("smsbridge", "Rejected_bad_signature"),
        ("smsbridge", "Unverified"),  # a signed webhook not in Twilio's documented form (issue 21)
        ("smsbridge", "Verification_contradicted"),  # Twilio's Messages API contradicted a consent fact
        ("smsbridge", "Verification_retracted"),  # ... and an applied opt-out was put back
        ("smsbridge", "Verification_unavailable"),  # Twilio's API could not be asked: opt-ins wait
        ("smsbridge", "PreferenceSync_failed"),
        ("smsbridge", "PreferenceJobStuck"),
        ("smsbridge", "PreferenceJobStatusUnknown"),
        ("smsbridge", "PreferenceSyncBacklog"),  # a backlog of consent changes that does not drain
        # partial failure: events parked, given up, the oldest unsent fact, STOP-to-CI360 latency
        ("smsbridge", "Events_retrying"),
        ("smsbridge", "Events_ambiguous"),
        ("smsbridge", "Events_deferred"),
        ("smsbridge", "Events_dead_lettered"),
        ("smsbridge", "Events_superseded"),  # a consent event CI360 never got: a later one went first
        ("AWS/Lambda", "IteratorAge"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("smsbridge", "OptOutToCi360Seconds"),
    }
    for alarm in alarms.values():
        assert alarm["AlarmActions"]["Fn::If"][0] == "HasAlarmEmail"


def _watched(alarm: dict[str, Any]) -> set[tuple[str, str]]:
    if "MetricName" in alarm:
        return {(alarm["Namespace"], alarm["MetricName"])}
    stats = [query["MetricStat"]["Metric"] for query in alarm["Metrics"] if "MetricStat" in query]
    return {(metric["Namespace"], metric["MetricName"]) for metric in stats}


def test_partial_failure_alarms_watch_metrics_the_forwarder_emits(template: dict[str, Any]) -> None:
    forwarder = (ROOT / "layers" / "smsbridge" / "smsbridge" / "app" / "forwarder.py").read_text()
    handler = (ROOT / "functions" / "forwarder" / "app.py").read_text()
    alarms = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    emitted = [name for alarm in alarms for namespace, name in _watched(alarm) if namespace == "smsbridge"]
    for name in emitted:
        if name.startswith("Events_"):
            assert f'"{name.removeprefix("Events_")}"' in forwarder, name  # an outcome the forwarder reports
    assert '"OptOutToCi360Seconds"' in handler
    [latency] = [a for a in alarms if _watched(a) == {("smsbridge", "OptOutToCi360Seconds")}]
    assert latency["ExtendedStatistic"] == "p99"
    dashboard = json.dumps(template["Resources"]["Dashboard"]["Properties"]["DashboardBody"])
    for name in ("Events_dead_lettered", "Events_ambiguous", "IteratorAge", "ApproximateAgeOfOldestMessage",
                 "OptOutToCi360Seconds"):  # fmt: skip
        assert name in dashboard, name


def test_every_function_setting_the_template_gives_is_one_the_code_reads(template: dict[str, Any]) -> None:
    source = (ROOT / "layers" / "smsbridge" / "smsbridge" / "config.py").read_text()
    for function in ("WebhookFunction", "ForwarderFunction", "PreferencesFunction"):
        variables = template["Resources"][function]["Properties"]["Environment"]["Variables"]
        for name in variables:
            assert f'"{name}"' in source or name.startswith("EVENT_NAME_"), (function, name)


def _matches(pattern: Any, value: Any) -> bool:
    """Lambda event-filter matching for the shapes the template uses (nested keys, lists of allowed values)."""
    if isinstance(pattern, list):
        return value in pattern
    return isinstance(value, dict) and all(k in value and _matches(p, value[k]) for k, p in pattern.items())


def test_stream_filters_pass_what_the_forwarder_maps_and_drop_its_bookkeeping(template: dict[str, Any]) -> None:
    events = template["Resources"]["ForwarderFunction"]["Properties"]["Events"]
    messages = json.loads(events["MessagesStream"]["Properties"]["FilterCriteria"]["Filters"][0]["Pattern"])
    consent = json.loads(events["ConsentStream"]["Properties"]["FilterCriteria"]["Filters"][0]["Pattern"])
    for name, pattern in (("forwarder-messages-stream.json", messages), ("forwarder-consent-stream.json", consent)):
        for record in json.loads((ROOT / "events" / name).read_text())["Records"]:
            assert _matches(pattern, record), (name, record["dynamodb"]["Keys"])
    bookkeeping = [
        {"pk": {"S": "SENT#reply:SM1"}, "sk": {"S": "CI360"}, "event_name": {"S": "SMS Reply"}},
        {"pk": {"S": "CONTACT#+14155550100"}, "sk": {"S": "SCOPE#+14155550199"}, "datahub_id": {"S": "D"}},
        {"pk": {"S": "SYNC#ci360-preferences"}, "sk": {"S": "CHECKPOINT"}, "through": {"S": ""}},
    ]
    for image in bookkeeping:
        assert not _matches(messages, {"dynamodb": {"NewImage": image}})


def test_no_function_reserves_concurrency(cloudformation: dict[str, Any]) -> None:
    # New accounts cannot set any aside (their quota is below the minimum unreserved pool), so the stack would not
    # deploy there; the preference sync's one-run-at-a-time is a lease in DynamoDB instead.
    functions = [r["Properties"] for r in cloudformation["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert len(functions) == 4
    assert [f.get("FunctionName", "") for f in functions if "ReservedConcurrentExecutions" in f] == []


def test_the_stuck_job_bound_is_a_parameter_the_sync_reads(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["PreferenceJobStuckMinutes"]
    assert parameter["Default"] == 120  # two hours
    environment = LocalResources(prefix="t", template=template).function_environment("PreferencesFunction")
    assert Settings.from_env(environment).preference_stuck_minutes == 120
    assert "PreferenceIdentityType" not in template["Parameters"]  # sms_id is the only type SAS takes for SMS


def test_the_stack_checks_signatures_with_the_fragment_smsbridge_prints(template: dict[str, Any]) -> None:
    # connector-body and twilio configure append DEFAULT_URL_FRAGMENT; the webhook must try the same one
    assert template["Parameters"]["TwilioUrlFragment"]["Default"] == DEFAULT_URL_FRAGMENT
    environment = LocalResources(prefix="t", template=template).function_environment("WebhookFunction")
    assert Settings.from_env(environment).url_fragment == DEFAULT_URL_FRAGMENT
    assert re.fullmatch(template["Parameters"]["TwilioUrlFragment"]["AllowedPattern"], DEFAULT_URL_FRAGMENT)


def test_the_forwarders_worst_case_batch_ends_inside_its_timeout(template: dict[str, Any]) -> None:
    # Every send of a batch at its slowest (connect and read timeouts, claim and record), in rounds of
    # Ci360MaxConcurrency, then the batch's last bookkeeping write at DynamoDB's worst case, with time to spare.
    forwarder = template["Resources"]["ForwarderFunction"]["Properties"]
    concurrency = template["Parameters"]["Ci360MaxConcurrency"]["Default"]
    default_timeout = {field.name: field.default for field in dataclasses.fields(Settings)}["ci360_timeout_seconds"]
    per_send = send_reserve_seconds(float(default_timeout))  # type: ignore[arg-type]
    margin = 5
    for name, source in forwarder["Events"].items():
        if source["Type"] not in ("DynamoDB", "SQS"):
            continue
        rounds = math.ceil(source["Properties"]["BatchSize"] / concurrency)
        worst = rounds * per_send + client_worst_case_seconds()
        assert worst + margin <= forwarder["Timeout"], (name, worst)
    assert per_send * 1000 < forwarder["Timeout"] * 1000  # a send fits in a fresh invocation, whatever the batch


# What the webhook spends besides its DynamoDB write (docs/capacity.md): a new container's init (the webhook's cold
# import is 0.3-0.5 s on the bench machine, docs/benchmarks.md), and API Gateway, Lambda's invoke, the handler (under
# 1 ms warm) and the token secret's read on a container's first request at its usual latency (tens of ms).
WEBHOOK_COLD_INIT_SECONDS, WEBHOOK_OVERHEAD_SECONDS = 1.0, 0.5


def twilio_overrides(template: dict[str, Any]) -> dict[str, str]:
    """The connection overrides of the fragment the stack is deployed with by default (and smsbridge prints)."""
    fragment = template["Parameters"]["TwilioUrlFragment"]["Default"]
    return dict(pair.split("=", 1) for pair in fragment.split("&"))


def test_the_webhooks_worst_case_answers_before_twilio_stops_reading(template: dict[str, Any]) -> None:
    # A throttled or unreachable DynamoDB must leave the webhook time to answer 503 before Twilio's read timeout
    # (`rt`): Twilio then retries (5xx and rt are in `rp`) a request that is over, not one still writing.
    overrides = twilio_overrides(template)
    read_timeout, total = int(overrides["rt"]) / 1000, int(overrides["tt"]) / 1000
    assert {"5xx", "ct", "rt"} <= set(overrides["rp"].split(","))
    worst = WEBHOOK_COLD_INIT_SECONDS + client_worst_case_seconds() + WEBHOOK_OVERHEAD_SECONDS
    assert worst <= read_timeout, (worst, read_timeout)
    # every one of Twilio's tries (the first and `rc` retries) gets its whole read timeout within the total
    assert (1 + int(overrides["rc"])) * read_timeout <= total
    # Lambda never cuts off an answer Twilio still waits for, and even with the secret read at its worst too
    # (Secrets Manager and DynamoDB both failing), the function ends by itself, answering 503
    webhook = template["Resources"]["WebhookFunction"]["Properties"]
    timeout = webhook.get("Timeout", template["Globals"]["Function"]["Timeout"])
    assert read_timeout < timeout
    assert WEBHOOK_COLD_INIT_SECONDS + 2 * client_worst_case_seconds() + WEBHOOK_OVERHEAD_SECONDS <= timeout
    assert timeout < total


def test_the_recovery_sweep_runs_on_a_schedule_and_looks_back_past_the_record_age(template: dict[str, Any]) -> None:
    from smsbridge.app.recover import SWEEP_GRACE, SWEEP_LOOKBACK

    events = template["Resources"]["ForwarderFunction"]["Properties"]["Events"]
    [schedule] = [event["Properties"]["Schedule"] for event in events.values() if event["Type"] == "Schedule"]
    minutes = int(schedule.removeprefix("rate(").split()[0])
    ages = [e["Properties"]["MaximumRecordAgeInSeconds"] for e in events.values() if e["Type"] == "DynamoDB"]
    # each run looks back further than the time between runs plus the grace, so no window falls between two runs
    assert SWEEP_LOOKBACK.total_seconds() >= minutes * 60 + SWEEP_GRACE.total_seconds()
    # and past the age at which the stream gives records up
    assert SWEEP_LOOKBACK.total_seconds() >= max(ages)
