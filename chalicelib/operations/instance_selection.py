"""Turn each requested node group's `instanceSelector` into instance types, from what EC2 says.

As eksctl does (with ec2-instance-selector) when a group is requested, before anything is recorded:
EC2's DescribeInstanceTypes gives the facts of the types with the selector's processor (vCPUs,
memory), DescribeInstanceTypeOfferings those offered in the group's zones (or the region, before the
cluster's zones are chosen); the types meeting every criterion (`InstanceSelectorSpec.match`), sorted
by name, become the group's `instanceTypes` (managed) or `instancesDistribution.instanceTypes`
(self-managed). A 422 names the selector when nothing matches or more types match than a group takes,
and the group's own list when it is not what the criteria select. With EKSPRESS_ALLOWED_INSTANCE_TYPES
set, only the types it allows are selected.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any

from chalicelib.model.instance_selector_spec import MAX_MANAGED_SELECTED_TYPES, MAX_SELECTED_TYPES, memory_mib
from chalicelib.model.nodegroup_spec import NodegroupSpec
from chalicelib.model.selfmanaged_spec import InstancesDistributionSpec, SelfManagedNodegroupSpec
from chalicelib.model.validation import refuse_problems, validate

if TYPE_CHECKING:
    from chalicelib.model.instance_selector_spec import InstanceSelectorSpec
    from chalicelib.model.spec import ClusterSpec, NodeGroupBase
    from chalicelib.model.validation import Problem
    from chalicelib.operations.context import Context


def with_selected_types(ctx: Context, spec: ClusterSpec) -> ClusterSpec:
    """The spec with each selector's types in its group; the spec itself (and no EC2 call) without selectors."""
    if not any(g.instance_selector is not None for g in spec.nodegroups):
        return spec
    reader = _Ec2Types(ctx.clients.ec2(spec.region), ctx.settings.allowed_instance_types)
    problems: list[Problem] = []
    groups: list[NodeGroupBase] = []
    for index, group in enumerate(spec.nodegroups):
        chosen, found = _select(reader, spec, group, spec.group_loc(index))
        problems += found
        groups.append(chosen)
    _refuse(problems)
    from chalicelib.model.spec import ClusterSpec

    return validate(ClusterSpec, spec.with_nodegroups(groups), "cluster request")


def group_with_selected_types(ctx: Context, spec: ClusterSpec, group: NodeGroupBase) -> NodeGroupBase:
    """A group added to `spec`'s cluster, with its selector's types; a 422 names its fields as its body does."""
    if group.instance_selector is None:
        return group
    reader = _Ec2Types(ctx.clients.ec2(spec.region), ctx.settings.allowed_instance_types)
    chosen, problems = _select(reader, spec, group, ())
    _refuse(problems)
    return validate(type(chosen), chosen.model_dump(mode="json", exclude_none=True), "node group")


class _Ec2Types:
    """EC2's instance types of one region, read with the filters EC2 takes for a selector's criteria (processor,
    vCPUs, memory), and which of them each set of zones offers."""

    def __init__(self, ec2: Any, allowed: tuple[str, ...] = ()) -> None:
        self._ec2 = ec2
        # The service policy's instance types (EKSPRESS_ALLOWED_INSTANCE_TYPES globs): a selector picks among them.
        self.allowed = allowed
        self._types: dict[tuple[tuple[str, str], ...], list[dict[str, Any]]] = {}
        self._offered: dict[tuple[str, ...], set[str]] = {}

    def types(self, selector: InstanceSelectorSpec) -> list[dict[str, Any]]:
        wanted = [("processor-info.supported-architecture", selector.architecture)]
        if selector.vcpus is not None:
            wanted.append(("vcpu-info.default-vcpus", str(selector.vcpus)))
        if selector.memory is not None:
            wanted.append(("memory-info.size-in-mib", str(memory_mib(selector.memory))))
        key = tuple(wanted)
        if key not in self._types:
            filters = [{"Name": name, "Values": [value]} for name, value in wanted]
            pages = self._ec2.get_paginator("describe_instance_types").paginate(Filters=filters)
            self._types[key] = [info for page in pages for info in page.get("InstanceTypes", [])]
        return self._types[key]

    def offered(self, zones: tuple[str, ...]) -> set[str]:
        """The types offered in any of `zones` (in the region when none are known yet)."""
        if zones not in self._offered:
            where: dict[str, Any] = {"LocationType": "region"}
            if zones:
                where = {"LocationType": "availability-zone", "Filters": [{"Name": "location", "Values": list(zones)}]}
            pages = self._ec2.get_paginator("describe_instance_type_offerings").paginate(**where)
            self._offered[zones] = {o["InstanceType"] for page in pages for o in page.get("InstanceTypeOfferings", [])}
        return self._offered[zones]

    def matching(self, selector: InstanceSelectorSpec, zones: tuple[str, ...]) -> list[str]:
        """The names of the types meeting every criterion (checked again here: EC2's filters are a first cut)."""
        found = [str(i["InstanceType"]) for i in self.types(selector) if selector.match(i)]
        if self.allowed:
            found = [name for name in found if any(fnmatch.fnmatchcase(name, p) for p in self.allowed)]
        offered = self.offered(zones) if found else set()
        return sorted(name for name in found if name in offered)


def _select(
    reader: _Ec2Types, spec: ClusterSpec, group: NodeGroupBase, loc: tuple[str | int, ...]
) -> tuple[NodeGroupBase, list[Problem]]:
    selector = group.instance_selector
    if selector is None:
        return group, []
    zones = tuple(group.availability_zones or spec.availability_zones or ())
    matched = reader.matching(selector, zones)
    where = (*loc, "instanceSelector")
    if not matched:
        among = " among those the service policy allows (EKSPRESS_ALLOWED_INSTANCE_TYPES)" if reader.allowed else ""
        message = f"no instance type EC2 offers in {', '.join(zones) or spec.region}{among} meets these criteria"
        return group, [(where, "no_instance_types", message, None)]
    most = MAX_MANAGED_SELECTED_TYPES if group.managed else MAX_SELECTED_TYPES
    if len(matched) > most:
        message = (
            f"the criteria select {len(matched)} instance types, more than the {most} this node group "
            "takes; give more criteria (allow, deny, cpuArchitecture, ...)"
        )
        return group, [(where, "too_many_instance_types", message, None)]
    given: list[str] | None = None
    field: tuple[str, ...] = ()
    if isinstance(group, NodegroupSpec):
        given, field = group.instance_types, ("instanceTypes",)
    elif isinstance(group, SelfManagedNodegroupSpec) and group.instances_distribution is not None:
        given, field = list(group.instances_distribution.instance_types), ("instancesDistribution", "instanceTypes")
    if given is not None:
        if list(given) != matched:
            message = (
                f"the instanceSelector selects {', '.join(matched)}, not these; remove instanceSelector or this "
                "list (as eksctl)"
            )
            return group, [((*loc, *field), "instance_types_mismatch", message, given)]
        return group, []
    if isinstance(group, SelfManagedNodegroupSpec):
        distribution = InstancesDistributionSpec.model_validate({"instanceTypes": matched})
        return group.model_copy(update={"instances_distribution": distribution, "instance_type": matched[0]}), []
    return group.model_copy(update={"instance_types": matched, "instance_type": matched[0]}), []


def _refuse(problems: list[Problem]) -> None:
    refuse_problems("the request's instanceSelector selects no instance types a node group can take", problems)
