"""What Kubernetes made for a cluster that CloudFormation does not know: load balancers
(classic and v2) for Services of type LoadBalancer and for Ingresses, and their security groups.

As eksctl does before deleting the cluster stack (its `pkg/elb` cleanup), only in the cluster's VPC:

- a load balancer is the cluster's when it is tagged `kubernetes.io/cluster/NAME` (the AWS cloud
  provider) or `elbv2.k8s.aws/cluster: NAME` (the AWS Load Balancer Controller);
- a security group goes when it was on one of those load balancers (read before the load balancer
  goes) and carries one of those tags, or when it is what those makers leave behind on their own:
  `k8s-elb-*` tagged `kubernetes.io/cluster/NAME`, or tagged `elbv2.k8s.aws/cluster: NAME`;
- never the group EKS made for the cluster (`eks-cluster-sg-NAME-*`, tagged `aws:eks:cluster-name`
  and `kubernetes.io/cluster/NAME`): the control plane's network interfaces use it, so it cannot
  go before the cluster, and EKS deletes it with the cluster. Nor a VPC's default group, nor a
  group a CloudFormation stack manages.

Each deletion is tried even when another failed. Load balancer network interfaces take a while
to go, so a group may still be in use (DependencyViolation): the failures are reported and the
task raises `DependencyViolationError`, which the delete workflow retries. Its groups' load
balancers are gone by then, so the caller remembers which groups were found (`remember`) before
anything is deleted, and hands them back (`remembered`) on the next attempt.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, TypedDict

from chalicelib.aws.clients import THROTTLING_CODES
from chalicelib.model.errors import EkspressError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

LOAD_BALANCER_CONTROLLER_TAG = "elbv2.k8s.aws/cluster"
EKS_CLUSTER_NAME_TAG = "aws:eks:cluster-name"
EKS_CLUSTER_GROUP_PREFIX = "eks-cluster-sg-"
CLOUD_PROVIDER_GROUP_PREFIX = "k8s-elb-"
CLOUDFORMATION_STACK_TAG = "aws:cloudformation:stack-id"
DEPENDENCY_VIOLATION = "DependencyViolation"
# Already gone: a retried attempt, or Kubernetes got there first.
GONE_CODES = frozenset({"InvalidGroup.NotFound", "LoadBalancerNotFound", "AccessPointNotFound"})
TAGS_PER_CALL = 20  # DescribeTags takes at most 20 load balancers
IDS_PER_FILTER = 200  # an EC2 filter takes at most 200 values


class DependencyViolationError(EkspressError):
    """A security group is still in use (load balancer ENIs take a while to go); retry later."""

    status = 409
    code = "DependencyViolation"


class KubernetesCleanupError(EkspressError):
    """Something Kubernetes made for the cluster could not be deleted, for a reason retrying does not fix."""

    status = 500
    code = "KubernetesCleanupFailed"


class Failure(TypedDict):
    resource: str
    error: str
    message: str


class Removed(TypedDict):
    loadBalancers: list[str]
    securityGroups: list[str]
    failed: list[Failure]


def nothing_removed() -> Removed:
    return {"loadBalancers": [], "securityGroups": [], "failed": []}


def cluster_tag(cluster: str) -> str:
    return f"kubernetes.io/cluster/{cluster}"


def _tag_map(tags: Iterable[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in tags or []}


def made_for(tags: dict[str, str], cluster: str) -> bool:
    """Tagged by Kubernetes' cloud provider or the AWS Load Balancer Controller as this cluster's."""
    return cluster_tag(cluster) in tags or tags.get(LOAD_BALANCER_CONTROLLER_TAG) == cluster


def untouchable(group: dict[str, Any]) -> bool:
    """A group cleanup never deletes: EKS's cluster group, a VPC's default group, a CloudFormation one."""
    tags = _tag_map(group.get("Tags"))
    name = str(group.get("GroupName", ""))
    return (
        EKS_CLUSTER_NAME_TAG in tags
        or name.startswith(EKS_CLUSTER_GROUP_PREFIX)
        or name == "default"
        or CLOUDFORMATION_STACK_TAG in tags
    )


def _code(exc: Exception) -> str:
    return str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", ""))


def _attempt(kind: str, resource: str, delete: Callable[[], Any], failed: list[Failure]) -> bool:
    """Delete one thing; True if it is gone. A failure is noted; throttling ends the attempt (the ASL retries it)."""
    try:
        delete()
    except Exception as exc:
        code = _code(exc)
        if not code or code in THROTTLING_CODES:
            raise
        if code in GONE_CODES:
            return True
        failed.append({"resource": resource, "error": code, "message": f"{kind} {resource}: {exc}"})
        return False
    return True


class _LoadBalancer(TypedDict):
    name: str
    delete: Callable[[], Any]
    groups: list[str]


def _v2_load_balancers(elbv2: Any, cluster: str, vpc_id: str) -> list[_LoadBalancer]:
    found = [
        lb
        for page in elbv2.get_paginator("describe_load_balancers").paginate()
        for lb in page["LoadBalancers"]
        if lb.get("VpcId") == vpc_id
    ]
    ours: list[_LoadBalancer] = []
    for chunk in (found[i : i + TAGS_PER_CALL] for i in range(0, len(found), TAGS_PER_CALL)):
        by_arn = {lb["LoadBalancerArn"]: lb for lb in chunk}
        for description in elbv2.describe_tags(ResourceArns=list(by_arn))["TagDescriptions"]:
            if made_for(_tag_map(description.get("Tags")), cluster):
                lb = by_arn[description["ResourceArn"]]
                arn = lb["LoadBalancerArn"]
                ours.append(
                    {
                        "name": lb["LoadBalancerName"],
                        "delete": functools.partial(elbv2.delete_load_balancer, LoadBalancerArn=arn),
                        "groups": list(lb.get("SecurityGroups") or []),
                    }
                )
    return ours


def _classic_load_balancers(elb: Any, cluster: str, vpc_id: str) -> list[_LoadBalancer]:
    found = [
        lb
        for page in elb.get_paginator("describe_load_balancers").paginate()
        for lb in page["LoadBalancerDescriptions"]
        if lb.get("VPCId") == vpc_id
    ]
    ours: list[_LoadBalancer] = []
    for chunk in (found[i : i + TAGS_PER_CALL] for i in range(0, len(found), TAGS_PER_CALL)):
        by_name = {lb["LoadBalancerName"]: lb for lb in chunk}
        for description in elb.describe_tags(LoadBalancerNames=list(by_name))["TagDescriptions"]:
            if made_for(_tag_map(description.get("Tags")), cluster):
                name = description["LoadBalancerName"]
                ours.append(
                    {
                        "name": name,
                        "delete": functools.partial(elb.delete_load_balancer, LoadBalancerName=name),
                        "groups": list(by_name[name].get("SecurityGroups") or []),
                    }
                )
    return ours


def _groups(ec2: Any, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pages = ec2.get_paginator("describe_security_groups").paginate(Filters=filters)
    return [group for page in pages for group in page["SecurityGroups"]]


def _security_groups(ec2: Any, cluster: str, vpc_id: str, candidates: Iterable[str]) -> dict[str, str]:
    """The groups that go, id → name.

    The candidates (the load balancers' groups, and those remembered) tagged for the cluster, and what
    the cloud provider and the Load Balancer Controller leave on their own; never an untouchable one.
    """
    in_vpc = {"Name": "vpc-id", "Values": [vpc_id]}
    ids = sorted(set(candidates))
    found = [
        group
        for i in range(0, len(ids), IDS_PER_FILTER)
        for group in _groups(ec2, [in_vpc, {"Name": "group-id", "Values": ids[i : i + IDS_PER_FILTER]}])
        if made_for(_tag_map(group.get("Tags")), cluster)
    ]
    found += [
        group
        for group in _groups(ec2, [in_vpc, {"Name": "tag-key", "Values": [cluster_tag(cluster)]}])
        if str(group.get("GroupName", "")).startswith(CLOUD_PROVIDER_GROUP_PREFIX)
    ]
    found += _groups(ec2, [in_vpc, {"Name": f"tag:{LOAD_BALANCER_CONTROLLER_TAG}", "Values": [cluster]}])
    return {g["GroupId"]: str(g.get("GroupName", "")) for g in found if not untouchable(g)}


def delete_load_balancers(
    elb: Any,
    elbv2: Any,
    ec2: Any,
    cluster: str,
    vpc_id: str,
    remembered: Iterable[str] = (),
    remember: Callable[[list[str]], None] | None = None,
) -> Removed:
    """Delete the cluster's Kubernetes-made load balancers and security groups; report what went and what did not.

    `remembered`: groups an earlier attempt found (their load balancers may be gone now).
    `remember` is called with every group found, before anything is deleted, when it adds to them.
    """
    balancers = _v2_load_balancers(elbv2, cluster, vpc_id) + _classic_load_balancers(elb, cluster, vpc_id)
    remembered = list(remembered)
    attached = [group for lb in balancers for group in lb["groups"]]
    groups = _security_groups(ec2, cluster, vpc_id, [*attached, *remembered])
    if remember is not None and set(groups) - set(remembered):
        remember(sorted(set(groups) | set(remembered)))

    removed = nothing_removed()
    still_attached: set[str] = set()
    for lb in balancers:
        if _attempt("load balancer", lb["name"], lb["delete"], removed["failed"]):
            removed["loadBalancers"].append(lb["name"])
        else:
            still_attached.update(lb["groups"])  # its groups cannot go while it stays
    for group_id, name in groups.items():
        if group_id in still_attached:
            continue
        if _attempt(
            f"security group {name}",
            group_id,
            functools.partial(ec2.delete_security_group, GroupId=group_id),
            removed["failed"],
        ):
            removed["securityGroups"].append(group_id)
    return removed


def failure_message(removed: Removed) -> str:
    """One line naming what could not be deleted and why."""
    return "; ".join(f["message"] for f in removed["failed"])


def raise_for_failures(removed: Removed) -> None:
    """Raise when something that must go did not: retryably while only dependencies remain, else for good."""
    if not removed["failed"]:
        return
    message = f"could not delete what Kubernetes made for the cluster: {failure_message(removed)}"
    if all(f["error"] == DEPENDENCY_VIOLATION for f in removed["failed"]):
        raise DependencyViolationError(message)
    raise KubernetesCleanupError(message)
