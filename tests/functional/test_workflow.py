"""Starting workflows: deterministic names, and a failed start that leaves a record."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import boto3
import pytest

from chalicelib.aws import store, workflow
from chalicelib.aws.template_store import TemplateNotStoredError
from chalicelib.model import naming
from chalicelib.model.errors import SpecValidationError, WorkflowStartError
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


def test_a_request_keeps_the_template_of_every_stack_its_workflow_makes(db: Store) -> None:
    settings = Settings(table_name="", create_state_machine_arn=_machine(), poll_scale=1.0)
    body = {
        "name": "kept",
        "managedNodeGroups": [{"name": "a"}, {"name": "b"}],
        "fargateProfiles": [{"name": "fp", "selectors": [{"namespace": "fp"}]}],
    }

    record = create.request_create(step_context(db=db, settings=settings), ClusterSpec.model_validate(body), "me")

    cluster_id = record["clusterId"]
    stored = db.get_cluster("kept")
    assert len(stored["zones"]) == 3  # chosen by the request, which the cluster template was rendered for
    cluster = db.template("kept", cluster_id, "eksctl-kept-cluster")
    assert json.loads(str(cluster.body))["Resources"]["ControlPlane"]["Type"] == "AWS::EKS::Cluster"
    assert cluster.tags[naming.TAG_STACK_KIND] == "cluster"
    for group in ("a", "b"):
        rendered = db.template("kept", cluster_id, f"eksctl-kept-nodegroup-{group}")
        assert rendered.tags[naming.TAG_NODEGROUP] == group and "desired 2" in rendered.note
    assert db.template("kept", cluster_id, "eksctl-kept-fargate").body is not None
    assert db.template("kept", cluster_id, "eksctl-kept-addons").skipped  # no add-on waits for nodes
    with pytest.raises(TemplateNotStoredError):
        db.template("kept", cluster_id, "eksctl-kept-nodegroup-c")


def test_a_stack_that_cannot_be_built_is_a_422_before_anything_is_recorded(db: Store) -> None:
    settings = Settings(table_name="", create_state_machine_arn=_machine(), poll_scale=1.0)
    # Each command is within the model's limit; together they pass EC2's 16 KB of user data.
    commands = ["echo " + "x" * 4000] * 5
    body = {"name": "huge", "nodeGroups": [{"name": "a"}, {"name": "b", "preBootstrapCommands": commands}]}

    with pytest.raises(SpecValidationError) as refused:
        create.request_create(step_context(db=db, settings=settings), ClusterSpec.model_validate(body), "me")

    (problem,) = refused.value.details["fields"]
    assert (problem["field"], problem["rule"]) == ("nodeGroups[1]", "stack_unbuildable")
    assert "over EC2's" in problem["message"]
    assert db.find_cluster("huge") is None
