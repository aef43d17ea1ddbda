"""Workflow step: the Kubernetes ServiceAccounts of `iam.serviceAccounts`, each annotated with its IAM role.

Runs once every service account's stack is complete. Each account's role ARN is its stack's
`Role1` output (or its `attachRoleARN`); the account (and its namespace, when missing) is created
or annotated through the same authenticated Kubernetes client as aws-auth. `roleOnly` accounts
get their role and nothing in Kubernetes, as eksctl does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.cfn import kinds
from chalicelib.cfn.serviceaccounts import OUTPUT_ROLE
from chalicelib.kube.serviceaccounts import apply_service_account
from chalicelib.model.errors import EkspressError
from chalicelib.model.stored_spec import pod_identity_service_accounts, service_accounts, target_spec
from chalicelib.operations.access import ENDPOINT_PRIVATE, connect

if TYPE_CHECKING:
    from chalicelib.model.steps import ClusterStep
    from chalicelib.model.stored_spec import StoredAccount
    from chalicelib.operations.context import Context

EVENT_APPLIED = "SERVICE_ACCOUNT_APPLIED"
EVENT_ROLE_ONLY = "SERVICE_ACCOUNT_ROLE_ONLY"


class ServiceAccountRoleMissingError(EkspressError):
    """A service account's stack gave no role ARN (it is not complete)."""

    status = 409
    code = "ServiceAccountRoleMissing"


def _stack_of(record: dict[str, Any], cluster: str, account: StoredAccount) -> str:
    """The account's stack, by the id the record keeps (else by its name)."""
    for entry in (record.get("stacks") or {}).values():
        if entry.get("kind") == kinds.IAMSERVICEACCOUNT.name and entry.get("member") == account.member:
            return str(entry["stackId"])
    return kinds.IAMSERVICEACCOUNT.stack_name(cluster, account.member)


def role_arn(cfn: Any, record: dict[str, Any], cluster: str, account: StoredAccount) -> str:
    """The role the account's pods assume: its `attachRoleARN`, or its stack's `Role1` output."""
    if account.attach_role_arn:
        return account.attach_role_arn
    stack = _stack_of(record, cluster, account)
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs") or []}
    if OUTPUT_ROLE not in outputs:
        raise ServiceAccountRoleMissingError(
            f"stack {described['StackName']} ({described['StackStatus']}) has no {OUTPUT_ROLE} output "
            f"for service account {account.qualified_name}"
        )
    return str(outputs[OUTPUT_ROLE])


def apply_service_accounts(ctx: Context, step: ClusterStep) -> dict[str, Any]:
    """Create or annotate each service account with its role; note each on the timeline; return a summary.

    Safe to retry: an account that already carries its labels and annotations is left unchanged.
    A fully private cluster whose public endpoint is off cannot be reached: its ServiceAccounts were
    made before the endpoint closed, and a change may add or remove `roleOnly` accounts only (the
    request refuses the rest), so only those are handled then. The accounts are read from the stored spec
    (model/stored_spec.py), validated when the cluster or the change was requested.
    """
    db, name, cluster_id = ctx.store, step.name, step.clusterId
    record = db.get_cluster(name)
    spec = target_spec(record)
    accounts = service_accounts(spec)
    # Pod identity associations with createServiceAccount: a plain ServiceAccount (the association holds the role).
    pod_accounts = pod_identity_service_accounts(spec)
    if record.get("endpointAccess") == ENDPOINT_PRIVATE:
        accounts, pod_accounts = [a for a in accounts if a.role_only], []
    applied: list[dict[str, str]] = []
    if not accounts and not pod_accounts:
        return {"serviceAccounts": applied}
    region = str(record["region"])
    cfn = ctx.clients.cloudformation(region)
    kube = None
    for account in accounts:
        arn = role_arn(cfn, record, name, account)
        namespace, account_name = account.namespace, account.name
        details = {"namespace": namespace, "serviceAccount": account_name, "roleArn": arn}
        if account.role_only:
            db.add_event(
                name,
                cluster_id,
                EVENT_ROLE_ONLY,
                f"role {arn} made for {account.qualified_name}; no ServiceAccount made (roleOnly)",
                **details,
            )
            applied.append({**details, "outcome": "roleOnly"})
            continue
        kube = kube or connect(ctx.clients, region, name)
        outcome = apply_service_account(
            kube,
            namespace,
            account_name,
            role_arn=arn,
            labels=account.labels,
            annotations=account.annotations,
        )
        db.add_event(
            name,
            cluster_id,
            EVENT_APPLIED,
            f"ServiceAccount {account.qualified_name} {outcome} with role {arn}",
            outcome=outcome,
            **details,
        )
        applied.append({**details, "outcome": outcome})
    for namespace, account_name in pod_accounts:
        kube = kube or connect(ctx.clients, region, name)
        outcome = apply_service_account(kube, namespace, account_name, role_arn=None)
        db.add_event(
            name,
            cluster_id,
            EVENT_APPLIED,
            f"ServiceAccount {namespace}/{account_name} {outcome} for its pod identity association",
            outcome=outcome,
            namespace=namespace,
            serviceAccount=account_name,
        )
        applied.append({"namespace": namespace, "serviceAccount": account_name, "outcome": outcome})
    return {"serviceAccounts": applied}
