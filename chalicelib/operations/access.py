"""Use-cases for who may use a cluster: aws-auth at creation, later mapping changes, kubeconfig."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from chalicelib.aws import store, workflow
from chalicelib.cfn.template import OUTPUT_NODE_ROLE_ARN, OUTPUT_WINDOWS_NODES
from chalicelib.kube import awsauth, emr, windows_ipam
from chalicelib.kube import client as kubeauth
from chalicelib.kube.token import eks_token
from chalicelib.model.errors import ConflictError, WorkflowStartError
from chalicelib.model.mappings import Mapping
from chalicelib.observability import logger
from chalicelib.operations.failures import explain_error

if TYPE_CHECKING:
    from chalicelib.aws.clients import Clients
    from chalicelib.aws.store import Store
    from chalicelib.model.steps import AccessChangeStep, FailedStep, NodegroupStacksDone
    from chalicelib.operations.context import Context

OPERATION_ACCESS = "access"
# The record's `endpointAccess` once a fully private cluster's public endpoint is off (operations/private_endpoint.py).
ENDPOINT_PRIVATE = "private"
ADD = "add"
REMOVE = "remove"


def connect(clients: Clients, region: str, cluster: str) -> kubeauth.KubeClient:
    """A Kubernetes client for the cluster, authenticated the way EKS expects."""
    described = clients.eks(region).describe_cluster(name=cluster)["cluster"]
    sts = clients.token_sts(region)
    return kubeauth.KubeClient(
        described["endpoint"], described["certificateAuthority"]["data"], lambda: eks_token(sts, cluster)
    )


def node_roles(nodegroup_stacks: list[dict[str, Any]]) -> list[str]:
    """Node instance role ARNs from the node group stacks' outputs, in order, once each."""
    roles = [(s.get("outputs") or {}).get(OUTPUT_NODE_ROLE_ARN) for s in nodegroup_stacks]
    return list(dict.fromkeys(r for r in roles if r))


def windows_node_roles(nodegroup_stacks: list[dict[str, Any]]) -> list[str]:
    """The node roles of Windows node groups (their stacks say so in an output)."""
    windows = [s for s in nodegroup_stacks if (s.get("outputs") or {}).get(OUTPUT_WINDOWS_NODES) == "true"]
    return node_roles(windows)


def configure_cluster_access(ctx: Context, step: NodegroupStacksDone) -> dict[str, Any]:
    """Workflow step: map every node role and the requested identities into aws-auth.

    A service's mapping (EMR on EKS) first gets its namespace, Role and RoleBinding, then its
    service-linked role is mapped like any other identity. The mappings are the stored spec's,
    validated when the cluster was requested (model/mappings.py), so the step starts without pydantic.
    """
    db, name, cluster_id = ctx.store, step.name, step.clusterId
    record = db.get_cluster(name)
    region = str(record["region"])
    requested = [Mapping.from_fields(m) for m in record["spec"].get("iamIdentityMappings") or []]
    roles = node_roles(step.nodegroupStacks)
    windows = windows_node_roles(step.nodegroupStacks)
    kube = connect(ctx.clients, region, name)
    mappings = emr.resolve(
        kube, requested, lambda: str(ctx.clients.eks(region).describe_cluster(name=name)["cluster"]["arn"])
    )

    def edit(auth: awsauth.AuthMap) -> awsauth.AuthMap:
        awsauth.ensure_node_roles(auth, roles, windows)
        for mapping in mappings:
            key, entry = awsauth.mapping_entry(mapping)
            if entry not in auth.entries(key):  # a retried step finds its own earlier write
                awsauth.add(auth, mapping)
        return auth

    merged = kubeauth.update_aws_auth(kube, edit)
    if windows:
        windows_ipam.enable(kube)  # Windows pods get their addresses from the VPC CNI's Windows IPAM
    db.update_cluster(
        name,
        cluster_id,
        {"nodeRoles": roles},
        event=(
            "AWS_AUTH_UPDATED",
            f"aws-auth maps {len(roles)} node role(s) and {len(requested)} identities",
        ),
    )
    return {"mapRoles": len(merged.roles), "mapUsers": len(merged.users), "mapAccounts": len(merged.accounts)}


def read_access(ctx: Context, name: str) -> dict[str, Any]:
    record = require_active(ctx.store, name)
    require_reachable(record, "read its aws-auth ConfigMap")
    current = connect(ctx.clients, record["region"], name).get_configmap(awsauth.NAMESPACE, awsauth.NAME)
    return awsauth.parse(current).to_dict()


def require_active(db: Store, name: str, what: str = "access") -> dict[str, Any]:
    """The record of an ACTIVE cluster; a 409 saying `what` waits for ACTIVE otherwise."""
    record = db.get_cluster(name)
    if record["status"] != store.ACTIVE:
        raise ConflictError(
            f"cluster {name!r} is {record['status']}; {what} can be changed once it is ACTIVE",
            cluster=name,
            status=record["status"],
        )
    return record


