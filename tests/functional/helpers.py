"""Builders shared by the functional tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.aws.clients import Clients
from chalicelib.model.settings import get_settings
from chalicelib.model.spec import ClusterSpec
from chalicelib.operations import create
from chalicelib.operations.context import Context

if TYPE_CHECKING:
    from datetime import datetime

    from chalicelib.aws.store import Store
    from chalicelib.model.settings import Settings

REGION = "us-west-2"


def stack_outputs(cfn: Any, stack: str) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]}


def given_a_requested_cluster(
    db: Store, body: dict[str, Any], now: datetime | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """A record as POST /clusters leaves it, with its zones and templates kept, without starting a workflow
    (nor the request's checks against AWS)."""
    spec = ClusterSpec.model_validate(body)
    ctx = step_context(db, settings=settings)
    return create.record_cluster(ctx, spec, create.cluster_layout(ctx, spec), "tester", now=now)


def step_context(db: Store | None = None, clients: Clients | None = None, settings: Settings | None = None) -> Context:
    """What a workflow step runs with: the test's store and moto-backed clients, the test's settings."""
    return Context(clients or Clients(REGION), settings or get_settings(), store=db)


def settings_with_workflows(*fields: str, region: str = "us-west-2") -> Settings:
    """The settings, with a state machine that exists (moto does not run it here) for each ARN field named."""
    import json

    import boto3

    sfn = boto3.client("stepfunctions", region_name=region)
    definition = json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}})
    role = "arn:aws:iam::123456789012:role/sfn"
    arns = {f: sfn.create_state_machine(name=f, definition=definition, roleArn=role)["stateMachineArn"] for f in fields}
    base = get_settings()
    return type(base)(**{**base.__dict__, **arns})


class RecordingSfn:
    """Step Functions as a waiting step's function sees it: the answers it sends, by kind and token."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, str]] = []

    def send_task_success(self, taskToken: str, output: str) -> None:
        self.answers.append(("success", taskToken))

    def send_task_failure(self, taskToken: str, error: str, cause: str) -> None:
        self.answers.append((error, taskToken))
