"""Choose each requested node group's EKS image from what EC2 says about its instance types.

Runs when a cluster or a node group is requested, before anything is recorded: one
DescribeInstanceTypes in the request's region gives each type's architectures and
accelerators, the model's rule (`model/images.py`) turns family, version and facts into an
AmiType or a 422 naming the field, and the AmiType goes into the group's spec, which the
node group templates are built from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.model import images
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.validation import field_path

if TYPE_CHECKING:
    from collections.abc import Iterable

    from chalicelib.model.spec import ClusterSpec, NodegroupSpec
    from chalicelib.model.validation import Problem
    from chalicelib.operations.context import Context

# Values per filter EC2 accepts in one call; a spec names at most 10 groups of 20 types.
_FILTER_VALUES = 100


def instance_facts(ec2: Any, names: Iterable[str]) -> dict[str, images.InstanceFacts]:
    """EC2's facts about each instance type it offers in the client's region; unknown types are simply absent.

    A filter rather than `InstanceTypes=`: EC2 refuses that whole call (InvalidInstanceType) for
    one unknown type, and the request must name every unknown one. Names are checked against
    the request pattern before this, so none carries a filter wildcard.
    """
    wanted = sorted(set(names))
    facts: dict[str, images.InstanceFacts] = {}
    paginator = ec2.get_paginator("describe_instance_types")
    for start in range(0, len(wanted), _FILTER_VALUES):
        chunk = wanted[start : start + _FILTER_VALUES]
        for page in paginator.paginate(Filters=[{"Name": "instance-type", "Values": chunk}]):
            for info in page.get("InstanceTypes", []):
                fact = images.facts_from_ec2(info)
                facts[fact.instance_type] = fact
    return facts


def with_ami_types(ctx: Context, spec: ClusterSpec) -> ClusterSpec:
    """The spec with every node group's AmiType; a 422 names each field that leaves a group none."""
    facts = instance_facts(ctx.clients.ec2(spec.region), (t for g in spec.nodegroups for t in g.types))
    problems: list[Problem] = []
    groups = []
    for index, group in enumerate(spec.nodegroups):
        chosen, found = images.choose_for_group(group, spec.version, facts, spec.region)
        problems += [(("managedNodeGroups", index, *loc), rule, message, value) for loc, rule, message, value in found]
        groups.append(group.model_copy(update={"ami_type": chosen}))
    _refuse(problems)
    return spec.model_copy(update={"managed_node_groups": groups})


def group_with_ami_type(ctx: Context, spec: ClusterSpec, group: NodegroupSpec) -> NodegroupSpec:
    """A group added to `spec`'s cluster, with its AmiType; a 422 names its fields as its request body does."""
    facts = instance_facts(ctx.clients.ec2(spec.region), group.types)
    chosen, problems = images.choose_for_group(group, spec.version, facts, spec.region)
    _refuse(problems)
    return group.model_copy(update={"ami_type": chosen})


def _refuse(problems: list[Problem]) -> None:
    if not problems:
        return
    fields = [{"field": field_path(loc), "rule": rule, "message": message} for loc, rule, message, _ in problems]
    names = ", ".join(sorted({f["field"] for f in fields}))
    raise SpecValidationError(f"the request names node groups EKS cannot run: {names}", fields=fields)
