"""The cluster's network resource set: VPC, subnets, internet and NAT gateways, routes, security group.

Mirrors eksctl's `vpc.go` and `security_group.go` in `pkg/cfn/builder`: a dedicated
VPC with a public and a private subnet per zone, exported for node group stacks. A fully private
cluster's (`privateCluster`) has the private subnets and their route table only: no gateway, no
public subnet (its VPC endpoints are cfn/vpc_endpoints.py's).

IPv6, as eksctl's `vpc_ipv6.go` and `vpc_ipv4.go` build it. An IPv6 cluster
(`kubernetesNetworkConfig.ipFamily: IPv6`): the VPC gets an Amazon-provided IPv6 block
(`IPv6CidrBlock`), each subnet a /64 of it (`Fn::Cidr` over the block, public subnets first) and
addresses from it on launch, public subnets a `::/0` route through the internet gateway and private
ones a `::/0` route through an egress-only internet gateway (their IPv4 still leaves through NAT).
`vpc.autoAllocateIPv6` on an IPv4 cluster: the block (`AutoAllocatedCIDRv6`), a /64 per subnet
(`AWS::EC2::SubnetCidrBlock`) and the public `::/0` route, nothing more (dual stack, as eksctl).
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
from chalicelib.model import private_cluster_spec

if TYPE_CHECKING:
    from chalicelib.model.spec import ClusterSpec

MIN_ZONES = 2
MAX_ZONES = 4
# The VPC is cut into eight equal blocks, as eksctl does: public subnets first, then private.
SUBNET_SPLIT_BITS = 3
ANYWHERE = "0.0.0.0/0"
ANYWHERE_IPV6 = "::/0"
# eksctl's logical IDs of the VPC's IPv6 block: an IPv6 cluster's, and autoAllocateIPv6's.
IPV6_BLOCK = "IPv6CidrBlock"
AUTO_IPV6_BLOCK = "AutoAllocatedCIDRv6"
EGRESS_ONLY_GATEWAY = "EgressOnlyInternetGateway"
# eksctl's output saying the cluster is fully private (privateCluster).
OUTPUT_FULLY_PRIVATE = "ClusterFullyPrivate"
# Each subnet's IPv6 block is a /64 (64 host bits, Fn::Cidr's cidrBits).
IPV6_SUBNET_HOST_BITS = 64


@dataclass(frozen=True)
class Ipv6Subnets:
    """How the subnets get their IPv6 /64s: from which block resource, out of how many, and whether as a family.

    `family` (an IPv6 cluster): on the subnet itself, with addresses assigned on launch; otherwise
    (autoAllocateIPv6) as an AWS::EC2::SubnetCidrBlock next to it, as eksctl.
    """

    block: str
    count: int
    family: bool

    def cidr(self, index: int) -> dict[str, Any]:
        """The `index`th /64 of the VPC's IPv6 block (its first), carved when the stack runs."""
        vpc_block = {"Fn::Select": [0, get_att("VPC", "Ipv6CidrBlocks")]}
        return {"Fn::Select": [index, {"Fn::Cidr": [vpc_block, self.count, IPV6_SUBNET_HOST_BITS]}]}


def _ipv6_subnets(t: Template, spec: ClusterSpec, vpc: Ref, zone_count: int) -> Ipv6Subnets | None:
    """Add the VPC's Amazon-provided IPv6 block when the cluster is IPv6 or asks for it (autoAllocateIPv6)."""
    ipv6_family = bool(spec.kubernetes_network_config and spec.kubernetes_network_config.ipv6)
    if not ipv6_family and not spec.vpc.auto_allocate_ipv6:
        return None
    block = IPV6_BLOCK if ipv6_family else AUTO_IPV6_BLOCK
    t.new_resource(block, "AWS::EC2::VPCCidrBlock", {"VpcId": vpc, "AmazonProvidedIpv6CidrBlock": True})
    # As eksctl: two subnets per zone and two spare.
    return Ipv6Subnets(block, 2 * zone_count + 2, ipv6_family)


