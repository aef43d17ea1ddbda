"""The create workflow's stack steps: create each stack from the template its request rendered.

`create.request_create` validates the spec, chooses the cluster's zones and renders every stack's
template (operations/rendering.py), kept with the record (aws/template_store.py). These steps read
a template back and create its stack, so their functions import neither the spec models nor the
template builders. The node group and service account changes' workflows run them too, with the
templates their own requests rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.aws import store
from chalicelib.cfn import kinds, stacks, upload
from chalicelib.model import naming
from chalicelib.model.steps import ClusterStackStep
from chalicelib.observability import logger
from chalicelib.operations.stack_status import record_stack_state
from chalicelib.operations.stack_waits import CREATE, answer_now, await_stack_event

if TYPE_CHECKING:
    from chalicelib.aws.template_store import Rendered
    from chalicelib.model.steps import ClusterStep, NodegroupStep
    from chalicelib.operations.context import Context

PHASE_CLUSTER_STACK = "CLUSTER_STACK"
PHASE_NODEGROUPS = "NODEGROUP_STACKS"
# Fargate, service account and pod identity stacks, and the add-ons stack, made side by side.
PHASE_WORKLOADS = "WORKLOAD_STACKS"


def operation_id(record: dict[str, Any]) -> str:
    """The id of the operation a step belongs to: a change's own, else the create's (the cluster's id)."""
    return str((record.get("operation") or {}).get("id") or record["clusterId"])


def create_cluster_stack(ctx: Context, step: ClusterStep) -> dict[str, Any]:
    """Create `eksctl-NAME-cluster`, or with another `kind` one of the workload stacks (idempotent per cluster id).

    In a deployment CloudFormation builds it with the stack role, and the service's
    Kubernetes roles get access entries. One task creates the cluster stack and the stacks made
    after the node groups (`create_workload_stack`): the same calls on the same eksctl-* stacks.
    """
    kind = step.kind if isinstance(step, ClusterStackStep) else kinds.CLUSTER.name
    if kind != kinds.CLUSTER.name and isinstance(step, ClusterStackStep):
        return create_workload_stack(ctx, step)
    if kind != kinds.CLUSTER.name:
        raise ValueError(f"a {kind!r} stack needs its kind and member (ClusterStackStep)")
    db, name, cluster_id = ctx.store, step.name, step.clusterId
    record = db.get_cluster(name)
    stack_name = naming.cluster_stack_name(name)
    rendered = db.template(name, cluster_id, stack_name)
    details = {"stack": stack_name, "zones": record["zones"]}
    request = StackRequest(
        rendered, f"{cluster_id}-cluster", {"kind": stacks.KIND_CLUSTER}, {"phase": PHASE_CLUSTER_STACK}, details
    )
    ref = request_stack(ctx, step, record, request)
    logger.info("cluster stack created", extra={"stack": stack_name})
    return {**ref, "kind": stacks.KIND_CLUSTER}


@dataclass(frozen=True)
class StackRequest:
    """A stack a step creates from what its request rendered: where the record keeps it, what the timeline says."""

    rendered: Rendered
    request_token: str
    entry: dict[str, Any]
    fields: dict[str, Any]
    details: dict[str, Any]

    @property
    def stack_name(self) -> str:
        return self.rendered.slot

    @property
    def message(self) -> str:
        return f"Creating stack {self.stack_name}{self.rendered.note}"


def _phase(record: dict[str, Any], phase: str) -> dict[str, str]:
    """The create's phase, for a step of the create (a change's steps leave it)."""
    return {"phase": phase} if record["status"] == store.CREATING else {}


def request_stack(ctx: Context, step: ClusterStep, record: dict[str, Any], request: StackRequest) -> dict[str, str]:
    """Create a stack for a step that may wait for its event; the stack's reference.

    The record and timeline say the stack is being created before it is requested: its end can
    be recorded (from its event) before CreateStack returns, and must not be overwritten by the
    request's "in progress". A request that fails is recorded as CREATE_FAILED with its reason.
    A retried step (the record holds this request's stack) is answered here if the stack has
    already ended: CloudFormation answers a repeated request with the same stack, and no event.
    The template and the stack's tags are the ones the operation's request rendered; the tags go on the
    stack, and the template leaves them to CloudFormation's propagation.
    """
    db, name, cluster_id, stack_name = ctx.store, step.name, step.clusterId, request.stack_name
    entry = {**request.entry, "request": request.request_token}
    known = (record.get("stacks") or {}).get(stack_name) or {}
    retried = known.get("request") == request.request_token and bool(known.get("stackId"))
    await_stack_event(ctx, step, stack_name, request.request_token, entry, CREATE)
    if not retried:
        db.update_cluster(
            name,
            cluster_id,
            {**request.fields, f"stacks.{stack_name}": {**entry, "status": "CREATE_IN_PROGRESS"}},
            event=("STACK_CREATING", request.message),
            event_details=request.details,
        )
    cfn = ctx.clients.cloudformation(record["region"])
    try:
        ref = stacks.create_stack(
            cfn,
            stack_name,
            str(request.rendered.body),
            request.rendered.tags,
            request_token=request.request_token,
            role_arn=ctx.settings.stack_role_arn,
            bucket=upload.template_bucket(ctx.settings.artifacts_bucket, lambda: ctx.clients.client("s3")),
        )
    except Exception as exc:
        if not retried:
            reason = str(exc)[:500]
            db.update_cluster(
                name,
                cluster_id,
                {f"stacks.{stack_name}.status": "CREATE_FAILED", f"stacks.{stack_name}.reason": reason},
            )
        raise
    if not retried:
        db.update_cluster(name, cluster_id, {f"stacks.{stack_name}.stackId": ref["stackId"]})
        return ref
    state = stacks.describe(cfn, ref["stackId"], str(entry["kind"]), ctx.settings.poll_scale)
    if state.done or state.failed:
        answer = record_stack_state(ctx, name, cluster_id, {**entry, "status": known.get("status")}, state)
        answer_now(ctx, step, answer, failed=state.failed)
    return ref


def create_workload_stack(ctx: Context, step: ClusterStackStep) -> dict[str, Any]:
    """Create one of the stacks made once the node groups are up (`templates.workload_stacks`).

    Fargate profiles, a service account's IAM role, a pod identity association, or the add-ons that
    need nodes: an add-on whose pods have no node to run on stays DEGRADED, and its AWS::EKS::Addon,
    which waits for ACTIVE, fails. The add-ons stack is `skipped` when the spec has none.
    """
    db, name, kind, member = ctx.store, step.name, step.kind, step.member
    if kind not in kinds.WORKLOAD_KINDS:
        raise ValueError(
            f"the workload stack step makes {', '.join(kinds.WORKLOAD_KINDS)} stacks, not a {kind!r} stack"
        )
    record = db.get_cluster(name)
    # A stack's name can come back after it was deleted (a service account removed, then added): the
    # token is per operation.
    token = operation_id(record)
    stack_name = kinds.kind(kind).stack_name(name, member)
    rendered = db.template(name, token, stack_name)
    if rendered.skipped:
        skipped = {"kind": kind, "skipped": True}
        answer_now(ctx, step, skipped)  # no stack, so no event to answer a waiting step
        return skipped
    request_token = f"{token}-{kind}-{member}".rstrip("-")[:128]
    entry = {"kind": kind, **({"member": member} if member else {})}
    request = StackRequest(
        rendered, request_token, entry, _phase(record, PHASE_WORKLOADS), {"stack": stack_name, **entry}
    )
    ref = request_stack(ctx, step, record, request)
    return {**ref, "kind": kind, **({"member": member} if member else {}), "skipped": False}


def create_nodegroup_stack(ctx: Context, step: NodegroupStep) -> dict[str, Any]:
    """Create `eksctl-NAME-nodegroup-NG` for one node group of the spec.

    Also the first step of adding a node group to a live cluster, with the template that change's
    request rendered.
    """
    db, name, nodegroup = ctx.store, step.name, step.nodegroup
    record = db.get_cluster(name)
    # A name can come back after its node group was deleted: the token is per operation.
    token = operation_id(record)
    stack_name = naming.nodegroup_stack_name(name, nodegroup)
    rendered = db.template(name, token, stack_name)
    request_token = f"{token}-ng-{nodegroup}"[:128]
    entry = {"kind": stacks.KIND_NODEGROUP, "nodegroup": nodegroup}
    details = {"stack": stack_name, "nodegroup": nodegroup}
    request = StackRequest(rendered, request_token, entry, _phase(record, PHASE_NODEGROUPS), details)
    ref = request_stack(ctx, step, record, request)
    return {**ref, "kind": stacks.KIND_NODEGROUP, "nodegroup": nodegroup}
