"""Finds a deployment's tables for the CLI: the local stack's state file, a CloudFormation stack, or a name."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from smsbridge.errors import ConfigurationError, NotReachable
from smsbridge.ops.local_state import LOCAL_STATE, process_alive, read_state


@dataclass(frozen=True)
class Location:
    """A resource of a deployment (table name, queue URL or secret id) and the boto3 session that reaches it."""

    name: str
    session: boto3.session.Session
    endpoint_url: str | None = None

    def client(self, service: str = "dynamodb") -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]


def locate(
    logical_id: str,
    output: str,
    *,
    local: bool = False,
    stack: str = "",
    given: str = "",
    flag: str = "--table",
    region: str | None = None,
    state_file: Path = LOCAL_STATE,
) -> Location:
    """Where a resource is: ``local`` (the running ``smsbridge serve`` that wrote ``state_file``), ``stack`` (its
    Outputs), or ``given`` by the user under ``flag``."""
    if local:
        return _local(logical_id, state_file)
    # botocore reads AWS_DEFAULT_REGION only; AWS_REGION (what Lambda and most AWS tools set) counts too
    session = boto3.session.Session(region_name=region or os.environ.get("AWS_REGION") or None)
    if given:
        return Location(given, session)
    if stack:
        return Location(_stack_output(session, stack, output), session)
    raise ConfigurationError(f"say where it is: --local, --stack NAME or {flag} …")


def function_environment(
    logical_id: str, *, local: bool = False, stack: str = "", region: str | None = None, state_file: Path = LOCAL_STATE
) -> dict[str, str]:
    """The settings a deployed function runs with: with ``local``, the running local stack's (its state file holds
    its functions' environments, merged); else the function ``logical_id`` of ``stack``, as Lambda has it."""
    if local:
        return dict(_running_state(state_file).get("environment", {}))
    session = locate("MessagesTable", "MessagesTableName", stack=stack, region=region, flag="--stack NAME").session
    try:
        resource = session.client("cloudformation").describe_stack_resource(
            StackName=stack, LogicalResourceId=logical_id)["StackResourceDetail"]  # fmt: skip
        configuration = session.client("lambda").get_function_configuration(
            FunctionName=resource["PhysicalResourceId"])  # fmt: skip
    except (ClientError, BotoCoreError) as exc:
        raise ConfigurationError(f"cannot read the settings of stack {stack}'s {logical_id}: {exc}") from exc
    return dict(configuration.get("Environment", {}).get("Variables", {}))


def _running_state(state_file: Path) -> dict[str, Any]:
    state = read_state(state_file)
    if state is None:
        raise NotReachable(f"the local stack is not running ({state_file} not found): start it with `make serve`")
    if not process_alive(state.get("pid")):
        raise NotReachable(
            f"the local stack is not running (process {state.get('pid')} in {state_file} has ended): "
            "start it with `make serve`"
        )
    return state


def _local(logical_id: str, state_file: Path) -> Location:
    state = _running_state(state_file)
    session = boto3.session.Session(
        aws_access_key_id="local",
        aws_secret_access_key="local",
        region_name=state["region"],
    )
    return Location(state["resources"][logical_id], session, state["aws_endpoint_url"])


def _stack_output(session: boto3.session.Session, stack: str, output: str) -> str:
    try:
        described = session.client("cloudformation").describe_stacks(StackName=stack)
    except NoRegionError:
        raise ConfigurationError("no AWS region: give --region, set AWS_REGION, or use --local") from None
    except NoCredentialsError:
        raise NotReachable("no AWS credentials: set AWS_PROFILE or run `aws configure` (or use --local)") from None
    except (ClientError, BotoCoreError) as exc:
        raise ConfigurationError(f"cannot read stack {stack}: {exc}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0].get("Outputs", [])}
    if output not in outputs:
        raise ConfigurationError(f"stack {stack} has no output {output}; is it a smsbridge stack?")
    return str(outputs[output])
