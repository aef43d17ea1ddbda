"""Delete a cluster: the request, then each step the delete workflow runs.

Only what is ours is deleted: stacks carrying this cluster's id tag, and the load
balancers and security groups Kubernetes made for this cluster.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from chalicelib.aws import load_balancers, store, workflow
from chalicelib.cfn import kinds, stacks
from chalicelib.model.errors import ConflictError, WorkflowStartError
from chalicelib.model.settings import event_waits
from chalicelib.model.visibility import public
from chalicelib.operations.failures import end_operation_failed
from chalicelib.operations.stack_waits import DELETE, EVENT_MISSED, answer_now, await_stack_event

if TYPE_CHECKING:
    from chalicelib.aws.store import Store
    from chalicelib.model.steps import FailedOperationStep, OperationStep, RegionStep, StackStep, StopCreateStep
    from chalicelib.operations.context import Context

PHASE_DELETE_REQUESTED = "DELETE_REQUESTED"
# Record field: the Kubernetes-made security groups the cleanup found and has not deleted yet.
PENDING_SECURITY_GROUPS = "pendingSecurityGroups"
PHASE_DONE = "DONE"
OPERATION_DELETE = "delete"


def request_delete(ctx: Context, name: str, caller: str, expect_owner: str | None = None) -> dict[str, Any]:
    """Mark the cluster DELETING and start its delete workflow; one operation at a time.

    A create still running is taken over: the delete workflow stops it first, so
    nothing is left half-built. Any other running operation is a 409. With `expect_owner`,
    only while the cluster is still that owner's (a pool retiring its own, never a claimed one).
    """
    db = ctx.store
    record = db.get_cluster(name)
    if record["status"] == store.DELETED:
        raise ConflictError(f"cluster {name!r} is already deleted", cluster=name, status=record["status"])
    if record.get("waitingFor") and record["status"] in (store.WAITING, store.FAILED):
        if expect_owner is not None and record.get("owner") != expect_owner:  # a pool retiring by name
            raise ConflictError(f"cluster {name!r} is not {expect_owner}'s", cluster=name, status=record["status"])
        return withdraw_claim(ctx, record, caller)
    operation_id = uuid.uuid4().hex
    operation = {"type": OPERATION_DELETE, "id": operation_id, "by": caller, "startedAt": store.utcnow()}
    creating = record["status"] == store.CREATING
    record = db.begin_operation(
        name,
        operation,
        {"status": store.DELETING, "phase": PHASE_DELETE_REQUESTED},
        supersedes=(workflow.OPERATION_CREATE,),
        remove=("gsi2pk", "gsi2sk"),
        expect_owner=expect_owner,
    )
    payload = {
        "name": name,
        "clusterId": record["clusterId"],
        "region": record["region"],
        "operationId": operation_id,
        "createExecutionArn": record.get("executionArn") if creating else None,
        "eventWaits": event_waits(ctx.settings, stacks.DELETE_TIMEOUT_MINUTES),
    }
    try:
        arn = workflow.start(
            ctx.sfn, ctx.settings.delete_state_machine_arn, OPERATION_DELETE, name, operation_id, payload
        )
    except Exception as exc:  # the record must say the delete never started
        reason = f"could not start the delete workflow: {exc}"
        db.update_cluster(
            name,
            record["clusterId"],
            {"status": store.DELETE_FAILED, "failure": {"step": "StartWorkflow", "reason": reason}},
            event=("DELETE_FAILED", reason),
            remove=("operation",),
        )
        raise WorkflowStartError(reason, cluster=name) from None
    db.update_cluster(
        name,
        record["clusterId"],
        {"operation.executionArn": arn},
        event=("DELETE_REQUESTED", f"Deletion requested by {caller}"),
        event_details={"operation": operation_id, "executionArn": arn},
    )
    return {**public(record), "operation": {**operation, "executionArn": arn}}


def withdraw_claim(ctx: Context, record: dict[str, Any], caller: str) -> dict[str, Any]:
    """End a claim that waited for a warm pool (WAITING, or FAILED when it waited too long): nothing was
    built for it, so it is DELETED at once and its name is free. Its place in the pool's queue is dropped
    by the next fill (`pools.serve_waiting`), which serves only a record still WAITING under that id."""
    name, cluster_id = record["name"], record["clusterId"]
    ctx.store.update_cluster(
        name,
        cluster_id,
        {"status": store.DELETED, "phase": PHASE_DONE, "deletedAt": store.utcnow()},
        event=("DELETED", f"Claim withdrawn by {caller}: nothing had been built for it"),
        remove=store.OWNER_KEYS,
        expect_status=(record["status"],),
    )
    return public(ctx.store.get_cluster(name))


# -- workflow steps ---------------------------------------------------------------


def stop_create(ctx: Context, step: StopCreateStep) -> dict[str, Any]:
    """Stop the create workflow if it still runs; report whether it is still running."""
    if not step.createExecutionArn:
        return {"running": False}
    status = ctx.sfn.describe_execution(executionArn=step.createExecutionArn)["status"]
    if status != "RUNNING":
        return {"running": False, "status": status}
    ctx.sfn.stop_execution(
        executionArn=step.createExecutionArn,
        error="ClusterDeleted",
        cause="The cluster was deleted while it was being created.",
    )
    return {"running": True, "waitSeconds": 1}


def list_stacks(ctx: Context, step: RegionStep) -> dict[str, Any]:
    """The stacks to delete: ours only, found in CloudFormation (not just in the record)."""
    ours, others = stacks.owned_stacks(ctx.clients.cloudformation(step.region), step.name, step.clusterId)
    for stack in others:
        ctx.store.add_event(
            step.name,
            step.clusterId,
            "STACK_NOT_OURS",
            f"Left {stack['stackName']} alone: it is not ours",
            stack=stack["stackName"],
        )
    ctx.store.update_cluster(step.name, step.clusterId, {"phase": "DELETING_STACKS"})
    return {
        # Deleted first, side by side: the reverse of creation (see kinds.ADDONS), nothing imports them.
        "workloadStacks": [s for s in ours if kinds.kind(s["kind"]).delete_order < kinds.NODEGROUP.delete_order],
        "nodegroupStacks": [s for s in ours if s["kind"] == stacks.KIND_NODEGROUP],
        "clusterStack": next((s for s in ours if s["kind"] == stacks.KIND_CLUSTER), None),
    }


def _stack_entry(db: Store, name: str, stack: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """Record fields updating a stack the record knows; a stack it never knew changes nothing."""
    known = stack["stackName"] in (db.get_cluster(name).get("stacks") or {})
    return {f"stacks.{stack['stackName']}.{k}": v for k, v in entry.items()} if known else {}


def delete_stack(ctx: Context, step: StackStep) -> dict[str, Any]:
    stack = step.stack
    number = stacks.delete_attempt(stack)
    cfn = ctx.clients.cloudformation(step.region)
    status = cfn.describe_stacks(StackName=stack["stackId"])["Stacks"][0]["StackStatus"] if step.taskToken else ""
    if status in (stacks.DELETE_IN_PROGRESS_STATUS, stacks.DELETED_STATUS):
        # Already going (an earlier request's) or gone: a DeleteStack now would be a no-op whose events
        # carry the earlier request's token. The step gets the state at once; its Choice polls if need be.
        state = stacks.describe_deletion(cfn, {**stack, "attempts": number}, ctx.settings.poll_scale)
        _record_deletion(ctx, step.name, step.clusterId, stack, state)
        answer_now(ctx, step, state)
        return state
    # Per operation and attempt: a stack's second deletion is a new request, with its own events.
    request_token = f"delete-{number}-{step.execution or step.clusterId}"[:128]
    await_stack_event(ctx, step, stack["stackName"], request_token, {**stack, "attempts": number}, DELETE)
    attempt = "" if number == 1 else f" (attempt {number})"
    # Recorded before it is requested: the deletion's end (from its event) may be recorded before
    # DeleteStack returns, and must not be overwritten by "in progress".
    ctx.store.update_cluster(
        step.name,
        step.clusterId,
        _stack_entry(ctx.store, step.name, stack, {"status": "DELETE_IN_PROGRESS"}),
        event=("STACK_DELETING", f"Deleting stack {stack['stackName']}{attempt}"),
        event_details={"stack": stack["stackName"]},
    )
    return stacks.delete(cfn, stack, ctx.settings.stack_role_arn, request_token)


def describe_stack_deletion(ctx: Context, step: StackStep) -> dict[str, Any]:
    stack = dict(step.stack)
    if stack.pop(EVENT_MISSED, False):
        # The waiting step timed out after its DeleteStack: that attempt counts.
        stack["attempts"] = stacks.delete_attempt(stack)
    state = stacks.describe_deletion(ctx.clients.cloudformation(step.region), stack, ctx.settings.poll_scale)
    _record_deletion(ctx, step.name, step.clusterId, stack, state)
    return state


def deletion_recorded(
    ctx: Context, name: str, cluster_id: str, stack: dict[str, Any], ended: stacks.StackState
) -> dict[str, Any]:
    """A deletion's end learned from the stack's event: recorded as the describe loop records it; what
    the workflow carries on (the loop's shape)."""
    state = {
        **stack,
        "status": ended.status,
        "done": ended.status == stacks.DELETED_STATUS,
        "failed": ended.failed,
        "waitSeconds": 0,
        **({"reason": ended.reason, "failedResource": ended.failedResource} if ended.failed else {}),
    }
    _record_deletion(ctx, name, cluster_id, stack, state)
    return state


def _record_deletion(ctx: Context, name: str, cluster_id: str, stack: dict[str, Any], state: dict[str, Any]) -> None:
    if state["status"] != stack.get("status") and (state["done"] or state["failed"]):
        entry = {"status": state["status"], **({"reason": state["reason"]} if state["failed"] else {})}
        ctx.store.update_cluster(
            name,
            cluster_id,
            _stack_entry(ctx.store, name, stack, entry),
            event=(f"STACK_{state['status']}", f"Stack {stack['stackName']} is {state['status']}"),
            event_details={"stack": stack["stackName"], "reason": state.get("reason")},
        )


def delete_kubernetes_load_balancers(ctx: Context, step: RegionStep) -> dict[str, Any]:
    """Delete the load balancers and security groups Kubernetes made; a failure is on the timeline, then raised.

    The groups found are kept on the record until they are gone: a retried attempt finds those
    whose load balancers an earlier attempt already deleted.
    """
    record = ctx.store.get_cluster(step.name)
    vpc_id = (record.get("cluster") or {}).get("vpcId")
    if not vpc_id:
        return dict(load_balancers.nothing_removed())  # no VPC was ever built: nothing for Kubernetes to leave
    clients, region = ctx.clients, step.region
    remembered = list(record.get(PENDING_SECURITY_GROUPS) or [])
    noted = bool(remembered)

    def remember(groups: list[str]) -> None:
        nonlocal noted
        ctx.store.update_cluster(step.name, step.clusterId, {PENDING_SECURITY_GROUPS: groups})
        noted = True

    removed = load_balancers.delete_load_balancers(
        clients.client("elb", region),
        clients.client("elbv2", region),
        clients.ec2(region),
        step.name,
        vpc_id,
        remembered,
        remember,
    )
    summary = (
        f"Deleted {len(removed['loadBalancers'])} load balancer(s) and "
        f"{len(removed['securityGroups'])} security group(s) Kubernetes created"
    )
    if removed["failed"]:
        ctx.store.add_event(
            step.name,
            step.clusterId,
            "KUBERNETES_RESOURCES_NOT_DELETED",
            f"{summary}; could not delete {load_balancers.failure_message(removed)}",
            **removed,
        )
        load_balancers.raise_for_failures(removed)
    if removed["loadBalancers"] or removed["securityGroups"]:
        ctx.store.add_event(step.name, step.clusterId, "KUBERNETES_RESOURCES_DELETED", summary, **removed)
    if noted:
        ctx.store.update_cluster(step.name, step.clusterId, {}, remove=(PENDING_SECURITY_GROUPS,))
    return dict(removed)


def mark_deleted(ctx: Context, step: OperationStep) -> dict[str, Any]:
    ctx.store.update_cluster(
        step.name,
        step.clusterId,
        {"status": store.DELETED, "phase": PHASE_DONE, "deletedAt": store.utcnow()},
        event=("DELETED", "Cluster deleted"),
        # A deleted cluster no longer counts against its owner (the byOwner index is sparse).
        remove=("operation", *store.OWNER_KEYS),
        expect_operation=step.operationId,
    )
    return {"status": store.DELETED}


def record_delete_failure(ctx: Context, step: FailedOperationStep) -> dict[str, Any]:
    return end_operation_failed(ctx.store, step.name, step.clusterId, step.operationId, store.DELETE_FAILED, step.error)
