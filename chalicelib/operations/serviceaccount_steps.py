"""The service account change workflow's steps that build nothing: remove the ServiceAccount, finish, fail.

`serviceaccount_changes.py` requests a change; these steps read the account from the stored spec (validated
when the change was requested) as plain data, so their functions start without pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.cfn import kinds, stacks
from chalicelib.model import naming
from chalicelib.model.errors import NotFoundError
from chalicelib.model.stored_spec import find_service_account, target_spec
from chalicelib.operations import changes
from chalicelib.operations.access import connect

if TYPE_CHECKING:
    from chalicelib.model.steps import FailedOperationStep, OperationStep
    from chalicelib.operations.context import Context

OPERATION_SERVICEACCOUNT = "serviceaccount"
ADD, DELETE = "add", "delete"
_DONE_EVENTS = {ADD: "SERVICE_ACCOUNT_ADDED", DELETE: "SERVICE_ACCOUNT_DELETED"}


def remove_service_account(ctx: Context, step: OperationStep) -> dict[str, Any]:
    """Delete the departing account's Kubernetes ServiceAccount (gone already is fine); roleOnly ones have none."""
    db, name = ctx.store, step.name
    record = db.get_cluster(name)
    operation = changes.running(record, step.operationId)
    namespace, _, account_name = operation["serviceAccount"].partition("/")
    account = find_service_account(record["spec"], namespace, account_name)
    if account is None:
        raise NotFoundError(
            f"cluster {name!r} has no IAM service account {namespace}/{account_name}",
            serviceAccount=f"{namespace}/{account_name}",
        )
    if account.role_only:
        return {"serviceAccount": account.qualified_name, "deleted": False}
    deleted = connect(ctx.clients, record["region"], name).delete_serviceaccount(namespace, account_name)
    db.add_event(
        name,
        step.clusterId,
        "SERVICE_ACCOUNT_REMOVED",
        f"ServiceAccount {account.qualified_name} {'deleted' if deleted else 'was already gone'}",
        serviceAccount=account.qualified_name,
    )
    return {"serviceAccount": account.qualified_name, "deleted": deleted}


def finish(ctx: Context, step: OperationStep) -> dict[str, Any]:
    """The change is done: the record's spec becomes the operation's, and the cluster is free again."""
    return changes.finish(ctx, step, "serviceAccount", "IAM service account", _DONE_EVENTS)


def _remove_orphan_role(ctx: Context, record: dict[str, Any], operation: dict[str, Any]) -> str | None:
    """After a failed add, start deleting the role's stack the add made (its ServiceAccount was not, or not
    fully, applied): a role nobody's spec lists must not stay assumable. The stack's name, if one was made."""
    if operation.get("action") != ADD:
        return None
    namespace, _, account_name = str(operation.get("serviceAccount") or "").partition("/")
    account = find_service_account(target_spec(record), namespace, account_name)
    if account is None or not account.needs_stack:
        return None
    stack_name = naming.iamserviceaccount_stack_name(record["name"], account.member)
    entry = (record.get("stacks") or {}).get(stack_name) or {}
    if not entry.get("stackId") or str(entry.get("status", "")).startswith("DELETE"):
        return None
    ref = {"stackName": stack_name, "stackId": entry["stackId"], "kind": kinds.IAMSERVICEACCOUNT.name}
    stacks.delete(ctx.clients.cloudformation(record["region"]), ref, ctx.settings.stack_role_arn)
    return stack_name


def record_failure(ctx: Context, step: FailedOperationStep) -> dict[str, Any]:
    """A failed change leaves the cluster ACTIVE with its spec as it was, and says what failed.

    A failed add also loses the role its stack made (`_remove_orphan_role`).
    """
    db, name, cluster_id, operation_id = ctx.store, step.name, step.clusterId, step.operationId
    record = db.get_cluster(name)
    operation = record.get("operation") or {}
    removed = _remove_orphan_role(ctx, record, operation) if operation.get("id") == operation_id else None
    if removed:
        db.update_cluster(
            name,
            cluster_id,
            {f"stacks.{removed}.status": "DELETE_IN_PROGRESS"},
            event=("STACK_DELETING", f"Deleting stack {removed}: its service account was not added"),
            event_details={"stack": removed},
        )
    return changes.record_failure(ctx, step, "serviceAccount", "SERVICE_ACCOUNT_CHANGE_FAILED", record)
