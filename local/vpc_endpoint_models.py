"""AWS::EC2::VPCEndpoint as EC2's CreateVpcEndpoint takes it, and VPC DNS attributes from a template.

moto's CloudFormation makes any endpoint it is given: a service no region offers, an interface
endpoint with two subnets in one zone or in a zone its service is not in, private DNS in a VPC without
DNS hostnames; and a stack's deletion leaves the endpoint (and its network interfaces) behind. EC2
refuses each of those requests, and a VPC that still holds an endpoint refuses to go (local/ec2_models.py):

- `InvalidServiceName` for a service the region does not offer with that endpoint type
  (the region's catalogue is moto's DescribeVpcEndpointServices);
- `DuplicateSubnetsInSameZone` for two subnets of one zone, and `InvalidParameter` for a subnet in a
  zone the service is not offered in, or a route table or subnet of another VPC;
- `InvalidParameter` for private DNS when the VPC's `enableDnsSupport` or `enableDnsHostnames` is off, or
  when another endpoint of the service in the VPC has private DNS (its DNS name is taken);
- `RouteAlreadyExists` for a gateway endpoint on a route table with one of that service already.

moto's VPC ignores a template's `EnableDnsSupport` and `EnableDnsHostnames`; here they are kept, with
EC2's defaults (support on, hostnames off), so the private DNS rule judges what the template asked for.
An interface endpoint's network interfaces carry its security groups, so a group stays in use (and
undeletable) while the endpoint lives, as on AWS.
"""

from __future__ import annotations

import contextlib
from typing import Any

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models import ec2_backends
from moto.ec2.models.vpcs import VPC

from local.cfn_models import LocalModel, handler_failed, refresh

# moto's VPC from a template, kept when the DNS attributes are added (once: later wrappers, the account's
# quotas among them, wrap that).
_moto_vpc_from_template: Any = None


def _ec2(account_id: str, region: str) -> Any:
    return ec2_backends[account_id][region]


def _refused(code: str, message: str) -> Exception:
    return handler_failed("Ec2", code, message)


def _offered(ec2: Any, service_name: str, endpoint_type: str) -> list[str]:
    """The zones where the region offers `service_name` with `endpoint_type`; refused when it does not."""
    catalogue = ec2._collect_default_endpoint_services(ec2.account_id, ec2.region_name)
    catalogue += [c.to_dict() for c in ec2.configurations.values()]
    for detail in catalogue:
        types = {t["ServiceType"] for t in detail.get("ServiceType", [])}
        if detail["ServiceName"] == service_name and endpoint_type in types:
            return list(detail.get("AvailabilityZones") or [])
    raise _refused("InvalidServiceName", f"The Vpc Endpoint Service '{service_name}' does not exist")


def _check_interface(ec2: Any, vpc: Any, props: dict[str, Any], zones: list[str]) -> None:
    seen: dict[str, str] = {}
    for subnet_id in props.get("SubnetIds") or []:
        subnet = ec2.get_subnet(subnet_id)
        if subnet.vpc_id != vpc.id:
            raise _refused("InvalidParameter", f"The subnet {subnet_id} does not belong to the VPC {vpc.id}")
        zone = subnet.availability_zone
        if zone in seen:
            raise _refused(
                "DuplicateSubnetsInSameZone",
                f"Found another VPC endpoint subnet in the availability zone of {subnet_id}. VPC endpoint subnets "
                "should be in different availability zones supported by the VPC endpoint service.",
            )
        seen[zone] = subnet_id
        if zone not in zones:
            raise _refused(
                "InvalidParameter",
                f"The VPC endpoint service {props['ServiceName']} does not support the availability zone of "
                f"the subnet: {subnet_id}.",
            )
    if props.get("PrivateDnsEnabled") and any(
        e.vpc_id == vpc.id and e.service_name == props["ServiceName"] and e.private_dns_enabled
        for e in ec2.vpc_end_points.values()
        if e.state != "deleted"
    ):
        raise _refused(
            "InvalidParameter",
            "private-dns-enabled cannot be set because there is already a conflicting DNS domain for "
            f"{props['ServiceName']} in the VPC {vpc.id}",
        )
    if props.get("PrivateDnsEnabled") and not (vpc.enable_dns_support and vpc.enable_dns_hostnames):
        raise _refused(
            "InvalidParameter",
            "Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes set to true "
            f"for {vpc.id}",
        )


