"""Update one of a cluster's stacks for a step that waits for its event (node group changes, a private endpoint).

The record says the stack is updating before UpdateStack is called: the update's end may be recorded
(from its event) before the call returns. An unchanged template starts no operation and sends no
event: the status is put back and a waiting step is answered here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.cfn import stacks, upload
from chalicelib.operations.stack_waits import UPDATE, answer_now, await_stack_event

if TYPE_CHECKING:
    from chalicelib.model.steps import StackStep
    from chalicelib.operations.context import Context


def request_update(
    ctx: Context, step: StackStep, template: str, message: str, fields: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Update `step.stack` to `template`; the timeline says `message`, the record also gets `fields`."""
    db, name, cluster_id, stack = ctx.store, step.name, step.clusterId, step.stack
    cfn = ctx.clients.cloudformation(step.region)
    bucket = upload.template_bucket(ctx.settings.artifacts_bucket, lambda: ctx.clients.client("s3"))
    stack_name = stack["stackName"]
    carried = {k: v for k, v in stack.items() if k in ("kind", "nodegroup", "member")}
    request_token = f"update-{step.execution or cluster_id}"[:128]
    await_stack_event(ctx, step, stack_name, request_token, carried, UPDATE)
    db.update_cluster(
        name,
        cluster_id,
        {f"stacks.{stack_name}.status": "UPDATE_IN_PROGRESS", **(fields or {})},
        event=("STACK_UPDATING", message),
        event_details={"stack": stack_name},
    )
    result = stacks.update_stack(
        cfn, stack, template, cluster_id, ctx.settings.stack_role_arn, bucket, request_token=request_token
    )
    if result["unchanged"]:
        state = stacks.describe(cfn, stack["stackId"], stack["kind"], ctx.settings.poll_scale)
        db.update_cluster(name, cluster_id, {f"stacks.{stack_name}.status": state.status})
        answer_now(ctx, step, {**state.to_dict(), **carried})
    return result
