"""The node group change workflow's steps: update the stack, map or unmap the role, finish or fail.

`nodegroups.py` requests a change and renders its stack's template (operations/rendering.py);
these steps deploy that template, map or unmap the group's instance role (read from its stack's
outputs) and finish or fail the operation, so their functions start without the templates or pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.cfn.template import OUTPUT_NODE_ROLE_ARN, OUTPUT_WINDOWS_NODES
from chalicelib.kube import awsauth, windows_ipam
from chalicelib.kube import client as kubeauth
from chalicelib.operations import changes
from chalicelib.operations.access import connect
from chalicelib.operations.create_steps import operation_id
from chalicelib.operations.stack_updates import request_update

if TYPE_CHECKING:
    from chalicelib.model.steps import FailedOperationStep, NodeRoleStep, OperationStep, StackStep
    from chalicelib.operations.context import Context

OPERATION_NODEGROUP = "nodegroup"
ADD, SCALE, DELETE = "add", "scale", "delete"
_DONE_EVENTS = {ADD: "NODEGROUP_ADDED", SCALE: "NODEGROUP_SCALED", DELETE: "NODEGROUP_DELETED"}


def update_nodegroup_stack(ctx: Context, step: StackStep) -> dict[str, Any]:
    """Update the node group's stack to the template the change's request rendered (the group's new sizes)."""
    record = ctx.store.get_cluster(step.name)
    stack_name = step.stack["stackName"]
    rendered = ctx.store.template(step.name, operation_id(record), stack_name)
    return request_update(ctx, step, str(rendered.body), f"Updating stack {stack_name}{rendered.note}")


def change_node_role(ctx: Context, step: NodeRoleStep) -> dict[str, Any]:
    """Map a new node group's instance role in aws-auth, or unmap a departing one's.

    The role is read from the stack's outputs. Both directions are idempotent, so
    a retried step finds its own earlier write.
    """
    db, name, cluster_id, stack, action = ctx.store, step.name, step.clusterId, step.stack, step.action
    found = ctx.clients.cloudformation(step.region).describe_stacks(StackName=stack["stackId"])["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}
    role = outputs.get(OUTPUT_NODE_ROLE_ARN)
    if not role:
        raise ValueError(f"stack {stack['stackName']} has no {OUTPUT_NODE_ROLE_ARN} output")
    windows = outputs.get(OUTPUT_WINDOWS_NODES) == "true"

    def edit(auth: awsauth.AuthMap) -> awsauth.AuthMap:
        if action == ADD:
            return awsauth.ensure_node_roles(auth, [role], [role] if windows else [])
        return awsauth.remove_node_role(auth, role)

    kube = connect(ctx.clients, step.region, name)
    kubeauth.update_aws_auth(kube, edit)
    if action == ADD and windows:
        windows_ipam.enable(kube)  # as at creation: Windows pods need the VPC CNI's Windows IPAM
    roles = [r for r in db.get_cluster(name).get("nodeRoles") or [] if r != role]
    if action == ADD:
        roles.append(role)
    verb = "maps" if action == ADD else "no longer maps"
    db.update_cluster(
        name,
        cluster_id,
        {"nodeRoles": roles},
        event=("AWS_AUTH_UPDATED", f"aws-auth {verb} the node role of {stack['nodegroup']}"),
        event_details={"role": role, "nodegroup": stack["nodegroup"]},
    )
    return {"role": role, "mapped": action == ADD}


def finish(ctx: Context, step: OperationStep) -> dict[str, Any]:
    """The change is done: the record's spec becomes the operation's, and the cluster is free again."""
    return changes.finish(ctx, step, "nodegroup", "Node group", _DONE_EVENTS)


def record_failure(ctx: Context, step: FailedOperationStep) -> dict[str, Any]:
    """A failed change leaves the cluster ACTIVE with its spec as it was, and says what failed."""
    return changes.record_failure(ctx, step, "nodegroup", "NODEGROUP_CHANGE_FAILED")
