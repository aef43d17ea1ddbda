"""The cluster's network resource set: VPC, subnets, internet and NAT gateways, routes, security group.

Mirrors eksctl's `vpc.go` and `security_group.go` in `pkg/cfn/builder`: a dedicated
VPC with a public and a private subnet per zone, exported for node group stacks.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.cfn.template import (
    OUTPUT_SECURITY_GROUP,
    OUTPUT_SUBNETS_PRIVATE,
    OUTPUT_SUBNETS_PUBLIC,
    OUTPUT_VPC,
    Ref,
    Template,
    get_att,
)

if TYPE_CHECKING:
    from chalicelib.model.spec import ClusterSpec

MIN_ZONES = 2
MAX_ZONES = 4
# The VPC is cut into eight equal blocks, as eksctl does: public subnets first, then private.
SUBNET_SPLIT_BITS = 3
ANYWHERE = "0.0.0.0/0"


@dataclass(frozen=True)
class Network:
    """What the control plane is placed in: Refs to what the stack builds, or the ids of an existing VPC's."""

    vpc: Ref | str
    public: list[Ref] | list[str]
    private: list[Ref] | list[str]
    # Where the control plane goes when not in every subnet: an existing VPC's controlPlaneSubnetIDs, or the
    # private subnets with vpc.controlPlaneOnPrivateSubnets.
    control_plane: list[Ref] | list[str] | None = None


def subnet_cidrs(vpc_cidr: str, zone_count: int) -> tuple[list[str], list[str]]:
    """(public, private) subnet CIDRs, one of each per zone."""
    if not MIN_ZONES <= zone_count <= MAX_ZONES:
        raise ValueError(f"between {MIN_ZONES} and {MAX_ZONES} availability zones are supported, not {zone_count}")
    blocks = [str(b) for b in ipaddress.IPv4Network(vpc_cidr).subnets(prefixlen_diff=SUBNET_SPLIT_BITS)]
    return blocks[:zone_count], blocks[zone_count : 2 * zone_count]


def add_vpc(t: Template, spec: ClusterSpec, zones: list[str]) -> Network:
    """Add the VPC, its subnets, gateways and routes; export the VPC and subnets."""
    owned = {f"kubernetes.io/cluster/{spec.name}": "owned"}
    vpc = t.new_resource(
        "VPC",
        "AWS::EC2::VPC",
        {
            "CidrBlock": spec.vpc.cidr,
            "EnableDnsHostnames": True,
            "EnableDnsSupport": True,
            "Tags": t.ec2_tags("VPC", owned),
        },
    )
    igw = t.new_resource("InternetGateway", "AWS::EC2::InternetGateway", {"Tags": t.ec2_tags("InternetGateway")})
    t.new_resource("VPCGatewayAttachment", "AWS::EC2::VPCGatewayAttachment", {"VpcId": vpc, "InternetGatewayId": igw})
    public_cidrs, private_cidrs = subnet_cidrs(spec.vpc.cidr, len(zones))
    # The role tags tell the AWS Load Balancer Controller where public and internal load balancers go.
    hostnames = spec.vpc.hostname_type
    public = _subnets(t, "Public", zones, public_cidrs, {**owned, "kubernetes.io/role/elb": "1"}, vpc, hostnames)
    private = _subnets(
        t, "Private", zones, private_cidrs, {**owned, "kubernetes.io/role/internal-elb": "1"}, vpc, hostnames
    )

    public_rt = _route_table(t, "PublicRouteTable", vpc, public)
    t.new_resource(
        "PublicSubnetRoute",
        "AWS::EC2::Route",
        {"RouteTableId": public_rt, "DestinationCidrBlock": ANYWHERE, "GatewayId": igw},
        DependsOn="VPCGatewayAttachment",
    )
    _add_private_routes(t, spec.vpc.nat.gateway, vpc, public, private)

    t.add_output(OUTPUT_VPC, vpc, export=True)
    t.add_output(OUTPUT_SUBNETS_PUBLIC, {"Fn::Join": [",", public]}, export=True)
    t.add_output(OUTPUT_SUBNETS_PRIVATE, {"Fn::Join": [",", private]}, export=True)
    # One per zone too, so a node group can keep to some of the zones.
    for kind, subnets in ((OUTPUT_SUBNETS_PUBLIC, public), (OUTPUT_SUBNETS_PRIVATE, private)):
        for index, subnet in enumerate(subnets):
            t.add_output(f"{kind}{index + 1}", subnet, export=True)
    # eksctl's controlPlaneOnPrivateSubnets: the public subnets keep the NAT gateways and load balancers.
    return Network(vpc, public, private, private if spec.vpc.control_plane_on_private_subnets else None)


