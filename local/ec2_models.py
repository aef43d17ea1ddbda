"""Let moto's CloudFormation delete the networking it creates, as CloudFormation does; fill a gap in its instance data.

moto creates route tables, routes, subnet associations, internet gateways (and their
attachment), NAT gateways and Elastic IPs from a template, but has no delete for them:
deleting the stack leaves them behind, and the VPC then refuses to go (DependencyViolation),
which would make every cluster deletion fail locally for a reason AWS never gives.

moto's stack deletion calls `resource.delete(account_id, region)` on each parsed resource
and retries those that raise until nothing more can go, so a delete that refuses while a
dependency exists (an attached gateway) is tried again after its dependency is gone.

EC2 refuses to delete what is still in use, and moto does not: here a security group on a
network interface, and a VPC that still holds security groups other than its default one,
are refused with EC2's DependencyViolation. The EKS cluster model (local/eks_models.py)
makes the security group EKS makes for each cluster, on the control plane's network interface.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any

from moto.ec2.exceptions import DependencyViolationError
from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_ip_addresses import ElasticAddress
from moto.ec2.models.instance_types import InstanceTypeBackend
from moto.ec2.models.internet_gateways import InternetGateway
from moto.ec2.models.nat_gateways import NatGateway
from moto.ec2.models.route_tables import Route, RouteTable
from moto.ec2.models.security_groups import SecurityGroupBackend
from moto.ec2.models.subnets import SubnetRouteTableAssociation
from moto.ec2.models.vpcs import VPCBackend
from moto.ec2.models.vpn_gateway import VPCGatewayAttachment

from local import ipv6_models, vpc_endpoint_models

# What EKS writes on the security group it makes for a cluster and on the control plane's interfaces.
EKS_CLUSTER_GROUP_DESCRIPTION = (
    "EKS created security group applied to ENI that is attached to EKS Control Plane master nodes, "
    "as well as any managed workloads."
)
EKS_CLUSTER_NAME_TAG = "aws:eks:cluster-name"
_moto_delete_security_group = SecurityGroupBackend._delete_security_group
_moto_delete_vpc = VPCBackend.delete_vpc


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
    ec2 = _ec2(account_id, region)
    ec2.nat_gateways.pop(self.id, None)
    eni = getattr(self, "_eni", None)  # the gateway's own interface goes with it
    if eni is not None:
        ec2.enis.pop(eni.id, None)


def _release_address(self: ElasticAddress, account_id: str, region: str) -> None:
    ec2 = _ec2(account_id, region)
    if self in ec2.addresses:
        ec2.addresses.remove(self)


# moto's DescribeInstanceTypes data gives trn2u.48xlarge (a Trn2 UltraServer node: 16 Trainium2, as
# trn2.48xlarge) no NeuronInfo, so it would get the standard image where AWS's facts give it the Neuron one.
_NEURON_LIKE = {"trn2u.48xlarge": "trn2.48xlarge"}


def _fill_instance_facts() -> None:
    known = {t["InstanceType"]: t for t in InstanceTypeBackend.instance_types}
    for name, like in _NEURON_LIKE.items():
        if name in known and like in known and "NeuronInfo" not in known[name]:
            known[name]["NeuronInfo"] = known[like]["NeuronInfo"]


def _delete_security_group(self: Any, vpc_id: str | None, group_id: str) -> None:
    """EC2 refuses to delete a security group a network interface still uses (the default group goes with its VPC)."""
    group = self.get_security_group_from_id(group_id)
    in_use = any(group_id in {g.id for g in eni.group_set} for eni in list(self.enis.values()))
    if group is not None and group.name != "default" and in_use:
        raise DependencyViolationError(f"resource {group_id} has a dependent object")
    _moto_delete_security_group(self, vpc_id, group_id)


def _delete_vpc(self: Any, vpc_id: str) -> Any:
    """EC2 refuses to delete a VPC that still holds security groups other than its default one, an
    egress-only internet gateway or a VPC endpoint."""
    groups = any(group.name != "default" for group in self.groups.get(vpc_id, {}).values())
    gateways = any(g.vpc_id == vpc_id for g in self.egress_only_internet_gateways.values())
    endpoints = any(e.vpc_id == vpc_id and e.state != "deleted" for e in self.vpc_end_points.values())
    if groups or gateways or endpoints:
        raise DependencyViolationError(f"The vpc '{vpc_id}' has dependencies and cannot be deleted.")
    return _moto_delete_vpc(self, vpc_id)


def create_cluster_security_group(
    account_id: str, region: str, cluster: str, vpc_id: str, subnet_id: str, additional: list[str]
) -> str:
    """Make the security group EKS makes for a cluster and put it, with `additional`, on the control plane's interface.

    Named `eks-cluster-sg-CLUSTER-<digits>`, tagged `kubernetes.io/cluster/CLUSTER: owned` and
    `aws:eks:cluster-name`, like EKS's; the interface is requester-managed, as EKS's cross-account
    interfaces are, so the group cannot be deleted while the cluster lives.
    """
    ec2 = _ec2(account_id, region)
    name = f"eks-cluster-sg-{cluster}-{random.randrange(10**9, 10**10)}"
    tags = {"Name": name, f"kubernetes.io/cluster/{cluster}": "owned", EKS_CLUSTER_NAME_TAG: cluster}
    group = ec2.create_security_group(name, EKS_CLUSTER_GROUP_DESCRIPTION, vpc_id=vpc_id, tags=tags)
    eni = ec2.create_network_interface(
        subnet_id, private_ip_address=[], group_ids=[group.id, *additional], description=f"Amazon EKS {cluster}"
    )
    eni.requester_managed = True
    return str(group.id)


def delete_cluster_security_group(account_id: str, region: str, cluster: str, group_id: str) -> None:
    """What EKS does when the cluster goes: its control plane interfaces, then its security group.

    Like EKS, a group something else still uses (a node's interface) is left behind, and the VPC then refuses to go.
    """
    ec2 = _ec2(account_id, region)
    for eni in list(ec2.enis.values()):
        if eni.requester_managed and eni.description == f"Amazon EKS {cluster}":
            ec2.enis.pop(eni.id, None)
    if ec2.get_security_group_from_id(group_id) is not None:
        with contextlib.suppress(DependencyViolationError):
            ec2.delete_security_group(group_id=group_id)


def install() -> None:
    ipv6_models.install()  # IPv6 networking in moto's CloudFormation
    vpc_endpoint_models.install()  # endpoints as EC2 takes them
    SecurityGroupBackend._delete_security_group = _delete_security_group  # type: ignore[method-assign]
    VPCBackend.delete_vpc = _delete_vpc  # type: ignore[method-assign]
    _fill_instance_facts()
    RouteTable.delete = _delete_route_table  # type: ignore[attr-defined]
    Route.delete = _delete_route  # type: ignore[attr-defined]
    SubnetRouteTableAssociation.delete = _delete_association  # type: ignore[attr-defined]
    VPCGatewayAttachment.delete = _delete_gateway_attachment  # type: ignore[attr-defined]
    InternetGateway.delete = _delete_internet_gateway  # type: ignore[attr-defined]
    NatGateway.delete = _delete_nat_gateway  # type: ignore[attr-defined]
    ElasticAddress.delete = _release_address  # type: ignore[attr-defined]
