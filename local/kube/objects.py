"""The emulator's objects: stored kinds (ConfigMaps, Namespaces, ServiceAccounts, Roles, RoleBindings) under optimistic
concurrency (resourceVersion), and Node lists.

A stored kind is one `Kind`: its names and the body fields kept besides metadata. Adding one is a
`Kind` in KINDS (and a line in discovery's resource list): the store, the parser and the server's
routes are the same for all of them.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from local.kube.status import ApiError, not_found

SERVER_MANAGED = {"uid", "resourceVersion", "creationTimestamp"}
STORED_FIELDS = ("data", "binaryData", "immutable")


@dataclass(frozen=True)
class Kind:
    """A kind of object the emulator stores: its resource (plural) name, kind, scope and kept fields."""

    resource: str
    kind: str
    namespaced: bool
    fields: tuple[str, ...]
    # Whether DELETE is served (a namespace is not: deleting one would have to delete what is in it).
    deletable: bool = False
    # The API group and version it is served under: core (`/api/v1`) or a named group (`/apis/GROUP/VERSION`).
    api_version: str = "v1"

    def status(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """The status the server sets on a stored object (namespaces are Active from the start)."""
        return {"phase": "Active"} if self.kind == "Namespace" else None


CONFIGMAPS = Kind("configmaps", "ConfigMap", True, STORED_FIELDS)
NAMESPACES = Kind("namespaces", "Namespace", False, ("spec",))
SERVICEACCOUNTS = Kind(
    "serviceaccounts",
    "ServiceAccount",
    True,
    ("secrets", "imagePullSecrets", "automountServiceAccountToken"),
    deletable=True,
)
RBAC_API_VERSION = "rbac.authorization.k8s.io/v1"
ROLES = Kind("roles", "Role", True, ("rules",), api_version=RBAC_API_VERSION)
ROLEBINDINGS = Kind("rolebindings", "RoleBinding", True, ("subjects", "roleRef"), api_version=RBAC_API_VERSION)
KINDS = {k.resource: k for k in (CONFIGMAPS, NAMESPACES, SERVICEACCOUNTS, ROLES, ROLEBINDINGS)}
# The namespaces every EKS cluster has from the start.
INITIAL_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
# A cluster-scoped object's "namespace" in the store's keys.
CLUSTER_SCOPE = ""


def parse_object(body: bytes, kind: Kind, namespace: str, name: str | None) -> dict[str, Any]:
    """Decode and check a request body for `kind` sent to a namespace (and, for a replace, a name)."""
    try:
        obj = json.loads(body or b"null")
    except ValueError as error:
        raise ApiError(400, "BadRequest", f"body is not JSON: {error}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
        raise ApiError(400, "BadRequest", f"body must be a {kind.kind} object with metadata")
    if obj.get("kind", kind.kind) != kind.kind:
        raise ApiError(400, "BadRequest", f"expected kind {kind.kind}, got {obj.get('kind')!r}")
    metadata = obj["metadata"]
    if not metadata.get("name"):
        raise ApiError(422, "Invalid", f"{kind.kind} metadata.name is required")
    if name is not None and metadata["name"] != name:
        raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
    if kind.namespaced and metadata.get("namespace", namespace) != namespace:
        raise ApiError(400, "BadRequest", "the namespace of the object does not match the namespace on the URL")
    for key in ("labels", "annotations"):
        values = metadata.get(key) or {}
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise ApiError(400, "BadRequest", f"metadata.{key} must map strings to strings")
    return obj


def parse_configmap(body: bytes, namespace: str, name: str | None) -> dict[str, Any]:
    """Decode and check a ConfigMap request body sent to a namespace (and, for a replace, a name)."""
    obj = parse_object(body, CONFIGMAPS, namespace, name)
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
    """Objects of each kind keyed by (namespace, name) with one cluster-wide revision counter, safe across threads.

    Every write bumps the revision and stamps it as the object's resourceVersion; a replace must carry the
    resourceVersion it read, as the Kubernetes API server demands, so concurrent writers cannot lose updates.
    A namespaced object needs its namespace. Everything handed out is a deep copy. The cluster's own
    namespaces are there from the start, at revision 0 (writes are counted from 1).
    """

    def __init__(self) -> None:
        """A store at revision 0 holding the initial namespaces."""
        self.lock = threading.Lock()
        self.objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {k: {} for k in KINDS}
        self.configmaps = self.objects[CONFIGMAPS.resource]
        self.revision = 0
        created = _now()
        for name in INITIAL_NAMESPACES:
            obj = {"metadata": {"name": name}, "spec": {"finalizers": ["kubernetes"]}}
            stored = self._stored(NAMESPACES, obj, CLUSTER_SCOPE, str(uuid.uuid4()), created)
            stored["metadata"]["resourceVersion"] = "0"
            self.objects[NAMESPACES.resource][(CLUSTER_SCOPE, name)] = stored
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
        """The ConfigMap as stored: server-managed metadata set, revision bumped (caller holds the lock)."""
        return self._stored(CONFIGMAPS, obj, namespace, uid, created)

    def _stored(self, kind: Kind, obj: dict[str, Any], namespace: str, uid: str, created: str) -> dict[str, Any]:
        """An object of `kind` as stored: server-managed metadata set, revision bumped (caller holds the lock)."""
        self.revision += 1
        metadata = {
            **{k: v for k, v in obj["metadata"].items() if k not in SERVER_MANAGED | {"namespace"}},
            **({"namespace": namespace} if kind.namespaced else {}),
            "uid": uid,
            "resourceVersion": str(self.revision),
            "creationTimestamp": created,
        }
        stored = {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": metadata}
        for key in kind.fields:
            if key in obj:
                stored[key] = copy.deepcopy(obj[key])
        status = kind.status(obj)
        if status is not None:
            stored["status"] = status
        return stored

    def _need_namespace(self, kind: Kind, namespace: str) -> None:
        """A namespaced object's namespace must exist (caller holds the lock), else 404 as the API server says."""
        if kind.namespaced and (CLUSTER_SCOPE, namespace) not in self.objects[NAMESPACES.resource]:
            raise not_found("namespaces", namespace)

    def create(self, namespace: str, obj: dict[str, Any], kind: Kind = CONFIGMAPS) -> dict[str, Any]:
        """Store a new object (a ConfigMap unless `kind` says), or raise 409 AlreadyExists or 404 (no namespace)."""
        name = obj["metadata"]["name"]
        namespace = namespace if kind.namespaced else CLUSTER_SCOPE
        with self.lock:
            self._need_namespace(kind, namespace)
            objects = self.objects[kind.resource]
            if (namespace, name) in objects:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{kind.resource} "{name}" already exists',
                    {"name": name, "kind": kind.resource},
                )
            stored = self._stored(kind, obj, namespace, str(uuid.uuid4()), _now())
            objects[(namespace, name)] = stored
            return copy.deepcopy(stored)

    def replace(self, namespace: str, name: str, obj: dict[str, Any], kind: Kind = CONFIGMAPS) -> dict[str, Any]:
        """Replace an object if the caller saw its current resourceVersion, else raise 409 Conflict."""
        namespace = namespace if kind.namespaced else CLUSTER_SCOPE
        with self.lock:
            objects = self.objects[kind.resource]
            current = objects.get((namespace, name))
            if current is None:
                raise not_found(kind.resource, name)
            # Strict optimistic concurrency: a PUT without a resourceVersion is a conflict, not a blind overwrite.
            if obj["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {kind.resource} "{name}": the object has been modified; '
                    "please apply your changes to the latest version and try again",
                    {"name": name, "kind": kind.resource},
                )
            meta = current["metadata"]
            stored = self._stored(kind, obj, namespace, meta["uid"], meta["creationTimestamp"])
            objects[(namespace, name)] = stored
            return copy.deepcopy(stored)

    def delete(self, kind: Kind, namespace: str, name: str) -> dict[str, Any]:
        """Remove one object of `kind` and answer it as the API server does (the object), or raise 404."""
        with self.lock:
            found = self.objects[kind.resource].pop((namespace if kind.namespaced else CLUSTER_SCOPE, name), None)
            if found is not None:
                self.revision += 1
                return copy.deepcopy(found)
        raise not_found(kind.resource, name)

    def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any]:
        """One object of `kind`, or raise 404."""
        with self.lock:
            found = self.objects[kind.resource].get((namespace if kind.namespaced else CLUSTER_SCOPE, name))
            if found is not None:
                return copy.deepcopy(found)
        raise not_found(kind.resource, name)

    def list_of(self, kind: Kind, namespace: str | None) -> dict[str, Any]:
        """The objects of `kind` (in one namespace, or all), by namespace and name, at the current revision."""
        with self.lock:
            items = [
                copy.deepcopy(obj)
                for (ns, _), obj in sorted(self.objects[kind.resource].items())
                if namespace is None or not kind.namespaced or ns == namespace
            ]
            revision = str(self.revision)
        return {
            "kind": f"{kind.kind}List",
            "apiVersion": kind.api_version,
            "metadata": {"resourceVersion": revision},
            "items": items,
        }

    def node_list(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """A NodeList of items at the current revision."""
        with self.lock:
            revision = str(self.revision)
        return {"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": revision}, "items": items}


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
