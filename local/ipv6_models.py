"""IPv6 networking in moto's CloudFormation, as AWS makes it.

moto's EC2 back end has IPv6 (VPC blocks, subnet blocks, egress-only internet gateways, IPv6 routes),
but its CloudFormation does not: it skips `AWS::EC2::VPCCidrBlock`, `AWS::EC2::SubnetCidrBlock` and
`AWS::EC2::EgressOnlyInternetGateway` with a warning, has no `Fn::Cidr`, no `Fn::GetAtt VPC.Ipv6CidrBlocks`,
and drops a subnet's `Ipv6CidrBlock` and a route's `DestinationIpv6CidrBlock`. Here each is made as
CloudFormation makes it, and refused as EC2 refuses it: a subnet's IPv6 block must be a /64 of its
VPC's IPv6 block, used by no other subnet; a VPC's Amazon-provided block is one per VPC.
"""

from __future__ import annotations

import contextlib
import ipaddress
from typing import Any, Self

from moto.core.common_models import CloudFormationModel
from moto.ec2.models import ec2_backends

from local import cfn_models
from local.cfn_models import LocalModel, ResourceFailed, handler_failed, service_errors, service_failed

# A subnet's IPv6 block is always a /64 (EC2's rule).
SUBNET_IPV6_PREFIX = 64


def _ec2(account_id: str, region: str) -> Any:
    return ec2_backends[account_id][region]


def vpc_ipv6_blocks(vpc: Any) -> list[str]:
    """The VPC's associated IPv6 blocks (what `Fn::GetAtt VPC.Ipv6CidrBlocks` gives)."""
    return [
        str(c["cidr_block"])
        for c in vpc.get_cidr_block_association_set(ipv6=True)
        if c["cidr_block_state"]["state"] == "associated"
    ]


def _vpc_subnets(account_id: str, region: str, vpc_id: str) -> list[Any]:
    return [s for zone in _ec2(account_id, region).subnets.values() for s in zone.values() if s.vpc_id == vpc_id]


def _ec2_refused(code: str, message: str) -> ResourceFailed:
    return handler_failed("Ec2", code, message)


def _vpc(account_id: str, region: str, vpc_id: str) -> Any:
    try:
        return _ec2(account_id, region).get_vpc(vpc_id)
    except service_errors() as refused:
        raise service_failed("Ec2", refused) from None


def check_subnet_ipv6_block(account_id: str, region: str, subnet: Any, block: str) -> None:
    """EC2's rules for a subnet's IPv6 block: a /64 inside its VPC's IPv6 block, not another subnet's."""
    try:
        network = ipaddress.IPv6Network(block, strict=True)
    except ValueError:
        raise _ec2_refused(
            "InvalidParameterValue", f"Value ({block}) for parameter ipv6CidrBlock is invalid."
        ) from None
    vpc = _vpc(account_id, region, subnet.vpc_id)
    inside = any(network.subnet_of(ipaddress.IPv6Network(b)) for b in vpc_ipv6_blocks(vpc))
    if network.prefixlen != SUBNET_IPV6_PREFIX or not inside:
        raise _ec2_refused("InvalidSubnet.Range", f"The IPv6 CIDR '{block}' is invalid.")
    for other in _vpc_subnets(account_id, region, subnet.vpc_id):
        taken = [a["ipv6CidrBlock"] for a in other.ipv6_cidr_block_association_set]
        if other.id != subnet.id and block in taken:
            raise _ec2_refused("InvalidSubnet.Conflict", f"The CIDR '{block}' conflicts with another subnet")


