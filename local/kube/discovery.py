"""What the emulator tells clients about itself: version, health and the resources it serves."""

from __future__ import annotations

import copy
from typing import Any

UNAUTHENTICATED_PATHS = {"/version", "/healthz", "/livez", "/readyz"}
VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-eks-local",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-12-11T00:00:00Z",
    "goVersion": "go1.23.4",
    "compiler": "gc",
    "platform": "linux/amd64",
}
API_RESOURCES = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": "v1",
    "resources": [
        {
            "name": "configmaps",
            "singularName": "configmap",
            "namespaced": True,
            "kind": "ConfigMap",
            "verbs": ["create", "get", "list", "update"],
            "shortNames": ["cm"],
        },
        {
            "name": "nodes",
            "singularName": "node",
            "namespaced": False,
            "kind": "Node",
            "verbs": ["get", "list"],
            "shortNames": ["no"],
        },
        {
            "name": "namespaces",
            "singularName": "namespace",
            "namespaced": False,
            "kind": "Namespace",
            "verbs": ["create", "get", "list", "update"],
            "shortNames": ["ns"],
        },
        {
            "name": "serviceaccounts",
            "singularName": "serviceaccount",
            "namespaced": True,
            "kind": "ServiceAccount",
            "verbs": ["create", "get", "list", "update"],
            "shortNames": ["sa"],
        },
    ],
}

# The named API groups served (`/apis/GROUP/VERSION`), each with its resources.
GROUP_RESOURCES: dict[str, list[dict[str, Any]]] = {
    "rbac.authorization.k8s.io/v1": [
        {
            "name": "roles",
            "singularName": "role",
            "namespaced": True,
            "kind": "Role",
            "verbs": ["create", "get", "list", "update"],
        },
        {
            "name": "rolebindings",
            "singularName": "rolebinding",
            "namespaced": True,
            "kind": "RoleBinding",
            "verbs": ["create", "get", "list", "update"],
        },
    ],
}


def _group(group_version: str) -> dict[str, Any]:
    """An APIGroup for one served GROUP/VERSION (each group serves one version)."""
    name, version = group_version.split("/")
    served = {"groupVersion": group_version, "version": version}
    return {"name": name, "versions": [served], "preferredVersion": served}


def unauthenticated(path: str) -> dict[str, Any]:
    """The answer to GET on one of UNAUTHENTICATED_PATHS: the version, or an ok health check."""
    return dict(VERSION) if path == "/version" else {"status": "ok"}


def discovery(path: str, host: str) -> dict[str, Any] | None:
    """The answer to GET /api, /apis, /api/v1 or a served group's /apis/GROUP[/VERSION] for a server reached at
    host; None for any other path."""
    if path == "/api":
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
        }
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(gv) for gv in GROUP_RESOURCES]}
    if path == "/api/v1":
        return copy.deepcopy(API_RESOURCES)
    group_version = path.removeprefix("/apis/")
    if path.startswith("/apis/") and group_version in GROUP_RESOURCES:
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": copy.deepcopy(GROUP_RESOURCES[group_version]),
        }
    for served in GROUP_RESOURCES:
        if path == f"/apis/{served.split('/')[0]}":
            return {"kind": "APIGroup", "apiVersion": "v1", **_group(served)}
    return None
