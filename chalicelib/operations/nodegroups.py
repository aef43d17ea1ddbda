"""Node group changes on a live cluster: add one, scale one, delete one.

Each is an operation (one at a time per cluster, like a delete) run by the
`change_nodegroup` workflow through the node group's own stack, awaited as the
create workflow awaits its stacks. The operation carries the spec it is heading for; the
record's spec becomes that spec only when the change has finished, so a failed
change leaves the record saying what really runs, plus what failed and why.
The steps after the stack's (aws-auth, finish, failure) are in nodegroup_steps.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.cfn import stacks
from chalicelib.model import naming, policy
from chalicelib.model.errors import ConflictError, NotFoundError
from chalicelib.model.spec import (
    ClusterSpec,
    NodeGroupBase,
    NodegroupSpec,
    ScalingRequest,
    SelfManagedNodegroupSpec,
    validate,
)
from chalicelib.operations import changes, images, rendering
from chalicelib.operations.access import require_active, require_reachable
from chalicelib.operations.key_pairs import check_key_pairs
from chalicelib.operations.load_balancer_targets import check_load_balancer_targets
from chalicelib.operations.node_roles import check_node_role_policies
from chalicelib.operations.nodegroup_steps import ADD, DELETE, OPERATION_NODEGROUP, SCALE

if TYPE_CHECKING:
    from chalicelib.operations.context import Context


def _group(spec: ClusterSpec, nodegroup: str) -> NodeGroupBase:
    found = next((g for g in spec.nodegroups if g.name == nodegroup), None)
    if found is None:
        raise NotFoundError(f"cluster {spec.name!r} has no node group {nodegroup!r}", nodegroup=nodegroup)
    return found


def _with_groups(spec: ClusterSpec, groups: list[NodeGroupBase]) -> ClusterSpec:
    """The spec with other node groups, validated as a whole (names unique, limits kept)."""
    return validate(ClusterSpec, spec.with_nodegroups(groups), "node group change")


def _stack_ref(record: dict[str, Any], nodegroup: str) -> dict[str, Any]:
    stack_name = naming.nodegroup_stack_name(record["name"], nodegroup)
    entry = (record.get("stacks") or {}).get(stack_name) or {}
    if not entry.get("stackId"):
        raise ConflictError(f"node group {nodegroup!r} has no stack on record", nodegroup=nodegroup)
    return {"stackName": stack_name, "stackId": entry["stackId"], "kind": stacks.KIND_NODEGROUP, "nodegroup": nodegroup}


def request_add(ctx: Context, name: str, body: dict[str, Any], caller: str, managed: bool = True) -> dict[str, Any]:
    """Add a managed group, or a self-managed one (`managed=False`, eksctl's `--managed=false`)."""
    record = require_active(ctx.store, name, "node groups")
    require_reachable(record, "map a new node group's role in aws-auth")
    spec = ClusterSpec.model_validate(record["spec"])
    model: type[NodeGroupBase] = NodegroupSpec if managed else SelfManagedNodegroupSpec
    group = validate(model, body, "node group")
    if any(g.name == group.name for g in spec.nodegroups):
        raise ConflictError(f"cluster {name!r} already has a node group {group.name!r}", nodegroup=group.name)
    target = _with_groups(spec, [*spec.nodegroups, group])
    policy.check_nodegroup_change(spec, target, group.name, ctx.settings)
    group = images.group_with_ami_type(ctx, spec, group)  # a 422 before the record is locked
    check_load_balancer_targets(ctx, target, group.name, (record.get("cluster") or {}).get("vpcId"))  # a 422 too
    check_key_pairs(ctx, target, group.name)  # and for an EC2 key pair the region does not have
    check_node_role_policies(target, group.name)  # and for a role whose inline policies IAM would refuse
    target = _with_groups(spec, [*spec.nodegroups, group])
    return _begin(ctx, record, ADD, group.name, target, None, caller)


def request_scale(ctx: Context, name: str, nodegroup: str, body: dict[str, Any], caller: str) -> dict[str, Any]:
    record = require_active(ctx.store, name, "node groups")
    spec = ClusterSpec.model_validate(record["spec"])
    current = _group(spec, nodegroup)
    sizes = validate(ScalingRequest, body, "scaling request").model_dump(mode="json", exclude_none=True)
    # Re-validated as a whole, so minSize <= desiredCapacity <= maxSize holds with the sizes kept.
    scaled = validate(type(current), {**current.model_dump(mode="json", exclude_none=True), **sizes}, "node group")
    target = _with_groups(spec, [scaled if g.name == nodegroup else g for g in spec.nodegroups])
    policy.check_nodegroup_change(spec, target, nodegroup, ctx.settings)
    return _begin(ctx, record, SCALE, nodegroup, target, _stack_ref(record, nodegroup), caller)


def request_delete(ctx: Context, name: str, nodegroup: str, caller: str) -> dict[str, Any]:
    record = require_active(ctx.store, name, "node groups")
    require_reachable(record, "unmap a departing node group's role in aws-auth")
    spec = ClusterSpec.model_validate(record["spec"])
    _group(spec, nodegroup)
    target = _with_groups(spec, [g for g in spec.nodegroups if g.name != nodegroup])
    return _begin(ctx, record, DELETE, nodegroup, target, _stack_ref(record, nodegroup), caller)


def _begin(
    ctx: Context,
    record: dict[str, Any],
    action: str,
    nodegroup: str,
    target: ClusterSpec,
    stack: dict[str, Any] | None,
    caller: str,
) -> dict[str, Any]:
    change = changes.Change(
        OPERATION_NODEGROUP,
        action,
        {"nodegroup": nodegroup},
        "node group",
        "NODEGROUP_CHANGE_REQUESTED",
        "NODEGROUP_CHANGE_FAILED",
    )
    payload = {"nodegroup": nodegroup, "stack": stack}
    # An added or scaled group's stack is created or updated to this template; a deleted group's needs none.
    rendered = (
        [] if action == DELETE else [rendering.for_nodegroup(target, _group(target, nodegroup), record["clusterId"])]
    )
    return changes.begin(
        ctx, record, change, target, ctx.settings.nodegroup_state_machine_arn, payload, caller, rendered
    )