class VPCCidrBlockModel(LocalModel, CloudFormationModel):
    """`AWS::EC2::VPCCidrBlock`: a VPC's further block; here the Amazon-provided IPv6 one (or an IPv4 one)."""

    CFN_TYPE = "AWS::EC2::VPCCidrBlock"
    CFN_ATTRIBUTES = {"Id": lambda m: m.association_id, "Ipv6CidrBlock": lambda m: m.cidr_block if m.ipv6 else ""}

    def __init__(self, vpc_id: str, association: dict[str, Any], ipv6: bool) -> None:
        self.vpc_id = vpc_id
        self.association_id = str(association["association_id"])
        self.cidr_block = str(association["cidr_block"])
        self.ipv6 = ipv6

    @property
    def physical_resource_id(self) -> str:
        return self.association_id

    @classmethod
    def create(cls, properties: dict[str, Any], resource_name: str, account_id: str, region_name: str) -> Self:
        vpc_id = properties["VpcId"]
        vpc = _vpc(account_id, region_name, vpc_id)
        amazon = bool(properties.get("AmazonProvidedIpv6CidrBlock"))
        if not amazon and not properties.get("CidrBlock"):
            # A block of one's own (Ipv6CidrBlock with Ipv6Pool, IPAM pools) needs BYOIP, which this engine has not.
            raise _ec2_refused("InvalidParameterCombination", "Only Amazon-provided IPv6 blocks and IPv4 blocks here")
        if amazon and vpc_ipv6_blocks(vpc):
            message = f"The VPC {vpc_id} already has an Amazon-provided IPv6 CIDR block."
            raise _ec2_refused("CidrLimitExceeded", message)
        try:
            association = _ec2(account_id, region_name).associate_vpc_cidr_block(
                vpc_id, properties.get("CidrBlock"), amazon
            )
        except service_errors() as refused:
            raise service_failed("Ec2", refused) from None
        return cls(vpc_id, association, amazon)

    def delete(self, account_id: str, region_name: str) -> None:
        """Disassociate the block; EC2 refuses while a subnet still holds a part of it (the stack tries again)."""
        ec2 = _ec2(account_id, region_name)
        vpc = ec2.vpcs.get(self.vpc_id)
        if vpc is None:
            return
        if self.ipv6:
            block = ipaddress.IPv6Network(self.cidr_block)
            for subnet in _vpc_subnets(account_id, region_name, self.vpc_id):
                held = [ipaddress.IPv6Network(a["ipv6CidrBlock"]) for a in subnet.ipv6_cidr_block_association_set]
                if any(h.subnet_of(block) for h in held):
                    from moto.ec2.exceptions import DependencyViolationError

                    raise DependencyViolationError(
                        f"The vpc-cidr-assoc {self.association_id} cannot be disassociated: subnet {subnet.id} uses it"
                    )
        vpc.disassociate_vpc_cidr_block(self.association_id)
        for table in list(ec2.route_tables.values()):
            if table.vpc_id == self.vpc_id:
                table.routes.pop(f"{table.id}~{self.cidr_block}", None)  # the block's local route


class SubnetCidrBlockModel(LocalModel, CloudFormationModel):
    """`AWS::EC2::SubnetCidrBlock`: an IPv6 /64 of the VPC's block given to an existing subnet."""

    CFN_TYPE = "AWS::EC2::SubnetCidrBlock"
    CFN_ATTRIBUTES = {"Id": lambda m: m.association_id}

    def __init__(self, subnet: Any, association: dict[str, Any]) -> None:
        self.subnet = subnet
        self.association_id = str(association["associationId"])
        self.ipv6_cidr_block = str(association["ipv6CidrBlock"])

    @property
    def physical_resource_id(self) -> str:
        return self.association_id

    @classmethod
    def create(cls, properties: dict[str, Any], resource_name: str, account_id: str, region_name: str) -> Self:
        block = properties.get("Ipv6CidrBlock")
        if not block:  # IPAM pools (Ipv6IpamPoolId, Ipv6NetmaskLength) are not modelled
            raise _ec2_refused("InvalidParameterCombination", "Ipv6CidrBlock is required here")
        try:
            subnet = _ec2(account_id, region_name).get_subnet(properties["SubnetId"])
        except service_errors() as refused:
            raise service_failed("Ec2", refused) from None
        check_subnet_ipv6_block(account_id, region_name, subnet, block)
        return cls(subnet, subnet.attach_ipv6_cidr_block_associations(block))

    def delete(self, account_id: str, region_name: str) -> None:
        with contextlib.suppress(AssertionError):  # the subnet went first, and its blocks with it
            self.subnet.detach_subnet_cidr_block(self.association_id)
        self.subnet.ipv6_cidr_block_associations.pop(self.association_id, None)


class EgressOnlyInternetGatewayModel(LocalModel, CloudFormationModel):
    """`AWS::EC2::EgressOnlyInternetGateway`: IPv6 out of a VPC, nothing in."""

    CFN_TYPE = "AWS::EC2::EgressOnlyInternetGateway"
    CFN_ATTRIBUTES = {"Id": lambda m: m.gateway.id}

    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway

    @property
    def physical_resource_id(self) -> str:
        return str(self.gateway.id)

    @classmethod
    def create(cls, properties: dict[str, Any], resource_name: str, account_id: str, region_name: str) -> Self:
        try:
            gateway = _ec2(account_id, region_name).create_egress_only_internet_gateway(properties["VpcId"])
        except service_errors() as refused:
            raise service_failed("Ec2", refused) from None
        return cls(gateway)

    def delete(self, account_id: str, region_name: str) -> None:
        _ec2(account_id, region_name).egress_only_internet_gateways.pop(self.gateway.id, None)


