"""Create a cluster: the request, which checks it, chooses its zones and renders every stack's template.

The API calls `request_create`; the workflow's tasks call the steps (create_steps.py and
stack_status.py, named here too), each with a `Context` and its step input, so tests pass
moto-backed clients and the local engine needs no special code paths.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.aws import quotas as aws_quotas
from chalicelib.aws import store, workflow
from chalicelib.cfn import templates
from chalicelib.model.errors import SpecValidationError, WorkflowStartError
from chalicelib.model.record import ClusterRecord, public
from chalicelib.model.settings import event_waits
from chalicelib.model.spec import (
    ClusterSpec,
    refuse_addons_that_cannot_run,
    refuse_nodegroups_with_auto_mode,
)
from chalicelib.observability import logger
from chalicelib.operations import images, leases, network, quotas, rendering
from chalicelib.operations.create_steps import PHASE_CLUSTER_STACK as PHASE_CLUSTER_STACK
from chalicelib.operations.create_steps import PHASE_NODEGROUPS as PHASE_NODEGROUPS
from chalicelib.operations.create_steps import PHASE_WORKLOADS as PHASE_WORKLOADS
from chalicelib.operations.create_steps import create_cluster_stack as create_cluster_stack
from chalicelib.operations.create_steps import create_nodegroup_stack as create_nodegroup_stack
from chalicelib.operations.create_steps import create_workload_stack as create_workload_stack
from chalicelib.operations.encryption import check_secrets_key
from chalicelib.operations.key_pairs import check_key_pairs
from chalicelib.operations.load_balancer_targets import check_load_balancer_targets
from chalicelib.operations.logging import check_log_group
from chalicelib.operations.node_roles import check_node_role_policies
from chalicelib.operations.stack_status import PHASE_DONE as PHASE_DONE
from chalicelib.operations.stack_status import describe_stack as describe_stack
from chalicelib.operations.stack_status import mark_active as mark_active
from chalicelib.operations.stack_status import record_failure as record_failure
from chalicelib.operations.stack_status import recorded_stack_id as recorded_stack_id
from chalicelib.operations.stack_status import stack_timeout_minutes

if TYPE_CHECKING:
    from chalicelib.aws.store import Store
    from chalicelib.model.settings import Settings
    from chalicelib.operations.context import Context

PHASE_REQUESTED = "REQUESTED"

# Availability zones EKS does not offer control planes in (as eksctl keeps them).
EKS_UNSUPPORTED_ZONE_IDS = frozenset({"use1-az3", "usw1-az2", "cac1-az3", "cnn1-az4"})
ZONES_WANTED = 3
ZONES_REQUIRED = 2


def new_record(
    spec: ClusterSpec,
    owner: str,
    settings: Settings,
    now: datetime,
    notify: dict[str, Any] | None = None,
    layout: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The record of a requested cluster, before anything is created for it.

    `notify` says where to announce progress (Slack's response_url); it is never shown by the API.
    `layout` is where the cluster stack goes (`cluster_layout`), which its template was rendered for.
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
        **(layout or {}),
        **leases.initial_fields(spec, settings, now),
    }
    ClusterRecord.model_validate(record)  # what the store writes is what the model describes
    return record


def request_create(ctx: Context, spec: ClusterSpec, owner: str, notify: dict[str, Any] | None = None) -> dict[str, Any]:
    """Choose the node groups' images and the cluster's zones, render every stack's template, record a new
    cluster (the name must be free), keep the templates and start its create workflow."""
    spec, layout = checked_create(ctx, spec)
    db = ctx.store
    record = record_cluster(ctx, spec, layout, owner, notify)
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
        reason = f"could not start the create workflow: {exc}"[:500]
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


def record_cluster(
    ctx: Context,
    spec: ClusterSpec,
    layout: dict[str, Any],
    owner: str,
    notify: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Render every stack's template, keep them, and record the new cluster (the name must be free).

    A stack that cannot be built is a 422 here, before anything is recorded. The templates are kept
    before the record is made: a record never waits for its workflow without them (a request refused
    as a duplicate leaves its copies to the table's TTL).
    """
    record = new_record(spec, owner, ctx.settings, now or datetime.now(UTC), notify, layout)
    rendered = rendering.for_create(spec, record["clusterId"], layout, ctx.settings.kubernetes_role_arns)
    ctx.store.put_templates(spec.name, record["clusterId"], rendered)
    return ctx.store.create_cluster(record)


