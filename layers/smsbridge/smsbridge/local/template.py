"""Reads ``template.yaml`` so the local stack creates exactly the tables, queues and settings it declares."""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from smsbridge.errors import ConfigurationError

_TABLE_TYPES = ("AWS::DynamoDB::Table",)
_QUEUE_TYPES = ("AWS::SQS::Queue",)
_SECRET_TYPES = ("AWS::SecretsManager::Secret",)


class _CloudFormationLoader(yaml.SafeLoader):
    """A YAML loader that turns ``!Ref X`` into ``{"Ref": "X"}`` and ``!Sub``, ``!GetAtt`` … into ``Fn::`` forms."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {"Ref": value} if suffix == "Ref" else {f"Fn::{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_CloudFormationLoader)  # noqa: S506
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from exc
    if not isinstance(document, dict) or "Resources" not in document:
        raise ConfigurationError(f"{path} is not a SAM template (no Resources)")
    return document


# Deployment parameters the local stack sets another way (its own secrets and URL), with the option to use instead.
_SET_BY_SERVE = {
    "PublicBaseUrl": "--public-url",
    "TwilioAuthTokensSecretArn": "--auth-token (the local stack keeps the token in its own secret)",
    "Ci360SecretArn": "--ci360-url, --ci360-tenant and --ci360-secret",
}


def parameter_overrides(template: dict[str, Any], pairs: Iterable[str]) -> dict[str, str]:
    """``Key=Value`` pairs (as ``sam deploy --parameter-overrides`` takes them) checked against the template's
    Parameters: the name must exist and the value pass its AllowedValues, AllowedPattern and bounds."""
    declared = template.get("Parameters") or {}
    overrides: dict[str, str] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise ConfigurationError(f"--parameter-overrides takes Key=Value pairs, not {pair!r}")
        if name not in declared:
            raise ConfigurationError(f"template.yaml has no parameter {name} (it has: {', '.join(sorted(declared))})")
        if name in _SET_BY_SERVE:
            raise ConfigurationError(f"the local stack sets {name} itself: use {_SET_BY_SERVE[name]}")
        _check_parameter(name, declared[name], value)
        overrides[name] = value
    return overrides


def _check_parameter(name: str, spec: dict[str, Any], value: str) -> None:
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(option) for option in allowed]:
        raise ConfigurationError(f"{name}={value!r} is not one of {', '.join(str(option) for option in allowed)}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        raise ConfigurationError(f"{name}={value!r}: {spec.get('ConstraintDescription') or 'must match ' + pattern}")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            raise ConfigurationError(f"{name}={value!r} is not a number") from None
        low, high = spec.get("MinValue"), spec.get("MaxValue")
        if (low is not None and number < low) or (high is not None and number > high):
            raise ConfigurationError(f"{name}={value} is outside {low if low is not None else '…'}..{high or '…'}")


@dataclass
class LocalResources:
    """The physical names the local stack gives the template's resources, by logical ID, and the deployment
    parameters it runs with (the template's defaults, except those given in ``parameters``)."""

    prefix: str
    template: dict[str, Any]
    parameters: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # what ``Ref`` returns where it is not the name (queue URLs)
    arns: dict[str, str] = field(default_factory=dict)

    def resources_of(self, *types: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource.get("Properties") or {}
            for logical_id, resource in self.template["Resources"].items()
            if resource.get("Type") in types
        }

    def name_of(self, logical_id: str) -> str:
        return self.names.setdefault(logical_id, f"{self.prefix}-{logical_id}")

    def resolve(self, value: Any) -> str:
        """A template value as the local stack sees it: Refs to resources become local names, to parameters their
        overrides or defaults; ``Fn::If`` takes the branch for those values; other functions are not used in
        settings."""
        if isinstance(value, str | int | float):
            return str(value)
        if isinstance(value, dict) and "Ref" in value:
            target = value["Ref"]
            parameters = self.template.get("Parameters") or {}
            if target in parameters:
                return self.parameters.get(target, str(parameters[target].get("Default", "")))
            return self.refs.get(target) or self.name_of(target)
        if isinstance(value, dict) and "Fn::If" in value:
            condition, when_true, when_false = value["Fn::If"]
            return self.resolve(when_true if self._condition(condition) else when_false)
        raise ConfigurationError(f"the local stack cannot resolve {value!r} in template.yaml")

    def _condition(self, name: str) -> bool:
        condition = (self.template.get("Conditions") or {}).get(name) or {}
        if "Fn::Equals" in condition:
            left, right = condition["Fn::Equals"]
            return self.resolve(left) == self.resolve(right)
        raise ConfigurationError(f"the local stack cannot evaluate condition {name}")

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """The environment the template gives a function (its Globals merged with its own variables)."""
        globals_env = ((self.template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}
        function = self.resources_of("AWS::Serverless::Function").get(logical_id)
        if function is None:
            raise ConfigurationError(f"template.yaml has no function {logical_id}")
        variables = {
            **(globals_env.get("Variables") or {}),
            **((function.get("Environment") or {}).get("Variables") or {}),
        }
        return {name: self.resolve(value) for name, value in variables.items()}


def create_resources(resources: LocalResources, session: Any) -> None:
    """Create the template's tables, queues and secrets through ``session`` (a boto3 session on the emulation)."""
    dynamodb = session.client("dynamodb")
    for logical_id, properties in resources.resources_of(*_TABLE_TYPES).items():
        spec: dict[str, Any] = {
            "TableName": resources.name_of(logical_id),
            "KeySchema": properties["KeySchema"],
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
        }
        for option in ("GlobalSecondaryIndexes", "StreamSpecification"):
            if option in properties:
                spec[option] = properties[option]
        if "StreamSpecification" in spec:
            spec["StreamSpecification"] = {"StreamEnabled": True, **spec["StreamSpecification"]}
        dynamodb.create_table(**spec)
        ttl = properties.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=spec["TableName"], TimeToLiveSpecification=ttl)
    sqs = session.client("sqs")
    queues = resources.resources_of(*_QUEUE_TYPES)
    for logical_id, properties in sorted(queues.items(), key=lambda item: "RedrivePolicy" in item[1]):
        kept = ("VisibilityTimeout", "MessageRetentionPeriod")
        attributes: dict[str, str] = {name: str(properties[name]) for name in kept if name in properties}
        redrive = properties.get("RedrivePolicy")
        if redrive:
            target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": resources.arns[target], "maxReceiveCount": redrive["maxReceiveCount"]}
            )
        url = sqs.create_queue(QueueName=resources.name_of(logical_id), Attributes=attributes)["QueueUrl"]
        resources.refs[logical_id] = url
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        resources.arns[logical_id] = arn
    secret_store = session.client("secretsmanager")
    for logical_id, properties in resources.resources_of(*_SECRET_TYPES).items():
        secret_store.create_secret(Name=resources.name_of(logical_id), SecretString=_secret_string(properties))


