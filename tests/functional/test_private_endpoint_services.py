"""A fully private cluster is refused when the region lacks an endpoint service it needs (as eksctl refuses
eu-south-1), naming them; otherwise each interface endpoint's zones are EC2's."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto.ec2.models.vpcs import VPCBackend

from chalicelib.model.errors import SpecValidationError
from chalicelib.model.spec import ClusterSpec
from chalicelib.operations.network import private_endpoint_zones, private_route_tables
from tests.functional.helpers import step_context

REGION = "us-west-2"


def spec() -> ClusterSpec:
    return ClusterSpec.model_validate({"name": "p1", "region": REGION, "privateCluster": {"enabled": True}})


def test_each_interface_endpoint_gets_the_zones_ec2_offers_it_in() -> None:
    zones = private_endpoint_zones(step_context(), spec())

    assert sorted(zones) == ["ec2", "ecr.api", "ecr.dkr", "sts"]
    assert all(f"{REGION}a" in offered for offered in zones.values())
    assert private_endpoint_zones(step_context(), ClusterSpec.model_validate({"name": "p2", "region": REGION})) == {}


def test_a_region_without_a_service_is_a_422_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    catalogue = VPCBackend._collect_default_endpoint_services

    def without_sts(account_id: str, region: str) -> list[dict[str, Any]]:
        return [s for s in catalogue(account_id, region) if not s["ServiceName"].endswith((".sts", ".s3"))]

    monkeypatch.setattr(VPCBackend, "_collect_default_endpoint_services", staticmethod(without_sts))
    with pytest.raises(SpecValidationError) as refused:
        private_endpoint_zones(step_context(), spec())

    (field,) = refused.value.details["fields"]
    assert (field["field"], field["rule"]) == ("privateCluster.enabled", "endpoint_service_unavailable")
    assert "sts, s3 (gateway)" in field["message"]


def test_zones_asked_for_must_hold_each_endpoint_service(monkeypatch: pytest.MonkeyPatch) -> None:
    catalogue = VPCBackend._collect_default_endpoint_services

    def ec2_in_a_only(account_id: str, region: str) -> list[dict[str, Any]]:
        services = catalogue(account_id, region)
        for service in services:
            if service["ServiceName"].endswith(".ec2"):
                service["AvailabilityZones"] = [f"{REGION}a"]
        return services

    monkeypatch.setattr(VPCBackend, "_collect_default_endpoint_services", staticmethod(ec2_in_a_only))
    zoned = ClusterSpec.model_validate(
        {
            "name": "p1",
            "region": REGION,
            "privateCluster": {"enabled": True},
            "availabilityZones": [f"{REGION}b", f"{REGION}c"],
        }
    )
    with pytest.raises(SpecValidationError) as refused:
        private_endpoint_zones(step_context(), zoned)

    (field,) = refused.value.details["fields"]
    assert (field["field"], field["rule"]) == ("availabilityZones", "endpoint_service_unavailable")
    assert private_endpoint_zones(step_context(), spec())["ec2"] == [f"{REGION}a"]  # zones chosen later: a is one


def existing_vpc(dns: bool = True, associate: tuple[bool, bool] = (True, True)) -> tuple[str, list[str], list[str]]:
    """A caller's VPC with a private subnet in each of two zones and a route table each (if `associate`)."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    if dns:
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnets, tables = [], []
    for index, zone in enumerate("ab"):
        cidr, az = f"10.60.{index}.0/24", f"{REGION}{zone}"
        subnets.append(ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"])
        if associate[index]:
            tables.append(ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"])
            ec2.associate_route_table(RouteTableId=tables[-1], SubnetId=subnets[-1])
    return vpc, subnets, tables


def in_vpc(vpc: str, subnets: list[str]) -> ClusterSpec:
    private = {f"{REGION}{zone}": {"id": subnet} for zone, subnet in zip("ab", subnets, strict=True)}
    return ClusterSpec.model_validate(
        {
            "name": "p1",
            "region": REGION,
            "privateCluster": {"enabled": True},
            "vpc": {"id": vpc, "subnets": {"private": private}},
            "managedNodeGroups": [{"name": "m1", "privateNetworking": True}],
        }
    )


def route_table_problems(spec: ClusterSpec) -> list[tuple[str, str]]:
    with pytest.raises(SpecValidationError) as refused:
        private_route_tables(step_context(), spec)
    return [(f["field"], f["rule"]) for f in refused.value.details["fields"]]


def test_an_existing_vpc_gives_its_private_subnets_route_tables() -> None:
    vpc, subnets, tables = existing_vpc()

    assert private_route_tables(step_context(), in_vpc(vpc, subnets)) == tables


def test_what_ec2_would_refuse_in_an_existing_vpc_is_a_422() -> None:
    vpc, subnets, tables = existing_vpc(dns=False, associate=(True, False))
    assert route_table_problems(in_vpc(vpc, subnets)) == [
        (f"vpc.subnets.private.{REGION}b.id", "subnet_route_table"),
        ("vpc.id", "vpc_dns_hostnames"),
    ]

    vpc, subnets, tables = existing_vpc()
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3", VpcEndpointType="Gateway", RouteTableIds=tables[:1]
    )
    assert route_table_problems(in_vpc(vpc, subnets)) == [("privateCluster.skipEndpointCreation", "endpoint_exists")]
