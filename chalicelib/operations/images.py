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
from chalicelib.model.nodegroup_spec import NodegroupSpec
from chalicelib.model.selfmanaged_spec import SelfManagedNodegroupSpec
from chalicelib.model.validation import refuse_problems
from chalicelib.operations import instance_selection

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from chalicelib.model.spec import ClusterSpec, NodeGroupBase
    from chalicelib.model.validation import Problem
    from chalicelib.operations.context import Context

# Values per filter EC2 accepts in one call; a spec names at most 10 groups of 20 types.
_FILTER_VALUES = 100
# SSM GetParameters takes at most 10 names per call.
_SSM_NAMES_PER_CALL = 10


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
    """The spec with every node group's AmiType (and a self-managed group's image); a 422 names each field
    that leaves a group none."""
    spec = instance_selection.with_selected_types(ctx, spec)  # instanceSelector → instance types first
    facts = instance_facts(ctx.clients.ec2(spec.region), (t for g in spec.nodegroups for t in g.types))
    problems: list[Problem] = []
    groups: list[NodeGroupBase] = []
    for index, group in enumerate(spec.nodegroups):
        chosen, found = images.choose_for_group(group, spec.version, facts, spec.region)
        problems += [((*spec.group_loc(index), *loc), rule, message, value) for loc, rule, message, value in found]
        groups.append(group.model_copy(update={"ami_type": chosen}))
    _refuse(problems)
    located = [(spec.group_loc(index), group) for index, group in enumerate(groups)]
    resolved = dict(
        _with_images(ctx, spec, [(loc, g) for loc, g in located if isinstance(g, SelfManagedNodegroupSpec)])
    )
    groups = [resolved.get(g.name, g) for g in groups]
    managed = [(loc, g) for loc, g in located if isinstance(g, NodegroupSpec)]
    resolved_managed = dict(_with_managed_images(ctx, spec, managed) if managed else [])
    groups = [resolved_managed.get(g.name, g) for g in groups]
    return spec.model_copy(
        update={
            "managed_node_groups": [g for g in groups if g.managed] if spec.managed_node_groups is not None else None,
            "node_groups": [g for g in groups if not g.managed] if spec.node_groups is not None else None,
        }
    )


def group_with_ami_type(ctx: Context, spec: ClusterSpec, group: NodeGroupBase) -> NodeGroupBase:
    """A group added to `spec`'s cluster, with its AmiType (and image); a 422 names its fields as its body does."""
    group = instance_selection.group_with_selected_types(ctx, spec, group)
    facts = instance_facts(ctx.clients.ec2(spec.region), group.types)
    chosen, problems = images.choose_for_group(group, spec.version, facts, spec.region)
    _refuse(problems)
    group = group.model_copy(update={"ami_type": chosen})
    if isinstance(group, SelfManagedNodegroupSpec):
        group = dict(_with_images(ctx, spec, [((), group)]))[group.name]
    elif isinstance(group, NodegroupSpec):
        group = dict(_with_managed_images(ctx, spec, [((), group)]))[group.name]
    return group


def _with_managed_images(
    ctx: Context, spec: ClusterSpec, groups: Sequence[tuple[tuple[str | int, ...], NodegroupSpec]]
) -> list[tuple[str, NodegroupSpec]]:
    """Each managed group with the image it launches when that is not EKS's: its `ami`, checked as a
    self-managed group's, or the ImageId of the caller's `launchTemplate`, which must exist (with its
    version) in the region. A 422 names each field that would fail the node group on AWS.
    """
    problems: list[Problem] = []
    custom = [(loc, g) for loc, g in groups if g.ami is not None]
    problems += _custom_image_problems(ctx, spec, [(loc, g, str(g.ami)) for loc, g in custom])
    images_of = {g.name: g.ami for _, g in custom}
    ec2 = ctx.clients.ec2(spec.region) if any(g.launch_template for _, g in groups) else None
    for loc, group in groups:
        if group.launch_template is None or ec2 is None:
            continue
        data, problem = launch_template_data(ec2, group.launch_template.id, group.launch_template.version)
        if problem is not None:
            rule, message, where = problem
            problems.append(((*loc, "launchTemplate", where), rule, message, group.launch_template.id))
            continue
        if data.get("InstanceType") and group.instance_types is not None:
            message = (
                f"launch template {group.launch_template.id} names the instance type {data['InstanceType']}; "
                "EKS takes instanceTypes only from a launch template that names none"
            )
            problems.append(((*loc, "instanceTypes"), "launch_template_instance_type", message, None))
        images_of[group.name] = data.get("ImageId")
    _refuse(problems)
    return [(g.name, g.model_copy(update={"image_id": images_of.get(g.name)})) for _, g in groups]