def _secret_string(properties: Mapping[str, Any]) -> str:
    """A secret's first value: its ``SecretString``, or one generated as CloudFormation would for
    ``GenerateSecretString`` (letters and digits, ``PasswordLength`` long, default 32), else ``{}``."""
    generate = properties.get("GenerateSecretString")
    if "SecretString" in properties or not generate:
        return str(properties.get("SecretString", "{}"))
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(int(generate.get("PasswordLength", 32))))


# -- event sources: what Lambda's event source mappings are told in the template (SAM ``Events``) ------------------

LAMBDA_DEFAULT_TIMEOUT = 3  # seconds, when neither the function nor Globals set Timeout (Lambda's default)
STREAM_STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST")  # a DynamoDB stream's (AT_TIMESTAMP is Kinesis's and Kafka's)


@dataclass(frozen=True)
class StreamSourceSettings:
    """One ``Type: DynamoDB`` event of a function, with Lambda's defaults where the template is silent
    (Lambda parameters for Amazon DynamoDB event source mappings)."""

    name: str
    table: str  # logical ID of the table whose stream is read
    starting_position: str = "TRIM_HORIZON"  # or LATEST; the template must say (Lambda requires it for a stream)
    batch_size: int = 100
    batching_window: float = 0.0
    report_batch_item_failures: bool = False
    bisect_on_error: bool = False
    maximum_retry_attempts: int = -1  # -1: until the record expires
    maximum_record_age: int = -1  # seconds; -1: until the record expires
    parallelization_factor: int = 1
    filters: tuple[dict[str, Any], ...] = ()
    on_failure: str = ""  # logical ID of the SQS queue given as OnFailure destination ("" for none)


@dataclass(frozen=True)
class QueueSourceSettings:
    """One ``Type: SQS`` event of a function, with Lambda's defaults where the template is silent."""

    name: str
    queue: str  # logical ID of the queue
    batch_size: int = 10
    batching_window: float = 0.0
    report_batch_item_failures: bool = False
    maximum_concurrency: int = 0  # 0: not limited by the mapping


