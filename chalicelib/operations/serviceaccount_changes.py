"""Service account changes on a live cluster: add one (its role's stack, then the Kubernetes object), remove one.

eksctl's `create iamserviceaccount` and `delete iamserviceaccount`, as operations: one at a time per
cluster (like a node group change), run by the `change_serviceaccount` workflow. The operation carries
the spec it is heading for; the record's spec becomes that spec only when the change has finished, so
a failed change leaves the record saying what really runs, plus what failed and why.
The workflow's steps after the role's stack (removal, finish, failure) are in serviceaccount_steps.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.cfn import kinds
from chalicelib.model import inline_policy, naming, policy
from chalicelib.model.errors import ConflictError, NotFoundError, SpecValidationError
from chalicelib.model.serviceaccount_spec import ServiceAccountSpec
from chalicelib.model.spec import ClusterSpec, validate
from chalicelib.operations import changes, rendering
from chalicelib.operations.access import require_active, require_reachable
from chalicelib.operations.serviceaccount_steps import ADD, DELETE, OPERATION_SERVICEACCOUNT

if TYPE_CHECKING:
    from chalicelib.operations.context import Context


def _accounts(spec: ClusterSpec) -> list[ServiceAccountSpec]:
    return list((spec.iam.service_accounts if spec.iam else None) or [])


def _lookup(spec: ClusterSpec, namespace: str, name: str) -> ServiceAccountSpec | None:
    return next((a for a in _accounts(spec) if (a.metadata.namespace, a.metadata.name) == (namespace, name)), None)


def _find(spec: ClusterSpec, namespace: str, name: str) -> ServiceAccountSpec:
    found = _lookup(spec, namespace, name)
    if found is None:
        raise NotFoundError(
            f"cluster {spec.name!r} has no IAM service account {namespace}/{name}", serviceAccount=f"{namespace}/{name}"
        )
    return found


def _with_accounts(spec: ClusterSpec, accounts: list[ServiceAccountSpec]) -> ClusterSpec:
    """The spec with these service accounts, validated as a whole (no account twice, stack names that fit)."""
    body = spec.model_dump(mode="json", exclude_none=True)
    iam = body.setdefault("iam", {})
    iam["serviceAccounts"] = [a.model_dump(mode="json", exclude_none=True) for a in accounts]
    if not accounts:
        iam.pop("serviceAccounts")
    return validate(ClusterSpec, body, "service account change")


def list_service_accounts(ctx: Context, name: str) -> dict[str, Any]:
    """The cluster's IAM service accounts as its spec has them, each with the stack that makes its role."""
    record = ctx.store.get_cluster(name)
    spec = ClusterSpec.model_validate(record["spec"])
    stacks = record.get("stacks") or {}
    items = []
    for account in _accounts(spec):
        entry = account.model_dump(mode="json", by_alias=True, exclude_none=True)
        if account.needs_stack:
            stack_name = naming.iamserviceaccount_stack_name(name, account.member)
            entry["stack"] = {"stackName": stack_name, "status": (stacks.get(stack_name) or {}).get("status")}
        items.append(entry)
    return {"name": name, "serviceAccounts": items}


def request_add(ctx: Context, name: str, body: dict[str, Any], caller: str) -> dict[str, Any]:
    """Add one of `iam.serviceAccounts` to an ACTIVE cluster (eksctl's `create iamserviceaccount`)."""
    record = require_active(ctx.store, name, "service accounts")
    spec = ClusterSpec.model_validate(record["spec"])
    account = validate(ServiceAccountSpec, body, "service account")
    if not account.role_only:  # a role alone is made through CloudFormation only
        require_reachable(record, f"create the Kubernetes service account {account.qualified_name}")
    namespace, account_name = account.metadata.namespace, account.metadata.name
    if any((a.metadata.namespace, a.metadata.name) == (namespace, account_name) for a in _accounts(spec)):
        raise ConflictError(
            f"cluster {name!r} already has the IAM service account {account.qualified_name}",
            serviceAccount=account.qualified_name,
        )
    if not (spec.iam and spec.iam.with_oidc):
        raise SpecValidationError(
            "the cluster has no OIDC provider for the role to trust",
            fields=[
                {
                    "field": "metadata.name",
                    "rule": "needs_oidc",
                    "message": "IAM roles for service accounts trust the cluster's OIDC provider: this cluster was "
                    "made without iam.withOIDC",
                }
            ],
        )
    target = _with_accounts(spec, [*_accounts(spec), account])
    # The new account's policies, held to the allow-list the way a create holds them.
    index = len(_accounts(spec))
    prefix = f"iam.serviceAccounts[{index}]."
    requested = [(field, arn) for field, arn in policy.requested_policy_arns(target) if field.startswith(prefix)]
    documents = [(f, d) for f, d in inline_policy.requested_inline_documents(target) if f.startswith(prefix)]
    found = policy.policy_arn_problems(requested, ctx.settings)
    found += inline_policy.inline_action_problems(documents, ctx.settings)
    problems = [{**p, "field": p["field"].removeprefix(prefix)} for p in found]
    if problems:
        names = ", ".join(p["field"] for p in problems)
        raise SpecValidationError(
            f"the service account asks for policies this service does not allow: {names}", fields=problems
        )
    return _begin(ctx, record, ADD, account, target, None, caller)


def request_delete(ctx: Context, name: str, namespace: str, account_name: str, caller: str) -> dict[str, Any]:
    """Remove one IAM service account: its Kubernetes object, then its role's stack.

    eksctl's `delete iamserviceaccount`; an account made with attachRoleARN has no stack of its own.
    """
    record = require_active(ctx.store, name, "service accounts")
    spec = ClusterSpec.model_validate(record["spec"])
    account = _find(spec, namespace, account_name)
    if not account.role_only:
        require_reachable(record, f"delete the Kubernetes service account {account.qualified_name}")
    target = _with_accounts(spec, [a for a in _accounts(spec) if a is not account])
    stack = None
    if account.needs_stack:
        stack_name = naming.iamserviceaccount_stack_name(name, account.member)
        entry = (record.get("stacks") or {}).get(stack_name) or {}
        if entry.get("stackId"):
            stack = {"stackName": stack_name, "stackId": entry["stackId"], "kind": kinds.IAMSERVICEACCOUNT.name}
    return _begin(ctx, record, DELETE, account, target, stack, caller)


def _begin(
    ctx: Context,
    record: dict[str, Any],
    action: str,
    account: ServiceAccountSpec,
    target: ClusterSpec,
    stack: dict[str, Any] | None,
    caller: str,
) -> dict[str, Any]:
    change = changes.Change(
        OPERATION_SERVICEACCOUNT,
        action,
        {"serviceAccount": account.qualified_name},
        "IAM service account",
        "SERVICE_ACCOUNT_CHANGE_REQUESTED",
        "SERVICE_ACCOUNT_CHANGE_FAILED",
    )
    payload = {
        "member": account.member,
        "namespace": account.metadata.namespace,
        "serviceAccount": account.metadata.name,
        "needsStack": account.needs_stack,
        "stack": stack,
    }
    # An added account's role stack is created from this template; a removed one's is deleted.
    made = [{"kind": kinds.IAMSERVICEACCOUNT.name, "member": account.member}]
    rendered = (
        rendering.for_workloads(target, record["clusterId"], made) if action == ADD and account.needs_stack else []
    )
    return changes.begin(
        ctx, record, change, target, ctx.settings.serviceaccount_state_machine_arn, payload, caller, rendered
    )
