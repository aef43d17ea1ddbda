"""Task `create_cluster_stack` against moto: the stack, its resources, idempotency, ownership."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
import pytest

from chalicelib.model import naming, steps
from chalicelib.model.errors import StackNotOursError
from chalicelib.operations import create
from tests.functional.helpers import given_a_requested_cluster, step_context

if TYPE_CHECKING:
    from chalicelib.aws.clients import Clients
    from chalicelib.aws.store import Store

REGION = "ap-northeast-1"


def test_creates_the_cluster_stack_and_records_it(db: Store, clients: Clients) -> None:
    record = given_a_requested_cluster(db, {"name": "mz-k8s", "region": REGION})

    ref = create.create_cluster_stack(
        step_context(db=db, clients=clients), steps.ClusterStep(name="mz-k8s", clusterId=record["clusterId"])
    )

    assert ref["stackName"] == "eksctl-mz-k8s-cluster"
    cfn = boto3.client("cloudformation", region_name=REGION)
    stack = cfn.describe_stacks(StackName=ref["stackId"])["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert naming.is_ours({t["Key"]: t["Value"] for t in stack["Tags"]}, "mz-k8s")
    stored = db.get_cluster("mz-k8s")
    assert stored["phase"] == create.PHASE_CLUSTER_STACK
    assert stored["stacks"]["eksctl-mz-k8s-cluster"]["stackId"] == ref["stackId"]
    # Zones are EKS-usable zones of the cluster's region, remembered for retries.
    assert len(stored["zones"]) == 3
    assert all(z.startswith(REGION) for z in stored["zones"])


def test_the_stack_builds_a_vpc_and_a_control_plane(db: Store, clients: Clients) -> None:
    record = given_a_requested_cluster(db, {"name": "net", "region": REGION, "vpc": {"cidr": "10.10.0.0/16"}})

    create.create_cluster_stack(
        step_context(db=db, clients=clients), steps.ClusterStep(name="net", clusterId=record["clusterId"])
    )

    ec2 = boto3.client("ec2", region_name=REGION)
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.10.0.0/16"]}])["Vpcs"]
    assert len(vpcs) == 1
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]}])["Subnets"]
    assert len(subnets) == 6
    assert len(ec2.describe_nat_gateways()["NatGateways"]) == 1
    cluster = boto3.client("eks", region_name=REGION).describe_cluster(name="net")["cluster"]
    assert sorted(cluster["resourcesVpcConfig"]["subnetIds"]) == sorted(s["SubnetId"] for s in subnets)


def test_a_retried_task_returns_the_same_stack(db: Store, clients: Clients) -> None:
    record = given_a_requested_cluster(db, {"name": "again", "region": REGION})

    first = create.create_cluster_stack(
        step_context(db=db, clients=clients), steps.ClusterStep(name="again", clusterId=record["clusterId"])
    )
    second = create.create_cluster_stack(
        step_context(db=db, clients=clients), steps.ClusterStep(name="again", clusterId=record["clusterId"])
    )

    assert first == second
    cfn = boto3.client("cloudformation", region_name=REGION)
    assert len([s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == "eksctl-again-cluster"]) == 1


def test_a_stack_of_that_name_we_did_not_create_is_refused(db: Store, clients: Clients) -> None:
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(
        StackName="eksctl-theirs-cluster",
        TemplateBody='{"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}',
    )
    record = given_a_requested_cluster(db, {"name": "theirs", "region": REGION})

    with pytest.raises(StackNotOursError):
        create.create_cluster_stack(
            step_context(db=db, clients=clients), steps.ClusterStep(name="theirs", clusterId=record["clusterId"])
        )


def test_a_deployment_builds_with_its_stack_role_and_grants_its_kubernetes_roles(db: Store, clients: Clients) -> None:
    from chalicelib.model.settings import Settings

    role = "arn:aws:iam::123456789012:role/ekspress-dev-CloudFormationRole-X"
    kube = ("arn:aws:iam::123456789012:role/ekspress-dev-UpdateAwsAuthRole-Y",)
    deployed = Settings(
        table_name="t", create_state_machine_arn="", poll_scale=1.0, stack_role_arn=role, kubernetes_role_arns=kube
    )
    record = given_a_requested_cluster(db, {"name": "deployed", "region": REGION}, settings=deployed)

    ref = create.create_cluster_stack(
        step_context(db=db, clients=clients, settings=deployed),
        steps.ClusterStep(name="deployed", clusterId=record["clusterId"]),
    )

    cfn = boto3.client("cloudformation", region_name=REGION)
    assert cfn.describe_stacks(StackName=ref["stackId"])["Stacks"][0]["RoleARN"] == role
    body = cfn.get_template(StackName=ref["stackId"])["TemplateBody"]
    entries = [r for r in body["Resources"].values() if r["Type"] == "AWS::EKS::AccessEntry"]
    assert [e["Properties"]["PrincipalArn"] for e in entries] == list(kube)
