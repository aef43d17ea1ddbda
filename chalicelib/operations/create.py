"""Create a cluster: the request, then each step the create workflow runs.

The API calls `request_create`; the workflow's tasks call the rest, each with a
`Context` and its step input, so tests pass moto-backed clients and the local
engine needs no special code paths.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.aws import store, workflow
from chalicelib.cfn import kinds, stacks, templates, upload
from chalicelib.model import naming
from chalicelib.model.errors import WorkflowStartError
from chalicelib.model.record import ClusterRecord, public
from chalicelib.model.settings import event_waits
from chalicelib.model.spec import (
    ClusterSpec,
    refuse_addons_that_cannot_run,
    refuse_nodegroups_with_auto_mode,
)
from chalicelib.model.steps import ClusterStackStep
from chalicelib.observability import logger
from chalicelib.operations import images, leases, network, quotas
from chalicelib.operations.encryption import check_secrets_key
from chalicelib.operations.key_pairs import check_key_pairs
from chalicelib.operations.load_balancer_targets import check_load_balancer_targets
from chalicelib.operations.logging import check_log_group
from chalicelib.operations.node_roles import check_node_role_policies
from chalicelib.operations.stack_status import PHASE_DONE as PHASE_DONE
from chalicelib.operations.stack_status import describe_stack as describe_stack
from chalicelib.operations.stack_status import mark_active as mark_active
from chalicelib.operations.stack_status import record_failure as record_failure
from chalicelib.operations.stack_status import record_stack_state, stack_timeout_minutes
from chalicelib.operations.stack_status import recorded_stack_id as recorded_stack_id
from chalicelib.operations.stack_waits import CREATE, answer_now, await_stack_event

if TYPE_CHECKING:
    from chalicelib.aws.store import Store
    from chalicelib.model.settings import Settings
    from chalicelib.model.steps import ClusterStep, NodegroupStep
    from chalicelib.operations.context import Context

PHASE_REQUESTED = "REQUESTED"
PHASE_CLUSTER_STACK = "CLUSTER_STACK"
PHASE_NODEGROUPS = "NODEGROUP_STACKS"
# Fargate, service account and pod identity stacks, and the add-ons stack, made side by side.
PHASE_WORKLOADS = "WORKLOAD_STACKS"

# Availability zones EKS does not offer control planes in (as eksctl keeps them).
EKS_UNSUPPORTED_ZONE_IDS = frozenset({"use1-az3", "usw1-az2", "cac1-az3", "cnn1-az4"})
ZONES_WANTED = 3
ZONES_REQUIRED = 2


def new_record(
    spec: ClusterSpec, owner: str, settings: Settings, now: datetime, notify: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The record of a requested cluster, before anything is created for it.

    `notify` says where to announce progress (Slack's response_url); it is never shown by the API.
    """
    cluster_id = uuid.uuid4().hex
    record = {
        **({"notify": notify} if notify else {}),
        "name": spec.name,
        "clusterId": cluster_id,
        "status": store.CREATING,
        "phase": PHASE_REQUESTED,
        "region": spec.region,
        "version": spec.version,
        "owner": owner,
        "spec": spec.model_dump(mode="json", exclude_none=True),
        "stacks": {},
        # The create is the cluster's first operation; the cluster id is its id.
        "operation": {"type": workflow.OPERATION_CREATE, "id": cluster_id},
        **leases.initial_fields(spec, settings, now),
    }
    ClusterRecord.model_validate(record)  # what the store writes is what the model describes
    return record


def request_create(ctx: Context, spec: ClusterSpec, owner: str, notify: dict[str, Any] | None = None) -> dict[str, Any]:
    """Choose the node groups' images, record a new cluster (the name must be free) and start its create workflow."""
    spec = checked_create(ctx, spec)
    db = ctx.store
    record = db.create_cluster(new_record(spec, owner, ctx.settings, datetime.now(UTC), notify))
    cluster_id = record["clusterId"]
    try:
        arn = workflow.start(
            ctx.sfn,
            ctx.settings.create_state_machine_arn,
            workflow.OPERATION_CREATE,
            spec.name,
            cluster_id,
            workflow.create_input(
                record,
                templates.workload_stacks(spec),
                event_waits(ctx.settings, stack_timeout_minutes(record, ctx.settings)),
            ),
        )
    except Exception as exc:  # any failure to start leaves the record saying so
        reason = f"could not start the create workflow: {exc}"
        logger.exception("workflow start failed", extra={"cluster": spec.name, "clusterId": cluster_id})
        db.update_cluster(
            spec.name,
            cluster_id,
            {"status": store.FAILED, "failure": {"step": "StartWorkflow", "reason": reason}},
            event=("FAILED", reason),
            remove=("operation",),
        )
        raise WorkflowStartError(reason, cluster=spec.name) from None
    db.update_cluster(
        spec.name, cluster_id, {"executionArn": arn}, event=("WORKFLOW_STARTED", "Create workflow started")
    )
    return {**public(record), "executionArn": arn}