def require_reachable(record: dict[str, Any], what: str) -> None:
    """A 409 when the cluster's API server has no public endpoint, which `what` needs the service to reach."""
    if record.get("endpointAccess") == ENDPOINT_PRIVATE:
        raise ConflictError(
            f"cluster {record['name']!r} is fully private: its Kubernetes API has no public endpoint, so ekspress "
            f"cannot {what}; do it from inside the cluster's VPC (kubectl, eksctl)",
            cluster=record["name"],
            rule="endpoint_private",
        )


def request_access_change(ctx: Context, name: str, action: str, change: dict[str, Any]) -> dict[str, Any]:
    """Start the access workflow for one add or remove; refuse node roles up front.

    A node role keeps the one mapping the service gave it (system:bootstrappers, system:nodes):
    a request may neither remove it nor map the role again with other groups (the merge refuses
    that too, but only once the workflow runs).
    """
    db = ctx.store
    record = require_active(db, name)
    require_reachable(record, "change its aws-auth ConfigMap")
    if change.get("arn") in (record.get("nodeRoles") or []):
        verb = "removed" if action == REMOVE else "changed"
        raise awsauth.ProtectedMappingError(f"{change['arn']} is a node role; its mapping cannot be {verb}")
    operation_id = uuid.uuid4().hex
    payload = {
        "name": name,
        "clusterId": record["clusterId"],
        "region": record["region"],
        "change": {"action": action, **change},
    }
    try:
        arn = workflow.start(
            ctx.sfn, ctx.settings.access_state_machine_arn, OPERATION_ACCESS, name, operation_id, payload
        )
    except Exception as exc:
        raise WorkflowStartError(f"could not start the access workflow: {exc}", cluster=name) from None
    db.add_event(
        name,
        record["clusterId"],
        "ACCESS_CHANGE_REQUESTED",
        f"{action} {_subject(change)}",
        operation=operation_id,
        executionArn=arn,
    )
    return {"operation": operation_id, "executionArn": arn, "action": action, **change}


def _subject(change: dict[str, Any]) -> str:
    return str(change.get("arn") or change.get("account"))


def apply_access_change(ctx: Context, step: AccessChangeStep) -> dict[str, Any]:
    """Workflow step: merge one mapping change into aws-auth and note it on the timeline.

    A retried step (the state's retry count is not 0): an earlier attempt may have made the
    change and lost its reply, so a mapping to remove that is already gone is done.
    Adding is idempotent by itself.
    """
    name, cluster_id, change, retried = step.name, step.clusterId, step.change, step.retryCount > 0
    cluster = connect(ctx.clients, step.region, name)
    action = change["action"]
    if action == ADD:
        mapping = Mapping.from_fields(change)  # validated when it was requested (the API, a pool's claim)
        merged = kubeauth.update_aws_auth(cluster, lambda auth: awsauth.add(auth, mapping))
    elif action == REMOVE:

        def remove(auth: awsauth.AuthMap) -> awsauth.AuthMap:
            try:
                return awsauth.remove(auth, change["arn"])
            except awsauth.MappingNotFoundError:
                if not retried:
                    raise
                return auth

        merged = kubeauth.update_aws_auth(cluster, remove)
    else:
        raise ValueError(f"unknown access action {action!r}")
    ctx.store.add_event(name, cluster_id, "ACCESS_CHANGED", f"{action} {_subject(change)}")
    logger.info("aws-auth changed", extra={"cluster": name, "clusterId": cluster_id, "action": action})
    return merged.to_dict()


def record_access_failure(ctx: Context, step: FailedStep) -> dict[str, Any]:
    """A failed mapping change is noted on the timeline; the cluster itself stays as it is."""
    failure = explain_error(step.error)
    ctx.store.add_event(step.name, step.clusterId, "ACCESS_CHANGE_FAILED", failure["reason"], **failure)
    return {"failure": failure}


def kubeconfig(record: dict[str, Any]) -> dict[str, Any]:
    """A kubeconfig whose user runs `aws eks get-token`, as `aws eks update-kubeconfig` writes."""
    cluster = record.get("cluster") or {}
    arn = cluster.get("arn") or record["name"]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": arn,
                "cluster": {
                    "server": cluster.get("endpoint"),
                    "certificate-authority-data": cluster.get("certificateAuthorityData"),
                },
            }
        ],
        "contexts": [{"name": arn, "context": {"cluster": arn, "user": arn}}],
        "current-context": arn,
        "preferences": {},
        "users": [
            {
                "name": arn,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "aws",
                        "args": [
                            "--region",
                            record["region"],
                            "eks",
                            "get-token",
                            "--cluster-name",
                            record["name"],
                            "--output",
                            "json",
                        ],
                        "interactiveMode": "IfAvailable",
                        "provideClusterInfo": False,
                    }
                },
            }
        ],
    }
