"""EMR on EKS's access to one namespace (`iamIdentityMappings[].serviceName: emr-containers`), as eksctl grants it.

In the namespace (made if missing): a Role `emr-containers` with the rules EMR needs and a RoleBinding
of it to the Kubernetes user `emr-containers`; in aws-auth: the account's service-linked role
`AWSServiceRoleForAmazonEMRContainers` mapped to that user, with no groups, so EMR holds that
namespace's Role and nothing cluster-wide. Each object is created, or replaced under the
`resourceVersion` that was read when its rules differ (a 409 reads and compares again).
The builders are pure; `grant` does the I/O through a KubeClient.
"""

from __future__ import annotations

import random
import re
import time
from typing import TYPE_CHECKING, Any

from chalicelib.kube.client import MAX_CONFLICT_RETRIES, KubeConflictError
from chalicelib.kube.serviceaccounts import ensure_namespace
from chalicelib.model.mappings import Mapping

if TYPE_CHECKING:
    from collections.abc import Callable

    from chalicelib.kube.client import KubeClient

SERVICE_NAME = "emr-containers"
USERNAME = "emr-containers"
RBAC_NAME = "emr-containers"
SERVICE_LINKED_ROLE = "AWSServiceRoleForAmazonEMRContainers"
RBAC_API_VERSION = "rbac.authorization.k8s.io/v1"
RBAC_GROUP = "rbac.authorization.k8s.io"
# What EMR on EKS does in its namespace (eksctl's rules for it).
_EDIT = ["get", "list", "watch", "describe", "create", "edit", "delete", "annotate", "patch", "label"]
_EDIT_ALL = [
    "get",
    "list",
    "watch",
    "describe",
    "create",
    "edit",
    "delete",
    "deletecollection",
    "annotate",
    "patch",
    "label",
]
RULES: list[dict[str, list[str]]] = [
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]},
    {
        "apiGroups": [""],
        "resources": ["serviceaccounts", "services", "configmaps", "events", "pods", "pods/log"],
        "verbs": list(_EDIT_ALL),
    },
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "patch", "delete", "watch"]},
    {"apiGroups": ["apps"], "resources": ["statefulsets", "deployments"], "verbs": list(_EDIT)},
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": list(_EDIT)},
    {"apiGroups": ["extensions", "networking.k8s.io"], "resources": ["ingresses"], "verbs": list(_EDIT)},
    {
        "apiGroups": [RBAC_GROUP],
        "resources": ["roles", "rolebindings"],
        "verbs": list(_EDIT_ALL),
    },
    {
        "apiGroups": [""],
        "resources": ["persistentvolumeclaims"],
        "verbs": ["create", "list", "delete", "deletecollection"],
    },
    {
        "apiGroups": ["scheduling.volcano.sh"],
        "resources": ["podgroups"],
        "verbs": ["get", "list", "watch", "create", "delete", "update"],
    },
]
# arn:PARTITION:eks:REGION:ACCOUNT:cluster/NAME
_CLUSTER_ARN = re.compile(r"^arn:(?P<partition>aws[a-z-]*):eks:[a-z0-9-]+:(?P<account>\d{12}):cluster/.+$")


def role(namespace: str) -> dict[str, Any]:
    """The Role EMR on EKS needs in `namespace`."""
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "Role",
        "metadata": {"name": RBAC_NAME, "namespace": namespace},
        "rules": [dict(rule) for rule in RULES],
    }


def role_binding(namespace: str) -> dict[str, Any]:
    """The RoleBinding of that Role to the user the service-linked role is mapped to."""
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "RoleBinding",
        "metadata": {"name": RBAC_NAME, "namespace": namespace},
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": RBAC_NAME},
        "subjects": [{"apiGroup": RBAC_GROUP, "kind": "User", "name": USERNAME}],
    }


def service_role_arn(cluster_arn: str) -> str:
    """The service-linked role of the cluster's account, in the cluster's partition."""
    match = _CLUSTER_ARN.match(cluster_arn)
    if match is None:
        raise ValueError(f"not an EKS cluster ARN: {cluster_arn!r}")
    return f"arn:{match['partition']}:iam::{match['account']}:role/{SERVICE_LINKED_ROLE}"


def aws_auth_mapping(cluster_arn: str) -> Mapping:
    """The aws-auth mapping a service mapping stands for: the service-linked role as user `emr-containers`.

    Another mapping of the same role is no reason to refuse (eksctl adds the entry unless it is there).
    """
    return Mapping(arn=service_role_arn(cluster_arn), username=USERNAME, no_duplicate_arns=False)


def _differs(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return any(current.get(key) != wanted[key] for key in ("rules", "roleRef", "subjects") if key in wanted)


def apply(
    kube: KubeClient,
    resource: str,
    wanted: dict[str, Any],
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = MAX_CONFLICT_RETRIES,
) -> str:
    """Create `wanted` (a Role or RoleBinding), or replace it under its resourceVersion when it differs.

    Answers what was done: created, updated or unchanged. Made by someone else since it was read
    (AlreadyExists) or changed in between (Conflict): read and compare again.
    """
    namespace, name = wanted["metadata"]["namespace"], wanted["metadata"]["name"]
    for attempt in range(attempts):
        current = kube.get_rbac(resource, namespace, name)
        try:
            if current is None:
                kube.create_rbac(resource, namespace, wanted)
                return "created"
            if not _differs(current, wanted):
                return "unchanged"
            body = {**current, **{k: v for k, v in wanted.items() if k != "metadata"}}
            kube.replace_rbac(resource, namespace, name, body)
            return "updated"
        except KubeConflictError:
            sleep(min(2.0, 0.05 * 2**attempt) * random.random())
    raise KubeConflictError(f"{resource} {namespace}/{name} kept changing; gave up after {attempts} attempts")


def grant(kube: KubeClient, namespace: str, sleep: Callable[[float], None] = time.sleep) -> None:
    """The namespace, Role and RoleBinding EMR on EKS needs (aws-auth is the caller's merge)."""
    ensure_namespace(kube, namespace)
    apply(kube, "roles", role(namespace), sleep)
    apply(kube, "rolebindings", role_binding(namespace), sleep)


def resolve(kube: KubeClient, mappings: list[Mapping], cluster_arn: Callable[[], str]) -> list[Mapping]:
    """`mappings` with each service mapping granted in its namespace and replaced by its aws-auth mapping.

    `cluster_arn` is called only when there is a service mapping.
    """
    resolved = []
    arn = ""
    for mapping in mappings:
        if mapping.service_name is None:
            resolved.append(mapping)
            continue
        arn = arn or cluster_arn()
        grant(kube, str(mapping.namespace))
        resolved.append(aws_auth_mapping(arn))
    return resolved
