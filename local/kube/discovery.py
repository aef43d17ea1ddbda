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


def unauthenticated(path: str) -> dict[str, Any]:
    """The answer to GET on one of UNAUTHENTICATED_PATHS: the version, or an ok health check."""
    return dict(VERSION) if path == "/version" else {"status": "ok"}


def discovery(path: str, host: str) -> dict[str, Any] | None:
    """The answer to GET /api, /apis or /api/v1 for a server reached at host; None for any other path."""
    if path == "/api":
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
        }
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
    if path == "/api/v1":
        return copy.deepcopy(API_RESOURCES)
    return None
