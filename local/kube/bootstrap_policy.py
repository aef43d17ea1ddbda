"""The RBAC objects every cluster starts with, close to Kubernetes' bootstrap policy for the kinds the emulator serves.

ClusterRoles `cluster-admin`, `admin`, `edit`, `view` (the user-facing roles, their aggregated rules flattened),
`system:discovery`, `system:basic-user` and `system:public-info-viewer`; ClusterRoleBindings `cluster-admin`
(to the group `system:masters`) and the three `system:` ones (to `system:authenticated`). They are ordinary
objects in the store at revision 0, like the initial namespaces: listed, read and replaced like any other.
"""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

from local.kube.objects import CLUSTER_SCOPE, CLUSTERROLEBINDINGS, CLUSTERROLES, RBAC_API_VERSION

if TYPE_CHECKING:
    from local.kube.objects import ObjectStore

RBAC_GROUP = "rbac.authorization.k8s.io"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
MASTERS = "system:masters"

READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
ALL = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


# What `view` may read: workloads and their configuration, never secrets (nor anything that reaches into pods).
VIEW_RULES = [
    _rule(
        [""],
        [
            "configmaps",
            "endpoints",
            "persistentvolumeclaims",
            "persistentvolumeclaims/status",
            "pods",
            "replicationcontrollers",
            "replicationcontrollers/scale",
            "serviceaccounts",
            "services",
            "services/status",
        ],
        READ,
    ),
    _rule(
        [""],
        [
            "bindings",
            "events",
            "limitranges",
            "namespaces/status",
            "pods/log",
            "pods/status",
            "replicationcontrollers/status",
            "resourcequotas",
            "resourcequotas/status",
        ],
        READ,
    ),
    _rule([""], ["namespaces"], READ),
    _rule(["discovery.k8s.io"], ["endpointslices"], READ),
    _rule(
        ["apps"],
        [
            "controllerrevisions",
            "daemonsets",
            "daemonsets/status",
            "deployments",
            "deployments/scale",
            "deployments/status",
            "replicasets",
            "replicasets/scale",
            "replicasets/status",
            "statefulsets",
            "statefulsets/scale",
            "statefulsets/status",
        ],
        READ,
    ),
    _rule(["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"], READ),
    _rule(["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"], READ),
    _rule(["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"], READ),
    _rule(["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"], READ),
]

# What `edit` adds: reading secrets and writing the namespace's workloads (not its roles or bindings).
EDIT_RULES = [
    _rule([""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"], READ),
    _rule([""], ["serviceaccounts"], ["impersonate"]),
    _rule([""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"], WRITE),
    _rule([""], ["pods/eviction"], ["create"]),
    _rule(
        [""],
        [
            "configmaps",
            "events",
            "persistentvolumeclaims",
            "replicationcontrollers",
            "replicationcontrollers/scale",
            "secrets",
            "serviceaccounts",
            "services",
            "services/proxy",
        ],
        WRITE,
    ),
    _rule([""], ["serviceaccounts/token"], ["create"]),
    _rule(
        ["apps"],
        [
            "daemonsets",
            "deployments",
            "deployments/rollback",
            "deployments/scale",
            "replicasets",
            "replicasets/scale",
            "statefulsets",
            "statefulsets/scale",
        ],
        WRITE,
    ),
    _rule(["autoscaling"], ["horizontalpodautoscalers"], WRITE),
    _rule(["batch"], ["cronjobs", "jobs"], WRITE),
    _rule(["policy"], ["poddisruptionbudgets"], WRITE),
    _rule(["networking.k8s.io"], ["ingresses", "networkpolicies"], WRITE),
    *VIEW_RULES,
]

# What `admin` adds: the namespace's own access control.
ADMIN_RULES = [
    _rule(["authorization.k8s.io"], ["localsubjectaccessreviews"], ["create"]),
    _rule([RBAC_GROUP], ["rolebindings", "roles"], ALL),
    *EDIT_RULES,
]

CLUSTER_ADMIN_RULES = [
    _rule(["*"], ["*"], ["*"]),
    {"nonResourceURLs": ["*"], "verbs": ["*"]},
]

DISCOVERY_RULES = [
    {
        "nonResourceURLs": [
            "/api",
            "/api/*",
            "/apis",
            "/apis/*",
            "/healthz",
            "/livez",
            "/openapi",
            "/openapi/*",
            "/readyz",
            "/version",
            "/version/",
        ],
        "verbs": ["get"],
    }
]
BASIC_USER_RULES = [
    _rule(["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], ["create"]),
    _rule(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"]),
]
PUBLIC_INFO_RULES = [{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}]

CLUSTER_ROLES: dict[str, list[dict[str, Any]]] = {
    "cluster-admin": CLUSTER_ADMIN_RULES,
    "admin": ADMIN_RULES,
    "edit": EDIT_RULES,
    "view": VIEW_RULES,
    "system:discovery": DISCOVERY_RULES,
    "system:basic-user": BASIC_USER_RULES,
    "system:public-info-viewer": PUBLIC_INFO_RULES,
}
# EKS access policies (associated with access entries; EKS authorizes them itself, before RBAC, with no
# Kubernetes object to show for it) and the permissions they stand for.
ACCESS_POLICIES: dict[str, list[dict[str, Any]]] = {
    "AmazonEKSClusterAdminPolicy": CLUSTER_ADMIN_RULES,
    "AmazonEKSAdminPolicy": ADMIN_RULES,
    "AmazonEKSEditPolicy": EDIT_RULES,
    "AmazonEKSViewPolicy": VIEW_RULES,
    "AmazonEKSAdminViewPolicy": [_rule(["*"], ["*"], READ)],
}
# Binding name → (ClusterRole, subject groups).
CLUSTER_ROLE_BINDINGS: dict[str, tuple[str, list[str]]] = {
    "cluster-admin": ("cluster-admin", [MASTERS]),
    "system:discovery": ("system:discovery", [AUTHENTICATED]),
    "system:basic-user": ("system:basic-user", [AUTHENTICATED]),
    "system:public-info-viewer": ("system:public-info-viewer", [AUTHENTICATED, UNAUTHENTICATED]),
}


def _metadata(name: str, created: str) -> dict[str, Any]:
    return {
        "name": name,
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        "uid": str(uuid.uuid4()),
        "resourceVersion": "0",
        "creationTimestamp": created,
    }


def cluster_roles(created: str) -> list[dict[str, Any]]:
    """The bootstrap ClusterRoles as stored objects."""
    return [
        {"apiVersion": RBAC_API_VERSION, "kind": "ClusterRole", "metadata": _metadata(name, created), "rules": rules}
        for name, rules in CLUSTER_ROLES.items()
    ]


def cluster_role_bindings(created: str) -> list[dict[str, Any]]:
    """The bootstrap ClusterRoleBindings as stored objects."""
    return [
        {
            "apiVersion": RBAC_API_VERSION,
            "kind": "ClusterRoleBinding",
            "metadata": _metadata(name, created),
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": group} for group in groups],
        }
        for name, (role, groups) in CLUSTER_ROLE_BINDINGS.items()
    ]


def seed(store: ObjectStore, created: str) -> None:
    """Put the bootstrap policy into a new store (its constructor calls this; no revision is spent)."""
    for kind, objects in (
        (CLUSTERROLES, cluster_roles(created)),
        (CLUSTERROLEBINDINGS, cluster_role_bindings(created)),
    ):
        for obj in objects:
            store.objects[kind.resource][(CLUSTER_SCOPE, obj["metadata"]["name"])] = copy.deepcopy(obj)
