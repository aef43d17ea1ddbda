"""Server-side printing: the `meta.k8s.io/v1` Table kubectl asks for (`Accept: application/json;as=Table;...`).

Each kind has the columns `kubectl get` shows for it; columns of priority 1 are the extra ones `-o wide` shows.
Cells are computed as the API server's printers compute them (AGE as a short human duration, `<none>` for empty).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

NONE = "<none>"

Cell = str | int | None
Column = tuple[str, str, int, Callable[[dict[str, Any], dt.datetime], Cell]]  # name, type, priority, value


def table_version(accept: str) -> str | None:
    """The Table apiVersion an Accept header asks for first (meta.k8s.io/v1 or v1beta1), or None for a plain answer."""
    for option in accept.split(","):
        params = {p.split("=", 1)[0].strip(): p.split("=", 1)[1].strip() for p in option.split(";")[1:] if "=" in p}
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io" and params.get("v") in {"v1", "v1beta1"}:
            return f"meta.k8s.io/{params['v']}"
        if option.strip() and params.get("as") is None:
            return None
    return None


def human_duration(seconds: float) -> str:
    """A duration as Kubernetes prints ages: 45s, 5m30s, 3h, 2d5h, 40d, 2y30d."""
    seconds = max(int(seconds), 0)
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = hours // 24
        return f"{days // 365}y{days % 365}d" if days % 365 else f"{days // 365}y"
    return f"{hours // 24 // 365}y"


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _age(obj: dict[str, Any], now: dt.datetime) -> str:
    created = _parse_time(obj.get("metadata", {}).get("creationTimestamp"))
    return "<unknown>" if created is None else human_duration((now - created).total_seconds())


def _name(obj: dict[str, Any], _: dt.datetime) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


def _or_none(values: list[str]) -> str:
    return ",".join(values) if values else NONE


def _selector(selector: dict[str, Any] | None) -> str:
    """A map selector (Service) or a LabelSelector (Deployment) as kubectl prints it."""
    if not selector:
        return NONE
    if "matchLabels" in selector or "matchExpressions" in selector:
        parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
        for e in selector.get("matchExpressions") or []:
            op = e.get("operator", "")
            if op in {"In", "NotIn"}:
                parts.append(f"{e.get('key')} {op.lower()} ({','.join(e.get('values') or [])})")
            else:
                parts.append(("!" if op == "DoesNotExist" else "") + str(e.get("key")))
        return _or_none(parts)
    return _or_none([f"{k}={v}" for k, v in sorted(selector.items())])


# --- pods ---


def pod_status(pod: dict[str, Any]) -> str:
    """The STATUS column of a pod: its phase, or the reason its containers are not running."""
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Pending"
    for container in reversed(status.get("containerStatuses") or []):
        state = container.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
    if pod.get("metadata", {}).get("deletionTimestamp"):
        reason = "Terminating"
    return str(reason)


def _pod_ready(pod: dict[str, Any], _: dt.datetime) -> str:
    containers = (pod.get("spec") or {}).get("containers") or []
    ready = sum(1 for c in (pod.get("status") or {}).get("containerStatuses") or [] if c.get("ready"))
    return f"{ready}/{len(containers)}"


def _pod_restarts(pod: dict[str, Any], _: dt.datetime) -> int:
    return sum(int(c.get("restartCount") or 0) for c in (pod.get("status") or {}).get("containerStatuses") or [])


def _pod_gates(pod: dict[str, Any], _: dt.datetime) -> str:
    gates = (pod.get("spec") or {}).get("readinessGates") or []
    if not gates:
        return NONE
    conditions = {c.get("type"): c.get("status") for c in (pod.get("status") or {}).get("conditions") or []}
    ready = sum(1 for g in gates if conditions.get(g.get("conditionType")) == "True")
    return f"{ready}/{len(gates)}"


# --- services ---


def _external_ip(svc: dict[str, Any], _: dt.datetime) -> str:
    spec = svc.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    external = list(spec.get("externalIPs") or [])
    if kind == "ExternalName":
        return str(spec.get("externalName", NONE))
    if kind == "LoadBalancer":
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        found = [i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")]
        return ",".join([*found, *external]) if found or external else "<pending>"
    return _or_none(external)


def _ports(svc: dict[str, Any], _: dt.datetime) -> str:
    parts = []
    for port in (svc.get("spec") or {}).get("ports") or []:
        node = f":{port['nodePort']}" if port.get("nodePort") else ""
        parts.append(f"{port.get('port')}{node}/{port.get('protocol', 'TCP')}")
    return _or_none(parts)


# --- nodes ---


def _node_status(node: dict[str, Any], _: dt.datetime) -> str:
    conditions = {c.get("type"): c.get("status") for c in (node.get("status") or {}).get("conditions") or []}
    status = {"True": "Ready", "False": "NotReady"}.get(conditions.get("Ready") or "", "Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    return status


def _node_roles(node: dict[str, Any], _: dt.datetime) -> str:
    labels = node.get("metadata", {}).get("labels") or {}
    roles = sorted(
        {k.removeprefix("node-role.kubernetes.io/") for k in labels if k.startswith("node-role.kubernetes.io/")}
        | {v for k, v in labels.items() if k == "kubernetes.io/role"}
    )
    return _or_none([r for r in roles if r])


def _node_address(kind: str) -> Callable[[dict[str, Any], dt.datetime], str]:
    def value(node: dict[str, Any], _: dt.datetime) -> str:
        addresses = (node.get("status") or {}).get("addresses") or []
        return _or_none([a["address"] for a in addresses if a.get("type") == kind and a.get("address")][:1])

    return value


def _node_info(field: str) -> Callable[[dict[str, Any], dt.datetime], str]:
    def value(node: dict[str, Any], _: dt.datetime) -> str:
        return str(((node.get("status") or {}).get("nodeInfo") or {}).get(field) or "<unknown>")

    return value


# --- workloads ---


def _field(*path: str, default: Cell = NONE) -> Callable[[dict[str, Any], dt.datetime], Cell]:
    def value(obj: dict[str, Any], _: dt.datetime) -> Cell:
        current: Any = obj
        for part in path:
            current = current.get(part) if isinstance(current, dict) else None
        return default if current is None or current == "" else current

    return value


def _containers(attribute: str) -> Callable[[dict[str, Any], dt.datetime], str]:
    def value(obj: dict[str, Any], _: dt.datetime) -> str:
        pod_spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        return _or_none([str(c.get(attribute, "")) for c in pod_spec.get("containers") or []])

    return value


def _deployment_ready(obj: dict[str, Any], _: dt.datetime) -> str:
    status = obj.get("status") or {}
    return f"{status.get('readyReplicas', 0)}/{(obj.get('spec') or {}).get('replicas', 1)}"


def _wide_selector(obj: dict[str, Any], _: dt.datetime) -> str:
    return _selector((obj.get("spec") or {}).get("selector"))


def _count(field: str) -> Callable[[dict[str, Any], dt.datetime], int]:
    def value(obj: dict[str, Any], _: dt.datetime) -> int:
        return len(obj.get(field) or {}) + (len(obj.get("binaryData") or {}) if field == "data" else 0)

    return value


def _endpoints(obj: dict[str, Any], _: dt.datetime) -> str:
    found = [
        f"{a.get('ip')}:{p.get('port')}" if subset.get("ports") else str(a.get("ip"))
        for subset in obj.get("subsets") or []
        for a in subset.get("addresses") or []
        for p in (subset.get("ports") or [{}])
    ]
    if len(found) > 3:
        return ",".join(found[:3]) + f" + {len(found) - 3} more..."
    return _or_none(found)


def _subjects(kind: str) -> Callable[[dict[str, Any], dt.datetime], str]:
    def value(obj: dict[str, Any], _: dt.datetime) -> str:
        names = []
        for s in obj.get("subjects") or []:
            if s.get("kind") == kind:
                names.append(f"{s.get('namespace', '')}/{s.get('name')}" if kind == "ServiceAccount" else s.get("name"))
        return ",".join(str(n) for n in names)

    return value


def _role_ref(obj: dict[str, Any], _: dt.datetime) -> str:
    ref = obj.get("roleRef") or {}
    return f"{ref.get('kind')}/{ref.get('name')}"


def _created_at(obj: dict[str, Any], _: dt.datetime) -> str:
    return str(obj.get("metadata", {}).get("creationTimestamp", ""))


def _event_object(obj: dict[str, Any], _: dt.datetime) -> str:
    involved = obj.get("involvedObject") or {}
    return f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"


def _event_last_seen(obj: dict[str, Any], now: dt.datetime) -> str:
    seen = _parse_time(
        obj.get("lastTimestamp") or obj.get("eventTime") or obj.get("metadata", {}).get("creationTimestamp")
    )
    return "<unknown>" if seen is None else human_duration((now - seen).total_seconds())


NAME: Column = ("Name", "string", 0, _name)
AGE: Column = ("Age", "string", 0, _age)
COLUMNS: dict[str, list[Column]] = {
    "Pod": [
        NAME,
        ("Ready", "string", 0, _pod_ready),
        ("Status", "string", 0, lambda o, _: pod_status(o)),
        ("Restarts", "string", 0, _pod_restarts),
        AGE,
        ("IP", "string", 1, _field("status", "podIP")),
        ("Node", "string", 1, _field("spec", "nodeName")),
        ("Nominated Node", "string", 1, _field("status", "nominatedNodeName")),
        ("Readiness Gates", "string", 1, _pod_gates),
    ],
    "Service": [
        NAME,
        ("Type", "string", 0, _field("spec", "type", default="ClusterIP")),
        ("Cluster-IP", "string", 0, _field("spec", "clusterIP")),
        ("External-IP", "string", 0, _external_ip),
        ("Port(s)", "string", 0, _ports),
        AGE,
        ("Selector", "string", 1, lambda o, _: _selector((o.get("spec") or {}).get("selector"))),
    ],
    "Node": [
        NAME,
        ("Status", "string", 0, _node_status),
        ("Roles", "string", 0, _node_roles),
        AGE,
        ("Version", "string", 0, _node_info("kubeletVersion")),
        ("Internal-IP", "string", 1, _node_address("InternalIP")),
        ("External-IP", "string", 1, _node_address("ExternalIP")),
        ("OS-Image", "string", 1, _node_info("osImage")),
        ("Kernel-Version", "string", 1, _node_info("kernelVersion")),
        ("Container-Runtime", "string", 1, _node_info("containerRuntimeVersion")),
    ],
    "Deployment": [
        NAME,
        ("Ready", "string", 0, _deployment_ready),
        ("Up-to-date", "integer", 0, _field("status", "updatedReplicas", default=0)),
        ("Available", "integer", 0, _field("status", "availableReplicas", default=0)),
        AGE,
        ("Containers", "string", 1, _containers("name")),
        ("Images", "string", 1, _containers("image")),
        ("Selector", "string", 1, _wide_selector),
    ],
    "ReplicaSet": [
        NAME,
        ("Desired", "integer", 0, _field("spec", "replicas", default=1)),
        ("Current", "integer", 0, _field("status", "replicas", default=0)),
        ("Ready", "integer", 0, _field("status", "readyReplicas", default=0)),
        AGE,
        ("Containers", "string", 1, _containers("name")),
        ("Images", "string", 1, _containers("image")),
        ("Selector", "string", 1, _wide_selector),
    ],
    "ConfigMap": [NAME, ("Data", "integer", 0, _count("data")), AGE],
    "Secret": [
        NAME,
        ("Type", "string", 0, _field("type", default="Opaque")),
        ("Data", "integer", 0, _count("data")),
        AGE,
    ],
    "Namespace": [NAME, ("Status", "string", 0, _field("status", "phase", default="Active")), AGE],
    "ServiceAccount": [NAME, ("Secrets", "integer", 0, lambda o, _: len(o.get("secrets") or [])), AGE],
    "Endpoints": [NAME, ("Endpoints", "string", 0, _endpoints), AGE],
    "Event": [
        ("Last Seen", "string", 0, _event_last_seen),
        ("Type", "string", 0, _field("type", default="Normal")),
        ("Reason", "string", 0, _field("reason", default="")),
        ("Object", "string", 0, _event_object),
        ("Message", "string", 0, _field("message", default="")),
    ],
    "Role": [NAME, ("Created At", "date", 0, _created_at)],
    "ClusterRole": [NAME, ("Created At", "date", 0, _created_at)],
    "RoleBinding": [
        NAME,
        ("Role", "string", 0, _role_ref),
        AGE,
        ("Users", "string", 1, _subjects("User")),
        ("Groups", "string", 1, _subjects("Group")),
        ("ServiceAccounts", "string", 1, _subjects("ServiceAccount")),
    ],
}
COLUMNS["ClusterRoleBinding"] = COLUMNS["RoleBinding"]
DESCRIPTIONS = {
    "Name": "Name must be unique within a namespace. Cannot be updated.",
    "Age": "CreationTimestamp is a timestamp representing the server time when this object was created.",
}


def table(
    kind: str,
    items: list[dict[str, Any]],
    *,
    resource_version: str = "",
    include_object: str = "Metadata",
    api_version: str = "meta.k8s.io/v1",
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """A Table of objects of one kind; each row carries the object, its metadata only or nothing (includeObject)."""
    now = now or dt.datetime.now(dt.UTC)
    columns = COLUMNS.get(kind, [NAME, AGE])
    definitions = [
        {
            "name": name,
            "type": kind_of_cell,
            "format": "name" if name == "Name" else "",
            "description": DESCRIPTIONS.get(name, name),
            "priority": priority,
        }
        for name, kind_of_cell, priority, _ in columns
    ]
    rows = []
    for item in items:
        row: dict[str, Any] = {"cells": [value(item, now) for *_, value in columns]}
        if include_object == "Object":
            row["object"] = item
        elif include_object != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": item.get("metadata", {}),
            }
        rows.append(row)
    metadata = {"resourceVersion": resource_version} if resource_version else {}
    return {
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": metadata,
        "columnDefinitions": definitions,
        "rows": rows,
    }
