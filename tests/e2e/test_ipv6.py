"""IPv6 over HTTP: eksctl's examples 30 (an IPv6 cluster) and 02 (auto-allocated IPv6 blocks) built, ACTIVE,
given back and deleted; eksctl's IPv6 rules answered with 422s before anything is built."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tests.e2e.test_clusterconfig import send

if TYPE_CHECKING:
    from collections.abc import Callable

    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

CONFIGS = Path(__file__).resolve().parents[1] / "data" / "clusterconfigs"
YAML = {"Content-Type": "application/x-yaml"}


def exported(api: Api, name: str) -> dict[str, Any]:
    status, body, _ = send(api, "GET", f"/clusters/{name}/config")
    assert status == 200, body
    config: dict[str, Any] = yaml.safe_load(body) if isinstance(body, str) else body
    return config


def delete(api: Api, name: str) -> None:
    assert api.call("DELETE", f"/clusters/{name}").status == 202
    final = api.wait_for(name, {"DELETED", "DELETE_FAILED"})
    assert final["status"] == "DELETED", final.get("failure")


def subnet_blocks(engine: LocalEngine, region: str, vpc_id: str) -> tuple[ipaddress.IPv6Network, list[Any]]:
    ec2 = engine.client("ec2", region)
    (vpc,) = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    block = ipaddress.IPv6Network(vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"])
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    return block, [ipaddress.IPv6Network(s["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]) for s in subnets]


def test_example_30_an_ipv6_cluster_goes_active_and_is_deleted(
    api: Api, engine: LocalEngine, policy: Callable[..., None]
) -> None:
    # The example gives vpc-cni an inline policy: the service policy must allow its actions.
    policy(ENV_ALLOWED_INLINE_ACTIONS="ec2:AssignIpv6Addresses,ec2:Describe*,ec2:CreateTags")
    raw = (CONFIGS / "eksctl-30-vpc-with-ip-family.yaml").read_bytes()
    status, body, _ = send(api, "POST", "/clusters", raw, **YAML)
    assert status == 202, body

    record = api.wait_for("cluster-v6", {"ACTIVE", "FAILED"})
    assert record["status"] == "ACTIVE", record.get("failure")
    eks = engine.client("eks", "us-west-2")
    cluster = eks.describe_cluster(name="cluster-v6")["cluster"]
    assert cluster["kubernetesNetworkConfig"]["ipFamily"] == "ipv6"
    assert "serviceIpv6Cidr" in cluster["kubernetesNetworkConfig"]
    vpc_id = cluster["resourcesVpcConfig"]["vpcId"]
    block, held = subnet_blocks(engine, "us-west-2", vpc_id)
    assert len(set(held)) == len(held) >= 4 and all(h.prefixlen == 64 and h.subnet_of(block) for h in held)
    gateways = engine.client("ec2", "us-west-2").describe_egress_only_internet_gateways()
    assert [g["Attachments"][0]["VpcId"] for g in gateways["EgressOnlyInternetGateways"]] == [vpc_id]
    assert eks.describe_nodegroup(clusterName="cluster-v6", nodegroupName="mng-1")["nodegroup"]["status"] == "ACTIVE"
    # vpc-cni's role holds the example's own policy, with ec2:AssignIpv6Addresses.
    cfn = engine.client("cloudformation", "us-west-2")
    role = cfn.describe_stack_resource(StackName="eksctl-cluster-v6-cluster", LogicalResourceId="VpcCniRole")[
        "StackResourceDetail"
    ]["PhysicalResourceId"]
    iam = engine.client("iam", "us-west-2")
    (inline,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
    assert "ec2:AssignIpv6Addresses" in str(iam.get_role_policy(RoleName=role, PolicyName=inline)["PolicyDocument"])

    config = exported(api, "cluster-v6")
    assert config["kubernetesNetworkConfig"] == {"ipFamily": "IPv6"}
    assert "nat" not in config["vpc"]
    assert [a["name"] for a in config["addons"]] == ["vpc-cni", "coredns", "kube-proxy"]

    delete(api, "cluster-v6")
    assert (
        engine.client("ec2", "us-west-2").describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"] == []
    )


def test_example_02_auto_allocated_ipv6_goes_active_and_is_deleted(api: Api, engine: LocalEngine) -> None:
    raw = (CONFIGS / "eksctl-02-custom-vpc-cidr-no-nodes.yaml").read_bytes()
    status, body, _ = send(api, "POST", "/clusters", raw, **YAML)
    assert status == 202, body

    record = api.wait_for("cluster-2", {"ACTIVE", "FAILED"})
    assert record["status"] == "ACTIVE", record.get("failure")
    cluster = engine.client("eks", "eu-north-1").describe_cluster(name="cluster-2")["cluster"]
    assert cluster["kubernetesNetworkConfig"]["ipFamily"] == "ipv4"
    block, held = subnet_blocks(engine, "eu-north-1", cluster["resourcesVpcConfig"]["vpcId"])
    assert len(set(held)) == len(held) >= 4 and all(h.subnet_of(block) for h in held)

    config = exported(api, "cluster-2")
    assert config["vpc"]["autoAllocateIPv6"] is True
    assert config["vpc"]["cidr"] == "10.10.0.0/16"

    delete(api, "cluster-2")


def test_what_eksctl_refuses_with_ipv6_is_a_422_naming_each_field(api: Api) -> None:
    raw = b"""
apiVersion: eksctl.io/v1alpha5
kind: ClusterConfig
metadata: {name: v6-refused, region: us-west-2}
kubernetesNetworkConfig: {ipFamily: IPv6}
vpc: {nat: {gateway: HighlyAvailable}}
addons: [{name: coredns}]
nodeGroups: [{name: self}]
"""
    status, body, _ = send(api, "POST", "/clusters", raw, **YAML)

    assert status == 422, body
    rules = {f["field"]: f["rule"] for f in body["fields"]}
    assert rules == {
        "vpc.nat.gateway": "ipv6_nat",
        "nodeGroups[0]": "ipv6_self_managed",
        "addons": "ipv6_addons_required",
    }
    status, _, _ = send(api, "GET", "/clusters/v6-refused")
    assert status == 404, "nothing is recorded for a refused request"
