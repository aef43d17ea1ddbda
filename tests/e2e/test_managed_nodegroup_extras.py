"""Managed node group extras from a ClusterConfig: attached security groups, node role policies, a custom AMI
and the caller's launch template — built, described by EKS, given back, deleted."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tests.e2e.test_clusterconfig import send

if TYPE_CHECKING:
    from collections.abc import Callable

    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

CONFIG = Path(__file__).resolve().parents[1] / "data" / "clusterconfigs" / "managed-nodegroup-extras.yaml"
NAME = "ng-extras"
REGION = "eu-west-1"


def test_the_managed_extras_reach_eks_come_back_and_go(
    api: Api, engine: LocalEngine, policy: Callable[..., None]
) -> None:
    policy(ENV_ALLOWED_POLICY_ARNS="ekspress:withAddonPolicies/*")  # the file asks for add-on policies
    eks, ec2, iam = engine.client("eks", REGION), engine.client("ec2", REGION), engine.client("iam", REGION)
    (ami,) = [i["ImageId"] for i in ec2.describe_images(Owners=["amazon"])["Images"] if i["Architecture"] == "x86_64"][
        :1
    ]
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    group = ec2.create_security_group(GroupName="extras", Description="extras", VpcId=vpc)["GroupId"]
    template = ec2.create_launch_template(
        LaunchTemplateName="extras", LaunchTemplateData={"InstanceType": "m5.large", "ImageId": ami}
    )["LaunchTemplate"]["LaunchTemplateId"]
    raw = (
        CONFIG.read_text()
        .replace("sg-00000000000000000", group)
        .replace("ami-00000000000000000", ami)
        .replace("lt-00000000000000000", template)
        .encode()
    )

    status, body, _ = send(api, "POST", "/clusters", raw, **{"Content-Type": "application/x-yaml"})
    assert status == 202, body
    record = api.wait_for(NAME, {"ACTIVE", "FAILED"})
    assert record["status"] == "ACTIVE", record.get("failure")

    def described(name: str) -> dict[str, Any]:
        return eks.describe_nodegroup(clusterName=NAME, nodegroupName=name)["nodegroup"]

    def template_data(nodegroup: dict[str, Any]) -> dict[str, Any]:
        versions = ec2.describe_launch_template_versions(LaunchTemplateId=nodegroup["launchTemplate"]["id"])
        return dict(versions["LaunchTemplateVersions"][-1]["LaunchTemplateData"])

    cluster_group = eks.describe_cluster(name=NAME)["cluster"]["resourcesVpcConfig"]["clusterSecurityGroupId"]
    attached = described("attached")
    data = template_data(attached)
    assert data["SecurityGroupIds"] == [group, cluster_group]
    assert "echo extras" in __import__("base64").b64decode(data["UserData"]).decode()
    role = attached["nodeRole"].rsplit("/", 1)[-1]
    assert sorted(iam.list_role_policies(RoleName=role)["PolicyNames"]) == ["PolicyCertManager", "PolicyExternalDNS"]

    custom = described("custom-ami")
    assert custom["amiType"] == "CUSTOM"
    assert template_data(custom)["ImageId"] == ami

    own = described("own-template")
    assert own["launchTemplate"]["id"] == template
    assert own["amiType"] == "CUSTOM"

    status, exported, _ = send(api, "GET", f"/clusters/{NAME}/config")
    assert status == 200
    asked = {g["name"]: g for g in yaml.safe_load(raw)["managedNodeGroups"]}
    given = {g["name"]: g for g in yaml.safe_load(exported)["managedNodeGroups"]}
    for name, wanted in asked.items():
        assert {k: given[name][k] for k in wanted} == wanted, name

    assert api.call("DELETE", f"/clusters/{NAME}").status == 202
    assert api.wait_for(NAME, {"DELETED", "DELETE_FAILED"}, timeout=120)["status"] == "DELETED"
    assert NAME not in eks.list_clusters()["clusters"]
