"""A cluster in an existing VPC over HTTP: built in the given subnets, deleted without touching the network."""

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
CONFIG = Path(__file__).resolve().parents[1] / "data" / "clusterconfigs" / "existing-vpc.yaml"


@pytest.fixture
def network(engine: LocalEngine) -> dict[str, str]:
    """A VPC of the caller's with a private and a public subnet in two zones."""
    ec2 = engine.client("ec2", REGION)
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    made = {"VPC_ID": vpc}
    for index, (name, zone) in enumerate(
        [("PRIVATE_A", "a"), ("PRIVATE_B", "b"), ("PUBLIC_A", "a"), ("PUBLIC_B", "b")]
    ):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.50.{index * 16}.0/20", AvailabilityZone=f"{REGION}{zone}")
        made[f"SUBNET_{name}"] = subnet["Subnet"]["SubnetId"]
    return made


def network_exists(engine: LocalEngine, network: dict[str, str]) -> bool:
    ec2 = engine.client("ec2", REGION)
    subnets = [v for k, v in network.items() if k.startswith("SUBNET_")]
    found = ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": subnets}])["Subnets"]
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [network["VPC_ID"]]}])["Vpcs"]
    return len(found) == len(subnets) and len(vpcs) == 1


def built_kinds(engine: LocalEngine, name: str) -> set[str]:
    template = engine.client("cloudformation", REGION).get_template(StackName=f"eksctl-{name}-cluster")
    return {r["Type"] for r in template["TemplateBody"]["Resources"].values()}


def create_and_delete(
    api: Api, engine: LocalEngine, name: str, network: dict[str, str], control_plane: set[str]
) -> dict[str, Any]:
    record = api.wait_for(name, {"ACTIVE", "FAILED"})
    assert record["status"] == "ACTIVE", record.get("failure")
    assert record["cluster"]["vpcId"] == network["VPC_ID"]
    assert not built_kinds(engine, name) & {"AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::NatGateway"}
    eks = engine.client("eks", REGION).describe_cluster(name=name)["cluster"]["resourcesVpcConfig"]
    assert set(eks["subnetIds"]) == control_plane

    assert api.call("DELETE", f"/clusters/{name}").status == 202
    final = api.wait_for(name, {"DELETED", "DELETE_FAILED"})
    assert final["status"] == "DELETED", final.get("failure")
    assert network_exists(engine, network), "the caller's VPC and subnets outlive the cluster"
    return record


def test_a_json_request_builds_in_the_given_private_subnets(
    api: Api, engine: LocalEngine, network: dict[str, str]
) -> None:
    body = {
        "name": "byo-json",
        "region": REGION,
        "vpc": {
            "id": network["VPC_ID"],
            "subnets": {
                "private": {"a": {"id": network["SUBNET_PRIVATE_A"]}, "b": {"id": network["SUBNET_PRIVATE_B"]}},
                "public": {"a": {"id": network["SUBNET_PUBLIC_A"]}, "b": {"id": network["SUBNET_PUBLIC_B"]}},
            },
        },
        "managedNodeGroups": [{"name": "ng", "desiredCapacity": 1, "privateNetworking": True}],
    }
    reply = api.call("POST", "/clusters", body)
    assert reply.status == 202, reply.body

    create_and_delete(api, engine, "byo-json", network, {v for k, v in network.items() if k.startswith("SUBNET_")})


def test_a_clusterconfig_file_builds_in_the_given_subnets_and_gives_them_back(
    api: Api, engine: LocalEngine, network: dict[str, str]
) -> None:
    text = CONFIG.read_text()
    for placeholder, value in sorted(network.items(), key=lambda item: -len(item[0])):
        text = text.replace(placeholder, value)
    status, body, _ = send(api, "POST", "/clusters", text.encode(), **{"Content-Type": "application/x-yaml"})
    assert status == 202, body

    record = api.wait_for("byo-yaml", {"ACTIVE", "FAILED"})
    assert record["status"] == "ACTIVE", record.get("failure")
    status, exported, _ = send(api, "GET", "/clusters/byo-yaml/config")
    assert status == 200
    config = yaml.safe_load(exported) if isinstance(exported, str) else exported
    assert config["vpc"]["id"] == network["VPC_ID"]
    assert config["vpc"]["subnets"]["public"]["edge-one"] == {
        "id": network["SUBNET_PUBLIC_A"],
        "az": f"{REGION}a",
        "cidr": "10.50.32.0/20",
    }
    assert config["availabilityZones"] == [f"{REGION}a", f"{REGION}b"]
    edge = engine.client("eks", REGION).describe_nodegroup(clusterName="byo-yaml", nodegroupName="edge")
    assert edge["nodegroup"]["subnets"] == [network["SUBNET_PUBLIC_B"]]

    assert config["vpc"]["controlPlaneSubnetIDs"] == [network["SUBNET_PRIVATE_A"], network["SUBNET_PRIVATE_B"]]

    create_and_delete(api, engine, "byo-yaml", network, {network["SUBNET_PRIVATE_A"], network["SUBNET_PRIVATE_B"]})


def test_a_subnet_of_another_vpc_is_a_422_naming_it(api: Api, engine: LocalEngine, network: dict[str, str]) -> None:
    ec2 = engine.client("ec2", REGION)
    other = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    stray = ec2.create_subnet(VpcId=other, CidrBlock="10.60.0.0/20", AvailabilityZone=f"{REGION}b")["Subnet"]
    body = {
        "name": "byo-bad",
        "region": REGION,
        "vpc": {
            "id": network["VPC_ID"],
            "subnets": {"private": {"a": {"id": network["SUBNET_PRIVATE_A"]}, "b": {"id": stray["SubnetId"]}}},
        },
        "managedNodeGroups": [{"name": "ng", "privateNetworking": True}],
    }

    reply = api.call("POST", "/clusters", body)

    assert reply.status == 422, reply.body
    assert [(f["field"], f["rule"]) for f in reply.body["fields"]] == [
        ("vpc.subnets.private.b.id", "subnet_not_in_vpc")
    ]
    assert api.call("GET", "/clusters/byo-bad").status == 404
