"""IPv6 networks on the local engine: moto's CloudFormation makes the IPv6 block, the subnets' /64s, the
egress-only internet gateway and the IPv6 routes as AWS does, EKS keeps the cluster's IP family, and
the stack's deletion takes it all away."""

from __future__ import annotations

import ipaddress
import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.ec2.exceptions import DependencyViolationError

from chalicelib.model import steps
from chalicelib.operations import create
from local.ipv6_models import fn_cidr
from tests.functional.helpers import given_a_requested_cluster, step_context
from tests.functional.test_local_models import two_zone_subnets

if TYPE_CHECKING:
    from chalicelib.aws.clients import Clients
    from chalicelib.aws.store import Store

REGION = "us-west-2"
ACCOUNT = "123456789012"
ROLE = "arn:aws:iam::123456789012:role/eks-service"
IPV6_ADDONS = [{"name": "vpc-cni"}, {"name": "coredns"}, {"name": "kube-proxy"}]


def ec2() -> Any:
    return boto3.client("ec2", region_name=REGION)


def cfn() -> Any:
    return boto3.client("cloudformation", region_name=REGION)


def cluster_stack(db: Store, clients: Clients, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The cluster stack of `body`, made as the create workflow makes it: (its id, the cluster as EKS describes it)."""
    record = given_a_requested_cluster(db, {"region": REGION, **body})
    ref = create.create_cluster_stack(
        step_context(db=db, clients=clients), steps.ClusterStep(name=body["name"], clusterId=record["clusterId"])
    )
    described = cfn().describe_stacks(StackName=ref["stackId"])["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE", cfn().describe_stack_events(StackName=ref["stackId"])
    return ref["stackId"], boto3.client("eks", region_name=REGION).describe_cluster(name=body["name"])["cluster"]


def network(vpc_id: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    (vpc,) = ec2().describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    subnets = ec2().describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    tables = ec2().describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    return vpc, subnets, tables


def test_an_ipv6_cluster_gets_its_network_and_eks_keeps_its_family(db: Store, clients: Clients) -> None:
    body = {"name": "six", "kubernetesNetworkConfig": {"ipFamily": "IPv6"}, "iam": {"withOIDC": True}}
    stack_id, cluster = cluster_stack(db, clients, {**body, "addons": IPV6_ADDONS})

    assert cluster["kubernetesNetworkConfig"]["ipFamily"] == "ipv6"
    assert ipaddress.IPv6Network(cluster["kubernetesNetworkConfig"]["serviceIpv6Cidr"]).prefixlen == 108
    vpc, subnets, tables = network(cluster["resourcesVpcConfig"]["vpcId"])
    (association,) = vpc["Ipv6CidrBlockAssociationSet"]
    block = ipaddress.IPv6Network(association["Ipv6CidrBlock"])
    assert block.prefixlen == 56
    held = [ipaddress.IPv6Network(s["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]) for s in subnets]
    assert len(held) == len(set(held)) == len(subnets) >= 4
    assert all(h.prefixlen == 64 and h.subnet_of(block) for h in held)
    assert all(s["AssignIpv6AddressOnCreation"] for s in subnets)
    (gateway,) = ec2().describe_egress_only_internet_gateways()["EgressOnlyInternetGateways"]
    assert gateway["Attachments"] == [{"State": "attached", "VpcId": vpc["VpcId"]}]
    routes = {
        (r.get("DestinationIpv6CidrBlock"), r.get("GatewayId") or r.get("EgressOnlyInternetGatewayId"))
        for t in tables
        for r in t["Routes"]
        if r.get("DestinationIpv6CidrBlock") == "::/0"
    }
    assert {target.split("-")[0] for _, target in routes} == {"igw", "eigw"}

    cfn().delete_stack(StackName=stack_id)

    assert cfn().describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    assert ec2().describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Vpcs"] == []
    assert ec2().describe_egress_only_internet_gateways()["EgressOnlyInternetGateways"] == []


def test_auto_allocated_ipv6_gives_every_subnet_a_block_and_the_cluster_stays_ipv4(db: Store, clients: Clients) -> None:
    stack_id, cluster = cluster_stack(db, clients, {"name": "dual", "vpc": {"autoAllocateIPv6": True}})

    assert cluster["kubernetesNetworkConfig"]["ipFamily"] == "ipv4"
    vpc, subnets, _ = network(cluster["resourcesVpcConfig"]["vpcId"])
    block = ipaddress.IPv6Network(vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"])
    assert all(
        ipaddress.IPv6Network(s["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]).subnet_of(block) for s in subnets
    )
    assert ec2().describe_egress_only_internet_gateways()["EgressOnlyInternetGateways"] == []

    cfn().delete_stack(StackName=stack_id)

    assert cfn().describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"


def failed_stack(name: str, resources: dict[str, Any]) -> str:
    """Make a stack that must fail; CloudFormation's reason for its failed resource."""
    cfn().create_stack(StackName=name, TemplateBody=json.dumps({"Resources": resources}))
    assert cfn().describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn().describe_stack_events(StackName=name)["StackEvents"]
    (reason,) = [e.get("ResourceStatusReason", "") for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    return str(reason)


VPC = {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.1.0.0/16"}}
BLOCK = {
    "Type": "AWS::EC2::VPCCidrBlock",
    "Properties": {"VpcId": {"Ref": "VPC"}, "AmazonProvidedIpv6CidrBlock": True},
}


def subnet(ipv6: Any, cidr: str = "10.1.0.0/24") -> dict[str, Any]:
    properties = {"VpcId": {"Ref": "VPC"}, "CidrBlock": cidr, "AvailabilityZone": f"{REGION}a", "Ipv6CidrBlock": ipv6}
    return {"Type": "AWS::EC2::Subnet", "Properties": properties, "DependsOn": "Block"}


def carved(index: int, host_bits: int) -> dict[str, Any]:
    """The `index`th block of `host_bits` host bits of the VPC's IPv6 block, as the templates carve it."""
    vpc_block = {"Fn::Select": [0, {"Fn::GetAtt": ["VPC", "Ipv6CidrBlocks"]}]}
    return {"Fn::Select": [index, {"Fn::Cidr": [vpc_block, 2, host_bits]}]}


@pytest.mark.parametrize(
    ("resources", "reason"),
    [
        # A block outside the VPC's, or not a /64: EC2 refuses the subnet.
        ({"VPC": VPC, "Block": BLOCK, "Subnet": subnet("2001:db8::/64")}, "The IPv6 CIDR '2001:db8::/64' is invalid"),
        ({"VPC": VPC, "Block": BLOCK, "Subnet": subnet(carved(0, 60))}, "/68' is invalid"),
        # Two subnets with one /64.
        (
            {
                "VPC": VPC,
                "Block": BLOCK,
                "A": subnet(carved(0, 64)),
                "B": {**subnet(carved(0, 64), "10.1.1.0/24"), "DependsOn": ["Block", "A"]},
            },
            "conflicts with another subnet",
        ),
        # One Amazon-provided block per VPC.
        (
            {"VPC": VPC, "Block": BLOCK, "Again": {**BLOCK, "DependsOn": "Block"}},
            "already has an Amazon-provided IPv6 CIDR block",
        ),
    ],
    ids=["outside-the-vpc", "not-a-64", "taken", "second-block"],
)
def test_what_ec2_refuses_fails_the_resource(resources: dict[str, Any], reason: str) -> None:
    assert reason in failed_stack("refused", resources)


def test_an_ipv6_cluster_in_subnets_without_ipv6_fails_as_eks_refuses_it() -> None:
    subnets = two_zone_subnets()
    properties = {
        "Name": "four-subnets",
        "RoleArn": ROLE,
        "ResourcesVpcConfig": {"SubnetIds": subnets},
        "KubernetesNetworkConfig": {"IpFamily": "ipv6"},
    }

    reason = failed_stack("v6-in-v4", {"ControlPlane": {"Type": "AWS::EKS::Cluster", "Properties": properties}})

    assert f"Subnet {subnets[0]} has no IPv6 CIDR block" in reason


def test_fn_cidr_carves_as_cloudformation_does() -> None:
    assert fn_cidr("2600:1f14:abc:de00::/56", 3, 64) == [
        "2600:1f14:abc:de00::/64",
        "2600:1f14:abc:de01::/64",
        "2600:1f14:abc:de02::/64",
    ]
    assert fn_cidr("10.0.0.0/16", 2, 8) == ["10.0.0.0/24", "10.0.1.0/24"]


def test_a_vpc_with_an_egress_only_gateway_is_not_deleted_before_it() -> None:
    vpc = ec2().create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    gateway = ec2().create_egress_only_internet_gateway(VpcId=vpc)["EgressOnlyInternetGateway"]

    with pytest.raises(ClientError) as refused:
        ec2().delete_vpc(VpcId=vpc)

    assert refused.value.response["Error"]["Code"] == "DependencyViolation"
    ec2().delete_egress_only_internet_gateway(EgressOnlyInternetGatewayId=gateway["EgressOnlyInternetGatewayId"])
    ec2().delete_vpc(VpcId=vpc)


def test_a_vpc_block_a_subnet_still_uses_is_disassociated_only_after_the_subnet() -> None:
    made = {"VPC": VPC, "Block": BLOCK, "Subnet": subnet(carved(0, 64))}
    stack_id = cfn().create_stack(StackName="held", TemplateBody=json.dumps({"Resources": made}))["StackId"]
    (resource,) = [
        r
        for r in cfn().describe_stack_resources(StackName="held")["StackResources"]
        if r["LogicalResourceId"] == "Block"
    ]
    model = ipv6_models_of("held")["Block"]

    with pytest.raises(DependencyViolationError):
        model.delete(ACCOUNT, REGION)

    assert resource["PhysicalResourceId"] == model.association_id
    cfn().delete_stack(StackName=stack_id)  # the subnet goes first, then the block
    assert cfn().describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"


def ipv6_models_of(stack: str) -> dict[str, Any]:
    from moto.cloudformation.models import cloudformation_backends

    (found,) = [s for s in cloudformation_backends[ACCOUNT][REGION].stacks.values() if s.name == stack]
    return dict(found.resource_map._parsed_resources)
