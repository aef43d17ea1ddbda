"""Check the load balancers self-managed node groups are to be registered with, before anything is built.

A group's `targetGroupARNs` and `classicLoadBalancerNames` become its Auto Scaling group's
`TargetGroupARNs` and `LoadBalancerNames`; EC2 Auto Scaling refuses a target group or load balancer
it cannot find ("Provided Target Groups may not be valid") minutes into the node group stack, and
registers no instance with a target group of another VPC, or one whose targets are IP addresses or a
Lambda function. Here ELB's Describe calls in the cluster's region refuse them at once: a 422 on the
field (`targetGroupARNs[i]`, `classicLoadBalancerNames[i]`, under the group's path) when the target group
is in another region (`target_group_region`), does not exist (`target_group_not_found`), does not take
instances (`target_group_type`), or the target group or load balancer is not in the cluster's VPC
(`load_balancer_vpc`: an existing VPC's `vpc.id`, or the VPC of an ACTIVE cluster the group is added to;
a VPC the service builds does not exist yet when the cluster is requested, so nothing can be in it:
`load_balancer_needs_vpc`); a classic load balancer that does not exist is `load_balancer_not_found`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.model.selfmanaged_spec import SelfManagedNodegroupSpec
from chalicelib.model.validation import Problem, refuse_problems

if TYPE_CHECKING:
    from chalicelib.model.spec import ClusterSpec
    from chalicelib.operations.context import Context

_TARGET_GROUP_MISSING = ("TargetGroupNotFound", "TargetGroupNotFoundException", "ValidationError")
_LOAD_BALANCER_MISSING = ("LoadBalancerNotFound", "AccessPointNotFound", "AccessPointNotFoundException")


def check_load_balancer_targets(
    ctx: Context, spec: ClusterSpec, only: str | None = None, vpc_id: str | None = None
) -> None:
    """A 422 naming each target group or classic load balancer of `spec`'s self-managed groups (or only
    the group named `only`, whose fields are then named as its own body names them) that Auto Scaling
    could not register the group's instances with. `vpc_id`: the cluster's VPC when it exists already."""
    vpc = spec.vpc.id or vpc_id
    located: list[tuple[tuple[str | int, ...], SelfManagedNodegroupSpec]] = []
    for index, group in enumerate(spec.nodegroups):
        if isinstance(group, SelfManagedNodegroupSpec) and (only is None or group.name == only):
            located.append(((() if only is not None else spec.group_loc(index)), group))
    targets = [
        ((*loc, "targetGroupARNs", i), arn) for loc, g in located for i, arn in enumerate(g.target_group_arns or [])
    ]
    classic = [
        ((*loc, "classicLoadBalancerNames", i), name)
        for loc, g in located
        for i, name in enumerate(g.classic_load_balancer_names or [])
    ]
    if not targets and not classic:
        return
    problems: list[Problem] = []
    if vpc is None:
        message = (
            "a load balancer must be in the cluster's VPC, which the service has not built yet: give vpc.id "
            "(an existing VPC), or add the node group once the cluster is ACTIVE"
        )
        problems += [(loc, "load_balancer_needs_vpc", message, value) for loc, value in [*targets, *classic]]
        _refuse(problems)
    elbv2 = ctx.clients.client("elbv2", spec.region) if targets else None
    for loc, arn in targets:
        region = arn.split(":")[3]
        if region != spec.region:
            message = f"{arn} is a target group in {region}; the cluster is in {spec.region}"
            problems.append((loc, "target_group_region", message, arn))
            continue
        found = _target_group(elbv2, arn)
        if found is None:
            message = f"{arn} is not a target group this account has in {spec.region}"
            problems.append((loc, "target_group_not_found", message, arn))
        elif found.get("TargetType", "instance") != "instance":
            message = (
                f"{arn} takes targets of type {found.get('TargetType')}; an Auto Scaling group registers "
                "instances (target type instance)"
            )
            problems.append((loc, "target_group_type", message, arn))
        elif found.get("VpcId") != vpc:
            message = f"{arn} is in {found.get('VpcId')}; the nodes are in the cluster's VPC, {vpc}"
            problems.append((loc, "load_balancer_vpc", message, arn))
    elb = ctx.clients.client("elb", spec.region) if classic else None
    for loc, name in classic:
        balancer = _classic(elb, name)
        if balancer is None:
            message = f"{name} is not a Classic Load Balancer this account has in {spec.region}"
            problems.append((loc, "load_balancer_not_found", message, name))
        elif balancer.get("VPCId") != vpc:
            message = f"{name} is in {balancer.get('VPCId')}; the nodes are in the cluster's VPC, {vpc}"
            problems.append((loc, "load_balancer_vpc", message, name))
    _refuse(problems)


def _code(error: Exception) -> str:
    return str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))


def _target_group(elbv2: Any, arn: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        groups = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"]
    except ClientError as error:
        if _code(error) not in _TARGET_GROUP_MISSING:
            raise
        return None
    return dict(groups[0]) if groups else None


def _classic(elb: Any, name: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        balancers = elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"]
    except ClientError as error:
        if _code(error) not in _LOAD_BALANCER_MISSING:
            raise
        return None
    return dict(balancers[0]) if balancers else None


def _refuse(problems: list[Problem]) -> None:
    refuse_problems("the node groups name load balancers Auto Scaling could not register them with", problems)
