"""Task `create_nodegroup_stack` against moto: one stack per managed node group."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
import pytest

from chalicelib.aws.template_store import TemplateNotStoredError
from chalicelib.cfn import templates
from chalicelib.cfn.stacks import StackNotOursError
from chalicelib.model import naming, steps
from chalicelib.operations import create
from chalicelib.operations.context import Context
from tests.functional.helpers import RecordingSfn, given_a_requested_cluster, stack_outputs, step_context

if TYPE_CHECKING:
    from chalicelib.aws.clients import Clients
    from chalicelib.aws.store import Store

REGION = "eu-west-1"
BODY = {
    "name": "pool",
    "region": REGION,
    "managedNodeGroups": [
        {"name": "public", "instanceType": "c5.large", "minSize": 1, "desiredCapacity": 3, "maxSize": 5},
        {"name": "private", "privateNetworking": True, "volumeSize": 120},
    ],
}


@pytest.fixture
def cluster_id(db: Store, clients: Clients) -> str:
    record = given_a_requested_cluster(db, BODY)
    create.create_cluster_stack(
        step_context(db=db, clients=clients), steps.ClusterStep(name="pool", clusterId=record["clusterId"])
    )
    return str(record["clusterId"])


def test_creates_a_node_group_in_the_cluster_with_its_sizes(db: Store, clients: Clients, cluster_id: str) -> None:
    ref = create.create_nodegroup_stack(
        step_context(db=db, clients=clients), steps.NodegroupStep(name="pool", clusterId=cluster_id, nodegroup="public")
    )

    assert ref["stackName"] == naming.nodegroup_stack_name("pool", "public")
    group = boto3.client("eks", region_name=REGION).describe_nodegroup(clusterName="pool", nodegroupName="public")
    assert group["nodegroup"]["scalingConfig"] == {"minSize": 1, "maxSize": 5, "desiredSize": 3}
    assert group["nodegroup"]["instanceTypes"] == ["c5.large"]
    stored = db.get_cluster("pool")["stacks"][ref["stackName"]]
    assert stored["nodegroup"] == "public"
    creating = [e["message"] for e in db.list_events("pool", cluster_id) if e["type"] == "STACK_CREATING"]
    assert creating[-1] == "Creating stack eksctl-pool-nodegroup-public: min 1, desired 3, max 5"


def test_private_networking_puts_nodes_in_the_private_subnets(db: Store, clients: Clients, cluster_id: str) -> None:
    create.create_nodegroup_stack(
        step_context(db=db, clients=clients),
        steps.NodegroupStep(name="pool", clusterId=cluster_id, nodegroup="private"),
    )

    cfn = boto3.client("cloudformation", region_name=REGION)
    outputs = stack_outputs(cfn, "eksctl-pool-cluster")
    group = boto3.client("eks", region_name=REGION).describe_nodegroup(clusterName="pool", nodegroupName="private")
    assert sorted(group["nodegroup"]["subnets"]) == sorted(outputs[templates.OUTPUT_SUBNETS_PRIVATE].split(","))
    assert group["nodegroup"]["diskSize"] == 120


def test_the_node_role_is_an_output_for_aws_auth(db: Store, clients: Clients, cluster_id: str) -> None:
    ref = create.create_nodegroup_stack(
        step_context(db=db, clients=clients), steps.NodegroupStep(name="pool", clusterId=cluster_id, nodegroup="public")
    )

    cfn = boto3.client("cloudformation", region_name=REGION)
    outputs = stack_outputs(cfn, ref["stackId"])
    assert outputs[templates.OUTPUT_NODE_ROLE_ARN].startswith("arn:aws:iam::")


def test_a_node_group_not_in_the_spec_is_refused(db: Store, clients: Clients, cluster_id: str) -> None:
    """Its request rendered no such stack: the step says so and creates nothing."""
    with pytest.raises(TemplateNotStoredError, match="no template of eksctl-pool-nodegroup-ghost is kept"):
        create.create_nodegroup_stack(
            step_context(db=db, clients=clients),
            steps.NodegroupStep(name="pool", clusterId=cluster_id, nodegroup="ghost"),
        )


def test_a_retried_waiting_step_whose_stack_has_ended_is_answered_at_once(
    db: Store, clients: Clients, cluster_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sfn = RecordingSfn()
    monkeypatch.setattr(Context, "sfn", property(lambda self: sfn))
    ctx = step_context(db=db, clients=clients)
    step = {"name": "pool", "clusterId": cluster_id, "nodegroup": "public", "execution": "create-pool-1"}

    create.create_nodegroup_stack(ctx, steps.NodegroupStep(**step, taskToken="attempt-1"))
    # moto's stack is done at once: its event would answer attempt 1, which Step Functions has dropped
    # for the retry. CloudFormation answers the retry's request with the same stack, and no event.
    create.create_nodegroup_stack(ctx, steps.NodegroupStep(**step, taskToken="attempt-2"))

    assert sfn.answers == [("success", "attempt-2")]
    record = db.get_cluster("pool")
    assert record["stacks"][naming.nodegroup_stack_name("pool", "public")]["status"] == "CREATE_COMPLETE"
    creating = [e for e in db.list_events("pool", cluster_id) if e["type"] == "STACK_CREATING"]
    assert len([e for e in creating if "public" in e["message"]]) == 1


def test_a_stack_request_that_fails_is_recorded_as_failed_with_its_reason(
    db: Store, clients: Clients, cluster_id: str
) -> None:
    stack_name = naming.nodegroup_stack_name("pool", "public")
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName=stack_name,
        TemplateBody='{"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}',
        Tags=[{"Key": k, "Value": v} for k, v in naming.ownership_tags("pool", "another-cluster").items()],
    )

    with pytest.raises(StackNotOursError):
        create.create_nodegroup_stack(
            step_context(db=db, clients=clients),
            steps.NodegroupStep(name="pool", clusterId=cluster_id, nodegroup="public"),
        )

    entry = db.get_cluster("pool")["stacks"][stack_name]
    assert entry["status"] == "CREATE_FAILED"
    assert "not created for this cluster" in entry["reason"]
