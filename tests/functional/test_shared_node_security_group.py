"""`vpc.sharedNodeSecurityGroup` is checked against EC2 when requested: a group of the cluster's VPC, or a 422
naming the field before anything is recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import pytest

from tests.functional.test_managed_nodegroup_extras import REGION, refused, request
from tests.functional.test_managed_nodegroup_extras import settings as settings

if TYPE_CHECKING:
    from chalicelib.aws.store import Store
    from chalicelib.model.settings import Settings


def network() -> tuple[Any, str, str, dict[str, str]]:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    other = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
    subnets = {
        zone: ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for zone, cidr in (("us-west-2a", "10.60.0.0/20"), ("us-west-2b", "10.60.16.0/20"))
    }
    return ec2, vpc, other, subnets


def body(vpc: str, subnets: dict[str, str], shared: str) -> dict[str, Any]:
    return {
        "name": "shared",
        "region": REGION,
        "vpc": {
            "id": vpc,
            "subnets": {"private": {z: {"id": s} for z, s in subnets.items()}},
            "sharedNodeSecurityGroup": shared,
        },
        "managedNodeGroups": [],
        "nodeGroups": [{"name": "self", "privateNetworking": True}],
    }


def test_a_group_of_the_vpc_is_taken_and_kept(db: Store, settings: Settings) -> None:
    ec2, vpc, _, subnets = network()
    mine = ec2.create_security_group(GroupName="nodes", Description="d", VpcId=vpc)["GroupId"]

    record = request(db, settings, body(vpc, subnets, mine))

    assert record["spec"]["vpc"]["sharedNodeSecurityGroup"] == mine
    assert db.get_cluster("shared")["spec"]["vpc"]["sharedNodeSecurityGroup"] == mine


@pytest.mark.parametrize("where", ["other-vpc", "missing"])
def test_a_group_not_in_the_vpc_is_a_422(db: Store, settings: Settings, where: str) -> None:
    ec2, vpc, other, subnets = network()
    group = (
        ec2.create_security_group(GroupName="theirs", Description="d", VpcId=other)["GroupId"]
        if where == "other-vpc"
        else "sg-0123456789abcdef0"
    )

    rule = "security_group_not_in_vpc" if where == "other-vpc" else "security_group_not_found"
    assert refused(db, settings, body(vpc, subnets, group)) == {"vpc.sharedNodeSecurityGroup": rule}