def checked_create(ctx: Context, spec: ClusterSpec) -> tuple[ClusterSpec, dict[str, Any]]:
    """What a create checks before recording anything (reads only): the spec with the images chosen, and where
    its cluster stack goes (`cluster_layout`).

    `request_create` runs it, and so does a dry run (operations/dry_run.py).
    """
    refuse_nodegroups_with_auto_mode(spec)  # a 422: eksctl adds node groups to Auto Mode clusters later
    refuse_addons_that_cannot_run(spec)  # a 422: an add-on with no node or no OIDC would fail its stack
    spec = images.with_ami_types(ctx, spec)  # a 422 before anything is recorded
    spec = network.with_existing_subnets(ctx, spec)  # a 422 for a given subnet that is missing or misplaced
    layout = cluster_layout(ctx, spec)  # 422s for VPC endpoint services and route tables EC2 would refuse
    check_secrets_key(ctx, spec)  # a 422 for a KMS key EKS could not encrypt secrets with
    check_load_balancer_targets(ctx, spec)  # a 422 for a target group or load balancer nodes cannot join
    check_key_pairs(ctx, spec)  # a 422 for an EC2 key pair the region does not have
    check_node_role_policies(spec)  # a 422 for a node role whose inline policies IAM would refuse
    check_log_group(ctx, spec)  # a 409 for a control plane log group an earlier cluster left behind
    quotas.check_create(ctx, spec, layout["zones"])  # a 409 when the account has no VPC, Elastic IP, ... left
    return spec, layout


def describe_cluster(db: Store, name: str, with_events: bool = True) -> dict[str, Any]:
    """The record as callers see it (no delivery addresses: Slack's are credentials), with its timeline."""
    record = public(db.get_cluster(name))
    if with_events:
        record["events"] = db.list_events(name, record["clusterId"])
    return record


def cluster_layout(ctx: Context, spec: ClusterSpec) -> dict[str, Any]:
    """Where the cluster stack goes, as the record keeps it: its `zones`, and a fully private cluster's
    `endpointZones` and (in an existing VPC) `endpointRouteTables`."""
    ec2 = ctx.clients.ec2(spec.region)
    try:
        # Concurrent requests in one process share one read (aws/quotas.py).
        zones = spec.availability_zones or aws_quotas.shared(("choose_zones", ec2), lambda: choose_zones(ec2))
    except ValueError as exc:
        raise SpecValidationError(
            f"no availability zones for the cluster: {exc}",
            fields=[{"field": "region", "rule": "zones_unavailable", "message": str(exc)}],
        ) from None
    endpoint_zones = network.private_endpoint_zones(ctx, spec)
    route_tables = network.private_route_tables(ctx, spec)
    return {
        "zones": zones,
        **({"endpointZones": endpoint_zones} if endpoint_zones else {}),
        **({"endpointRouteTables": route_tables} if route_tables else {}),
    }


def choose_zones(ec2: Any) -> list[str]:
    """Pick availability zones as eksctl does: available, EKS-supported, stable order."""
    resp = ec2.describe_availability_zones(
        Filters=[{"Name": "state", "Values": ["available"]}, {"Name": "zone-type", "Values": ["availability-zone"]}]
    )
    zones = sorted(z["ZoneName"] for z in resp["AvailabilityZones"] if z.get("ZoneId") not in EKS_UNSUPPORTED_ZONE_IDS)
    if len(zones) < ZONES_REQUIRED:
        raise ValueError(f"region offers {len(zones)} usable availability zones; EKS needs {ZONES_REQUIRED}")
    return zones[:ZONES_WANTED]
