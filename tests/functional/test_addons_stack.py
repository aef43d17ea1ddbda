"""The add-ons stack against moto: made after the node groups, DEGRADED without nodes as on AWS, deleted first."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from chalicelib.cfn import kinds
from chalicelib.model import naming, steps
from chalicelib.operations import create, delete
from local import eks_models
from tests.functional.helpers import given_a_requested_cluster, step_context

if TYPE_CHECKING:
    from chalicelib.aws.clients import Clients
    from chalicelib.aws.store import Store

REGION = "us-west-2"
ACCOUNT = "123456789012"
ALL_FOUR = [{"name": n} for n in ("vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver")]


def cfn() -> Any:
    return boto3.client("cloudformation", region_name=REGION)


def first_failure(stack: str) -> tuple[str, str]:
    events = cfn().describe_stack_events(StackName=stack)["StackEvents"]
    (failed,) = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    return failed["LogicalResourceId"], failed["ResourceStatusReason"]


def requested(db: Store, name: str, **body: Any) -> str:
    record = given_a_requested_cluster(
        db, {"name": name, "region": REGION, "iam": {"withOIDC": True}, "addons": ALL_FOUR} | body
    )
    return str(record["clusterId"])


def create_stack(db: Store, clients: Clients, name: str, cluster_id: str, kind: str) -> dict[str, Any]:
    return create.create_cluster_stack(
        step_context(db=db, clients=clients), steps.ClusterStackStep(name=name, clusterId=cluster_id, kind=kind)
    )


def nodegroups(db: Store, clients: Clients, name: str, cluster_id: str) -> None:
    record = db.get_cluster(name)
    for group in record["spec"]["managedNodeGroups"]:
        create.create_nodegroup_stack(
            step_context(db=db, clients=clients),
            steps.NodegroupStep(name=name, clusterId=cluster_id, nodegroup=group["name"]),
        )


def status(stack_id: str) -> str:
    return str(cfn().describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"])


# -- the local engine holds add-ons to what EKS does ------------------------------------------


def test_the_old_ordering_fails_coredns_degraded_as_aws_would(db: Store, clients: Clients) -> None:
    """Given add-ons that need nodes made before any node group, then CloudFormation fails them."""
    cluster_id = requested(db, "early")
    create_stack(db, clients, "early", cluster_id, "cluster")

    # The add-ons stack made before the node groups: what putting every add-on in the cluster stack did.
    ref = create_stack(db, clients, "early", cluster_id, "addons")

    assert status(ref["stackId"]) == "ROLLBACK_COMPLETE"
    resource, reason = first_failure(ref["stackId"])
    assert resource in ("AddonCoredns", "AddonAwsEbsCsiDriver")
    assert "is in DEGRADED state" in reason
    assert "InsufficientNumberOfReplicas" in reason
    # Rolled back: only the add-ons that need no node are left on the cluster.
    assert sorted(eks_models.addons_of(ACCOUNT, REGION, "early")) == ["kube-proxy", "vpc-cni"]


def test_addons_that_need_no_node_become_active_with_the_control_plane(db: Store, clients: Clients) -> None:
    cluster_id = requested(db, "bare", addons=[{"name": "vpc-cni"}, {"name": "kube-proxy"}], managedNodeGroups=[])

    ref = create_stack(db, clients, "bare", cluster_id, "cluster")

    assert status(ref["stackId"]) == "CREATE_COMPLETE"
    made = eks_models.addons_of(ACCOUNT, REGION, "bare")
    assert sorted(made) == ["kube-proxy", "vpc-cni"]
    assert {a.status for a in made.values()} == {"ACTIVE"}
    # Nothing waits for nodes, so there is no add-ons stack to make.
    assert create_stack(db, clients, "bare", cluster_id, "addons") == {"kind": "addons", "skipped": True}


# -- the add-ons stack, after the node groups -------------------------------------------------


def test_after_the_node_groups_the_addons_stack_makes_coredns_and_the_ebs_csi_driver_with_its_role(
    db: Store, clients: Clients
) -> None:
    cluster_id = requested(db, "web")
    create_stack(db, clients, "web", cluster_id, "cluster")
    nodegroups(db, clients, "web", cluster_id)

    ref = create_stack(db, clients, "web", cluster_id, "addons")

    assert ref["stackName"] == naming.addons_stack_name("web") == "eksctl-web-addons"
    assert ref["kind"] == "addons"
    assert ref["skipped"] is False
    assert status(ref["stackId"]) == "CREATE_COMPLETE"
    made = eks_models.addons_of(ACCOUNT, REGION, "web")
    assert sorted(made) == ["aws-ebs-csi-driver", "coredns", "kube-proxy", "vpc-cni"]
    assert {a.status for a in made.values()} == {"ACTIVE"}
    # The driver's service account assumes a role that trusts the cluster's OIDC provider, for it alone.
    role_arn = made["aws-ebs-csi-driver"].service_account_role_arn
    assert role_arn is not None
    role_name = role_arn.rsplit("/", 1)[1]
    assert role_name.startswith("eksctl-web-addons-")  # within the stack role's `role/eksctl-*`
    iam = boto3.client("iam")
    trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    (statement,) = trust["Statement"]
    (provider,) = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    issuer = provider["Arn"].split(":oidc-provider/")[1]
    assert statement["Principal"] == {"Federated": provider["Arn"]}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"]["StringEquals"] == {
        f"{issuer}:sub": "system:serviceaccount:kube-system:ebs-csi-controller-sa",
        f"{issuer}:aud": "sts.amazonaws.com",
    }
    # The record knows the stack, tagged as ours and as its kind.
    record = db.get_cluster("web")
    assert record["phase"] == create.PHASE_WORKLOADS
    assert record["stacks"]["eksctl-web-addons"]["kind"] == "addons"
    tags = {t["Key"]: t["Value"] for t in cfn().describe_stacks(StackName=ref["stackId"])["Stacks"][0]["Tags"]}
    assert naming.is_ours(tags, "web")
    assert tags[naming.TAG_STACK_KIND] == kinds.ADDONS.name
    assert tags[naming.TAG_CLUSTER_ID] == cluster_id


def test_a_retried_addons_step_returns_the_same_stack(db: Store, clients: Clients) -> None:
    cluster_id = requested(db, "again")
    create_stack(db, clients, "again", cluster_id, "cluster")
    nodegroups(db, clients, "again", cluster_id)

    first = create_stack(db, clients, "again", cluster_id, "addons")
    second = create_stack(db, clients, "again", cluster_id, "addons")

    assert first == second


def test_the_step_refuses_a_kind_it_does_not_make(db: Store, clients: Clients) -> None:
    cluster_id = requested(db, "odd")

    with pytest.raises(ValueError, match="not a 'nodegroup' stack"):
        create_stack(db, clients, "odd", cluster_id, "nodegroup")


# -- deleting: the add-ons stack first -------------------------------------------------------


def test_the_addons_stack_is_listed_apart_and_goes_before_the_node_groups(db: Store, clients: Clients) -> None:
    cluster_id = requested(db, "gone")
    create_stack(db, clients, "gone", cluster_id, "cluster")
    nodegroups(db, clients, "gone", cluster_id)
    create_stack(db, clients, "gone", cluster_id, "addons")
    ctx = step_context(db=db, clients=clients)

    listed = delete.list_stacks(ctx, steps.RegionStep(name="gone", clusterId=cluster_id, region=REGION))

    (addons,) = listed["workloadStacks"]
    assert addons["stackName"] == "eksctl-gone-addons"
    assert addons["kind"] == "addons"
    assert [s["kind"] for s in listed["nodegroupStacks"]] == ["nodegroup"]
    assert listed["clusterStack"]["stackName"] == "eksctl-gone-cluster"

    stack = delete.delete_stack(ctx, steps.StackStep(name="gone", clusterId=cluster_id, region=REGION, stack=addons))
    state = delete.describe_stack_deletion(
        ctx, steps.StackStep(name="gone", clusterId=cluster_id, region=REGION, stack=stack)
    )

    assert state["done"] is True
    assert db.get_cluster("gone")["stacks"]["eksctl-gone-addons"]["status"] == "DELETE_COMPLETE"
    assert sorted(eks_models.addons_of(ACCOUNT, REGION, "gone")) == ["kube-proxy", "vpc-cni"]
    roles = [r["RoleName"] for r in boto3.client("iam").list_roles()["Roles"]]
    assert not [r for r in roles if r.startswith("eksctl-gone-addons-")]


def test_a_cluster_without_addons_lists_no_addons_stack(db: Store, clients: Clients) -> None:
    cluster_id = requested(db, "plain", addons=[])
    create_stack(db, clients, "plain", cluster_id, "cluster")

    listed = delete.list_stacks(
        step_context(db=db, clients=clients), steps.RegionStep(name="plain", clusterId=cluster_id, region=REGION)
    )

    assert listed["workloadStacks"] == []
