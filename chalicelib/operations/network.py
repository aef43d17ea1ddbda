"""Check the existing VPC and subnets a cluster request names, before anything is recorded or built.

With `vpc.id` the cluster stack builds no network: it places the control plane and the node
groups in the given subnets. A subnet that does not exist, sits in another VPC or another zone
than the request says would fail the stack minutes in; here it is a 422 naming the subnet's
path at once, as is a security group the control plane or the nodes are to join (`vpc.securityGroup`,
`vpc.controlPlaneSecurityGroupIDs[i]`, `vpc.sharedNodeSecurityGroup`) that does not exist or belongs to
another VPC. Each subnet's
zone (when only its key named one, or none) and CIDR are taken from EC2 into the spec, whose zones
are then those of the subnets (at least two). A subnet named by its CIDR alone is looked up in the
VPC (as eksctl does: DescribeSubnets filtered by vpc-id and cidr-block) and gets its id and zone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.aws import network as aws_network
from chalicelib.cfn import vpc_endpoints
from chalicelib.model import private_cluster_spec
from chalicelib.model.network_spec import MIN_SUBNET_ZONES, subnet_zone
from chalicelib.model.remote_network_spec import existing_vpc_problems
from chalicelib.model.spec import ClusterSpec, validate
from chalicelib.model.validation import refuse_problems

if TYPE_CHECKING:
    from chalicelib.model.validation import Problem
    from chalicelib.operations.context import Context


def with_existing_subnets(ctx: Context, spec: ClusterSpec) -> ClusterSpec:
    """The spec with each given subnet's zone and CIDR as EC2 has them; a 422 for each subnet that does not fit.

    A spec without `vpc.id` is returned as it is, and EC2 is not asked.
    """
    if not spec.vpc.existing or spec.vpc.subnets is None:
        return spec
    ec2 = ctx.clients.ec2(spec.region)
    vpc_id = str(spec.vpc.id)
    problems: list[Problem] = []
    found_vpc = aws_network.vpc(ec2, vpc_id)
    if found_vpc is None:
        problems.append((("vpc", "id"), "vpc_not_found", f"{vpc_id} is not a VPC in {spec.region}", vpc_id))
        _refuse(problems)
    # Hybrid nodes' remote networks must not overlap any of the VPC's blocks (EKS's rule).
    problems += existing_vpc_problems(spec, aws_network.vpc_cidrs(found_vpc or {}))
    given = spec.vpc.subnets.items()
    found = aws_network.subnets(ec2, [s.id for _, _, s in given if s.id])
    # A subnet named by its CIDR alone is the VPC's subnet with that CIDR (as eksctl finds it).
    by_cidr = aws_network.subnets_by_cidr(ec2, vpc_id, [str(s.cidr) for _, _, s in given if s.id is None and s.cidr])
    filled: dict[str, dict[str, Any]] = {"public": {}, "private": {}}
    listed = {str(s.id): f"{kind}.{key}" for kind, key, s in given if s.id}
    for kind, key, subnet in given:
        loc = ("vpc", "subnets", kind, key)
        named_by = "id" if subnet.id else "cidr"
        if subnet.id is None:
            actual = by_cidr.get(str(subnet.cidr))
            if actual is None:
                message = f"no subnet with this CIDR in {vpc_id}"
                problems.append(((*loc, "cidr"), "subnet_not_found", message, subnet.cidr))
                continue
            subnet_id = str(actual["SubnetId"])
            if subnet_id in listed:
                message = f"{subnet.cidr} is {subnet_id}, listed already as {listed[subnet_id]}"
                problems.append(((*loc, "cidr"), "duplicate_subnet", message, subnet.cidr))
                continue
            subnet = subnet.model_copy(update={"id": subnet_id})
        else:
            actual = found.get(subnet.id)
            if actual is None:
                message = f"{subnet.id} is not a subnet in {spec.region}"
                problems.append(((*loc, "id"), "subnet_not_found", message, subnet.id))
                continue
        if actual.get("VpcId") != vpc_id:
            message = f"{subnet.id} belongs to {actual.get('VpcId')}, not to vpc.id {vpc_id}"
            problems.append(((*loc, "id"), "subnet_not_in_vpc", message, subnet.id))
        zone, named = actual.get("AvailabilityZone"), subnet_zone(key, subnet, spec.region)
        if named is not None and zone != named:
            where = "az" if subnet.az else named_by
            message = f"{subnet.id} is in {zone}, not in {named}"
            problems.append(((*loc, where), "subnet_zone_mismatch", message, named))
        cidr = actual.get("CidrBlock")
        if subnet.cidr is not None and cidr != subnet.cidr:
            message = f"{subnet.id} has the CIDR {cidr}, not {subnet.cidr}"
            problems.append(((*loc, "cidr"), "subnet_cidr_mismatch", message, subnet.cidr))
        filled[kind][key] = {"id": subnet.id, "az": zone, "cidr": cidr}
    zones = sorted({entry["az"] for entries in filled.values() for entry in entries.values()})
    if not problems and len(zones) < MIN_SUBNET_ZONES:
        message = f"EKS needs subnets in at least {MIN_SUBNET_ZONES} availability zones; these are in {zones}"
        problems.append((("vpc", "subnets"), "subnet_zones", message, zones))
    private_zones = sorted({entry["az"] for entry in filled["private"].values()})
    if not problems and spec.vpc.control_plane_on_private_subnets and len(private_zones) < MIN_SUBNET_ZONES:
        message = (
            f"vpc.controlPlaneOnPrivateSubnets needs private subnets in at least {MIN_SUBNET_ZONES} "
            f"availability zones; these are in {private_zones}"
        )
        problems.append((("vpc", "controlPlaneOnPrivateSubnets"), "subnet_zones", message, private_zones))
    problems += _security_group_problems(ec2, spec, vpc_id)
    _refuse(problems)
    body = spec.model_dump(mode="json", exclude_none=True)
    body["vpc"]["subnets"] = {kind: entries for kind, entries in filled.items() if entries}
    # The spec's rules again, now that every subnet's zone is known (zones, node groups' subnets).
    return validate(ClusterSpec, body, "cluster request")


def _security_group_problems(ec2: Any, spec: ClusterSpec, vpc_id: str) -> list[Problem]:
    """A problem for each group the control plane or a managed group's nodes are to join that is not in the
    region or not in the VPC."""
    named: list[tuple[tuple[str | int, ...], str]] = []
    if spec.vpc.security_group:
        named.append((("vpc", "securityGroup"), spec.vpc.security_group))
    for index, group_id in enumerate(spec.vpc.control_plane_security_group_ids or []):
        named.append((("vpc", "controlPlaneSecurityGroupIDs", index), group_id))
    # And the one self-managed nodes are to share (vpc.sharedNodeSecurityGroup).
    if spec.vpc.shared_node_security_group:
        named.append((("vpc", "sharedNodeSecurityGroup"), spec.vpc.shared_node_security_group))
    # And those a managed node group's nodes are to join (securityGroups.attachIDs).
    for index, group in enumerate(spec.managed_node_groups or []):
        for n, group_id in enumerate(group.security_groups.attach_ids if group.security_groups else []):
            named.append((("managedNodeGroups", index, "securityGroups", "attachIDs", n), group_id))
    if not named:
        return []
    found = aws_network.security_groups(ec2, [group_id for _, group_id in named])
    problems: list[Problem] = []
    for loc, group_id in named:
        actual = found.get(group_id)
        if actual is None:
            message = f"{group_id} is not a security group in {spec.region}"
            problems.append((loc, "security_group_not_found", message, group_id))
        elif actual.get("VpcId") != vpc_id:
            message = f"{group_id} belongs to {actual.get('VpcId')}, not to vpc.id {vpc_id}"
            problems.append((loc, "security_group_not_in_vpc", message, group_id))
    return problems


def _refuse(problems: list[Problem]) -> None:
    refuse_problems("the request names a network the cluster cannot use", problems)


def private_endpoint_zones(ctx: Context, spec: ClusterSpec) -> dict[str, list[str]]:
    """Where each of a fully private cluster's interface endpoints may go; a 422 for a service the region lacks.

    eksctl refuses a fully private cluster in a region without its endpoint services (eu-south-1 once);
    so does this, naming the services, before anything is recorded. Empty when the cluster is not private
    or its VPC has its endpoints (skipEndpointCreation).
    """
    services = private_cluster_spec.interface_services(spec)
    if not services:
        return {}
    gateway = f"{private_cluster_spec.GATEWAY_SERVICE} (gateway)"
    wanted = {s: (vpc_endpoints.service_name(spec.region, s), "Interface") for s in services}
    wanted[gateway] = (vpc_endpoints.service_name(spec.region, private_cluster_spec.GATEWAY_SERVICE), "Gateway")
    offered = aws_network.endpoint_service_zones(ctx.clients.ec2(spec.region), wanted)
    missing = [s for s in wanted if s not in offered]
    if missing:
        message = (
            f"{spec.region} does not offer the VPC endpoint service(s) {', '.join(missing)} a fully private "
            "cluster needs; choose another region"
        )
        _refuse([(("privateCluster", "enabled"), "endpoint_service_unavailable", message, True)])
    chosen = set(spec.availability_zones or [])
    zones = {s: offered[s] for s in services}
    elsewhere = [s for s in services if chosen and not chosen & set(zones[s])]
    if elsewhere:
        message = (
            f"the VPC endpoint service(s) {', '.join(elsewhere)} are offered in none of the cluster's zones; "
            "choose availabilityZones where they are"
        )
        _refuse([(("availabilityZones",), "endpoint_service_unavailable", message, sorted(chosen))])
    return zones


def private_route_tables(ctx: Context, spec: ClusterSpec) -> list[str]:
    """The route tables S3's gateway endpoint goes on in an existing VPC, once each; 422s for what EC2 would refuse.

    As eksctl (`importRouteTables`): each private subnet must have a route table of its own association,
    since the VPC's main table is left alone. EC2 also refuses private DNS in a VPC without DNS support and
    hostnames, a second private-DNS endpoint of one service in a VPC, and a second S3 route on one table;
    each is a 422 here, saying to use `skipEndpointCreation` when the VPC has its endpoints. Empty for a VPC
    ekspress builds, or when no endpoint is built.
    """
    if not spec.vpc.existing or not private_cluster_spec.interface_services(spec) or spec.vpc.subnets is None:
        return []
    ec2 = ctx.clients.ec2(spec.region)
    vpc_id = str(spec.vpc.id)
    given = [(key, subnet.id) for key, subnet in spec.vpc.subnets.private.items() if subnet.id]
    tables = aws_network.route_tables_of(ec2, [subnet_id for _, subnet_id in given])
    problems: list[Problem] = []
    for key, subnet_id in given:
        if subnet_id not in tables:
            message = (
                f"{subnet_id} uses the VPC's main route table; S3's gateway endpoint goes on the private subnets' "
                "own route tables, and the main one is left alone (eksctl's rule): associate one with it"
            )
            problems.append((("vpc", "subnets", "private", key, "id"), "subnet_route_table", message, subnet_id))
    if not all(aws_network.vpc_dns(ec2, vpc_id)):
        message = "the endpoints' private DNS needs the VPC's enableDnsSupport and enableDnsHostnames on"
        problems.append((("vpc", "id"), "vpc_dns_hostnames", message, vpc_id))
    wanted = {vpc_endpoints.service_name(spec.region, s): s for s in private_cluster_spec.interface_services(spec)}
    s3 = vpc_endpoints.service_name(spec.region, private_cluster_spec.GATEWAY_SERVICE)
    taken = []
    for endpoint in aws_network.vpc_endpoints(ec2, vpc_id):
        name, kind = endpoint.get("ServiceName"), endpoint.get("VpcEndpointType")
        if kind == "Interface" and name in wanted and endpoint.get("PrivateDnsEnabled"):
            taken.append(wanted[str(name)])
        elif kind == "Gateway" and name == s3 and set(endpoint.get("RouteTableIds") or []) & set(tables.values()):
            taken.append(f"{private_cluster_spec.GATEWAY_SERVICE} (gateway)")
    if taken:
        message = (
            f"{vpc_id} has endpoints for {', '.join(sorted(set(taken)))} already, which EC2 would not make twice; "
            "set skipEndpointCreation: true to use the VPC's own"
        )
        problems.append((("privateCluster", "skipEndpointCreation"), "endpoint_exists", message, False))
    _refuse(problems)
    return list(dict.fromkeys(tables[subnet_id] for _, subnet_id in given))