def checked_create(ctx: Context, spec: ClusterSpec) -> ClusterSpec:
    """What a create checks before recording anything (reads only), and the spec with the images chosen.

    `request_create` runs it, and so does a dry run (operations/dry_run.py).
    """
    refuse_nodegroups_with_auto_mode(spec)  # a 422: eksctl adds node groups to Auto Mode clusters later
    refuse_addons_that_cannot_run(spec)  # a 422: an add-on with no node or no OIDC would fail its stack
    spec = images.with_ami_types(ctx, spec)  # a 422 before anything is recorded
    spec = network.with_existing_subnets(ctx, spec)  # a 422 for a given subnet that is missing or misplaced
    network.private_endpoint_zones(ctx, spec)  # a 422 for VPC endpoint services the region does not offer
    network.private_route_tables(ctx, spec)  # and for an existing VPC EC2 would not put them in
    check_secrets_key(ctx, spec)  # a 422 for a KMS key EKS could not encrypt secrets with
    check_load_balancer_targets(ctx, spec)  # a 422 for a target group or load balancer nodes cannot join
    check_key_pairs(ctx, spec)  # a 422 for an EC2 key pair the region does not have
    check_node_role_policies(spec)  # a 422 for a node role whose inline policies IAM would refuse
    check_log_group(ctx, spec)  # a 409 for a control plane log group an earlier cluster left behind
    quotas.check_create(ctx, spec)  # a 409 when the account has no VPC, Elastic IP, ... left for it
    return spec


def describe_cluster(db: Store, name: str, with_events: bool = True) -> dict[str, Any]:
    """The record as callers see it (no delivery addresses: Slack's are credentials), with its timeline."""
    record = public(db.get_cluster(name))
    if with_events:
        record["events"] = db.list_events(name, record["clusterId"])
    return record


# -- workflow steps ---------------------------------------------------------------


def target_spec(record: dict[str, Any]) -> ClusterSpec:
    """The spec a running change is heading for (a node group change carries one), else the record's."""
    return ClusterSpec.model_validate((record.get("operation") or {}).get("spec") or record["spec"])


def choose_zones(ec2: Any) -> list[str]:
    """Pick availability zones as eksctl does: available, EKS-supported, stable order."""
    resp = ec2.describe_availability_zones(
        Filters=[{"Name": "state", "Values": ["available"]}, {"Name": "zone-type", "Values": ["availability-zone"]}]
    )
    zones = sorted(z["ZoneName"] for z in resp["AvailabilityZones"] if z.get("ZoneId") not in EKS_UNSUPPORTED_ZONE_IDS)
    if len(zones) < ZONES_REQUIRED:
        raise ValueError(f"region offers {len(zones)} usable availability zones; EKS needs {ZONES_REQUIRED}")
    return zones[:ZONES_WANTED]


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
    spec = ClusterSpec.model_validate(record["spec"])
    zones = record.get("zones") or spec.availability_zones or choose_zones(ctx.clients.ec2(spec.region))
    stack_name = naming.cluster_stack_name(name)
    endpoint_zones = network.private_endpoint_zones(ctx, spec)
    route_tables = network.private_route_tables(ctx, spec)
    template = templates.build_cluster_template(
        spec, cluster_id, zones, ctx.settings.kubernetes_role_arns, endpoint_zones, endpoint_route_tables=route_tables
    )
    request_token = f"{cluster_id}-cluster"
    entry = {"kind": stacks.KIND_CLUSTER}
    ref = request_stack(
        ctx,
        step,
        record,
        spec.region,
        StackRequest(
            stack_name,
            request_token,
            entry,
            {
                "phase": PHASE_CLUSTER_STACK,
                "zones": zones,
                **({"endpointZones": endpoint_zones} if endpoint_zones else {}),
                **({"endpointRouteTables": route_tables} if route_tables else {}),
            },
            f"Creating stack {stack_name}",
            {"stack": stack_name, "zones": zones},
        ),
        templates.to_json(template),
        templates.stack_tags(spec, cluster_id, stacks.KIND_CLUSTER),
    )
    logger.info("cluster stack created", extra={"stack": stack_name})
    return {**ref, "kind": stacks.KIND_CLUSTER}


