"""A fully private cluster's VPC endpoints, as eksctl's `vpc_endpoint.go` builds them.

An interface endpoint per service (`VPCEndpointEC2`, `VPCEndpointECRAPI`, ...) in one private subnet
of each zone the service is offered in, with private DNS, so the usual service names resolve to it
inside the VPC; in the shared node security group, which the nodes, EKS's cluster security group and
so the control plane and Fargate pods reach on every port. S3 is a gateway endpoint on the private
subnets' route tables (image layers come from S3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.model import private_cluster_spec

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from chalicelib.cfn.template import Ref, Template
    from chalicelib.model.spec import ClusterSpec

# Services whose endpoint names carry a `cn.` prefix in the China regions (eksctl's RequiresChinaPrefix).
_CHINA_PREFIXED = frozenset({"ec2", "ecr.api", "ecr.dkr", "sts", "cloudformation"})


def service_name(region: str, service: str) -> str:
    """The endpoint service's name in `region`: `com.amazonaws.REGION.SERVICE`, as EC2 lists it."""
    prefix = "cn.com.amazonaws" if region.startswith("cn-") and service in _CHINA_PREFIXED else "com.amazonaws"
    return f"{prefix}.{region}.{service}"


def logical_id(service: str) -> str:
    """eksctl's resource name: `VPCEndpoint` and the service upper-cased without dots (`VPCEndpointECRAPI`)."""
    return f"VPCEndpoint{service.replace('.', '').upper()}"


def endpoint_services(spec: ClusterSpec) -> list[str]:
    """Every endpoint the cluster's VPC gets: the interface ones and S3's gateway; none when it is not private."""
    interfaces = private_cluster_spec.interface_services(spec)
    return [*interfaces, private_cluster_spec.GATEWAY_SERVICE] if interfaces else []


def add_vpc_endpoints(
    t: Template,
    spec: ClusterSpec,
    vpc: Ref | str,
    subnets: Sequence[tuple[str, Ref | str]],
    route_tables: Sequence[Ref | str],
    security_group: Any,
    offered: Mapping[str, list[str]] | None = None,
) -> None:
    """Add the endpoints of `endpoint_services(spec)` in `vpc`: `subnets` are (zone, private subnet), one per
    zone; `route_tables` the private subnets' (S3's gateway endpoint goes on them).

    `offered` says in which zones each interface service is (EC2's DescribeVpcEndpointServices); an
    endpoint goes only in those subnets, and a service missing from it is taken to be in every zone.
    """
    zones = [zone for zone, _ in subnets]
    for service in private_cluster_spec.interface_services(spec):
        where = (offered or {}).get(service, zones)
        in_zones = [subnet for zone, subnet in subnets if zone in where]
        if not in_zones:
            raise ValueError(f"the {service} endpoint service is in none of the cluster's zones ({', '.join(zones)})")
        t.new_resource(
            logical_id(service),
            "AWS::EC2::VPCEndpoint",
            {
                "ServiceName": service_name(spec.region, service),
                "VpcEndpointType": "Interface",
                "VpcId": vpc,
                "SubnetIds": in_zones,
                "PrivateDnsEnabled": True,
                "SecurityGroupIds": [security_group],
            },
        )
    if endpoint_services(spec) and not route_tables:
        raise ValueError("S3's gateway endpoint needs the private subnets' route tables")
    if endpoint_services(spec):
        gateway = private_cluster_spec.GATEWAY_SERVICE
        t.new_resource(
            logical_id(gateway),
            "AWS::EC2::VPCEndpoint",
            {
                "ServiceName": service_name(spec.region, gateway),
                "VpcEndpointType": "Gateway",
                "VpcId": vpc,
                "RouteTableIds": list(route_tables),
            },
        )
