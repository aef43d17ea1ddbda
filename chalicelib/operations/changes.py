"""Starting a change to a live cluster: one operation at a time, run by its own workflow.

A node group change and a service account change start the same way: the record's `operation` is
taken with a conditional write (409 while another runs), carrying the spec the change heads for;
then the workflow starts. A workflow that cannot start leaves the record free again, saying why.
They end the same way too: done, the record's spec becomes the operation's (`finish`); failed, the
spec stays as it runs and `lastFailure` says why (`record_failure`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.aws import store, workflow
from chalicelib.model.errors import ConflictError, WorkflowStartError
from chalicelib.model.settings import event_waits
from chalicelib.observability import logger
from chalicelib.operations.failures import explain_error
from chalicelib.operations.stack_status import stack_timeout_minutes

if TYPE_CHECKING:
    from collections.abc import Sequence

    from chalicelib.aws.template_store import Rendered
    from chalicelib.model.spec import ClusterSpec
    from chalicelib.model.steps import FailedOperationStep, OperationStep
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
    rendered: Sequence[Rendered] = (),
) -> dict[str, Any]:
    """Take the record's operation for `change`, keep the templates its request `rendered`, start its workflow
    with `payload`, and answer the operation."""
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
    # Kept before the operation is taken: a taken operation never waits without them (a change refused
    # as a conflict leaves its copies to the table's TTL).
    db.put_templates(name, operation_id, list(rendered))
    db.begin_operation(name, operation, {}, expect_status=(store.ACTIVE,))
    full = {
        "name": name,
        "clusterId": cluster_id,
        "region": record["region"],
        "operationId": operation_id,
        "action": change.action,
        "eventWaits": event_waits(ctx.settings, stack_timeout_minutes(record, ctx.settings)),
        **payload,
    }
    subject = ", ".join(change.subject.values())
    try:
        arn = workflow.start(ctx.sfn, state_machine_arn, change.type, name, operation_id, full)
    except Exception as exc:  # the record must not stay locked by an operation that never ran
        reason = f"could not start the {change.what} workflow: {exc}"[:500]
        db.update_cluster(
            name,
            cluster_id,
            {
                "lastFailure": {
                    "operation": change.action,
                    "operationId": operation_id,
                    **change.subject,
                    "reason": reason,
                }
            },
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


def running(record: dict[str, Any], operation_id: str) -> dict[str, Any]:
    """The record's operation, which must be `operation_id` (else 409: the step belongs to another one)."""
    operation: dict[str, Any] = record.get("operation") or {}
    if operation.get("id") != operation_id:
        raise ConflictError(
            f"operation {operation_id} is not running on cluster {record['name']!r}", cluster=record["name"]
        )
    return operation


def finish(ctx: Context, step: OperationStep, subject: str, what: str, done_events: dict[str, str]) -> dict[str, Any]:
    """The change is done: the record's spec becomes the operation's, and the cluster is free again.

    `subject` is the operation's field naming what changed ("nodegroup"), `what` its words ("Node group").
    """
    db, name, cluster_id, operation_id = ctx.store, step.name, step.clusterId, step.operationId
    operation = running(db.get_cluster(name), operation_id)
    action, changed = operation["action"], operation[subject]
    db.update_cluster(
        name,
        cluster_id,
        {"spec": operation["spec"]},
        event=(done_events[action], f"{what} {changed}: {action} done"),
        event_details={"operation": operation_id, subject: changed},
        remove=("operation", "lastFailure"),
        expect_operation=operation_id,
    )
    logger.info("change done", extra={"cluster": name, "type": operation["type"], "action": action, subject: changed})
    return {"action": action, subject: changed}


def record_failure(
    ctx: Context, step: FailedOperationStep, subject: str, failed_event: str, record: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A failed change leaves the cluster ACTIVE with its spec as it was, and says what failed."""
    db, name, cluster_id, operation_id = ctx.store, step.name, step.clusterId, step.operationId
    operation = (record or db.get_cluster(name)).get("operation") or {}
    failure = explain_error(step.error)
    failure.update({"operation": operation.get("action"), "operationId": operation_id, subject: operation.get(subject)})
    db.update_cluster(
        name,
        cluster_id,
        {"lastFailure": failure},
        event=(failed_event, failure["reason"]),
        event_details=failure,
        remove=("operation",),
        expect_operation=operation_id,
    )
    return {"failure": failure}