def launch_template_data(
    ec2: Any, template_id: str, version: str | None
) -> tuple[dict[str, Any], tuple[str, str, str] | None]:
    """The LaunchTemplateData of a launch template's version (its default without one), or why there is none:
    (rule, message, the field under `launchTemplate` to name)."""
    from botocore.exceptions import ClientError

    try:
        answer = ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=[version or "$Default"])
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if "VersionNotFound" in code:
            return {}, ("launch_template_version_not_found", f"{template_id} has no version {version}", "version")
        if code.startswith("InvalidLaunchTemplateId") or code.startswith("InvalidLaunchTemplateName"):
            return {}, ("launch_template_not_found", f"{template_id} is not a launch template in the region", "id")
        raise
    versions = answer.get("LaunchTemplateVersions", [])
    if not versions:
        return {}, ("launch_template_version_not_found", f"{template_id} has no version {version}", "version")
    data: dict[str, Any] = versions[0].get("LaunchTemplateData", {})
    return data, None


def _custom_image_problems(
    ctx: Context, spec: ClusterSpec, custom: list[tuple[tuple[str | int, ...], NodeGroupBase, str]]
) -> list[Problem]:
    """A problem naming each group's `ami` that EC2 does not have in the region, or has for another processor."""
    if not custom:
        return []
    ec2 = ctx.clients.ec2(spec.region)
    answer = ec2.describe_images(Filters=[{"Name": "image-id", "Values": sorted({ami for _, _, ami in custom})}])
    known = {image["ImageId"]: image.get("Architecture", "") for image in answer.get("Images", [])}
    problems: list[Problem] = []
    for loc, group, ami in custom:
        if ami not in known:
            message = f"{ami} is not an image EC2 has in {spec.region} (or one this account may launch)"
            problems.append(((*loc, "ami"), "ami_not_found", message, ami))
        elif known[ami] != images.image_architecture(str(group.ami_type)):
            message = (
                f"{ami} is an {known[ami]} image; the group's instance types are "
                f"{images.image_architecture(str(group.ami_type))}"
            )
            problems.append(((*loc, "ami"), "ami_architecture", message, ami))
    return problems


def _with_images(
    ctx: Context, spec: ClusterSpec, groups: list[tuple[tuple[str | int, ...], SelfManagedNodegroupSpec]]
) -> list[tuple[str, SelfManagedNodegroupSpec]]:
    """Each self-managed group with the image its nodes launch, as eksctl chooses it.

    `ami: auto` reads the public SSM parameter EKS publishes for the group's AmiType and version; an
    AMI ID must be an image EC2 knows in the region, for the group's processor. A 422 names each group's
    `ami` otherwise: on AWS the Auto Scaling group would fail to launch a single node.
    """
    if not groups:
        return []
    problems: list[Problem] = []
    wanted = {images.image_parameter(str(g.ami_type), spec.version): (loc, g) for loc, g in groups if not g.custom_ami}
    found: dict[str, str] = {}
    ssm = ctx.clients.client("ssm", spec.region)
    names = sorted(wanted)
    for start in range(0, len(names), _SSM_NAMES_PER_CALL):
        answer = ssm.get_parameters(Names=names[start : start + _SSM_NAMES_PER_CALL])
        found.update({p["Name"]: p["Value"] for p in answer.get("Parameters", [])})
    for name, (loc, group) in wanted.items():
        if name not in found:
            message = (
                f"EKS publishes no {group.ami_family} image for Kubernetes {spec.version} ({group.ami_type}) "
                f"in {spec.region} (SSM parameter {name})"
            )
            problems.append(((*loc, "ami"), "image_unavailable", message, group.ami))
    problems += _custom_image_problems(ctx, spec, [(loc, g, g.ami) for loc, g in groups if g.custom_ami])
    _refuse(problems)
    image = {
        g.name: (g.ami if g.custom_ami else found[images.image_parameter(str(g.ami_type), spec.version)])
        for _, g in groups
    }
    return [(g.name, g.model_copy(update={"image_id": image[g.name]})) for _, g in groups]


def _refuse(problems: list[Problem]) -> None:
    refuse_problems("the request names node groups EKS cannot run", problems)
