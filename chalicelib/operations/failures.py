"""What failed and why: Step Functions errors turned into the failure a record keeps."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalicelib.model.errors import StackTimedOut
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.aws.store import Store


def explain_error(error: dict[str, Any]) -> dict[str, Any]:
    """Turn a Step Functions error ({Error, Cause}) into the failure we store (empty fields left out).

    Causes come in three shapes: a stack state (JSON with `reason`), a Lambda
    error (JSON with `errorMessage`), or plain text from the service. A stack that
    timed out is a Lambda error whose message names the stack.
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
        return {k: v for k, v in failure.items() if v}
    failure = {"error": cause.get("errorType") or kind, "reason": cause.get("errorMessage") or json.dumps(cause)}
    if failure["error"] == StackTimedOut.code:
        failure["stack"] = StackTimedOut.stack_in(str(failure["reason"]))
    return {k: v for k, v in failure.items() if v}


def already_ended(record: dict[str, Any] | None, cluster_id: str, status: str) -> bool:
    """This cluster's operation already ended in `status`: a retried step whose first reply was lost is done."""
    return (
        record is not None
        and record.get("clusterId") == cluster_id
        and record.get("status") == status
        and "operation" not in record
    )


def end_operation_failed(
    db: Store, name: str, cluster_id: str, operation_id: str, status: str, error: dict[str, Any]
) -> dict[str, Any]:
    """The running operation failed: the record says `status`, what failed and why, and is free again.

    Safe to retry: a record that already ended so keeps the failure it has.
    """
    record = db.find_cluster(name)
    if already_ended(record, cluster_id, status):
        return {"status": status, "failure": (record or {}).get("failure")}
    failure = explain_error(error)
    db.update_cluster(
        name,
        cluster_id,
        {"status": status, "failure": failure},
        event=(status, failure["reason"]),
        event_details=failure,
        remove=("operation",),
        expect_operation=operation_id,
    )
    logger.warning("operation failed", extra={"cluster": name, "clusterId": cluster_id, "failure": failure})
    return {"status": status, "failure": failure}