@dataclass(frozen=True)
class Network:
    """What the control plane is placed in: Refs to what the stack builds, or the ids of an existing VPC's."""

    vpc: Ref | str
    public: list[Ref] | list[str]
    private: list[Ref] | list[str]
    # Where the control plane goes when not in every subnet: an existing VPC's controlPlaneSubnetIDs, or the
    # private subnets with vpc.controlPlaneOnPrivateSubnets.
    control_plane: list[Ref] | list[str] | None = None
    # The private subnets' route tables the stack builds (a private cluster's S3 endpoint goes on them).
    route_tables: list[Ref] | None = None


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
    ipv6 = _ipv6_subnets(t, spec, vpc, len(zones))
    public_cidrs, private_cidrs = subnet_cidrs(spec.vpc.cidr, len(zones))
    # The role tags tell the AWS Load Balancer Controller where public and internal load balancers go.
    hostnames = spec.vpc.hostname_type
    private = _subnets(
        t,
        "Private",
        zones,
        private_cidrs,
        {**owned, "kubernetes.io/role/internal-elb": "1"},
        vpc,
        hostnames,
        ipv6,
        len(zones),
    )
    if private_cluster_spec.enabled(spec):
        # Fully private: no way in or out but the VPC endpoints (cfn/vpc_endpoints.py), as eksctl builds it.
        tables = [_route_table(t, "PrivateRouteTable", vpc, private)]
        _add_network_outputs(t, vpc, [], private)
        t.add_output(OUTPUT_FULLY_PRIVATE, "true")
        return Network(vpc, [], private, private, tables)
    igw = t.new_resource("InternetGateway", "AWS::EC2::InternetGateway", {"Tags": t.ec2_tags("InternetGateway")})
    t.new_resource("VPCGatewayAttachment", "AWS::EC2::VPCGatewayAttachment", {"VpcId": vpc, "InternetGatewayId": igw})
    public = _subnets(
        t, "Public", zones, public_cidrs, {**owned, "kubernetes.io/role/elb": "1"}, vpc, hostnames, ipv6, 0
    )
    public_rt = _route_table(t, "PublicRouteTable", vpc, public)
    t.new_resource(
        "PublicSubnetRoute",
        "AWS::EC2::Route",
        {"RouteTableId": public_rt, "DestinationCidrBlock": ANYWHERE, "GatewayId": igw},
        DependsOn="VPCGatewayAttachment",
    )
    if ipv6:
        t.new_resource(
            "PublicSubnetIPv6DefaultRoute",
            "AWS::EC2::Route",
            {"RouteTableId": public_rt, "DestinationIpv6CidrBlock": ANYWHERE_IPV6, "GatewayId": igw},
            DependsOn=["VPCGatewayAttachment", ipv6.block],
        )
    private_tables = _add_private_routes(t, spec.vpc.nat.gateway, vpc, public, private)
    if ipv6 and ipv6.family:
        _add_egress_only_routes(t, vpc, private_tables)
    _add_network_outputs(t, vpc, public, private)
    # eksctl's controlPlaneOnPrivateSubnets: the public subnets keep the NAT gateways and load balancers.
    return Network(vpc, public, private, private if spec.vpc.control_plane_on_private_subnets else None, private_tables)


def _add_network_outputs(t: Template, vpc: Ref, public: list[Ref], private: list[Ref]) -> None:
    """Export the VPC and the subnets of each kind it has, all together and one per zone."""
    t.add_output(OUTPUT_VPC, vpc, export=True)
    for kind, subnets in ((OUTPUT_SUBNETS_PUBLIC, public), (OUTPUT_SUBNETS_PRIVATE, private)):
        if subnets:
            t.add_output(kind, {"Fn::Join": [",", subnets]}, export=True)
        # One per zone too, so a node group can keep to some of the zones.
        for index, subnet in enumerate(subnets):
            t.add_output(f"{kind}{index + 1}", subnet, export=True)


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


def _add_private_routes(t: Template, mode: str, vpc: Ref, public: list[Ref], private: list[Ref]) -> list[Ref]:
    """Route the private subnets out through NAT as `vpc.nat.gateway` asks; return their route tables."""
    if mode == "Single":
        nat = _nat_gateway(t, "", public[0])
        private_rt = _route_table(t, "PrivateRouteTable", vpc, private)
        _private_route(t, "NATPrivateSubnetRoute", private_rt, nat)
        return [private_rt]
    if mode == "HighlyAvailable":  # one NAT gateway and route table per zone, as eksctl
        tables = []
        for index, (public_subnet, private_subnet) in enumerate(zip(public, private, strict=True)):
            zone = str(index + 1)
            nat = _nat_gateway(t, zone, public_subnet)
            private_rt = _route_table(t, f"PrivateRouteTable{zone}", vpc, [private_subnet])
            _private_route(t, f"NATPrivateSubnetRoute{zone}", private_rt, nat)
            tables.append(private_rt)
        return tables
    # Disable: private subnets reach only the VPC
    return [_route_table(t, "PrivateRouteTable", vpc, private)]


def _add_egress_only_routes(t: Template, vpc: Ref, tables: list[Ref]) -> None:
    """An IPv6 cluster's private subnets reach out over IPv6 through an egress-only internet gateway (as eksctl)."""
    gateway = t.new_resource(EGRESS_ONLY_GATEWAY, "AWS::EC2::EgressOnlyInternetGateway", {"VpcId": vpc})
    for index, table in enumerate(tables):
        t.new_resource(
            f"PrivateSubnetDefaultIpv6Route{index + 1 if len(tables) > 1 else ''}",
            "AWS::EC2::Route",
            {"RouteTableId": table, "DestinationIpv6CidrBlock": ANYWHERE_IPV6, "EgressOnlyInternetGatewayId": gateway},
        )


def _subnets(
    t: Template,
    kind: str,
    zones: list[str],
    cidrs: list[str],
    tags: dict[str, str],
    vpc: Ref,
    hostname_type: str | None = None,
    ipv6: Ipv6Subnets | None = None,
    first_ipv6_block: int = 0,
) -> list[Ref]:
    """Add a `kind` (Public or Private) subnet in each zone; return Refs to them, in zone order.

    `hostname_type` (vpc.hostnameType) is how EC2 names what is launched in them; unset, EC2's default.
    With `ipv6`, the subnets take the VPC's IPv6 /64s from `first_ipv6_block` on, one each.
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
        attributes: dict[str, Any] = {}
        if ipv6 and ipv6.family:
            properties["Ipv6CidrBlock"] = ipv6.cidr(first_ipv6_block + index)
            properties["AssignIpv6AddressOnCreation"] = True
            attributes["DependsOn"] = ipv6.block
        subnet = t.new_resource(logical_id, "AWS::EC2::Subnet", properties, **attributes)
        if ipv6 and not ipv6.family:
            t.new_resource(
                f"{logical_id}CIDRv6",
                "AWS::EC2::SubnetCidrBlock",
                {"SubnetId": subnet, "Ipv6CidrBlock": ipv6.cidr(first_ipv6_block + index)},
                DependsOn=ipv6.block,
            )
        refs.append(subnet)
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
