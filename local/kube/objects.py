"""The emulator's objects: stored kinds (ConfigMaps, Namespaces, ServiceAccounts, Roles, RoleBindings) under optimistic
concurrency (resourceVersion), and Node lists.

A stored kind is one `Kind`: its names and the body fields kept besides metadata. Adding one is a
`Kind` in KINDS (and a line in discovery's resource list): the store, the parser and the server's
routes are the same for all of them.
"""

from __future__ import annotations

import collections
import copy
import datetime as dt
import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from local.kube import defaults
from local.kube.status import ApiError, not_found

SERVER_MANAGED = {"uid", "resourceVersion", "creationTimestamp", "generation"}
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
    # What discovery advertises: kubectl's short names and categories (`kubectl get all`).
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    # Subresources served besides the object itself: "status" (writes to the object keep its status, writes to
    # /status keep the rest) and "scale" (a Scale view of spec.replicas).
    subresources: tuple[str, ...] = ()

    @property
    def group(self) -> str:
        """The API group ("" for core)."""
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        """The API version within the group."""
        return self.api_version.rpartition("/")[2]

    def status(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """The status the server sets on a stored object (namespaces are Active from the start)."""
        return {"phase": "Active"} if self.kind == "Namespace" else None


CONFIGMAPS = Kind("configmaps", "ConfigMap", True, STORED_FIELDS, short_names=("cm",))
NAMESPACES = Kind("namespaces", "Namespace", False, ("spec",), short_names=("ns",), subresources=("status",))
SERVICEACCOUNTS = Kind(
    "serviceaccounts",
    "ServiceAccount",
    True,
    ("secrets", "imagePullSecrets", "automountServiceAccountToken"),
    deletable=True,
    short_names=("sa",),
)
RBAC_API_VERSION = "rbac.authorization.k8s.io/v1"
ROLES = Kind("roles", "Role", True, ("rules",), api_version=RBAC_API_VERSION)
ROLEBINDINGS = Kind("rolebindings", "RoleBinding", True, ("subjects", "roleRef"), api_version=RBAC_API_VERSION)
CLUSTERROLES = Kind("clusterroles", "ClusterRole", False, ("rules", "aggregationRule"), api_version=RBAC_API_VERSION)
CLUSTERROLEBINDINGS = Kind(
    "clusterrolebindings", "ClusterRoleBinding", False, ("subjects", "roleRef"), api_version=RBAC_API_VERSION
)
# The workload kinds kubectl's walkthrough uses (issue: the getting-started walkthrough).
ALL = ("all",)
PODS = Kind(
    "pods",
    "Pod",
    True,
    ("spec", "status"),
    deletable=True,
    short_names=("po",),
    categories=ALL,
    subresources=("status",),
)
SERVICES = Kind(
    "services",
    "Service",
    True,
    ("spec", "status"),
    deletable=True,
    short_names=("svc",),
    categories=ALL,
    subresources=("status",),
)
ENDPOINTS = Kind("endpoints", "Endpoints", True, ("subsets",), deletable=True, short_names=("ep",))
SECRETS = Kind("secrets", "Secret", True, ("data", "stringData", "type", "immutable"), deletable=True)
EVENTS = Kind(
    "events",
    "Event",
    True,
    (
        "involvedObject",
        "reason",
        "message",
        "type",
        "count",
        "source",
        "firstTimestamp",
        "lastTimestamp",
        "eventTime",
        "reportingComponent",
        "reportingInstance",
        "action",
        "related",
        "series",
    ),
    deletable=True,
    short_names=("ev",),
)
APPS_API_VERSION = "apps/v1"
DEPLOYMENTS = Kind(
    "deployments",
    "Deployment",
    True,
    ("spec", "status"),
    deletable=True,
    api_version=APPS_API_VERSION,
    short_names=("deploy",),
    categories=ALL,
    subresources=("status", "scale"),
)
REPLICASETS = Kind(
    "replicasets",
    "ReplicaSet",
    True,
    ("spec", "status"),
    deletable=True,
    api_version=APPS_API_VERSION,
    short_names=("rs",),
    categories=ALL,
    subresources=("status", "scale"),
)
# Nodes are not stored here: the emulator's nodes() callback reports them. This describes them to discovery.
NODES = Kind("nodes", "Node", False, ("spec", "status"), short_names=("no",), subresources=("status",))
KINDS = {
    k.resource: k
    for k in (
        CONFIGMAPS,
        NAMESPACES,
        SERVICEACCOUNTS,
        ROLES,
        ROLEBINDINGS,
        CLUSTERROLES,
        CLUSTERROLEBINDINGS,
        PODS,
        SERVICES,
        ENDPOINTS,
        SECRETS,
        EVENTS,
        DEPLOYMENTS,
        REPLICASETS,
    )
}
# The namespaces every EKS cluster has from the start.
INITIAL_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
# A cluster-scoped object's "namespace" in the store's keys.
CLUSTER_SCOPE = ""
# Namespaces the API server refuses to delete.
UNDELETABLE_NAMESPACES = ("default", "kube-public", "kube-system")
# How many recent changes the store remembers for watchers.
CHANGE_LOG = 4096


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
    if not metadata.get("name") and not (name is None and metadata.get("generateName")):
        raise ApiError(
            422,
            "Invalid",
            f'{kind.kind} "" is invalid: metadata.name: Required value: name or generateName is required',
            {
                "kind": kind.kind,
                "causes": [
                    {
                        "reason": "FieldValueRequired",
                        "message": "Required value: name or generateName is required",
                        "field": "metadata.name",
                    }
                ],
            },
        )
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

    def __init__(self, service_cidr: str | None = None) -> None:
        """A store at revision 0 holding the initial namespaces; Services take addresses in `service_cidr` (the
        cluster's kubernetesNetworkConfig.serviceIpv4Cidr; EKS's 10.100.0.0/16 when not given)."""
        self.lock = threading.Lock()
        # Notified (under the lock) on every write: see wait_for_change.
        self.changed = threading.Condition(self.lock)
        # Recent changes for watchers: (revision, event type, resource, object as stored or as deleted).
        self.changes: collections.deque[tuple[int, str, str, dict[str, Any]]] = collections.deque(maxlen=CHANGE_LOG)
        self.service_cidr = service_cidr or defaults.SERVICE_CIDR
        self.objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {k: {} for k in KINDS}
        self.configmaps = self.objects[CONFIGMAPS.resource]
        self.revision = 0
        created = _now()
        with self.lock:
            for name in INITIAL_NAMESPACES:
                obj = {"metadata": {"name": name}, "spec": {"finalizers": ["kubernetes"]}}
                stored = self._stored(NAMESPACES, obj, CLUSTER_SCOPE, str(uuid.uuid4()), created)
                stored["metadata"]["resourceVersion"] = "0"
                self.objects[NAMESPACES.resource][(CLUSTER_SCOPE, name)] = stored
            # The API server's own Service, at the first address of the Service CIDR, as in every EKS cluster.
            kubernetes = {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {
                    "clusterIP": self._first_service_ip(),
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443}],
                },
            }
            defaults.apply_defaults(kubernetes)
            stored = self._stored(SERVICES, kubernetes, "default", str(uuid.uuid4()), created)
            stored["metadata"]["resourceVersion"] = "0"
            self.objects[SERVICES.resource][("default", "kubernetes")] = stored
        from local.kube.bootstrap_policy import seed  # built-in ClusterRoles and bindings, at revision 0 too

        seed(self, created)
        self.revision = 0

    def _first_service_ip(self) -> str:
        import ipaddress

        return str(ipaddress.ip_network(self.service_cidr).network_address + 1)

    def wait_for_change(self, since_revision: int, timeout: float) -> int:
        """Block until the store's revision is past since_revision (or timeout seconds pass); return the revision.

        For controllers: read `revision`, look at the objects, then wait_for_change(that revision, ...) and look again.
        """
        deadline = time.monotonic() + timeout
        with self.changed:
            while self.revision <= since_revision:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.changed.wait(left)
            return self.revision

    def changes_and_revision(self, revision: int) -> tuple[list[tuple[int, str, str, dict[str, Any]]], int] | None:
        """The changes after a revision (oldest first) and the store's revision they bring a reader up to; None if
        some of them are no longer remembered. A write that bumped the revision without recording a change still
        moves the reader on, so a watcher never waits on a revision no change will ever carry."""
        with self.lock:
            if revision < self.revision and (not self.changes or self.changes[0][0] > revision + 1):
                return None
            return [copy.deepcopy(change) for change in self.changes if change[0] > revision], self.revision

    def _record(self, event: str, kind: Kind, obj: dict[str, Any]) -> None:
        """Remember a change for watchers and wake waiters (caller holds the lock)."""
        self.changes.append((self.revision, event, kind.resource, copy.deepcopy(obj)))
        self.changed.notify_all()

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
        self.changed.notify_all()
        return stored

    def _need_namespace(self, kind: Kind, namespace: str) -> None:
        """A namespaced object's namespace must exist (caller holds the lock), else 404 as the API server says."""
        if kind.namespaced and (CLUSTER_SCOPE, namespace) not in self.objects[NAMESPACES.resource]:
            raise not_found("namespaces", namespace)

    def create(self, namespace: str, obj: dict[str, Any], kind: Kind = CONFIGMAPS) -> dict[str, Any]:
        """Store a new object (a ConfigMap unless `kind` says), or raise 409 AlreadyExists or 404 (no namespace).

        Server-side defaults are filled in, a generateName becomes a name and a Service gets its cluster IP.
        """
        obj = {**copy.deepcopy(obj), "apiVersion": kind.api_version, "kind": kind.kind}
        defaults.apply_defaults(obj)
        namespace = namespace if kind.namespaced else CLUSTER_SCOPE
        with self.lock:
            self._need_namespace(kind, namespace)
            objects = self.objects[kind.resource]
            if not obj["metadata"].get("name") and obj["metadata"].get("generateName"):
                while (namespace, name := defaults.generated_name(obj["metadata"]["generateName"])) in objects:
                    pass
                obj["metadata"]["name"] = name
            name = obj["metadata"]["name"]
            if kind is SERVICES:
                self._allocate(obj)
            if (namespace, name) in objects:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{kind.resource} "{name}" already exists',
                    {"name": name, "kind": kind.resource},
                )
            stored = self._stored(kind, obj, namespace, str(uuid.uuid4()), _now())
            if "spec" in kind.fields:
                stored["metadata"]["generation"] = 1
            objects[(namespace, name)] = stored
            self._record("ADDED", kind, stored)
            return copy.deepcopy(stored)

    def _allocate(self, obj: dict[str, Any]) -> None:
        """Give a new Service its cluster IP and node ports, or raise 422 (caller holds the lock)."""
        used_ips = {
            ip for svc in self.objects[SERVICES.resource].values() for ip in svc["spec"].get("clusterIPs") or []
        }
        used_ports = {
            int(port["nodePort"])
            for svc in self.objects[SERVICES.resource].values()
            for port in svc["spec"].get("ports") or []
            if port.get("nodePort")
        }
        try:
            defaults.allocate_service_ips(obj.setdefault("spec", {}), used_ips, used_ports, self.service_cidr)
        except ValueError as error:
            field, message = error.args
            name = obj["metadata"].get("name", "")
            raise ApiError(
                422,
                "Invalid",
                f'Service "{name}" is invalid: {field}: {message}',
                {
                    "name": name,
                    "kind": "Service",
                    "causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}],
                },
            ) from None

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
            obj = {**copy.deepcopy(obj), "apiVersion": kind.api_version, "kind": kind.kind}
            defaults.apply_defaults(obj)
            if kind is SERVICES:
                # The cluster IP and node ports are immutable once allocated; a replace that omits them keeps them.
                spec, before = obj.setdefault("spec", {}), current.get("spec") or {}
                for key in ("clusterIP", "clusterIPs", "ipFamilies"):
                    if key in before and not spec.get(key):
                        spec[key] = before[key]
                self._allocate_node_ports(obj, before)
            stored = self._stored(kind, obj, namespace, meta["uid"], meta["creationTimestamp"])
            if "spec" in kind.fields:
                generation = int(meta.get("generation") or 1)
                stored["metadata"]["generation"] = generation + (stored.get("spec") != current.get("spec"))
            objects[(namespace, name)] = stored
            self._record("MODIFIED", kind, stored)
            return copy.deepcopy(stored)

    def _allocate_node_ports(self, obj: dict[str, Any], before: dict[str, Any]) -> None:
        """Keep a replaced Service's node ports, and give new NodePort/LoadBalancer ports theirs (lock held)."""
        if obj["spec"].get("type") not in {"NodePort", "LoadBalancer"}:
            return
        previous = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort") for p in before.get("ports") or []}
        used_ports = {
            int(port["nodePort"])
            for svc in self.objects[SERVICES.resource].values()
            for port in svc["spec"].get("ports") or []
            if port.get("nodePort")
        }
        for port in obj["spec"].get("ports") or []:
            if not port.get("nodePort") and previous.get((port.get("port"), port.get("protocol", "TCP"))):
                port["nodePort"] = previous[(port.get("port"), port.get("protocol", "TCP"))]
        defaults.allocate_service_ips(obj["spec"], set(), used_ports - set(previous.values()), self.service_cidr)

    def delete(self, kind: Kind, namespace: str, name: str, propagation: str = "Background") -> dict[str, Any]:
        """Remove one object of `kind` and answer it as the API server does (the object), or raise 404.

        Unless propagation is "Orphan", what it owns (ownerReferences) goes with it, as the garbage collector
        does; a namespace takes everything in it along.
        """
        with self.lock:
            key = (namespace if kind.namespaced else CLUSTER_SCOPE, name)
            found = self.objects[kind.resource].get(key)
            if found is None:
                raise not_found(kind.resource, name)
            self._remove(kind, key)
            if kind is NAMESPACES:
                for other in KINDS.values():
                    for inside in [k for k in self.objects[other.resource] if other.namespaced and k[0] == name]:
                        self._remove(other, inside)
            elif propagation != "Orphan":
                self._collect({found["metadata"]["uid"]})
            return copy.deepcopy(found)

    def _remove(self, kind: Kind, key: tuple[str, str]) -> None:
        """Drop one stored object and record its deletion (caller holds the lock)."""
        found = self.objects[kind.resource].pop(key)
        self.revision += 1
        found = copy.deepcopy(found)
        found["metadata"]["resourceVersion"] = str(self.revision)
        self._record("DELETED", kind, found)

    def _collect(self, owners: set[str]) -> None:
        """Delete the objects owned by any of these uids, and what those own in turn (caller holds the lock)."""
        while owners:
            owned: set[str] = set()
            for kind in KINDS.values():
                for key, obj in list(self.objects[kind.resource].items()):
                    refs = obj["metadata"].get("ownerReferences") or []
                    if any(ref.get("uid") in owners for ref in refs):
                        self._remove(kind, key)
                        owned.add(obj["metadata"]["uid"])
            owners = owned

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
