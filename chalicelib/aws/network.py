"""Read an existing VPC, its subnets and security groups from EC2 (DescribeVpcs, DescribeSubnets,
DescribeSecurityGroups).

Filters rather than `VpcIds=`/`SubnetIds=`: EC2 refuses a whole call for one unknown id,
and a request must hear of every missing subnet or group at once.
"""

from __future__ import annotations

from typing import Any

# Values per filter EC2 accepts in one call.
_FILTER_VALUES = 200


def vpc(ec2: Any, vpc_id: str) -> dict[str, Any] | None:
    """The VPC `vpc_id` in the client's region, or None when there is none."""
    found = ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]).get("Vpcs", [])
    return found[0] if found else None


def subnets(ec2: Any, subnet_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each of `subnet_ids` that exists in the client's region, by id: its VpcId, AvailabilityZone, CidrBlock."""
    wanted = sorted(set(subnet_ids))
    found: dict[str, dict[str, Any]] = {}
    paginator = ec2.get_paginator("describe_subnets")
    for start in range(0, len(wanted), _FILTER_VALUES):
        chunk = wanted[start : start + _FILTER_VALUES]
        for page in paginator.paginate(Filters=[{"Name": "subnet-id", "Values": chunk}]):
            for subnet in page.get("Subnets", []):
                found[subnet["SubnetId"]] = subnet
    return found


def security_groups(ec2: Any, group_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each of `group_ids` that exists in the client's region, by id: its VpcId and GroupName."""
    wanted = sorted(set(group_ids))
    found: dict[str, dict[str, Any]] = {}
    paginator = ec2.get_paginator("describe_security_groups")
    for start in range(0, len(wanted), _FILTER_VALUES):
        chunk = wanted[start : start + _FILTER_VALUES]
        for page in paginator.paginate(Filters=[{"Name": "group-id", "Values": chunk}]):
            for group in page.get("SecurityGroups", []):
                found[group["GroupId"]] = group
    return found
