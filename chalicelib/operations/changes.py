"""Starting a change to a live cluster: one operation at a time, run by its own workflow.

A node group change and a service account change start the same way: the record's `operation` is
taken with a conditional write (409 while another runs), carrying the spec the change heads for;
then the workflow starts. A workflow that cannot start leaves the record free again, saying why.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.aws import store, workflow
from chalicelib.model.errors import WorkflowStartError

if TYPE_CHECKING:
    from chalicelib.model.spec import ClusterSpec
    from chalicelib.operations.context import Context


@dataclass(frozen=True)
class Change:
    """One change: its operation type, action, what it is about (`subject`, e.g. {"nodegroup": "ng"})."""

    type: str
    action: str
    subject: dict[str, str]
    # Words for the timeline: "node group", "service account".
    what: str
    # Timeline event types: requested, and failed to start.
    requested_event: str
    failed_event: str


def begin(
    ctx: Context,
    record: dict[str, Any],
    change: Change,
    target: ClusterSpec,
    state_machine_arn: str,
    payload: dict[str, Any],
    caller: str,
) -> dict[str, Any]:
    """Take the record's operation for `change`, start its workflow with `payload`, and answer the operation."""
    db, name, cluster_id = ctx.store, record["name"], record["clusterId"]
    operation_id = uuid.uuid4().hex
    operation = {
        "type": change.type,
        "action": change.action,
        **change.subject,
        "id": operation_id,
        "by": caller,
        "startedAt": store.utcnow(),
        "spec": target.model_dump(mode="json", exclude_none=True),
    }
    db.begin_operation(name, operation, {}, expect_status=(store.ACTIVE,))
    full = {
        "name": name,
        "clusterId": cluster_id,
        "region": record["region"],
        "operationId": operation_id,
        "action": change.action,
        **payload,
    }
    subject = ", ".join(change.subject.values())
    try:
        arn = workflow.start(ctx.sfn, state_machine_arn, change.type, name, operation_id, full)
    except Exception as exc:  # the record must not stay locked by an operation that never ran
        reason = f"could not start the {change.what} workflow: {exc}"
        db.update_cluster(
            name,
            cluster_id,
            {"lastFailure": {"operation": change.action, **change.subject, "reason": reason}},
            event=(change.failed_event, reason),
            remove=("operation",),
        )
        raise WorkflowStartError(reason, cluster=name) from None
    db.update_cluster(
        name,
        cluster_id,
        {"operation.executionArn": arn},
        event=(change.requested_event, f"{change.action} {change.what} {subject} (requested by {caller})"),
        event_details={"operation": operation_id, "action": change.action, **change.subject},
    )
    public = {k: v for k, v in operation.items() if k != "spec"}
    return {"name": name, "operation": {**public, "executionArn": arn}}