def _logical_target(value: Any, attribute: str) -> str:
    """The logical ID in ``!GetAtt X.<attribute>`` (or ``!Ref X``)."""
    if isinstance(value, dict) and "Fn::GetAtt" in value and value["Fn::GetAtt"][1] == attribute:
        return str(value["Fn::GetAtt"][0])
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    raise ConfigurationError(f"the local stack cannot follow {value!r} to a resource")


def _function(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    resource = template["Resources"].get(logical_id) or {}
    if resource.get("Type") != "AWS::Serverless::Function":
        raise ConfigurationError(f"template.yaml has no function {logical_id}")
    return resource.get("Properties") or {}


def _events(template: dict[str, Any], logical_id: str, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, properties) of each of the function's events of one ``Type``, in template order."""
    for name, event in (_function(template, logical_id).get("Events") or {}).items():
        if event.get("Type") == kind:
            yield name, event.get("Properties") or {}


def function_timeout(template: dict[str, Any], logical_id: str) -> int:
    """The function's ``Timeout`` in seconds (its own, else Globals', else Lambda's default)."""
    own = _function(template, logical_id).get("Timeout")
    globals_timeout = ((template.get("Globals") or {}).get("Function") or {}).get("Timeout")
    return int(own or globals_timeout or LAMBDA_DEFAULT_TIMEOUT)


def _number(template: dict[str, Any], value: Any, parameters: Mapping[str, str]) -> int:
    """An event source's numeric setting: a number, or ``!Ref`` to a parameter (its override, else its default)."""
    if isinstance(value, dict) and "Ref" in value:
        name = value["Ref"]
        declared = (template.get("Parameters") or {}).get(name)
        if declared is None:
            raise ConfigurationError(f"template.yaml: an event source setting refers to {name}, not a parameter")
        return int(parameters.get(name, declared.get("Default", 0)))
    return int(value)


def stream_sources(
    template: dict[str, Any], logical_id: str, parameters: Mapping[str, str] | None = None
) -> list[StreamSourceSettings]:
    """The function's DynamoDB stream event sources, in template order (``parameters``: deployment overrides)."""
    parameters = parameters or {}
    found = []
    for name, properties in _events(template, logical_id, "DynamoDB"):
        destination = ((properties.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        found.append(
            StreamSourceSettings(
                name=name,
                table=_logical_target(properties["Stream"], "StreamArn"),
                starting_position=_starting_position(name, properties),
                batch_size=int(properties.get("BatchSize", 100)),
                batching_window=float(properties.get("MaximumBatchingWindowInSeconds", 0)),
                report_batch_item_failures="ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or []),
                bisect_on_error=bool(properties.get("BisectBatchOnFunctionError", False)),
                maximum_retry_attempts=int(properties.get("MaximumRetryAttempts", -1)),
                maximum_record_age=int(properties.get("MaximumRecordAgeInSeconds", -1)),
                parallelization_factor=_number(template, properties.get("ParallelizationFactor", 1), parameters),
                filters=tuple(
                    json.loads(item["Pattern"]) for item in (properties.get("FilterCriteria") or {}).get("Filters", [])
                ),
                on_failure=_logical_target(destination, "Arn") if destination else "",
            )
        )
    return found


def _starting_position(name: str, properties: dict[str, Any]) -> str:
    """A stream event's ``StartingPosition``: required, and TRIM_HORIZON or LATEST for a DynamoDB stream."""
    position = properties.get("StartingPosition")
    if position not in STREAM_STARTING_POSITIONS:
        raise ConfigurationError(
            f"template.yaml: the DynamoDB event {name} needs StartingPosition TRIM_HORIZON or LATEST, not {position!r}"
        )
    return str(position)


def queue_sources(
    template: dict[str, Any], logical_id: str, parameters: Mapping[str, str] | None = None
) -> list[QueueSourceSettings]:
    """The function's SQS event sources, in template order (``parameters``: deployment overrides)."""
    parameters = parameters or {}
    found = []
    for name, properties in _events(template, logical_id, "SQS"):
        found.append(
            QueueSourceSettings(
                name=name,
                queue=_logical_target(properties["Queue"], "Arn"),
                batch_size=int(properties.get("BatchSize", 10)),
                batching_window=float(properties.get("MaximumBatchingWindowInSeconds", 0)),
                report_batch_item_failures="ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or []),
                maximum_concurrency=_number(
                    template, (properties.get("ScalingConfig") or {}).get("MaximumConcurrency", 0), parameters
                ),
            )
        )
    return found