def add_existing_network(t: Template, spec: ClusterSpec, zones: list[str]) -> Network:
    """An existing VPC (`vpc.id`, `vpc.subnets`): nothing is built; its ids are exported as `add_vpc` exports its own.

    The outputs keep their names, so node group stacks import them either way. A zone's output
    (`SubnetsPrivate2`) names the first subnet of that kind in the zone, and is left out when there is
    none (the spec refuses a node group that would import it).
    """
    ids: dict[str, list[str]] = {}
    for kind, output in (("public", OUTPUT_SUBNETS_PUBLIC), ("private", OUTPUT_SUBNETS_PRIVATE)):
        per_zone = spec.vpc.zone_subnets(kind, zones, spec.region)
        ids[kind] = [subnet for subnets in per_zone for subnet in subnets]
        if ids[kind]:
            t.add_output(output, ",".join(ids[kind]), export=True)
        for index, subnets in enumerate(per_zone):
            if subnets:
                t.add_output(f"{output}{index + 1}", subnets[0], export=True)
    vpc_id = str(spec.vpc.id)
    t.add_output(OUTPUT_VPC, vpc_id, export=True)
    control_plane: list[str] | None = None
    if spec.vpc.control_plane_subnet_ids:
        control_plane = list(spec.vpc.control_plane_subnet_ids)
    elif spec.vpc.control_plane_on_private_subnets:
        control_plane = ids["private"]
    if spec.vpc.security_group:
        # The caller's group is the control plane's: exported as ours would be, and `add_security_group` makes none.
        t.add_output(OUTPUT_SECURITY_GROUP, spec.vpc.security_group, export=True)
    return Network(vpc_id, ids["public"], ids["private"], control_plane)


def add_security_group(t: Template, vpc: Ref | str) -> Ref | str:
    """Add the control plane's security group, which node groups share; export it.

    With an existing VPC's `vpc.securityGroup` (exported by `add_existing_network`) nothing is
    made: that group's id is returned instead, as eksctl uses it.
    """
    if OUTPUT_SECURITY_GROUP in t.outputs:
        existing: str = t.outputs[OUTPUT_SECURITY_GROUP]["Value"]
        return existing
    group = t.new_resource(
        "ControlPlaneSecurityGroup",
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": "Communication between the control plane and worker nodegroups",
            "VpcId": vpc,
            "Tags": t.ec2_tags("ControlPlaneSecurityGroup"),
        },
    )
    t.add_output(OUTPUT_SECURITY_GROUP, group, export=True)
    return group


def _add_private_routes(t: Template, mode: str, vpc: Ref, public: list[Ref], private: list[Ref]) -> None:
    """Route the private subnets out through NAT as `vpc.nat.gateway` asks."""
    if mode == "Single":
        nat = _nat_gateway(t, "", public[0])
        private_rt = _route_table(t, "PrivateRouteTable", vpc, private)
        _private_route(t, "NATPrivateSubnetRoute", private_rt, nat)
    elif mode == "HighlyAvailable":  # one NAT gateway and route table per zone, as eksctl
        for index, (public_subnet, private_subnet) in enumerate(zip(public, private, strict=True)):
            zone = str(index + 1)
            nat = _nat_gateway(t, zone, public_subnet)
            private_rt = _route_table(t, f"PrivateRouteTable{zone}", vpc, [private_subnet])
            _private_route(t, f"NATPrivateSubnetRoute{zone}", private_rt, nat)
    else:  # Disable: private subnets reach only the VPC
        _route_table(t, "PrivateRouteTable", vpc, private)


def _subnets(
    t: Template,
    kind: str,
    zones: list[str],
    cidrs: list[str],
    tags: dict[str, str],
    vpc: Ref,
    hostname_type: str | None = None,
) -> list[Ref]:
    """Add a `kind` (Public or Private) subnet in each zone; return Refs to them, in zone order.

    `hostname_type` (vpc.hostnameType) is how EC2 names what is launched in them; unset, EC2's default.
    """
    refs = []
    for index, (zone, cidr) in enumerate(zip(zones, cidrs, strict=True)):
        logical_id = f"Subnet{kind}{index + 1}"
        properties: dict[str, Any] = {
            "VpcId": vpc,
            "CidrBlock": cidr,
            "AvailabilityZone": zone,
            "Tags": t.ec2_tags(logical_id, tags),
        }
        if kind == "Public":
            properties["MapPublicIpOnLaunch"] = True
        if hostname_type:
            properties["PrivateDnsNameOptionsOnLaunch"] = {"HostnameType": hostname_type}
        refs.append(t.new_resource(logical_id, "AWS::EC2::Subnet", properties))
    return refs


def _route_table(t: Template, logical_id: str, vpc: Ref, subnets: list[Ref]) -> Ref:
    """Add a route table and associate `subnets` with it."""
    table = t.new_resource(logical_id, "AWS::EC2::RouteTable", {"VpcId": vpc, "Tags": t.ec2_tags(logical_id)})
    for subnet in subnets:
        t.new_resource(
            f"RouteTableAssociation{subnet['Ref']}",
            "AWS::EC2::SubnetRouteTableAssociation",
            {"RouteTableId": table, "SubnetId": subnet},
        )
    return table


def _nat_gateway(t: Template, suffix: str, subnet: Ref) -> Ref:
    """Add a NAT gateway and its Elastic IP in the public `subnet`."""
    t.new_resource(f"NATIP{suffix}", "AWS::EC2::EIP", {"Domain": "vpc", "Tags": t.ec2_tags(f"NATIP{suffix}")})
    return t.new_resource(
        f"NATGateway{suffix}",
        "AWS::EC2::NatGateway",
        {
            "AllocationId": get_att(f"NATIP{suffix}", "AllocationId"),
            "SubnetId": subnet,
            "Tags": t.ec2_tags(f"NATGateway{suffix}"),
        },
    )


def _private_route(t: Template, logical_id: str, table: Ref, nat: Ref) -> None:
    """Add the default route of a private route table, through `nat`."""
    t.new_resource(
        logical_id, "AWS::EC2::Route", {"RouteTableId": table, "DestinationCidrBlock": ANYWHERE, "NatGatewayId": nat}
    )
