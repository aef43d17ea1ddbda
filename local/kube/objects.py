"""The emulator's objects: ConfigMaps under optimistic concurrency (resourceVersion), and Node lists."""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
import uuid
from typing import Any

from local.kube.status import ApiError, not_found

SERVER_MANAGED = {"uid", "resourceVersion", "creationTimestamp"}
STORED_FIELDS = ("data", "binaryData", "immutable")


def parse_configmap(body: bytes, namespace: str, name: str | None) -> dict[str, Any]:
    """Decode and check a ConfigMap request body sent to a namespace (and, for a replace, a name)."""
    try:
        obj = json.loads(body or b"null")
    except ValueError as error:
        raise ApiError(400, "BadRequest", f"body is not JSON: {error}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
        raise ApiError(400, "BadRequest", "body must be a ConfigMap object with metadata")
    if obj.get("kind", "ConfigMap") != "ConfigMap":
        raise ApiError(400, "BadRequest", f"expected kind ConfigMap, got {obj.get('kind')!r}")
    metadata = obj["metadata"]
    if not metadata.get("name"):
        raise ApiError(422, "Invalid", "ConfigMap metadata.name is required")
    if name is not None and metadata["name"] != name:
        raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
    if metadata.get("namespace", namespace) != namespace:
        raise ApiError(400, "BadRequest", "the namespace of the object does not match the namespace on the URL")
    data = obj.get("data") or {}
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ApiError(400, "BadRequest", "ConfigMap data must map strings to strings")
    return obj


def find_node(items: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The Node of that name among items, or raise 404."""
    for node in items:
        if node.get("metadata", {}).get("name") == name:
            return node
    raise not_found("nodes", name)


class ObjectStore:
    """ConfigMaps keyed by (namespace, name) with one cluster-wide revision counter, safe across threads.

    Every write bumps the revision and stamps it as the object's resourceVersion; a replace must carry the
    resourceVersion it read, as the Kubernetes API server demands, so concurrent writers cannot lose updates.
    Everything handed out is a deep copy.
    """

    def __init__(self) -> None:
        """An empty store at revision 0."""
        self.lock = threading.Lock()
        self.configmaps: dict[tuple[str, str], dict[str, Any]] = {}
        self.revision = 0

    def configmap_list(self, namespace: str) -> dict[str, Any]:
        """The ConfigMapList of a namespace, by name, at the current revision."""
        with self.lock:
            items = [copy.deepcopy(cm) for (ns, _), cm in sorted(self.configmaps.items()) if ns == namespace]
            revision = str(self.revision)
        return {"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {"resourceVersion": revision}, "items": items}

    def configmap(self, namespace: str, name: str) -> dict[str, Any]:
        """One ConfigMap, or raise 404."""
        with self.lock:
            found = self.configmaps.get((namespace, name))
            if found is not None:
                return copy.deepcopy(found)
        raise not_found("configmaps", name)

    def configmap_data(self, namespace: str, name: str) -> dict[str, Any]:
        """A ConfigMap's data (empty if it does not exist)."""
        with self.lock:
            config = self.configmaps.get((namespace, name))
            return dict(config.get("data") or {}) if config else {}

    def stored(self, obj: dict[str, Any], namespace: str, uid: str, created: str) -> dict[str, Any]:
        """The object as stored: server-managed metadata set, revision bumped (caller holds the lock)."""
        self.revision += 1
        metadata = {
            **{k: v for k, v in obj["metadata"].items() if k not in SERVER_MANAGED},
            "namespace": namespace,
            "uid": uid,
            "resourceVersion": str(self.revision),
            "creationTimestamp": created,
        }
        stored = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}
        for key in STORED_FIELDS:
            if key in obj:
                stored[key] = copy.deepcopy(obj[key])
        return stored

    def create(self, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new ConfigMap, or raise 409 AlreadyExists."""
        name = obj["metadata"]["name"]
        with self.lock:
            if (namespace, name) in self.configmaps:
                raise ApiError(
                    409, "AlreadyExists", f'configmaps "{name}" already exists', {"name": name, "kind": "configmaps"}
                )
            created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            stored = self.stored(obj, namespace, str(uuid.uuid4()), created)
            self.configmaps[(namespace, name)] = stored
            return copy.deepcopy(stored)

    def replace(self, namespace: str, name: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Replace a ConfigMap if the caller saw its current resourceVersion, else raise 409 Conflict."""
        with self.lock:
            current = self.configmaps.get((namespace, name))
            if current is None:
                raise not_found("configmaps", name)
            # Strict optimistic concurrency: a PUT without a resourceVersion is a conflict, not a blind overwrite.
            if obj["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on configmaps "{name}": the object has been modified; '
                    "please apply your changes to the latest version and try again",
                    {"name": name, "kind": "configmaps"},
                )
            meta = current["metadata"]
            stored = self.stored(obj, namespace, meta["uid"], meta["creationTimestamp"])
            self.configmaps[(namespace, name)] = stored
            return copy.deepcopy(stored)

    def node_list(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """A NodeList of items at the current revision."""
        with self.lock:
            revision = str(self.revision)
        return {"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": revision}, "items": items}
