"""A stack's status on the cluster's record, and the create's end: the light steps of the create workflow.

`describe_stack` (the describe loops of every workflow), `mark_active` and `record_failure` read and
write the record and describe stacks; they build no template and validate no cluster spec, so this
module imports neither, and a cold start of their functions loads neither. `create` re-exports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.aws import store
from chalicelib.cfn import stacks
from chalicelib.cfn.template import OUTPUT_ARN, OUTPUT_CA, OUTPUT_ENDPOINT, OUTPUT_SECURITY_GROUP, OUTPUT_VPC
from chalicelib.model import naming
from chalicelib.model.settings import DEFAULT_TIMEOUT_MINUTES
from chalicelib.observability import logger
from chalicelib.operations import leases
from chalicelib.operations.failures import already_ended, end_operation_failed

if TYPE_CHECKING:
    from chalicelib.model.settings import Settings
    from chalicelib.model.steps import ClusterStackDone, FailedStep, StackStep
    from chalicelib.operations.context import Context

PHASE_DONE = "DONE"


def stack_timeout_minutes(record: dict[str, Any], settings: Settings) -> int:
    """How long each stack of the cluster may take: the request's timeoutMinutes, else the default (within policy)."""
    requested = (record.get("spec") or {}).get("timeoutMinutes")
    return int(requested or min(DEFAULT_TIMEOUT_MINUTES, settings.max_timeout_minutes))


def describe_stack(ctx: Context, step: StackStep) -> dict[str, Any]:
    """One look at a stack; the record hears of it only when the status changed.

    A stack still in progress past its deadline raises StackTimedOut, which the workflow
    records as the failure. The deadline is read from the record at the first look and
    then travels with the stack (`timeoutMinutes`), so later looks read nothing. After a
    missed event the step knows only the stack's kind: its id is then read from the record.
    """
    stack = step.stack
    cfn = ctx.clients.cloudformation(step.region)
    record = None if stack.get("timeoutMinutes") and stack.get("stackId") else ctx.store.get_cluster(step.name)
    minutes = stack.get("timeoutMinutes") or stack_timeout_minutes(record or {}, ctx.settings)
    stack_id = stack.get("stackId") or recorded_stack_id(record or {}, stack)
    state = stacks.describe(cfn, stack_id, stack["kind"], ctx.settings.poll_scale, timeout_minutes=minutes)
    return {**record_stack_state(ctx, step.name, step.clusterId, stack, state), "timeoutMinutes": minutes}


def recorded_stack_id(record: dict[str, Any], stack: dict[str, Any]) -> str:
    """The stack of `stack`'s kind (node group, member) the record knows: its id, or its name while the
    step that requests it has not written the id yet (a wait can end before its step has)."""
    which = ("kind", "nodegroup", "member")
    for stack_name, entry in (record.get("stacks") or {}).items():
        if all(entry.get(key, "") == stack.get(key, "") for key in which):
            return str(entry.get("stackId") or stack_name)
    raise ValueError(f"the record of {record.get('name')!r} knows no {stack.get('kind')} stack like {stack}")


def record_stack_state(
    ctx: Context, name: str, cluster_id: str, stack: dict[str, Any], state: stacks.StackState
) -> dict[str, Any]:
    """Note a stack's new status on the record (an end on the timeline too); what the workflow carries on.

    The describe loop and the stack's event (`stack_events`) both end here, so the record reads the
    same whichever told it.
    """
    carried = {k: v for k, v in stack.items() if k in ("kind", "nodegroup", "member", "request")}
    if state.status != stack.get("status"):
        entry = {**carried, "stackId": state.stackId, "status": state.status}
        if state.failed:
            entry["reason"] = state.reason
        terminal = state.done or state.failed
        ctx.store.update_cluster(
            name,
            cluster_id,
            {f"stacks.{state.stackName}": entry},
            event=(f"STACK_{state.status}", f"Stack {state.stackName} is {state.status}") if terminal else None,
            event_details={"stack": state.stackName, "reason": state.reason} if state.failed else None,
        )
    return {**state.to_dict(), **carried}


def mark_active(ctx: Context, step: ClusterStackDone) -> dict[str, Any]:
    """The last step: the record says ACTIVE and carries what a user needs to connect."""
    outputs = step.clusterStack.get("outputs") or {}
    endpoint = {
        "endpoint": outputs.get(OUTPUT_ENDPOINT),
        "arn": outputs.get(OUTPUT_ARN),
        "certificateAuthorityData": outputs.get(OUTPUT_CA),
        "vpcId": outputs.get(OUTPUT_VPC),
        "securityGroupId": outputs.get(OUTPUT_SECURITY_GROUP),
    }
    record = ctx.store.get_cluster(step.name)
    if already_ended(record, step.clusterId, store.ACTIVE):
        return {"status": store.ACTIVE}
    ctx.store.update_cluster(
        step.name,
        step.clusterId,
        {
            "status": store.ACTIVE,
            "phase": PHASE_DONE,
            "cluster": {k: v for k, v in endpoint.items() if v},
            **leases.reap_fields(record, ctx.settings),
        },
        event=("ACTIVE", "Cluster is active"),
        remove=("operation",),
        # A delete that took over this create must not see the cluster come back to life.
        expect_status=(store.CREATING,),
        expect_operation=step.clusterId,
    )
    logger.info("cluster active")
    pool = record.get("pool")
    if pool and record.get("owner") == naming.pool_owner(str(pool)):
        from chalicelib.operations.refill import refill

        refill(ctx, str(pool), "Pool Cluster Ready")  # a claim waiting for the pool gets it now
    return {"status": store.ACTIVE}


def record_failure(ctx: Context, step: FailedStep) -> dict[str, Any]:
    """The create failed: the record says FAILED, which step and why (the create's id is the cluster's)."""
    return end_operation_failed(ctx.store, step.name, step.clusterId, step.clusterId, store.FAILED, step.error)