# -- what moto's own models and template functions leave out ------------------------------------


def fn_cidr(block: str, count: int, host_bits: int) -> list[str]:
    """CloudFormation's `Fn::Cidr`: the first `count` blocks of `host_bits` host bits inside `block`."""
    try:
        network = ipaddress.ip_network(block, strict=False)
        blocks = network.subnets(new_prefix=network.max_prefixlen - host_bits)
        found = [str(b) for _, b in zip(range(count), blocks, strict=False)]
    except ValueError as exc:
        raise ResourceFailed(f"Template error: Fn::Cidr cannot split {block} ({exc})") from None
    if len(found) < count or not 1 <= count <= 256:
        raise ResourceFailed(
            f"Template error: Fn::Cidr cannot make {count} blocks of /{network.max_prefixlen - host_bits}"
        )
    return found


def _subnet_from_template(original: Any) -> Any:
    """moto's Subnet creation, then the IPv6 properties it drops (Ipv6CidrBlock, AssignIpv6AddressOnCreation)."""

    def create(
        cls: Any, /, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        properties = cloudformation_json.get("Properties", {})
        subnet = original.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        block = properties.get("Ipv6CidrBlock")
        if block:
            try:
                check_subnet_ipv6_block(account_id, region_name, subnet, block)
            except ResourceFailed as failed:
                _ec2(account_id, region_name).delete_subnet(subnet.id)
                failed.logical_id = str(kwargs.get("LogicalId") or resource_name)
                raise
            subnet.attach_ipv6_cidr_block_associations(block)
        subnet.assign_ipv6_address_on_creation = str(properties.get("AssignIpv6AddressOnCreation")).lower() == "true"
        return subnet

    return classmethod(create)


def _route_from_template(
    cls: Any, /, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
) -> Any:
    """moto's Route creation, with the IPv6 destination it drops."""
    properties = cloudformation_json["Properties"]
    return _ec2(account_id, region_name).create_route(
        route_table_id=properties["RouteTableId"],
        destination_cidr_block=properties.get("DestinationCidrBlock"),
        destination_ipv6_cidr_block=properties.get("DestinationIpv6CidrBlock"),
        gateway_id=properties.get("GatewayId"),
        instance_id=properties.get("InstanceId"),
        nat_gateway_id=properties.get("NatGatewayId"),
        egress_only_igw_id=properties.get("EgressOnlyInternetGatewayId"),
        transit_gateway_id=properties.get("TransitGatewayId"),
        interface_id=properties.get("NetworkInterfaceId"),
        vpc_peering_connection_id=properties.get("VpcPeeringConnectionId"),
    )


_installed = False


def install() -> None:
    """Teach moto's CloudFormation the IPv6 resources, attributes and `Fn::Cidr` (once per process)."""
    global _installed
    if _installed:
        return
    from moto.cloudformation import parsing
    from moto.ec2.models.route_tables import Route
    from moto.ec2.models.subnets import Subnet
    from moto.ec2.models.vpcs import VPC

    clean_json = parsing.clean_json

    def clean_json_with_cidr(resource_json: Any, resources_map: Any) -> Any:
        if isinstance(resource_json, dict) and "Fn::Cidr" in resource_json:
            block, count, bits = (parsing.clean_json(v, resources_map) for v in resource_json["Fn::Cidr"])
            return fn_cidr(str(block), int(count), int(bits))
        return clean_json(resource_json, resources_map)

    vpc_attribute = VPC.get_cfn_attribute

    def vpc_attribute_with_ipv6(self: Any, attribute_name: str) -> Any:
        if attribute_name == "Ipv6CidrBlocks":
            return vpc_ipv6_blocks(self)
        return vpc_attribute(self, attribute_name)

    vpc_has_attribute = VPC.has_cfn_attr

    def vpc_has_attribute_with_ipv6(cls: Any, attr: str) -> bool:
        return attr == "Ipv6CidrBlocks" or bool(vpc_has_attribute.__func__(cls, attr))  # type: ignore[attr-defined]

    parsing.clean_json = clean_json_with_cidr
    VPC.get_cfn_attribute = vpc_attribute_with_ipv6  # type: ignore[method-assign]
    VPC.has_cfn_attr = classmethod(vpc_has_attribute_with_ipv6)  # type: ignore[method-assign,assignment]
    Subnet.create_from_cloudformation_json = _subnet_from_template(  # type: ignore[method-assign]
        Subnet.__dict__["create_from_cloudformation_json"]
    )
    Route.create_from_cloudformation_json = classmethod(_route_from_template)  # type: ignore[method-assign,assignment]
    cfn_models.install()
    cfn_models.refresh()
    _installed = True
