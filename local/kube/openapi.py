"""The OpenAPI v3 documents kubectl reads before it writes: `/openapi/v3` (the index of group-versions) and
`/openapi/v3/api/v1`, `/openapi/v3/apis/GROUP/VERSION`.

kubectl (validation on, its default) asks them whether the server validates fields itself: a PATCH operation
tagged with the kind's `x-kubernetes-group-version-kind` that takes the `fieldValidation` query parameter says
yes, and kubectl then sends `fieldValidation=Strict` instead of validating on its side. The documents describe
the operations of each kind; the object schemas are not served (kubectl falls back to its built-in types).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from typing import Any

from local.kube.objects import KINDS, NODES, Kind

PREFIX = "/openapi/v3"
_QUERY = ("dryRun", "fieldManager", "fieldValidation", "pretty")


def _parameters(names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}} for name in names]


def _operation(kind: Kind, action: str, verb: str, query: tuple[str, ...]) -> dict[str, Any]:
    return {
        "operationId": f"{verb}{kind.kind}",
        "parameters": _parameters(query),
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": kind.group, "version": kind.version, "kind": kind.kind},
    }


def _paths(kind: Kind) -> dict[str, Any]:
    """The collection and item paths of a kind with their operations."""
    base = "/api/v1" if kind.api_version == "v1" else f"/apis/{kind.api_version}"
    scope = f"{base}/namespaces/{{namespace}}" if kind.namespaced else base
    collection, item = f"{scope}/{kind.resource}", f"{scope}/{kind.resource}/{{name}}"
    if kind is NODES:
        return {
            collection: {"get": _operation(kind, "list", "list", ("labelSelector", "fieldSelector", "watch"))},
            item: {"get": _operation(kind, "get", "read", ("pretty",))},
        }
    return {
        collection: {
            "get": _operation(kind, "list", "list", ("labelSelector", "fieldSelector", "watch")),
            "post": _operation(kind, "post", "create", _QUERY),
            "delete": _operation(kind, "deletecollection", "deleteCollection", ("dryRun", "propagationPolicy")),
        },
        item: {
            "get": _operation(kind, "get", "read", ("pretty",)),
            "put": _operation(kind, "put", "replace", _QUERY),
            "patch": _operation(kind, "patch", "patch", (*_QUERY, "force")),
            "delete": _operation(kind, "delete", "delete", ("dryRun", "propagationPolicy")),
        },
    }


@functools.cache
def _documents() -> dict[str, dict[str, Any]]:
    """Each served group-version's document, by its path under /openapi/v3 (api/v1, apis/apps/v1, ...)."""
    documents: dict[str, dict[str, Any]] = {}
    for kind in sorted([*KINDS.values(), NODES], key=lambda k: k.resource):
        key = "api/v1" if kind.api_version == "v1" else f"apis/{kind.api_version}"
        document = documents.setdefault(
            key,
            {
                "openapi": "3.0.0",
                "info": {"title": "Kubernetes", "version": "v1.32.0"},
                "paths": {},
                "components": {"schemas": {}},
            },
        )
        document["paths"].update(_paths(kind))
    return documents


def _hash(document: dict[str, Any]) -> str:
    return hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest()[:128].upper()


def document(path: str, query: dict[str, str]) -> dict[str, Any] | None:
    """The OpenAPI answer for path (the index, or one group-version's document), or None for other paths."""
    documents = _documents()
    if path == PREFIX:
        return {
            "paths": {key: {"serverRelativeURL": f"{PREFIX}/{key}?hash={_hash(doc)}"} for key, doc in documents.items()}
        }
    key = path.removeprefix(PREFIX + "/")
    if path.startswith(PREFIX + "/") and key in documents:
        return copy.deepcopy(documents[key])
    return None
