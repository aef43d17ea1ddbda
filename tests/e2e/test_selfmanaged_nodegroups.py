"""Self-managed node groups (eksctl's `nodeGroups`) from a ClusterConfig to nodes in Kubernetes, and back out.

The nodes are the local engine's: an Auto Scaling group's instances join the cluster only when their
bootstrap names it and aws-auth maps their role, as on AWS, so a node count here proves both.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from chalicelib.aws.clients import Clients
from chalicelib.model import settings
from chalicelib.operations.access import connect
from tests.e2e.conftest import wait_until
from tests.e2e.test_clusterconfig import send
from tests.e2e.test_nodegroups import node_role_mapped, settled

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

CONFIG = Path(__file__).resolve().parents[1] / "data" / "clusterconfigs" / "selfmanaged-nodegroups.yaml"
NAME = "selfmanaged"
REGION = "eu-central-1"
GROUP_LABEL = "alpha.eksctl.io/nodegroup-name"


def nodes_by_group(name: str) -> dict[str, list[dict[str, Any]]]:
    """The cluster's Kubernetes nodes, read through the API as the service's tasks read it."""
    found: dict[str, list[dict[str, Any]]] = {}
    for node in connect(Clients(REGION), REGION, name).list_nodes():
        group = node["metadata"].get("labels", {}).get(GROUP_LABEL, "")
        found.setdefault(group, []).append(node)
    return found


def counts(name: str) -> dict[str, int]:
    return {group: len(nodes) for group, nodes in nodes_by_group(name).items()}


def stack_outputs(engine: LocalEngine, stack: str) -> dict[str, str]:
    found = engine.client("cloudformation", REGION).describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}


def asg_of(engine: LocalEngine, group: str) -> dict[str, Any]:
    autoscaling = engine.client("autoscaling", REGION)
    stack = f"eksctl-{NAME}-nodegroup-{group}"
    resources = engine.client("cloudformation", REGION).describe_stack_resources(StackName=stack)
    name = next(
        r["PhysicalResourceId"]
        for r in resources["StackResources"]
        if r["ResourceType"] == "AWS::AutoScaling::AutoScalingGroup"
    )
    return dict(autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0])


@pytest.fixture(scope="module")
def cluster(api: Api) -> dict[str, Any]:
    raw = CONFIG.read_bytes()
    status, body, _ = send(api, "POST", "/clusters", raw, **{"Content-Type": "application/x-yaml"})
    assert status == 422, "withAddonPolicies and inline policies are held to the service policy"
    assert {(f["field"], f["rule"]) for f in body["fields"]} == {
        ("nodeGroups[0].iam.withAddonPolicies.autoScaler", "policy_arn_not_allowed"),
        ("nodeGroups[0].iam.withAddonPolicies.cloudWatch", "policy_arn_not_allowed"),
        ("nodeGroups[0].iam.attachPolicy", "inline_action_not_allowed"),
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(settings.ENV_ALLOWED_POLICY_ARNS, "ekspress:withAddonPolicies/*")
        patch.setenv(settings.ENV_ALLOWED_NODE_INLINE_ACTIONS, "s3:GetObject")
        settings.get_settings.cache_clear()
        status, body, _ = send(api, "POST", "/clusters", raw, **{"Content-Type": "application/x-yaml"})
    settings.get_settings.cache_clear()
    assert status == 202, body
    record = api.wait_for(NAME, {"ACTIVE", "FAILED"}, timeout=180)
    assert record["status"] == "ACTIVE", record.get("failure")
    return record


def test_each_group_runs_the_image_eks_publishes_and_its_nodes_join(
    api: Api, engine: LocalEngine, cluster: dict[str, Any]
) -> None:
    ssm, ec2 = engine.client("ssm", REGION), engine.client("ec2", REGION)
    published = ssm.get_parameter(
        Name="/aws/service/eks/optimized-ami/1.32/amazon-linux-2023/x86_64/standard/recommended/image_id"
    )
    rocket = ssm.get_parameter(Name="/aws/service/bottlerocket/aws-k8s-1.32/arm64/latest/image_id")
    general = asg_of(engine, "general")
    template = general["LaunchTemplate"]
    data = ec2.describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"])[
        "LaunchTemplateVersions"
    ][-1]["LaunchTemplateData"]
    assert data["ImageId"] == published["Parameter"]["Value"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1  # disablePodIMDS
    assert data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    spot = asg_of(engine, "spot-mix")
    overrides = spot["MixedInstancesPolicy"]["LaunchTemplate"]["Overrides"]
    assert [o["InstanceType"] for o in overrides] == ["m5.large", "m5a.large", "m4.large"]
    groups = {g["name"]: g for g in cluster["spec"]["nodeGroups"]}
    assert groups["rocket"]["imageId"] == rocket["Parameter"]["Value"]

    joined = wait_until(
        lambda: counts(NAME) if counts(NAME) == {"general": 2, "spot-mix": 2, "rocket": 1, "classic": 1} else None,
        "every self-managed node to join",
    )
    assert joined
    spot_nodes = nodes_by_group(NAME)["spot-mix"]
    assert all(n["metadata"]["labels"]["lifecycle"] == "Ec2Spot" for n in spot_nodes)
    assert all(
        {"key": "spotInstance", "value": "true", "effect": "PreferNoSchedule"} in n["spec"].get("taints", [])
        for n in spot_nodes
    )
    for group in groups:
        role = stack_outputs(engine, f"eksctl-{NAME}-nodegroup-{group}")["NodeInstanceRoleARN"]
        assert node_role_mapped(api, NAME, role), group
    general_role = stack_outputs(engine, f"eksctl-{NAME}-nodegroup-general")["NodeInstanceRoleARN"]
    own = engine.client("iam", REGION).get_role_policy(RoleName=general_role.rsplit("/", 1)[1], PolicyName="Policy1")
    # moto gives the document back as the text of what the stack passed (not IAM's JSON): compare as text.
    assert "s3:GetObject" in str(own["PolicyDocument"]) and "team-artifacts" in str(own["PolicyDocument"])
    # coredns, in the add-ons stack, needs a node: it is made once aws-auth let the nodes in.
    assert cluster["stacks"][f"eksctl-{NAME}-addons"]["status"] == "CREATE_COMPLETE"
    kinds = [e["type"] for e in cluster["events"]]
    assert kinds.index("AWS_AUTH_UPDATED") < max(
        i for i, e in enumerate(cluster["events"]) if e.get("details", {}).get("stack") == f"eksctl-{NAME}-addons"
    )


def test_the_config_comes_back_with_the_self_managed_groups(api: Api, cluster: dict[str, Any]) -> None:
    status, exported, _ = send(api, "GET", f"/clusters/{NAME}/config")
    assert status == 200
    asked = {g["name"]: g for g in yaml.safe_load(CONFIG.read_bytes())["nodeGroups"]}
    given = {g["name"]: g for g in yaml.safe_load(exported)["nodeGroups"]}
    assert set(given) == set(asked)
    for name, group in asked.items():
        expected = {k: v for k, v in group.items() if k != "taints"}
        got = {k: given[name][k] for k in expected}
        if "instancesDistribution" in got:  # given back with eksctl's defaults filled in
            mixed = got["instancesDistribution"]
            got["instancesDistribution"] = {k: mixed[k] for k in expected["instancesDistribution"]}
        assert got == expected, name
    assert given["spot-mix"]["taints"] == [{"key": "spotInstance", "value": "true", "effect": "PreferNoSchedule"}]
    assert "imageId" not in given["general"] and "instanceType" not in given["spot-mix"]


def test_add_scale_and_delete_a_self_managed_group(api: Api, engine: LocalEngine, cluster: dict[str, Any]) -> None:
    body = {"name": "extra", "instanceType": "c5.large", "desiredCapacity": 1, "maxSize": 3}
    refused = api.call("POST", f"/clusters/{NAME}/nodegroups?managed=maybe", body)
    assert refused.status == 400
    added = api.call("POST", f"/clusters/{NAME}/nodegroups?managed=false", body)
    assert added.status == 202, added.body
    record = settled(api, NAME, timeout=90)
    assert "extra" in {g["name"] for g in record["spec"]["nodeGroups"]}
    role = stack_outputs(engine, f"eksctl-{NAME}-nodegroup-extra")["NodeInstanceRoleARN"]
    assert node_role_mapped(api, NAME, role)
    wait_until(lambda: counts(NAME).get("extra") == 1 or None, "the new group's node to join")

    scaled = api.call("PATCH", f"/clusters/{NAME}/nodegroups/extra", {"desiredCapacity": 3})
    assert scaled.status == 202, scaled.body
    settled(api, NAME, timeout=90)
    assert asg_of(engine, "extra")["DesiredCapacity"] == 3
    wait_until(lambda: counts(NAME).get("extra") == 3 or None, "the group to scale to 3 nodes")

    deleted = api.call("DELETE", f"/clusters/{NAME}/nodegroups/extra")
    assert deleted.status == 202, deleted.body
    record = settled(api, NAME, timeout=90)
    assert "extra" not in {g["name"] for g in record["spec"]["nodeGroups"]}
    assert not node_role_mapped(api, NAME, role)
    wait_until(lambda: "extra" not in counts(NAME) or None, "the group's nodes to leave")


def test_an_image_that_does_not_exist_is_refused_before_anything_is_built(api: Api) -> None:
    body = {
        "name": "no-such-image",
        "region": REGION,
        "nodeGroups": [{"name": "ng", "ami": "ami-0000000000000dead", "amiFamily": "AmazonLinux2023"}],
    }
    reply = api.call("POST", "/clusters", body)
    assert reply.status == 422, reply.body
    assert [(f["field"], f["rule"]) for f in reply.body["fields"]] == [("nodeGroups[0].ami", "ami_not_found")]
    assert api.call("GET", "/clusters/no-such-image").status == 404


def test_delete_takes_every_group_and_the_cluster(api: Api, engine: LocalEngine, cluster: dict[str, Any]) -> None:
    assert api.call("DELETE", f"/clusters/{NAME}").status == 202
    assert api.wait_for(NAME, {"DELETED", "DELETE_FAILED"}, timeout=180)["status"] == "DELETED"
    cfn = engine.client("cloudformation", REGION)
    live = [s["StackName"] for s in cfn.describe_stacks()["Stacks"] if s["StackName"].startswith(f"eksctl-{NAME}-")]
    assert live == []
    groups = engine.client("autoscaling", REGION).describe_auto_scaling_groups()["AutoScalingGroups"]
    assert not [g for g in groups if any(t["Key"] == f"kubernetes.io/cluster/{NAME}" for t in g.get("Tags", []))]
