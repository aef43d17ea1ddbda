"""What the emulator tells clients about itself: version, health and the resources it serves."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from local.kube.objects import KINDS, NODES

if TYPE_CHECKING:
    from collections.abc import Iterable

    from local.kube.objects import Kind

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
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
# Subresources as discovery lists them: (kind, group, version, verbs).
SUBRESOURCES = {
    "status": ("", "", ["get", "patch", "update"]),
    "scale": ("autoscaling", "v1", ["get", "patch", "update"]),
}


def _resources(kinds: Iterable[Kind]) -> list[dict[str, Any]]:
    """The APIResource entries of some kinds, each followed by its subresources."""
    answer: list[dict[str, Any]] = []
    for kind in kinds:
        entry: dict[str, Any] = {
            "name": kind.resource,
            "singularName": kind.kind.lower(),
            "namespaced": kind.namespaced,
            "kind": kind.kind,
            "verbs": ["get", "list", "watch"] if kind is NODES else list(VERBS),
        }
        if kind.short_names:
            entry["shortNames"] = list(kind.short_names)
        if kind.categories:
            entry["categories"] = list(kind.categories)
        answer.append(entry)
        for sub in kind.subresources:
            group, version, verbs = SUBRESOURCES[sub]
            answer.append(
                {
                    "name": f"{kind.resource}/{sub}",
                    "singularName": "",
                    "namespaced": kind.namespaced,
                    "kind": "Scale" if sub == "scale" else kind.kind,
                    "verbs": verbs,
                    **({"group": group, "version": version} if group else {}),
                }
            )
    return answer


def _served() -> dict[str, list[Kind]]:
    """The kinds served by GROUP/VERSION ("v1" for the core group), nodes included."""
    served: dict[str, list[Kind]] = {}
    for kind in sorted([*KINDS.values(), NODES], key=lambda k: k.resource):
        served.setdefault(kind.api_version, []).append(kind)
    return served


API_RESOURCES = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": "v1",
    "resources": _resources(_served()["v1"]),
}

# The named API groups served (`/apis/GROUP/VERSION`), each with its resources.
GROUP_RESOURCES: dict[str, list[dict[str, Any]]] = {
    gv: _resources(kinds) for gv, kinds in sorted(_served().items()) if gv != "v1"
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
