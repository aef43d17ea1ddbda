"""Let moto's CloudFormation delete the networking it creates, as CloudFormation does.

moto creates route tables, routes, subnet associations, internet gateways (and their
attachment), NAT gateways and Elastic IPs from a template, but has no delete for them:
deleting the stack leaves them behind, and the VPC then refuses to go (DependencyViolation),
which would make every cluster deletion fail locally for a reason AWS never gives.

moto's stack deletion calls `resource.delete(account_id, region)` on each parsed resource
and retries those that raise until nothing more can go, so a delete that refuses while a
dependency exists (an attached gateway) is tried again after its dependency is gone.
"""

from __future__ import annotations

from typing import Any

from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_ip_addresses import ElasticAddress
from moto.ec2.models.internet_gateways import InternetGateway
from moto.ec2.models.nat_gateways import NatGateway
from moto.ec2.models.route_tables import Route, RouteTable
from moto.ec2.models.subnets import SubnetRouteTableAssociation
from moto.ec2.models.vpn_gateway import VPCGatewayAttachment


def _ec2(account_id: str, region: str) -> Any:
    return ec2_backends[account_id][region]


def _delete_route_table(self: RouteTable, account_id: str, region: str) -> None:
    _ec2(account_id, region).delete_route_table(self.id)


def _delete_route(self: Route, account_id: str, region: str) -> None:
    # The route goes with its table; if the table is still there, take the route out of it.
    self.route_table.routes.pop(self.id, None)


def _delete_association(self: SubnetRouteTableAssociation, account_id: str, region: str) -> None:
    _ec2(account_id, region).subnet_associations.pop(f"{self.route_table_id}:{self.subnet_id}", None)


def _delete_gateway_attachment(self: VPCGatewayAttachment, account_id: str, region: str) -> None:
    ec2 = _ec2(account_id, region)
    igw = ec2.internet_gateways.get(self.gateway_id)
    if igw is not None and igw.vpc is not None:
        ec2.detach_internet_gateway(self.gateway_id, self.vpc_id)


def _delete_internet_gateway(self: InternetGateway, account_id: str, region: str) -> None:
    _ec2(account_id, region).delete_internet_gateway(self.id)  # refuses while attached


def _delete_nat_gateway(self: NatGateway, account_id: str, region: str) -> None:
    _ec2(account_id, region).nat_gateways.pop(self.id, None)


def _release_address(self: ElasticAddress, account_id: str, region: str) -> None:
    ec2 = _ec2(account_id, region)
    if self in ec2.addresses:
        ec2.addresses.remove(self)


def install() -> None:
    RouteTable.delete = _delete_route_table  # type: ignore[attr-defined]
    Route.delete = _delete_route  # type: ignore[attr-defined]
    SubnetRouteTableAssociation.delete = _delete_association  # type: ignore[attr-defined]
    VPCGatewayAttachment.delete = _delete_gateway_attachment  # type: ignore[attr-defined]
    InternetGateway.delete = _delete_internet_gateway  # type: ignore[attr-defined]
    NatGateway.delete = _delete_nat_gateway  # type: ignore[attr-defined]
    ElasticAddress.delete = _release_address  # type: ignore[attr-defined]
