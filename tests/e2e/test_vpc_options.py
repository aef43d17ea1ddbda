"""eksctl's control-plane network options over HTTP: built, ACTIVE, given back, deleted; and the 422s before."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tests.e2e.test_clusterconfig import send

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

REGION = "eu-west-1"
CONFIGS = Path(__file__).resolve().parents[1] / "data" / "clusterconfigs"
YAML = {"Content-Type": "application/x-yaml"}


@pytest.fixture
def network(engine: LocalEngine) -> dict[str, str]:
    """A VPC of the caller's: a private and a public subnet in two zones, and two security groups."""
    ec2 = engine.client("ec2", REGION)
    vpc = ec2.create_vpc(CidrBlock="10.80.0.0/16")["Vpc"]["VpcId"]
    made = {"VPC_ID": vpc}
    for index, (name, zone) in enumerate(
        [("PRIVATE_A", "a"), ("PRIVATE_B", "b"), ("PUBLIC_A", "a"), ("PUBLIC_B", "b")]
    ):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.80.{index * 16}.0/20", AvailabilityZone=f"{REGION}{zone}")
        made[f"SUBNET_{name}"] = subnet["Subnet"]["SubnetId"]
    for name in ("ONE", "TWO"):
        group = ec2.create_security_group(GroupName=f"cp-{name.lower()}-{vpc}", Description="control plane", VpcId=vpc)
        made[f"SG_{name}"] = group["GroupId"]
    return made


def filled(name: str, network: dict[str, str]) -> bytes:
    text = (CONFIGS / name).read_text()
    for placeholder, value in sorted(network.items(), key=lambda item: -len(item[0])):
        text = text.replace(placeholder, value)
    return text.encode()


def exported(api: Api, name: str) -> dict[str, Any]:
    status, body, _ = send(api, "GET", f"/clusters/{name}/config")
    assert status == 200, body
    config: dict[str, Any] = yaml.safe_load(body) if isinstance(body, str) else body
    return config


def delete(api: Api, name: str) -> None:
    assert api.call("DELETE", f"/clusters/{name}").status == 202
    final = api.wait_for(name, {"DELETED", "DELETE_FAILED"})
    assert final["status"] == "DELETED", final.get("failure")


def test_an_existing_vpc_with_the_control_plane_on_private_subnets_in_extra_groups(
    api: Api, engine: LocalEngine, network: dict[str, str]
) -> None:
    status, body, _ = send(api, "POST", "/clusters", filled("vpc-options-existing.yaml", network), **YAML)
    assert status == 202, body

    record = api.wait_for("opts-existing", {"ACTIVE", "FAILED"})
    assert record["status"] == "ACTIVE", record.get("failure")
    eks = engine.client("eks", REGION).describe_cluster(name="opts-existing")["cluster"]["resourcesVpcConfig"]
    assert set(eks["subnetIds"]) == {network["SUBNET_PRIVATE_A"], network["SUBNET_PRIVATE_B"]}
    assert {network["SG_ONE"], network["SG_TWO"]} <= set(eks["securityGroupIds"])
    assert record["cluster"]["securityGroupId"] not in (network["SG_ONE"], network["SG_TWO"])  # ekspress's own

    config = exported(api, "opts-existing")
    assert config["vpc"]["controlPlaneOnPrivateSubnets"] is True
    assert config["vpc"]["controlPlaneSecurityGroupIDs"] == [network["SG_ONE"], network["SG_TWO"]]
    assert config["vpc"]["autoAllocateIPv6"] is False

    delete(api, "opts-existing")
    groups = engine.client("ec2", REGION).describe_security_groups(GroupIds=[network["SG_ONE"], network["SG_TWO"]])
    assert len(groups["SecurityGroups"]) == 2, "the caller's groups outlive the cluster"


def test_a_built_vpc_with_hostname_type_and_the_control_plane_on_private_subnets(api: Api, engine: LocalEngine) -> None:
    status, body, _ = send(api, "POST", "/clusters", (CONFIGS / "vpc-options-built.yaml").read_bytes(), **YAML)
    assert status == 202, body

    record = api.wait_for("opts-built", {"ACTIVE", "FAILED"})
    assert record["status"] == "ACTIVE", record.get("failure")
    cfn = engine.client("cloudformation", REGION)
    template = cfn.get_template(StackName="eksctl-opts-built-cluster")["TemplateBody"]
    subnets = [r for r in template["Resources"].values() if r["Type"] == "AWS::EC2::Subnet"]
    assert len(subnets) == 4
    assert all(s["Properties"]["PrivateDnsNameOptionsOnLaunch"] == {"HostnameType": "resource-name"} for s in subnets)
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cfn.describe_stacks(StackName="eksctl-opts-built-cluster")["Stacks"][0]["Outputs"]
    }
    eks = engine.client("eks", REGION).describe_cluster(name="opts-built")["cluster"]["resourcesVpcConfig"]
    assert set(eks["subnetIds"]) == set(outputs["SubnetsPrivate"].split(","))

    config = exported(api, "opts-built")
    assert config["vpc"]["hostnameType"] == "resource-name"
    assert config["vpc"]["controlPlaneOnPrivateSubnets"] is True

    delete(api, "opts-built")


def test_a_control_plane_group_of_another_vpc_is_a_422_naming_it(
    api: Api, engine: LocalEngine, network: dict[str, str]
) -> None:
    ec2 = engine.client("ec2", REGION)
    other = ec2.create_vpc(CidrBlock="10.90.0.0/16")["Vpc"]["VpcId"]
    stray = ec2.create_security_group(GroupName="stray", Description="elsewhere", VpcId=other)["GroupId"]
    raw = filled("vpc-options-existing.yaml", {**network, "SG_TWO": stray}).replace(b"opts-existing", b"opts-stray")

    status, body, _ = send(api, "POST", "/clusters", raw, **YAML)

    assert status == 422, body
    assert [(f["field"], f["rule"]) for f in body["fields"]] == [
        ("vpc.controlPlaneSecurityGroupIDs[1]", "security_group_not_in_vpc")
    ]
    assert api.call("GET", "/clusters/opts-stray").status == 404


def test_hostname_type_with_an_existing_vpc_is_a_422(api: Api, network: dict[str, str]) -> None:
    document = yaml.safe_load(filled("vpc-options-existing.yaml", network))
    document["metadata"]["name"] = "opts-hostnames"
    document["vpc"]["hostnameType"] = "resource-name"

    status, body, _ = send(api, "POST", "/clusters", yaml.safe_dump(document).encode(), **YAML)

    assert status == 422, body
    assert [(f["field"], f["rule"]) for f in body["fields"]] == [("vpc.hostnameType", "hostname_type_existing_vpc")]
