"""IPv6 clusters (`kubernetesNetworkConfig.ipFamily: IPv6`): eksctl's rules for what goes with them.

An IPv6 cluster's VPC gets an Amazon-provided IPv6 block, each subnet a /64 of it, and the pods and
services IPv6 addresses (chalicelib/cfn/vpc.py builds the network). eksctl refuses, when the cluster is
created, what cannot be built with that family; so does ekspress, each rule a 422 on its field:

- `vpc.autoAllocateIPv6` (the IPv6 block is the family's own), `vpc.nat` other than the default (the
  VPC gets one NAT gateway for IPv4 and an egress-only internet gateway for IPv6), `serviceIPv4CIDR`
  (EKS gives services an IPv6 range);
- self-managed `nodeGroups` (eksctl: "unmanaged nodegroups are not supported with IPv6 clusters");
- the vpc-cni, coredns and kube-proxy add-ons, named in `addons` (eksctl requires coredns and makes the
  other two as managed add-ons itself; ekspress's clusters otherwise keep EKS's self-managed copies,
  whose vpc-cni runs IPv4 with the node role's IPv4 policy), unless EKS Auto Mode runs them;
- a role for vpc-cni's service account, which needs `ec2:AssignIpv6Addresses`: `iam.withOIDC: true`
  or EKS Pod Identity for the add-on (eksctl: "either pod identity or oidc needs to be enabled");
  withOIDC is not implied, as eksctl does not imply it;
- vpc-cni at least v1.10.0 when a version is named;
- an existing VPC (`vpc.id`): not built yet (its IPv6 blocks would have to be checked in EC2);
- a managed group's custom `ami` with the bootstrap ekspress writes (its NodeConfig names the service
  range, which EKS picks for an IPv6 cluster when it makes it): `overrideBootstrapCommand` instead.

eksctl's minimum Kubernetes version for IPv6 (1.21) is below every version ekspress supports.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from chalicelib.model.addon_iam_spec import uses_pod_identity

if TYPE_CHECKING:
    from chalicelib.model.spec import ClusterSpec
    from chalicelib.model.validation import Problem

# The add-ons an IPv6 cluster names (see the module's docstring).
IPV6_ADDONS = ("vpc-cni", "coredns", "kube-proxy")
# The first vpc-cni release with IPv6 (eksctl's minimumVPCCNIVersionForIPv6).
MIN_VPC_CNI_IPV6 = (1, 10, 0)
_ADDON_VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)-eksbuild\.\d+$")


def is_ipv6(spec: ClusterSpec) -> bool:
    """Whether the cluster's pods and services get IPv6 addresses (kubernetesNetworkConfig.ipFamily)."""
    return bool(spec.kubernetes_network_config and spec.kubernetes_network_config.ipv6)


def ipv6_problems(spec: ClusterSpec) -> list[Problem]:
    """What an IPv6 cluster cannot be made with, each on its field (nothing for an IPv4 cluster)."""
    if not is_ipv6(spec):
        return []
    problems: list[Problem] = []
    family = ("kubernetesNetworkConfig", "ipFamily")
    if spec.vpc.existing:
        message = (
            "IPv6 clusters are built in a VPC ekspress makes (with its IPv6 block); an existing VPC (vpc.id) "
            "is not supported with ipFamily IPv6 yet: leave vpc.id out, or use IPv4"
        )
        problems.append((family, "ipv6_existing_vpc", message, "IPv6"))
    if spec.vpc.auto_allocate_ipv6:
        message = (
            "ipFamily IPv6 gives the VPC and subnets their IPv6 blocks: leave vpc.autoAllocateIPv6 out (as eksctl)"
        )
        problems.append((("vpc", "autoAllocateIPv6"), "ipv6_auto_allocate", message, True))
    if spec.vpc.nat.gateway != "Single":
        message = (
            "an IPv6 cluster's VPC gets one NAT gateway (IPv4) and an egress-only internet gateway (IPv6): "
            "leave vpc.nat out (eksctl refuses NAT settings with IPv6)"
        )
        problems.append((("vpc", "nat", "gateway"), "ipv6_nat", message, spec.vpc.nat.gateway))
    network = spec.kubernetes_network_config
    if network and network.service_ipv4_cidr:
        message = "EKS gives an IPv6 cluster's services an IPv6 range: leave serviceIPv4CIDR out (as eksctl)"
        problems.append((("kubernetesNetworkConfig", "serviceIPv4CIDR"), "ipv6_service_cidr", message, None))
    for index, _ in enumerate(spec.node_groups or []):
        message = "self-managed node groups are not supported with IPv6 clusters (as eksctl): use managedNodeGroups"
        problems.append((("nodeGroups", index), "ipv6_self_managed", message, None))
    for index, group in enumerate(spec.managed_node_groups or []):
        if group.ami and group.override_bootstrap_command is None:
            message = (
                "a custom ami's bootstrap would name the cluster's service range, which EKS picks for an IPv6 "
                "cluster when it is made: give overrideBootstrapCommand, or leave ami out (EKS's image)"
            )
            problems.append((("managedNodeGroups", index, "ami"), "ipv6_custom_ami", message, group.ami))
    problems += _addon_problems(spec)
    return problems


def _addon_problems(spec: ClusterSpec) -> list[Problem]:
    if spec.auto_mode:  # EKS Auto Mode runs the networking add-ons itself, IPv6 included
        return []
    problems: list[Problem] = []
    names = [addon.name for addon in spec.addons]
    missing = [name for name in IPV6_ADDONS if name not in names]
    if missing:
        message = (
            f"an IPv6 cluster needs the {', '.join(IPV6_ADDONS)} add-ons named in addons (EKS's self-managed "
            f"copies run IPv4); missing: {', '.join(missing)}"
        )
        problems.append((("addons",), "ipv6_addons_required", message, missing))
    for index, addon in enumerate(spec.addons):
        if addon.name != "vpc-cni":
            continue
        oidc = bool(spec.iam and spec.iam.with_oidc)
        if not oidc and not uses_pod_identity(addon, spec.addons_config):
            message = (
                "with IPv6, vpc-cni needs a role of its own to assign IPv6 addresses (ec2:AssignIpv6Addresses): "
                "set iam.withOIDC: true, or give vpc-cni pod identity (useDefaultPodIdentityAssociations with the "
                "eks-pod-identity-agent add-on), as eksctl requires"
            )
            problems.append((("iam", "withOIDC"), "ipv6_vpc_cni_role", message, oidc))
        match = _ADDON_VERSION.fullmatch(addon.version or "")
        if match and tuple(int(part) for part in match.groups()) < MIN_VPC_CNI_IPV6:
            message = "vpc-cni supports IPv6 from v1.10.0 (eksctl's rule); name a later version or latest"
            problems.append((("addons", index, "version"), "ipv6_vpc_cni_version", message, addon.version))
    return problems
