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


def vpc_cidrs(vpc: dict[str, Any]) -> list[str]:
    """A VPC's IPv4 blocks, as DescribeVpcs gives them: its first and every one associated with it."""
    blocks = {vpc.get("CidrBlock"), *(a.get("CidrBlock") for a in vpc.get("CidrBlockAssociationSet", []))}
    return sorted(b for b in blocks if b)


def _by_id(ec2: Any, operation: str, filter_name: str, key: str, id_key: str, ids: list[str]) -> dict[str, Any]:
    """Each of `ids` that a Describe* call finds in the client's region, by id (a filter, so an unknown id
    is simply absent rather than failing the whole call), in chunks EC2 accepts."""
    wanted = sorted(set(ids))
    found: dict[str, dict[str, Any]] = {}
    paginator = ec2.get_paginator(operation)
    for start in range(0, len(wanted), _FILTER_VALUES):
        chunk = wanted[start : start + _FILTER_VALUES]
        for page in paginator.paginate(Filters=[{"Name": filter_name, "Values": chunk}]):
            for item in page.get(key, []):
                found[item[id_key]] = item
    return found


def subnets(ec2: Any, subnet_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each of `subnet_ids` that exists in the client's region, by id: its VpcId, AvailabilityZone, CidrBlock."""
    return _by_id(ec2, "describe_subnets", "subnet-id", "Subnets", "SubnetId", subnet_ids)


def subnets_by_cidr(ec2: Any, vpc_id: str, cidrs: list[str]) -> dict[str, dict[str, Any]]:
    """The subnets of `vpc_id` whose IPv4 CIDR is one of `cidrs`, by CIDR (filters vpc-id and cidr-block,
    in chunks EC2 accepts): their SubnetId, AvailabilityZone."""
    wanted = sorted(set(cidrs))
    found: dict[str, dict[str, Any]] = {}
    paginator = ec2.get_paginator("describe_subnets")
    for start in range(0, len(wanted), _FILTER_VALUES):
        chunk = wanted[start : start + _FILTER_VALUES]
        filters = [{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "cidr-block", "Values": chunk}]
        for page in paginator.paginate(Filters=filters):
            for item in page.get("Subnets", []):
                found[item["CidrBlock"]] = item
    return found


def security_groups(ec2: Any, group_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each of `group_ids` that exists in the client's region, by id: its VpcId and GroupName."""
    return _by_id(ec2, "describe_security_groups", "group-id", "SecurityGroups", "GroupId", group_ids)


def endpoint_service_zones(ec2: Any, wanted: dict[str, tuple[str, str]]) -> dict[str, list[str]]:
    """The zones each VPC endpoint service is offered in (DescribeVpcEndpointServices).

    `wanted` maps what the caller calls a service (`ecr.api`) to its endpoint service name and endpoint
    type (`Interface`, `Gateway`); a service the region does not offer with that type is absent from the
    answer. The region's whole catalogue is read, once: `ServiceNames` fails the call for one unknown
    name, and the answer must name every one missing.
    """
    found: dict[str, list[str]] = {}
    kwargs: dict[str, Any] = {}
    while True:
        page = ec2.describe_vpc_endpoint_services(**kwargs)
        for detail in page.get("ServiceDetails", []):
            types = {t.get("ServiceType") for t in detail.get("ServiceType", [])}
            for key, (name, endpoint_type) in wanted.items():
                if detail.get("ServiceName") == name and endpoint_type in types:
                    found[key] = list(detail.get("AvailabilityZones") or [])
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


def route_tables_of(ec2: Any, subnet_ids: list[str]) -> dict[str, str]:
    """The route table each of `subnet_ids` is explicitly associated with (a subnet on the main table is absent)."""
    found: dict[str, str] = {}
    for start in range(0, len(subnet_ids), _FILTER_VALUES):
        chunk = subnet_ids[start : start + _FILTER_VALUES]
        kwargs: dict[str, Any] = {"Filters": [{"Name": "association.subnet-id", "Values": chunk}]}
        while True:
            page = ec2.describe_route_tables(**kwargs)
            for table in page.get("RouteTables", []):
                for association in table.get("Associations", []):
                    if association.get("SubnetId") in chunk and not association.get("Main"):
                        found[association["SubnetId"]] = table["RouteTableId"]
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    return found


def vpc_dns(ec2: Any, vpc_id: str) -> tuple[bool, bool]:
    """(enableDnsSupport, enableDnsHostnames) of the VPC."""
    support = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsSupport")["EnableDnsSupport"]["Value"]
    hostnames = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"]
    return bool(support), bool(hostnames)


def vpc_endpoints(ec2: Any, vpc_id: str) -> list[dict[str, Any]]:
    """The VPC's endpoints that are not deleted (DescribeVpcEndpoints)."""
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"Filters": [{"Name": "vpc-id", "Values": [vpc_id]}]}
    while True:
        page = ec2.describe_vpc_endpoints(**kwargs)
        found += [e for e in page.get("VpcEndpoints", []) if e.get("State", "").lower() not in ("deleted", "deleting")]
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]
