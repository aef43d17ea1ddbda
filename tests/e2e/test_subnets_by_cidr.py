"""A ClusterConfig naming an existing VPC's subnet by its CIDR alone: found in EC2, built in, given back by id."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import yaml

from tests.e2e.test_clusterconfig import send

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

REGION = "eu-west-1"


@pytest.fixture
def network(engine: LocalEngine) -> dict[str, str]:
    """A VPC of the caller's with a private subnet in each of two zones."""
    ec2 = engine.client("ec2", REGION)
    vpc = ec2.create_vpc(CidrBlock="10.70.0.0/16")["Vpc"]["VpcId"]
    made = {"vpc": vpc}
    for name, cidr, zone in (("a", "10.70.0.0/20", "a"), ("b", "10.70.16.0/20", "b")):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=f"{REGION}{zone}")
        made[name] = subnet["Subnet"]["SubnetId"]
    return made


def config(network: dict[str, str], name: str, cidr: str) -> bytes:
    return f"""
apiVersion: eksctl.io/v1alpha5
kind: ClusterConfig
metadata: {{name: {name}, region: {REGION}}}
vpc:
  id: {network["vpc"]}
  subnets:
    private:
      private-one: {{cidr: "{cidr}"}}
      private-two: {{id: {network["b"]}}}
managedNodeGroups:
  - name: ng
    desiredCapacity: 1
    privateNetworking: true
""".encode()


def test_a_subnet_named_by_cidr_is_found_built_in_and_given_back(
    api: Api, engine: LocalEngine, network: dict[str, str]
) -> None:
    raw = config(network, "by-cidr", "10.70.0.0/20")
    status, body, _ = send(api, "POST", "/clusters", raw, **{"Content-Type": "application/x-yaml"})
    assert status == 202, body

    record = api.wait_for("by-cidr", {"ACTIVE", "FAILED"})
    assert record["status"] == "ACTIVE", record.get("failure")
    status, exported, _ = send(api, "GET", "/clusters/by-cidr/config")
    assert status == 200
    got = yaml.safe_load(exported) if isinstance(exported, str) else exported
    assert got["vpc"]["subnets"]["private"]["private-one"] == {
        "id": network["a"],
        "az": f"{REGION}a",
        "cidr": "10.70.0.0/20",
    }
    vpc_config = engine.client("eks", REGION).describe_cluster(name="by-cidr")["cluster"]["resourcesVpcConfig"]
    assert sorted(vpc_config["subnetIds"]) == sorted([network["a"], network["b"]])

    assert api.call("DELETE", "/clusters/by-cidr").status == 202
    final = api.wait_for("by-cidr", {"DELETED", "DELETE_FAILED"})
    assert final["status"] == "DELETED", final.get("failure")


def test_no_subnet_with_the_cidr_is_a_422_naming_it(api: Api, network: dict[str, str]) -> None:
    raw = config(network, "by-cidr-bad", "10.70.99.0/24")
    status, body, _ = send(api, "POST", "/clusters", raw, **{"Content-Type": "application/x-yaml"})

    assert status == 422, body
    assert [(f["field"], f["rule"], f["message"]) for f in body["fields"]] == [
        ("vpc.subnets.private.private-one.cidr", "subnet_not_found", f"no subnet with this CIDR in {network['vpc']}")
    ]
    assert api.call("GET", "/clusters/by-cidr-bad").status == 404
