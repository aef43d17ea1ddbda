"""What each of eksctl's `wellKnownPolicies` flags grants a service account's role.

Mirrors the shape of eksctl's `createWellKnownPolicies` (`pkg/cfn/builder/iam_helper.go`): an AWS
managed policy where eksctl attaches one (imageBuilder, ebsCSIController), else statements of the
role's own. The statements are the ones node roles get for the same tools
(chalicelib/cfn/node_policies.py, written from each tool's documented permissions), so a tool gets
the same permissions whether its pods run with the node's role or one of their own. Cluster
Autoscaler is scoped here by the discovery tag every group it may scale carries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.cfn import node_policies
from chalicelib.cfn.iam import policy_arn

if TYPE_CHECKING:
    from chalicelib.model.well_known import WellKnownPolicies

Statement = dict[str, Any]

# Flags eksctl meets with an AWS managed policy.
MANAGED_POLICIES = {
    "imageBuilder": "AmazonEC2ContainerRegistryPowerUser",
    "ebsCSIController": "service-role/AmazonEBSCSIDriverPolicy",
}
# The tag cluster-autoscaler discovers groups by (EKS puts it on every managed group's Auto Scaling group).
AUTOSCALER_DISCOVERY_TAG = "k8s.io/cluster-autoscaler/enabled"


def _autoscaler(cluster: str | None) -> list[Statement]:
    """Cluster Autoscaler: read any group; scale only groups tagged for discovery (and, given one, this cluster's)."""
    condition: dict[str, str] = {f"aws:ResourceTag/{AUTOSCALER_DISCOVERY_TAG}": "true"}
    if cluster:
        condition[f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}"] = "owned"
    return [
        {
            "Effect": "Allow",
            "Action": list(node_policies.AUTOSCALER_READS),
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
            "Resource": "*",
            "Condition": {"StringEquals": condition},
        },
    ]


def _statements(flag: str, cluster: str | None) -> list[Statement]:
    if flag == "autoScaler":
        return _autoscaler(cluster)
    if flag == "awsLoadBalancerController":
        return node_policies._load_balancer_controller()
    if flag == "externalDNS":
        return node_policies._external_dns()
    if flag == "certManager":
        return node_policies._cert_manager()
    if flag == "efsCSIController":
        return node_policies._efs()
    return []


def well_known(policies: WellKnownPolicies, *, cluster: str | None = None) -> tuple[list[Any], list[dict[str, Any]]]:
    """The managed policy ARNs (partition-aware) and the inline statements the flags that are on grant.

    `cluster`, when given, scopes Cluster Autoscaler's changes to that cluster's groups too. A
    statement two flags share (Route 53 record changes: externalDNS and certManager) is listed once.
    """
    enabled = policies.enabled()
    arns = [policy_arn(MANAGED_POLICIES[flag]) for flag in enabled if flag in MANAGED_POLICIES]
    statements: list[Statement] = []
    for flag in enabled:
        for statement in _statements(flag, cluster):
            if statement not in statements:
                statements.append(statement)
    return arns, statements
