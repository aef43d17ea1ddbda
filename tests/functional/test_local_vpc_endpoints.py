"""The local engine's VPC endpoints and endpoint access updates refuse what EC2 and EKS refuse; they go with
their stack, and a VPC that still holds one cannot be deleted."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.functional.test_local_models import REGION, ROLE, cfn, ec2, failure, stack, two_zone_subnets

SERVICE = f"com.amazonaws.{REGION}"


def endpoint_stack(name: str, vpc_props: dict[str, Any], endpoint: dict[str, Any]) -> dict[str, Any]:
    """A stack of a VPC (with `vpc_props`), two subnets in two zones, a route table and one endpoint."""
    subnet = {"VpcId": {"Ref": "VPC"}, "CidrBlock": "10.30.0.0/24", "AvailabilityZone": f"{REGION}a"}
    resources: dict[str, Any] = {
        "VPC": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.30.0.0/16", **vpc_props}},
        "SubnetA": {"Type": "AWS::EC2::Subnet", "Properties": subnet},
        "SubnetA2": {"Type": "AWS::EC2::Subnet", "Properties": {**subnet, "CidrBlock": "10.30.1.0/24"}},
        "SubnetB": {
            "Type": "AWS::EC2::Subnet",
            "Properties": {**subnet, "CidrBlock": "10.30.2.0/24", "AvailabilityZone": f"{REGION}b"},
        },
        "Table": {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": {"Ref": "VPC"}}},
        "Group": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {"GroupDescription": "endpoints", "VpcId": {"Ref": "VPC"}},
        },
        "Endpoint": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {"VpcId": {"Ref": "VPC"}, **endpoint}},
    }
    return stack(name, resources)


def interface(service: str, *subnets: str, dns: bool = True) -> dict[str, Any]:
    return {
        "ServiceName": f"{SERVICE}.{service}",
        "VpcEndpointType": "Interface",
        "SubnetIds": [{"Ref": s} for s in subnets],
        "PrivateDnsEnabled": dns,
        "SecurityGroupIds": [{"Ref": "Group"}],
    }


DNS = {"EnableDnsSupport": True, "EnableDnsHostnames": True}


def test_endpoints_ec2_takes_are_made_and_go_with_their_stack() -> None:
    made = endpoint_stack("ok", DNS, interface("ecr.api", "SubnetA", "SubnetB"))
    assert made["StackStatus"] == "CREATE_COMPLETE", failure("ok")
    gateway = stack(
        "gw",
        {
            "Endpoint": {
                "Type": "AWS::EC2::VPCEndpoint",
                "Properties": {
                    "VpcId": _resource("ok", "VPC"),
                    "ServiceName": f"{SERVICE}.s3",
                    "VpcEndpointType": "Gateway",
                    "RouteTableIds": [_resource("ok", "Table")],
                },
            }
        },
    )
    assert gateway["StackStatus"] == "CREATE_COMPLETE", failure("gw")
    (endpoint,) = [e for e in ec2().describe_vpc_endpoints()["VpcEndpoints"] if e["VpcEndpointType"] == "Interface"]
    # Its interfaces carry its group: the group cannot go while the endpoint lives.
    group = _resource("ok", "Group")
    with pytest.raises(ClientError, match="DependencyViolation"):
        ec2().delete_security_group(GroupId=group)
    with pytest.raises(ClientError, match="DependencyViolation"):
        ec2().delete_vpc(VpcId=endpoint["VpcId"])

    # The route table goes first (its stack's VPC cannot, while the endpoint lives): the endpoint still goes.
    table = _resource("ok", "Table")
    cfn().delete_stack(StackName="ok")
    assert table not in {t["RouteTableId"] for t in ec2().describe_route_tables()["RouteTables"]}
    cfn().delete_stack(StackName="gw")
    assert not [e for e in ec2().describe_vpc_endpoints()["VpcEndpoints"] if e["VpcEndpointType"] == "Gateway"]
    cfn().delete_stack(StackName="ok")
    assert not ec2().describe_vpc_endpoints()["VpcEndpoints"]
    assert not ec2().describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [endpoint["VpcId"]]}])["Vpcs"]


@pytest.mark.parametrize(
    ("vpc_props", "endpoint", "reason"),
    [
        (DNS, interface("no-such-service", "SubnetA"), "no-such-service' does not exist"),
        (DNS, {**interface("s3", "SubnetA"), "VpcEndpointType": "Gateway"}, "route tables, not subnets"),
        (DNS, interface("ec2", "SubnetA", "SubnetA2"), "another VPC endpoint subnet in the availability zone"),
        # A template that leaves the attributes out gets EC2's defaults: DNS hostnames off.
        ({}, interface("sts", "SubnetA"), "enableDnsSupport and enableDnsHostnames"),
        ({"EnableDnsSupport": True, "EnableDnsHostnames": False}, interface("sts", "SubnetA"), "enableDnsHostnames"),
    ],
)
def test_what_ec2_refuses_fails_the_endpoint(vpc_props: dict[str, Any], endpoint: dict[str, Any], reason: str) -> None:
    made = endpoint_stack("bad", vpc_props, endpoint)

    assert made["StackStatus"] == "ROLLBACK_COMPLETE"
    resource, why = failure("bad")
    assert (resource, reason in why) == ("Endpoint", True), why


def test_an_interface_endpoint_goes_only_in_zones_its_service_is_in(monkeypatch: pytest.MonkeyPatch) -> None:
    from local import vpc_endpoint_models

    offered = vpc_endpoint_models._offered
    monkeypatch.setattr(vpc_endpoint_models, "_offered", lambda *a: [z for z in offered(*a) if not z.endswith("b")])
    made = endpoint_stack("zones", DNS, interface("ec2", "SubnetA", "SubnetB"))

    assert made["StackStatus"] == "ROLLBACK_COMPLETE"
    assert "does not support the availability zone" in failure("zones")[1]


def cluster_stack(subnets: list[str], public: bool, private: bool, update: bool = False, **more: Any) -> dict[str, Any]:
    vpc_config = {"SubnetIds": subnets, "EndpointPublicAccess": public, "EndpointPrivateAccess": private}
    props = {"Name": "p1", "RoleArn": ROLE, "ResourcesVpcConfig": vpc_config, **more}
    return stack("p1-cluster", {"ControlPlane": {"Type": "AWS::EKS::Cluster", "Properties": props}}, update=update)


def test_the_public_endpoint_is_turned_off_in_place_and_both_off_is_refused() -> None:
    subnets = two_zone_subnets()
    assert cluster_stack(subnets, True, True)["StackStatus"] == "CREATE_COMPLETE"
    eks = boto3.client("eks", region_name=REGION)
    arn = eks.describe_cluster(name="p1")["cluster"]["arn"]

    assert cluster_stack(subnets, False, True, update=True)["StackStatus"] == "UPDATE_COMPLETE", failure("p1-cluster")
    described = eks.describe_cluster(name="p1")["cluster"]
    assert described["arn"] == arn  # the same cluster, not a replacement
    vpc_config = described["resourcesVpcConfig"]
    assert (vpc_config["endpointPublicAccess"], vpc_config["endpointPrivateAccess"]) == (False, True)

    assert cluster_stack(subnets, False, False, update=True)["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert "either public or private endpoint access" in failure("p1-cluster")[1]
    # A change the engine does not model is refused, not silently left undone.
    assert cluster_stack(subnets, False, True, update=True, Version="1.33")["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"


def _resource(stack_name: str, logical_id: str) -> str:
    return str(
        cfn().describe_stack_resource(StackName=stack_name, LogicalResourceId=logical_id)["StackResourceDetail"][
            "PhysicalResourceId"
        ]
    )


def test_a_vpc_holding_an_endpoint_cannot_be_deleted() -> None:
    vpc = ec2().create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    endpoint = ec2().create_vpc_endpoint(VpcId=vpc, ServiceName=f"{SERVICE}.s3", VpcEndpointType="Gateway")

    with pytest.raises(ClientError, match="DependencyViolation"):
        ec2().delete_vpc(VpcId=vpc)
    ec2().delete_vpc_endpoints(VpcEndpointIds=[endpoint["VpcEndpoint"]["VpcEndpointId"]])
    ec2().delete_vpc(VpcId=vpc)


def test_a_second_endpoint_of_a_service_ec2_will_not_make_fails() -> None:
    assert endpoint_stack("ok", DNS, interface("sts", "SubnetA"))["StackStatus"] == "CREATE_COMPLETE"
    vpc, subnet, table = _resource("ok", "VPC"), _resource("ok", "SubnetB"), _resource("ok", "Table")
    ec2().create_vpc_endpoint(VpcId=vpc, ServiceName=f"{SERVICE}.s3", VpcEndpointType="Gateway", RouteTableIds=[table])

    def second(name: str, properties: dict[str, Any]) -> str:
        made = stack(name, {"Endpoint": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {"VpcId": vpc, **properties}}})
        assert made["StackStatus"] == "ROLLBACK_COMPLETE"
        return failure(name)[1]

    dns = {"ServiceName": f"{SERVICE}.sts", "VpcEndpointType": "Interface", "SubnetIds": [subnet]}
    assert "conflicting DNS domain" in second("dns", {**dns, "PrivateDnsEnabled": True})
    assert "already has a route" in second(
        "s3", {"ServiceName": f"{SERVICE}.s3", "VpcEndpointType": "Gateway", "RouteTableIds": [table]}
    )
    # Without private DNS a second endpoint of the service is fine.
    assert (
        stack("plain", {"Endpoint": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {"VpcId": vpc, **dns}}})[
            "StackStatus"
        ]
        == "CREATE_COMPLETE"
    )