def _check_gateway(ec2: Any, vpc: Any, props: dict[str, Any]) -> None:
    if props.get("SubnetIds") or props.get("PrivateDnsEnabled"):
        raise _refused("InvalidParameter", "A gateway endpoint takes route tables, not subnets or private DNS")
    for table_id in props.get("RouteTableIds") or []:
        table = ec2.get_route_table(table_id)
        if table.vpc_id != vpc.id:
            raise _refused("InvalidParameter", f"The route table {table_id} does not belong to the VPC {vpc.id}")
        if any(
            e.service_name == props["ServiceName"] and table_id in (e.route_table_ids or [])
            for e in ec2.vpc_end_points.values()
            if e.state != "deleted"
        ):
            raise _refused(
                "RouteAlreadyExists", f"route table {table_id} already has a route to {props['ServiceName']}"
            )


class VPCEndpointModel(LocalModel, CloudFormationModel):
    CFN_TYPE = "AWS::EC2::VPCEndpoint"
    CFN_ATTRIBUTES = {
        "Id": lambda m: m.endpoint.id,
        "NetworkInterfaceIds": lambda m: list(m.endpoint.network_interface_ids or []),
        "DnsEntries": lambda m: [f"{e['hosted_zone_id']}:{e['dns_name']}" for e in m.endpoint.dns_entries or []],
        "CreationTimestamp": lambda m: m.endpoint.created_at,
    }

    def __init__(self, endpoint: Any) -> None:
        self.endpoint = endpoint

    @property
    def physical_resource_id(self) -> str:
        return str(self.endpoint.id)

    @classmethod
    def create(cls, props: dict[str, Any], resource_name: str, account_id: str, region_name: str) -> VPCEndpointModel:
        ec2 = _ec2(account_id, region_name)
        vpc = ec2.get_vpc(props["VpcId"])
        endpoint_type = props.get("VpcEndpointType", "Gateway")
        zones = _offered(ec2, props["ServiceName"], endpoint_type)
        if endpoint_type == "Interface":
            _check_interface(ec2, vpc, props, zones)
        else:
            _check_gateway(ec2, vpc, props)
        groups = list(props.get("SecurityGroupIds") or [])
        endpoint = ec2.create_vpc_endpoint(
            vpc_id=vpc.id,
            service_name=props["ServiceName"],
            endpoint_type=endpoint_type,
            policy_document=props.get("PolicyDocument"),
            route_table_ids=list(props.get("RouteTableIds") or []),
            subnet_ids=list(props.get("SubnetIds") or []),
            security_group_ids=groups,
            private_dns_enabled=props.get("PrivateDnsEnabled"),
        )
        # The interfaces carry the endpoint's groups (the VPC's default group when none is given).
        for eni_id in endpoint.network_interface_ids or []:
            eni = ec2.enis[eni_id]
            if groups:
                eni._group_set = [ec2.get_security_group_from_id(g) for g in groups]
            eni.requester_managed = True
            eni.description = f"VPC Endpoint Interface {endpoint.id}"
        return cls(endpoint)

    def delete(self, account_id: str, region_name: str) -> None:
        """The endpoint, its interfaces and its routes go. A stack's resources go in no set order, so a route
        table may be gone first: its routes went with it (moto's own delete would fail on it and keep the
        endpoint, and the VPC could then never go)."""
        ec2 = _ec2(account_id, region_name)
        endpoint = ec2.vpc_end_points.pop(self.endpoint.id, None)
        if endpoint is None:
            return
        for eni_id in endpoint.network_interface_ids or []:
            ec2.enis.pop(eni_id, None)
        for table_id in endpoint.route_table_ids or [] if endpoint.destination_prefix_list_id else []:
            with contextlib.suppress(EC2ClientError):  # the table, or its route, is gone already
                ec2.delete_route(table_id, None, destination_prefix_list_id=endpoint.destination_prefix_list_id)
        endpoint.state = "deleted"


def _vpc_from_template(
    cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
) -> Any:
    vpc = _moto_vpc_from_template(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    props = cloudformation_json.get("Properties") or {}
    vpc.enable_dns_support = _boolean(props.get("EnableDnsSupport", True))
    vpc.enable_dns_hostnames = _boolean(props.get("EnableDnsHostnames", False))
    return vpc


def _boolean(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def install() -> None:
    """Put the model above in moto's CloudFormation, and a template's DNS attributes on moto's VPC."""
    global _moto_vpc_from_template
    if _moto_vpc_from_template is None:
        _moto_vpc_from_template = VPC.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
        VPC.create_from_cloudformation_json = classmethod(_vpc_from_template)  # type: ignore[method-assign,assignment]
    refresh()
    assert parsing.get_model_map()["AWS::EC2::VPCEndpoint"] is VPCEndpointModel
