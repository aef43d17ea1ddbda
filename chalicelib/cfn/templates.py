"""CloudFormation templates for a cluster, its node groups and add-ons: pure functions of the spec.

Mirrors eksctl's `pkg/cfn/builder`: the cluster stack owns the network, the
control-plane security group, the service role and the control plane, and
exports what node group and add-ons stacks import. Each concern is a resource set in its own
module; this one composes them and is the import other code uses. Nothing here does I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.cfn import kinds
from chalicelib.cfn.addons import add_addons_after_nodes, add_addons_with_control_plane
from chalicelib.cfn.cluster_options import add_identity_providers, permissions_boundary
from chalicelib.cfn.control_plane import (
    CLUSTER_ADMIN_POLICY,
    add_access_entries,
    add_control_plane,
    add_oidc_provider,
)
from chalicelib.cfn.fargate import add_fargate
from chalicelib.cfn.iam import WORKER_POLICIES, add_service_role
from chalicelib.cfn.managed_nodegroup import (
    OUTPUT_CLUSTER_SECURITY_GROUP,
    TAINT_EFFECT,
    add_managed_node_role,
    add_managed_nodegroup,
    ami_type,
)
from chalicelib.cfn.node_security_groups import OUTPUT_SHARED_NODE_SECURITY_GROUP, add_shared_node_security_group
from chalicelib.cfn.podidentity import add_pod_identity
from chalicelib.cfn.remote_nodes import add_remote_nodes
from chalicelib.cfn.selfmanaged_nodegroup import OUTPUT_ASG_NAME, add_selfmanaged_nodegroup
from chalicelib.cfn.serviceaccounts import add_service_account
from chalicelib.cfn.template import (
    OUTPUT_ARN,
    OUTPUT_CA,
    OUTPUT_CLUSTER_NAME,
    OUTPUT_ENDPOINT,
    OUTPUT_NODE_ROLE_ARN,
    OUTPUT_NODEGROUP_NAME,
    OUTPUT_OIDC_PROVIDER_ARN,
    OUTPUT_SECURITY_GROUP,
    OUTPUT_SERVICE_ROLE_ARN,
    OUTPUT_SUBNETS_PRIVATE,
    OUTPUT_SUBNETS_PUBLIC,
    OUTPUT_VPC,
    OUTPUT_WINDOWS_NODES,
    Template,
    export_name,
    get_att,
    to_json,
)
from chalicelib.cfn.vpc import (
    MAX_ZONES,
    MIN_ZONES,
    SUBNET_SPLIT_BITS,
    add_existing_network,
    add_security_group,
    add_vpc,
    subnet_cidrs,
)
from chalicelib.cfn.vpc_endpoints import add_vpc_endpoints
from chalicelib.model import naming
from chalicelib.model.spec import NodegroupSpec, SelfManagedNodegroupSpec

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from chalicelib.model.spec import AddonSpec, ClusterSpec, NodeGroupBase

__all__ = [
    "CLUSTER_ADMIN_POLICY",
    "MAX_ZONES",
    "MIN_ZONES",
    "OUTPUT_ARN",
    "OUTPUT_ASG_NAME",
    "OUTPUT_CA",
    "OUTPUT_CLUSTER_NAME",
    "OUTPUT_CLUSTER_SECURITY_GROUP",
    "OUTPUT_ENDPOINT",
    "OUTPUT_NODEGROUP_NAME",
    "OUTPUT_NODE_ROLE_ARN",
    "OUTPUT_OIDC_PROVIDER_ARN",
    "OUTPUT_SECURITY_GROUP",
    "OUTPUT_SERVICE_ROLE_ARN",
    "OUTPUT_SHARED_NODE_SECURITY_GROUP",
    "OUTPUT_SUBNETS_PRIVATE",
    "OUTPUT_SUBNETS_PUBLIC",
    "OUTPUT_VPC",
    "OUTPUT_WINDOWS_NODES",
    "SUBNET_SPLIT_BITS",
    "TAINT_EFFECT",
    "WORKER_POLICIES",
    "WORKLOAD_KINDS",
    "addons_after_nodes",
    "ami_type",
    "build_addons_template",
    "build_cluster_template",
    "build_nodegroup_template",
    "build_workload_template",
    "export_name",
    "stack_tags",
    "subnet_cidrs",
    "to_json",
    "workload_stacks",
]

# Zones are chosen per region from DescribeAvailabilityZones (skipping those EKS
# does not support), as eksctl does, so naming them in subnets is deliberate.
_CLUSTER_METADATA = {"cfn-lint": {"config": {"ignore_checks": ["W3010"]}}}


def stack_tags(spec: ClusterSpec, cluster_id: str, kind: str, nodegroup: str = "") -> dict[str, str]:
    """The tags a stack of `kind` is created with: the spec's, our ownership and kind tags, and eksctl's.

    CloudFormation propagates them to every resource of the stack that takes tags, so the
    templates built here list on a resource only what these do not give it. At most 40 of
    the spec's plus 7 of ours: within CloudFormation's 50 stack tags.
    """
    # User tags first so ours win; the spec already refuses our reserved prefixes.
    tags = {**spec.tags, **naming.ownership_tags(spec.name, cluster_id), naming.TAG_STACK_KIND: kind}
    if nodegroup:
        tags.update({naming.TAG_NODEGROUP: nodegroup, naming.TAG_EKSCTL_NODEGROUP: nodegroup})
    return tags


def build_cluster_template(
    spec: ClusterSpec,
    cluster_id: str,
    zones: list[str],
    service_roles: tuple[str, ...] = (),
    endpoint_zones: Mapping[str, list[str]] | None = None,
    public_endpoint_closed: bool = False,
    endpoint_route_tables: Sequence[str] = (),
) -> dict[str, Any]:
    """The `eksctl-NAME-cluster` stack: network, security group, service role, control plane.

    `service_roles` (the service's own functions that speak to Kubernetes) each get a
    cluster-admin access entry, so they reach the cluster whoever created it. A fully private
    cluster's VPC endpoints go in the zones `endpoint_zones` gives each service (all, when unsaid), and in an
    existing VPC S3's gateway endpoint on its private subnets' `endpoint_route_tables`; its public endpoint is
    on until the create's last step rebuilds the stack with `public_endpoint_closed`.
    """
    if len(zones) < MIN_ZONES:
        raise ValueError(f"EKS needs subnets in at least {MIN_ZONES} availability zones, got {len(zones)}")
    t = Template(
        naming.cluster_stack_name(spec.name),
        stack_tags(spec, cluster_id, kinds.CLUSTER.name),
        f"EKS cluster {spec.name} ({'in ' + str(spec.vpc.id) if spec.vpc.existing else 'dedicated VPC'}, "
        "control plane) [created by ekspress]",
        metadata=_CLUSTER_METADATA,
    )
    network = add_existing_network(t, spec, zones) if spec.vpc.existing else add_vpc(t, spec, zones)
    security_group = add_security_group(t, network.vpc)
    service_role_arn = add_service_role(t, permissions_boundary(spec))
    cluster = add_control_plane(
        t, spec, network, security_group, service_role_arn, service_roles, public_endpoint_closed
    )
    # EKS's cluster security group: a managed group's launch template with securityGroups.attachIDs adds it.
    t.add_output(OUTPUT_CLUSTER_SECURITY_GROUP, get_att("ControlPlane", "ClusterSecurityGroupId"), export=True)
    # Self-managed groups join it (securityGroups.withShared); made with every cluster, as eksctl does, so
    # a group added later finds it.
    vpc = spec.vpc
    shared = add_shared_node_security_group(
        t, network.vpc, vpc.shared_node_security_group, vpc.manages_shared_node_rules
    )
    if vpc.existing:  # the first private subnet of each zone, and the route tables EC2 says they use
        per_zone = vpc.zone_subnets("private", zones, spec.region)
        private: list[tuple[str, Any]] = [(z, ids[0]) for z, ids in zip(zones, per_zone, strict=True) if ids]
        tables: Sequence[Any] = endpoint_route_tables
    else:
        private, tables = list(zip(zones, network.private, strict=True)), network.route_tables or []
    add_vpc_endpoints(t, spec, network.vpc, private, tables, shared, endpoint_zones)
    if spec.iam and spec.iam.with_oidc:
        add_oidc_provider(t)
    # Only the add-ons EKS can make ACTIVE with no node; the others wait for the add-ons stack.
    add_addons_with_control_plane(t, spec, cluster)
    add_access_entries(t, spec.access_config, service_roles, cluster)
    add_remote_nodes(t, spec, security_group, cluster)
    add_identity_providers(t, spec, cluster)
    return t.render()


def addons_after_nodes(spec: ClusterSpec) -> list[AddonSpec]:
    """The requested add-ons that need nodes: the add-ons stack's, made once the node groups are ACTIVE."""
    return [a for a in spec.addons if a.needs_nodes]


def build_addons_template(spec: ClusterSpec, cluster_id: str) -> dict[str, Any] | None:
    """The `eksctl-NAME-addons` stack: the add-ons that need nodes, with their IRSA roles; None when there are none.

    A stack of its own, created after the node group stacks, because an AWS::EKS::Addon waits for
    ACTIVE and an add-on with no node to run its pods stays DEGRADED (coredns, the EBS CSI controller).
    """
    addons = addons_after_nodes(spec)
    if not addons:
        return None
    t = Template(
        naming.addons_stack_name(spec.name),
        stack_tags(spec, cluster_id, kinds.ADDONS.name),
        f"EKS add-ons of cluster {spec.name} that run on its nodes [created by ekspress]",
    )
    add_addons_after_nodes(t, spec, addons)
    return t.render()


def build_nodegroup_template(spec: ClusterSpec, nodegroup: NodeGroupBase, cluster_id: str) -> dict[str, Any]:
    """The `eksctl-NAME-nodegroup-NG` stack: node role and managed node group, or a self-managed group's own.

    A self-managed group needs its `imageId` resolved first (ValueError otherwise).
    """
    tags = stack_tags(spec, cluster_id, kinds.NODEGROUP.name, nodegroup.name)
    kind = "managed" if nodegroup.managed else "self-managed"
    t = Template(
        naming.nodegroup_stack_name(spec.name, nodegroup.name),
        tags,
        f"EKS {kind} node group {nodegroup.name} of cluster {spec.name} [created by ekspress]",
    )
    # The group's own tags between the cluster's and ours; the stack kind describes the stack, not a node.
    node_tags = {**spec.tags, **nodegroup.tags, **{k: v for k, v in tags.items() if k != naming.TAG_STACK_KIND}}
    if nodegroup.managed and isinstance(nodegroup, NodegroupSpec):
        node_role_arn = add_managed_node_role(t, spec, nodegroup)
        add_managed_nodegroup(t, spec, nodegroup, node_role_arn, node_tags)
    elif not nodegroup.managed and isinstance(nodegroup, SelfManagedNodegroupSpec):
        add_selfmanaged_nodegroup(t, spec, nodegroup, node_tags)
    else:
        raise TypeError(f"unknown node group type {type(nodegroup).__name__}")
    return t.render()


# -- the stacks made once the node groups are up ---------------------------------------------


WORKLOAD_KINDS = kinds.WORKLOAD_KINDS


def workload_stacks(spec: ClusterSpec) -> list[dict[str, str]]:
    """The stacks the create workflow makes after the node groups, as `{"kind", "member"}` items.

    Fargate profiles, one IAM role per service account (IRSA), one role and association per pod
    identity, and the add-ons that need nodes: none depends on another, so the workflow makes them
    side by side (a Map), and deletes them before the node groups.
    """
    items: list[dict[str, str]] = []
    if spec.fargate_profiles:
        items.append({"kind": kinds.FARGATE.name, "member": ""})
    iam = spec.iam
    for account in (iam.service_accounts if iam else None) or []:
        if account.needs_stack:
            items.append({"kind": kinds.IAMSERVICEACCOUNT.name, "member": account.member})
    for association in (iam.pod_identity_associations if iam else None) or []:
        items.append({"kind": kinds.PODIDENTITY.name, "member": association.member})
    if addons_after_nodes(spec):
        items.append({"kind": kinds.ADDONS.name, "member": ""})
    return items


def build_workload_template(spec: ClusterSpec, kind: str, member: str, cluster_id: str) -> dict[str, Any]:
    """The template of one of `workload_stacks`: `kind` and `member` as that list gives them."""
    if kind == kinds.ADDONS.name:
        addons = build_addons_template(spec, cluster_id)
        if addons is None:
            raise ValueError(f"cluster {spec.name!r} has no add-on that needs nodes")
        return addons
    stack_kind = kinds.kind(kind)
    t = Template(
        stack_kind.stack_name(spec.name, member),
        stack_tags(spec, cluster_id, kind),
        f"{_WORKLOAD_DESCRIPTIONS[kind]} of cluster {spec.name} [created by ekspress]",
    )
    iam = spec.iam
    if kind == kinds.FARGATE.name and spec.fargate_profiles:
        add_fargate(t, spec)
        return t.render()
    if kind == kinds.IAMSERVICEACCOUNT.name and iam:
        account = next(
            (a for a in getattr(iam, "service_accounts", None) or [] if a.member == member and a.needs_stack), None
        )
        if account is not None:
            add_service_account(t, spec, account)
            return t.render()
    if kind == kinds.PODIDENTITY.name and iam:
        association = next(
            (a for a in getattr(iam, "pod_identity_associations", None) or [] if a.member == member), None
        )
        if association is not None:
            add_pod_identity(t, spec, association)
            return t.render()
    raise ValueError(f"cluster {spec.name!r} has no {kind} stack {member!r}")


_WORKLOAD_DESCRIPTIONS = {
    kinds.FARGATE.name: "EKS Fargate profiles and their pod execution role",
    kinds.IAMSERVICEACCOUNT.name: "IAM role for a service account",
    kinds.PODIDENTITY.name: "EKS Pod Identity association and its role",
}
