"""Starting workflows: deterministic names, and a failed start that leaves a record."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import boto3
import pytest

from chalicelib.aws import store, workflow
from chalicelib.model.errors import WorkflowStartError
from chalicelib.model.settings import Settings
from chalicelib.model.spec import ClusterSpec
from chalicelib.operations import create
from tests.functional.helpers import step_context

if TYPE_CHECKING:
    from chalicelib.aws.store import Store

PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
ROLE = "arn:aws:iam::123456789012:role/sfn"


def _machine() -> str:
    sfn = boto3.client("stepfunctions", region_name="us-west-2")
    return str(sfn.create_state_machine(name="create", definition=PASS, roleArn=ROLE)["stateMachineArn"])


def test_starting_the_same_operation_twice_runs_one_execution() -> None:
    sfn = boto3.client("stepfunctions", region_name="us-west-2")
    arn = _machine()

    first = workflow.start(sfn, arn, "create", "mz", "abc123", {"name": "mz"})
    second = workflow.start(sfn, arn, "create", "mz", "abc123", {"name": "mz"})

    assert first == second
    assert len(sfn.list_executions(stateMachineArn=arn)["executions"]) == 1


def test_a_request_records_the_cluster_and_its_execution(db: Store) -> None:
    sfn = boto3.client("stepfunctions", region_name="us-west-2")
    settings = Settings(table_name="", create_state_machine_arn=_machine(), poll_scale=1.0)

    record = create.request_create(
        step_context(db=db, settings=settings), ClusterSpec.model_validate({"name": "mz"}), "me"
    )

    stored = db.get_cluster("mz")
    assert stored["executionArn"] == record["executionArn"]
    assert stored["executionArn"].endswith(f":create-mz-{record['clusterId']}")
    execution_input = json.loads(sfn.describe_execution(executionArn=record["executionArn"])["input"])
    assert execution_input == {
        # How long each waiting step gives its stack's event (settings.EVENT_WAIT_SECONDS at poll scale 1).
        "eventWaits": {"cluster": 1500, "stack": 600},
        "name": "mz",
        "clusterId": record["clusterId"],
        "region": "us-west-2",
        "nodegroups": [stored["spec"]["managedNodeGroups"][0]["name"]],
        "workloadStacks": [],
        "privateCluster": False,
    }


def test_a_workflow_that_cannot_start_leaves_a_failed_record(db: Store) -> None:
    missing = "arn:aws:states:us-west-2:123456789012:stateMachine:missing"
    settings = Settings(table_name="", create_state_machine_arn=missing, poll_scale=1.0)

    with pytest.raises(WorkflowStartError):
        create.request_create(
            step_context(db=db, settings=settings), ClusterSpec.model_validate({"name": "stuck"}), "me"
        )

    stored = db.get_cluster("stuck")
    assert stored["status"] == store.FAILED
    assert stored["failure"]["step"] == "StartWorkflow"
    assert "could not start" in stored["failure"]["reason"]
