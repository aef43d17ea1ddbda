"""Use-cases: request a cluster, and each step the create workflow runs.

Entry points (api.py, tasks.py) parse input and call one function here. Each
function takes its AWS clients and store as arguments, so tests pass moto-backed
ones and the local engine needs no special code paths.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib import cleanup, leases, naming, stacks, store, templates, workflow
from chalicelib.errors import ConflictError, WorkflowStartError
from chalicelib.observability import logger
from chalicelib.spec import ClusterSpec

if TYPE_CHECKING:
    from chalicelib.aws import Clients
    from chalicelib.settings import Settings
    from chalicelib.store import Store

PHASE_REQUESTED = "REQUESTED"
PHASE_CLUSTER_STACK = "CLUSTER_STACK"
PHASE_NODEGROUPS = "NODEGROUP_STACKS"
PHASE_DONE = "DONE"
PHASE_DELETE_REQUESTED = "DELETE_REQUESTED"
OPERATION_DELETE = "delete"

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
    return {
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


def request_create(
    spec: ClusterSpec, owner: str, db: Store, sfn: Any, settings: Settings, notify: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Record a new cluster (the name must be free) and start its create workflow."""
    record = db.create_cluster(new_record(spec, owner, settings, datetime.now(UTC), notify))
    cluster_id = record["clusterId"]
    try:
        arn = workflow.start(
            sfn,
            settings.create_state_machine_arn,
            workflow.OPERATION_CREATE,
            spec.name,
            cluster_id,
            workflow.create_input(record),
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
    return {**without_private(record), "executionArn": arn}


PRIVATE_FIELDS = ("notify",)


def without_private(record: dict[str, Any]) -> dict[str, Any]:
    """The record as callers may see it: no delivery addresses (Slack's are credentials)."""
    return {k: v for k, v in record.items() if k not in PRIVATE_FIELDS}


def describe_cluster(db: Store, name: str, with_events: bool = True) -> dict[str, Any]:
    record = without_private(db.get_cluster(name))
    if with_events:
        record["events"] = db.list_events(name, record["clusterId"])
    return record


# -- workflow steps ---------------------------------------------------------------


def _spec(record: dict[str, Any]) -> ClusterSpec:
    return ClusterSpec.model_validate(record["spec"])


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


def stack_role(settings: Settings | None) -> str:
    """The role CloudFormation builds our stacks with in a deployment ("": the caller's own)."""
    return settings.stack_role_arn if settings else ""


def _stack_tags(spec: ClusterSpec, cluster_id: str) -> dict[str, str]:
    return {**spec.tags, **naming.ownership_tags(spec.name, cluster_id)}


def create_cluster_stack(
    db: Store, clients: Clients, name: str, cluster_id: str, settings: Settings | None = None
) -> dict[str, Any]:
    """Create `eksctl-NAME-cluster` (idempotent for the same cluster id).

    With a deployment's `settings`, CloudFormation builds it with the stack role and the
    service's Kubernetes roles get access entries.
    """
    record = db.get_cluster(name)
    spec = _spec(record)
    zones = record.get("zones") or spec.availability_zones or choose_zones(clients.ec2(spec.region))
    stack_name = naming.cluster_stack_name(name)
    service_roles = settings.kubernetes_role_arns if settings else ()
    template = templates.build_cluster_template(spec, cluster_id, zones, service_roles)
    ref = stacks.create_stack(
        clients.cloudformation(spec.region),
        stack_name,
        templates.to_json(template),
        _stack_tags(spec, cluster_id),
        request_token=f"{cluster_id}-cluster",
        role_arn=stack_role(settings),
    )
    db.update_cluster(
        name,
        cluster_id,
        {
            "phase": PHASE_CLUSTER_STACK,
            "zones": zones,
            f"stacks.{stack_name}": {
                "kind": stacks.KIND_CLUSTER,
                "stackId": ref["stackId"],
                "status": "CREATE_IN_PROGRESS",
            },
        },
        event=("STACK_CREATING", f"Creating stack {stack_name}"),
        event_details={"stack": stack_name, "zones": zones},
    )
    logger.info("cluster stack created", extra={"cluster": name, "clusterId": cluster_id, "stack": stack_name})
    return {**ref, "kind": stacks.KIND_CLUSTER}


def create_nodegroup_stack(
    db: Store, clients: Clients, name: str, cluster_id: str, nodegroup: str, settings: Settings | None = None
) -> dict[str, Any]:
    """Create `eksctl-NAME-nodegroup-NG` for one node group of the spec.

    Also the first step of adding a node group to a live cluster: the group is then
    in the spec the running operation is heading for, not yet in the record's spec.
    """
    record = db.get_cluster(name)
    spec = target_spec(record)
    # A name can come back after its node group was deleted: the token is per operation.
    token = (record.get("operation") or {}).get("id") or cluster_id
    group = next((g for g in spec.nodegroups if g.name == nodegroup), None)
    if group is None:
        raise ValueError(f"node group {nodegroup!r} is not in the spec of cluster {name!r}")
    stack_name = naming.nodegroup_stack_name(name, nodegroup)
    ref = stacks.create_stack(
        clients.cloudformation(spec.region),
        stack_name,
        templates.to_json(templates.build_nodegroup_template(spec, group, cluster_id)),
        {**_stack_tags(spec, cluster_id), naming.TAG_NODEGROUP: nodegroup},
        request_token=f"{token}-ng-{nodegroup}"[:128],
        role_arn=stack_role(settings),
    )
    entry = {"kind": stacks.KIND_NODEGROUP, "nodegroup": nodegroup, "stackId": ref["stackId"]}
    db.update_cluster(
        name,
        cluster_id,
        {
            **({"phase": PHASE_NODEGROUPS} if record["status"] == store.CREATING else {}),
            f"stacks.{stack_name}": {**entry, "status": "CREATE_IN_PROGRESS"},
        },
        event=("STACK_CREATING", f"Creating stack {stack_name}"),
        event_details={"stack": stack_name, "nodegroup": nodegroup},
    )
    return {**ref, "kind": stacks.KIND_NODEGROUP, "nodegroup": nodegroup}


def describe_stack(
    db: Store, clients: Clients, settings: Settings, name: str, cluster_id: str, region: str, stack: dict[str, Any]
) -> dict[str, Any]:
    """One look at a stack; the record hears of it only when the status changed."""
    state = stacks.describe(clients.cloudformation(region), stack["stackId"], stack["kind"], settings.poll_scale)
    if state.status != stack.get("status"):
        entry = {k: v for k, v in stack.items() if k in ("kind", "nodegroup")}
        entry.update({"stackId": state.stackId, "status": state.status})
        if state.failed:
            entry["reason"] = state.reason
        terminal = state.done or state.failed
        db.update_cluster(
            name,
            cluster_id,
            {f"stacks.{state.stackName}": entry},
            event=(f"STACK_{state.status}", f"Stack {state.stackName} is {state.status}") if terminal else None,
            event_details={"stack": state.stackName, "reason": state.reason} if state.failed else None,
        )
    return {**state.to_dict(), **{k: v for k, v in stack.items() if k in ("kind", "nodegroup")}}


def mark_active(
    db: Store, settings: Settings, name: str, cluster_id: str, cluster_outputs: dict[str, str]
) -> dict[str, Any]:
    """The last step: the record says ACTIVE and carries what a user needs to connect."""
    endpoint = {
        "endpoint": cluster_outputs.get(templates.OUTPUT_ENDPOINT),
        "arn": cluster_outputs.get(templates.OUTPUT_ARN),
        "certificateAuthorityData": cluster_outputs.get(templates.OUTPUT_CA),
        "vpcId": cluster_outputs.get(templates.OUTPUT_VPC),
        "securityGroupId": cluster_outputs.get(templates.OUTPUT_SECURITY_GROUP),
    }
    record = db.get_cluster(name)
    if _already(record, cluster_id, store.ACTIVE):
        return {"status": store.ACTIVE}
    db.update_cluster(
        name,
        cluster_id,
        {
            "status": store.ACTIVE,
            "phase": PHASE_DONE,
            "cluster": {k: v for k, v in endpoint.items() if v},
            **leases.reap_fields(record, settings),
        },
        event=("ACTIVE", "Cluster is active"),
        remove=("operation",),
        # A delete that took over this create must not see the cluster come back to life.
        expect_status=(store.CREATING,),
        expect_operation=cluster_id,
    )
    logger.info("cluster active", extra={"cluster": name, "clusterId": cluster_id})
    return {"status": store.ACTIVE}


def _already(record: dict[str, Any] | None, cluster_id: str, status: str) -> bool:
    """This create already ended in `status`: the step is a retry whose first reply was lost, and is done."""
    return (
        record is not None
        and record.get("clusterId") == cluster_id
        and record.get("status") == status
        and "operation" not in record
    )


def explain_error(error: dict[str, Any]) -> dict[str, Any]:
    """Turn a Step Functions error ({Error, Cause}) into the failure we store.

    Causes come in three shapes: a stack state (JSON with `reason`), a Lambda
    error (JSON with `errorMessage`), or plain text from the service.
    """
    kind = str(error.get("Error") or "Error")
    cause: Any = error.get("Cause") or ""
    try:
        cause = json.loads(cause)
    except (TypeError, ValueError):
        return {"error": kind, "reason": str(cause) or kind}
    if not isinstance(cause, dict):
        return {"error": kind, "reason": str(cause)}
    if "reason" in cause:  # a failed stack
        failure = {"error": kind, "reason": cause.get("reason") or cause.get("status"), "stack": cause.get("stackName")}
        if cause.get("failedResource"):
            failure["resource"] = cause["failedResource"]
        return failure
    return {"error": cause.get("errorType") or kind, "reason": cause.get("errorMessage") or json.dumps(cause)}


def record_failure(db: Store, name: str, cluster_id: str, error: dict[str, Any]) -> dict[str, Any]:
    failure = explain_error(error)
    failure = {k: v for k, v in failure.items() if v}
    record = db.find_cluster(name)
    if record is not None and _already(record, cluster_id, store.FAILED):
        return {"status": store.FAILED, "failure": record.get("failure")}
    db.update_cluster(
        name,
        cluster_id,
        {"status": store.FAILED, "failure": failure},
        event=("FAILED", failure["reason"]),
        event_details=failure,
        remove=("operation",),
        expect_operation=cluster_id,
    )
    logger.warning("cluster failed", extra={"cluster": name, "clusterId": cluster_id, "failure": failure})
    return {"status": store.FAILED, "failure": failure}


# -- delete ------------------------------------------------------------------------


def request_delete(db: Store, sfn: Any, settings: Settings, name: str, caller: str) -> dict[str, Any]:
    """Mark the cluster DELETING and start its delete workflow; one operation at a time.

    A create still running is taken over: the delete workflow stops it first, so
    nothing is left half-built. Any other running operation is a 409.
    """
    record = db.get_cluster(name)
    if record["status"] == store.DELETED:
        raise ConflictError(f"cluster {name!r} is already deleted", cluster=name, status=record["status"])
    operation_id = uuid.uuid4().hex
    operation = {"type": OPERATION_DELETE, "id": operation_id, "by": caller, "startedAt": store.utcnow()}
    creating = record["status"] == store.CREATING
    record = db.begin_operation(
        name,
        operation,
        {"status": store.DELETING, "phase": PHASE_DELETE_REQUESTED},
        supersedes=(workflow.OPERATION_CREATE,),
        remove=("gsi2pk", "gsi2sk"),
    )
    payload = {
        "name": name,
        "clusterId": record["clusterId"],
        "region": record["region"],
        "operationId": operation_id,
        "createExecutionArn": record.get("executionArn") if creating else None,
    }
    try:
        arn = workflow.start(sfn, settings.delete_state_machine_arn, OPERATION_DELETE, name, operation_id, payload)
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
    return {**without_private(record), "operation": {**operation, "executionArn": arn}}


def stop_create(sfn: Any, create_execution_arn: str | None) -> dict[str, Any]:
    """Stop the create workflow if it still runs; report whether it is still running."""
    if not create_execution_arn:
        return {"running": False}
    status = sfn.describe_execution(executionArn=create_execution_arn)["status"]
    if status != "RUNNING":
        return {"running": False, "status": status}
    sfn.stop_execution(
        executionArn=create_execution_arn,
        error="ClusterDeleted",
        cause="The cluster was deleted while it was being created.",
    )
    return {"running": True, "waitSeconds": 1}


def list_stacks(db: Store, clients: Clients, name: str, cluster_id: str, region: str) -> dict[str, Any]:
    """The stacks to delete: ours only, found in CloudFormation (not just in the record)."""
    ours, others = stacks.owned_stacks(clients.cloudformation(region), name, cluster_id)
    for stack in others:
        db.add_event(
            name,
            cluster_id,
            "STACK_NOT_OURS",
            f"Left {stack['stackName']} alone: it is not ours",
            stack=stack["stackName"],
        )
    db.update_cluster(name, cluster_id, {"phase": "DELETING_STACKS"})
    return {
        "nodegroupStacks": [s for s in ours if s["kind"] == stacks.KIND_NODEGROUP],
        "clusterStack": next((s for s in ours if s["kind"] == stacks.KIND_CLUSTER), None),
    }


def _stack_entry(db: Store, name: str, stack: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """Record fields updating a stack the record knows; a stack it never knew changes nothing."""
    known = stack["stackName"] in (db.get_cluster(name).get("stacks") or {})
    return {f"stacks.{stack['stackName']}.{k}": v for k, v in entry.items()} if known else {}


def delete_stack(
    db: Store,
    clients: Clients,
    name: str,
    cluster_id: str,
    region: str,
    stack: dict[str, Any],
    settings: Settings | None = None,
) -> dict[str, Any]:
    state = stacks.delete(clients.cloudformation(region), stack, stack_role(settings))
    attempt = "" if state["attempts"] == 1 else f" (attempt {state['attempts']})"
    fields = _stack_entry(db, name, stack, {"status": "DELETE_IN_PROGRESS"})
    db.update_cluster(
        name,
        cluster_id,
        fields,
        event=("STACK_DELETING", f"Deleting stack {stack['stackName']}{attempt}"),
        event_details={"stack": stack["stackName"]},
    )
    return state


def describe_stack_deletion(
    db: Store, clients: Clients, settings: Settings, name: str, cluster_id: str, region: str, stack: dict[str, Any]
) -> dict[str, Any]:
    state = stacks.describe_deletion(clients.cloudformation(region), stack, settings.poll_scale)
    if state["status"] != stack.get("status") and (state["done"] or state["failed"]):
        entry = {"status": state["status"], **({"reason": state["reason"]} if state["failed"] else {})}
        db.update_cluster(
            name,
            cluster_id,
            _stack_entry(db, name, stack, entry),
            event=(f"STACK_{state['status']}", f"Stack {stack['stackName']} is {state['status']}"),
            event_details={"stack": stack["stackName"], "reason": state.get("reason")},
        )
    return state


def delete_kubernetes_load_balancers(
    db: Store, clients: Clients, name: str, cluster_id: str, region: str
) -> dict[str, Any]:
    vpc_id = (db.get_cluster(name).get("cluster") or {}).get("vpcId")
    if not vpc_id:
        return {"loadBalancers": [], "securityGroups": []}  # no VPC was ever built: nothing for Kubernetes to leave
    removed = cleanup.delete_load_balancers(
        clients.client("elb", region), clients.client("elbv2", region), clients.ec2(region), name, vpc_id
    )
    if removed["loadBalancers"] or removed["securityGroups"]:
        db.add_event(
            name,
            cluster_id,
            "KUBERNETES_RESOURCES_DELETED",
            f"Deleted {len(removed['loadBalancers'])} load balancer(s) and "
            f"{len(removed['securityGroups'])} security group(s) Kubernetes created",
            **removed,
        )
    return removed


def mark_deleted(db: Store, name: str, cluster_id: str, operation_id: str) -> dict[str, Any]:
    db.update_cluster(
        name,
        cluster_id,
        {"status": store.DELETED, "phase": PHASE_DONE, "deletedAt": store.utcnow()},
        event=("DELETED", "Cluster deleted"),
        # A deleted cluster no longer counts against its owner (the byOwner index is sparse).
        remove=("operation", *store.OWNER_KEYS),
        expect_operation=operation_id,
    )
    return {"status": store.DELETED}


def record_delete_failure(
    db: Store, name: str, cluster_id: str, operation_id: str, error: dict[str, Any]
) -> dict[str, Any]:
    failure = {k: v for k, v in explain_error(error).items() if v}
    db.update_cluster(
        name,
        cluster_id,
        {"status": store.DELETE_FAILED, "failure": failure},
        event=("DELETE_FAILED", failure["reason"]),
        event_details=failure,
        remove=("operation",),
        expect_operation=operation_id,
    )
    return {"status": store.DELETE_FAILED, "failure": failure}