@dataclass(frozen=True)
class StackRequest:
    """A stack a step creates: where the record keeps it, and what the timeline says."""

    stack_name: str
    request_token: str
    entry: dict[str, Any]
    fields: dict[str, Any]
    message: str
    details: dict[str, Any]


def request_stack(
    ctx: Context,
    step: ClusterStep,
    record: dict[str, Any],
    region: str,
    request: StackRequest,
    template_body: str,
    tags: dict[str, str],
) -> dict[str, str]:
    """Create a stack for a step that may wait for its event; the stack's reference.

    The record and timeline say the stack is being created before it is requested: its end can
    be recorded (from its event) before CreateStack returns, and must not be overwritten by the
    request's "in progress". A request that fails is recorded as CREATE_FAILED with its reason.
    A retried step (the record holds this request's stack) is answered here if the stack has
    already ended: CloudFormation answers a repeated request with the same stack, and no event.
    `tags` go on the stack: the templates leave them to CloudFormation's propagation.
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
    cfn = ctx.clients.cloudformation(region)
    try:
        ref = stacks.create_stack(
            cfn,
            stack_name,
            template_body,
            tags,
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
    db, name, cluster_id, kind, member = ctx.store, step.name, step.clusterId, step.kind, step.member
    if kind not in templates.WORKLOAD_KINDS:
        raise ValueError(
            f"the workload stack step makes {', '.join(templates.WORKLOAD_KINDS)} stacks, not a {kind!r} stack"
        )
    record = db.get_cluster(name)
    spec = target_spec(record)
    # A stack's name can come back after it was deleted (a service account removed, then added): the
    # token is per operation.
    token = (record.get("operation") or {}).get("id") or cluster_id
    if kind == kinds.ADDONS.name and not templates.addons_after_nodes(spec):
        skipped = {"kind": kind, "skipped": True}
        answer_now(ctx, step, skipped)  # no stack, so no event to answer a waiting step
        return skipped
    stack_kind = kinds.kind(kind)
    stack_name = stack_kind.stack_name(name, member)
    request_token = f"{token}-{kind}-{member}".rstrip("-")[:128]
    entry = {"kind": kind, **({"member": member} if member else {})}
    what = f" (add-ons {', '.join(a.name for a in templates.addons_after_nodes(spec))})" if kind == "addons" else ""
    ref = request_stack(
        ctx,
        step,
        record,
        spec.region,
        StackRequest(
            stack_name,
            request_token,
            entry,
            {"phase": PHASE_WORKLOADS} if record["status"] == store.CREATING else {},
            f"Creating stack {stack_name}{what}",
            {"stack": stack_name, **entry},
        ),
        templates.to_json(templates.build_workload_template(spec, kind, member, cluster_id)),
        templates.stack_tags(spec, cluster_id, kind),
    )
    return {**ref, "kind": kind, **({"member": member} if member else {}), "skipped": False}


def create_nodegroup_stack(ctx: Context, step: NodegroupStep) -> dict[str, Any]:
    """Create `eksctl-NAME-nodegroup-NG` for one node group of the spec.

    Also the first step of adding a node group to a live cluster: the group is then
    in the spec the running operation is heading for, not yet in the record's spec.
    """
    db, name, cluster_id, nodegroup = ctx.store, step.name, step.clusterId, step.nodegroup
    record = db.get_cluster(name)
    spec = target_spec(record)
    # A name can come back after its node group was deleted: the token is per operation.
    token = (record.get("operation") or {}).get("id") or cluster_id
    group = next((g for g in spec.nodegroups if g.name == nodegroup), None)
    if group is None:
        raise ValueError(f"node group {nodegroup!r} is not in the spec of cluster {name!r}")
    stack_name = naming.nodegroup_stack_name(name, nodegroup)
    request_token = f"{token}-ng-{nodegroup}"[:128]
    entry = {"kind": stacks.KIND_NODEGROUP, "nodegroup": nodegroup}
    ref = request_stack(
        ctx,
        step,
        record,
        spec.region,
        StackRequest(
            stack_name,
            request_token,
            entry,
            {"phase": PHASE_NODEGROUPS} if record["status"] == store.CREATING else {},
            f"Creating stack {stack_name}",
            {"stack": stack_name, "nodegroup": nodegroup},
        ),
        templates.to_json(templates.build_nodegroup_template(spec, group, cluster_id)),
        templates.stack_tags(spec, cluster_id, stacks.KIND_NODEGROUP, nodegroup),
    )
    return {**ref, "kind": stacks.KIND_NODEGROUP, "nodegroup": nodegroup}
