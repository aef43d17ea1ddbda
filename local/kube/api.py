"""The resource API: routing `/api/v1/...` and `/apis/GROUP/VERSION/...` to a kind, and the verbs on it.

get, list (label and field selectors, Table output), watch, create, update, patch (JSON, merge and strategic
merge), delete and deletecollection, the `status` and `scale` subresources, `dryRun=All` and `fieldValidation`,
over the ObjectStore (and over the nodes callback for Node objects, which are read-only here).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from local.kube import table, validation
from local.kube.authz import Attributes
from local.kube.defaults import apply_defaults
from local.kube.objects import (
    CONFIGMAPS,
    KINDS,
    NAMESPACES,
    NODES,
    UNDELETABLE_NAMESPACES,
    Kind,
    ObjectStore,
    find_node,
    parse_configmap,
    parse_object,
)
from local.kube.patch import apply_patch
from local.kube.selectors import (
    labels_of_selector,
    match_fields,
    match_labels,
    parse_fields,
    parse_labels,
)
from local.kube.status import ApiError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from local.kube.transport import Request

# Longest a watch stays open when the client names no timeoutSeconds (the API server picks 30 to 60 minutes).
WATCH_TIMEOUT = 1800.0
# How often a watch on nodes (reported by a callback, not stored) looks for changes.
NODE_POLL_SECONDS = 0.5
PATCH_RETRIES = 5
_TRUE = {"true", "1"}


@dataclass(frozen=True)
class Route:
    """What a resource URL names: the kind, namespace ("" when cluster-scoped or across all), name, subresource."""

    kind: Kind
    namespace: str = ""
    name: str = ""
    subresource: str = ""


def _kind_for(group_version: str, resource: str) -> Kind | None:
    if group_version == "v1" and resource == NODES.resource:
        return NODES
    kind = KINDS.get(resource)
    return kind if kind is not None and kind.api_version == group_version else None


def route(path: str) -> Route | None:
    """The Route of a resource URL, or None when the path is not one (discovery and the like are answered
    elsewhere); raise 404 for a URL under /api or /apis naming nothing served."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group_version, rest = "v1", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
    else:
        return None
    if not rest:
        return None
    missing = ApiError(404, "NotFound", "the server could not find the requested resource")
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in {"status", "finalize"}:
        kind = _kind_for(group_version, rest[2])
        if kind is None or not kind.namespaced or len(rest) > 5:
            raise missing
        found = Route(kind, rest[1], rest[3] if len(rest) > 3 else "", rest[4] if len(rest) > 4 else "")
    else:
        kind = _kind_for(group_version, rest[0])
        if kind is None or len(rest) > 3 or (kind.namespaced and len(rest) > 1):
            raise missing
        found = Route(kind, "", rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else "")
    if found.subresource and found.subresource not in found.kind.subresources:
        raise missing
    return found


def verb_of(method: str, found: Route | None, query: dict[str, str]) -> str:
    """The authorization verb of a request, as the API server derives it."""
    watching = query.get("watch", "").lower() in _TRUE
    if method in {"GET", "HEAD"}:
        if found is None:
            return "get"
        if watching:
            return "watch"
        return "get" if found.name else "list"
    if method == "DELETE":
        return "delete" if found is None or found.name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def attributes(method: str, path: str, query: dict[str, str], found: Route | None) -> Attributes:
    """The authorizer's view of a request (a non-resource request when found is None)."""
    verb = verb_of(method, found, query)
    if found is None:
        return Attributes(verb=verb, api_group="", resource="", path=path)
    return Attributes(
        verb=verb,
        api_group=found.kind.group,
        resource=found.kind.resource,
        namespace=found.namespace,
        name=found.name,
        subresource=found.subresource,
        path=path,
    )


def _load(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as error:
        raise ApiError(400, "BadRequest", f"body is not JSON: {error}") from None


def _dry_run(query: dict[str, str]) -> bool:
    value = query.get("dryRun", "")
    if value and value != "All":
        raise ApiError(400, "BadRequest", f"unsupported dry run mode {value!r}: only All is supported")
    return value == "All"


def _field_validation(query: dict[str, str]) -> str:
    value = query.get("fieldValidation", "")
    if value and value not in {"Strict", "Warn", "Ignore"}:
        raise ApiError(400, "BadRequest", f"fieldValidation must be one of Ignore, Warn or Strict, not {value!r}")
    return value


def _scale(obj: dict[str, Any]) -> dict[str, Any]:
    """The autoscaling/v1 Scale view of a Deployment or ReplicaSet."""
    meta = obj["metadata"]
    selector = labels_of_selector((obj.get("spec") or {}).get("selector"))
    text = ",".join(
        f"{r.key}={next(iter(r.values))}" if r.op == "in" and len(r.values) == 1 else r.key for r in selector
    )
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
        "status": {"replicas": (obj.get("status") or {}).get("replicas", 0), "selector": text},
    }


class ResourceApi:
    """Serves the resource URLs of one cluster's API server over its ObjectStore and nodes callback.

    create and replace are the emulator's hooks every ConfigMap write goes through (fault injection wraps them).
    """

    def __init__(
        self,
        store: ObjectStore,
        nodes: Callable[[], list[dict[str, Any]]],
        create: Callable[[str, dict[str, Any]], dict[str, Any]],
        replace: Callable[[str, str, dict[str, Any]], dict[str, Any]],
        serving: Callable[[], bool],
        guard: Callable[[str, str, dict[str, Any]], None] | None = None,
    ) -> None:
        """Wire the store, the nodes callback, the ConfigMap write hooks and whether the server still serves.

        guard(resource, namespace, object) sees every object about to be created or written (dry runs too) and
        may refuse it by raising (the server's RBAC escalation check); it is called without the store's lock.
        """
        self.store, self.nodes = store, nodes
        self.create_configmap, self.replace_configmap = create, replace
        self.serving = serving
        self.guard = guard or (lambda resource, namespace, obj: None)

    # --- dispatch ---

    def answer(self, request: Request, found: Route) -> tuple[int, dict[str, Any] | Iterator[dict[str, Any]]]:
        """Answer one request for a resource URL."""
        verb = verb_of(request.method, found, request.query)
        kind = found.kind
        if kind is NODES:
            return self._nodes(request, found, verb)
        if verb in {"list", "watch"} and not found.name:
            return self._collection(request, found, verb)
        if found.subresource == "scale":
            return self._scale(request, found, verb)
        handlers: dict[str, Callable[[Request, Route], tuple[int, dict[str, Any]]]] = {
            "get": self._get,
            "watch": self._watch_one,  # type: ignore[dict-item]
            "create": self._create,
            "update": self._update,
            "patch": self._patch,
            "delete": self._delete,
            "deletecollection": self._delete_collection,
        }
        handler = handlers.get(verb)
        if handler is None or (verb == "create" and found.name):
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        return handler(request, found)

    # --- reads ---

    def _selected(self, request: Request, kind: Kind, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        labels = parse_labels(request.query.get("labelSelector", ""))
        fields = parse_fields(request.query.get("fieldSelector", ""), kind.kind)
        return [
            item
            for item in items
            if match_labels(labels, item.get("metadata", {}).get("labels")) and match_fields(fields, item)
        ]

    def _listing(self, request: Request, kind: Kind, items: list[dict[str, Any]], revision: str) -> dict[str, Any]:
        """A list (or the Table kubectl asks for) of the selected items."""
        items = self._selected(request, kind, items)
        version = table.table_version(request.headers.get("accept", ""))
        if version is not None:
            return table.table(
                kind.kind,
                items,
                resource_version=revision,
                include_object=request.query.get("includeObject", "Metadata"),
                api_version=version,
            )
        return {
            "kind": f"{kind.kind}List",
            "apiVersion": kind.api_version,
            "metadata": {"resourceVersion": revision},
            "items": items,
        }

    def _one(self, request: Request, kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
        """One object, or a one-row Table of it when asked."""
        version = table.table_version(request.headers.get("accept", ""))
        if version is None:
            return obj
        return table.table(
            kind.kind,
            [obj],
            resource_version=obj["metadata"].get("resourceVersion", ""),
            include_object=request.query.get("includeObject", "Metadata"),
            api_version=version,
        )

    def _collection(
        self, request: Request, found: Route, verb: str
    ) -> tuple[int, dict[str, Any] | Iterator[dict[str, Any]]]:
        kind = found.kind
        if verb == "watch":
            return 200, self._watch(request, kind, found.namespace, "")
        if kind.namespaced and found.namespace:
            self._need_namespace(found.namespace)
        listed = self.store.list_of(kind, found.namespace or None)
        return 200, self._listing(request, kind, listed["items"], listed["metadata"]["resourceVersion"])

    def _need_namespace(self, namespace: str) -> None:
        self.store.get(NAMESPACES, "", namespace)

    def _get(self, request: Request, found: Route) -> tuple[int, dict[str, Any]]:
        obj = self.store.get(found.kind, found.namespace, found.name)
        return 200, self._one(request, found.kind, obj)

    def _watch_one(self, request: Request, found: Route) -> tuple[int, Iterator[dict[str, Any]]]:
        return 200, self._watch(request, found.kind, found.namespace, found.name)

    # --- watch ---

    def _watch(self, request: Request, kind: Kind, namespace: str, name: str) -> Iterator[dict[str, Any]]:
        """Watch events for a kind (in one namespace, of one name), from the resourceVersion asked for."""
        query = dict(request.query)
        if name:
            query["fieldSelector"] = ",".join(filter(None, [query.get("fieldSelector", ""), f"metadata.name={name}"]))
        labels = parse_labels(query.get("labelSelector", ""))
        fields = parse_fields(query.get("fieldSelector", ""), kind.kind)
        version = table.table_version(request.headers.get("accept", ""))
        include = query.get("includeObject", "Metadata")
        timeout = min(float(query.get("timeoutSeconds") or WATCH_TIMEOUT), WATCH_TIMEOUT)
        since = query.get("resourceVersion", "")
        return self._events(kind, namespace, since, labels, fields, version, include, timeout)

    def _events(
        self,
        kind: Kind,
        namespace: str,
        since: str,
        labels: Any,
        fields: Any,
        version: str | None,
        include: str,
        timeout: float,
    ) -> Iterator[dict[str, Any]]:
        def wanted(obj: dict[str, Any]) -> bool:
            meta = obj.get("metadata", {})
            return (
                (not namespace or meta.get("namespace", "") == namespace)
                and match_labels(labels, meta.get("labels"))
                and match_fields(fields, obj)
            )

        def event(kind_of_event: str, obj: dict[str, Any]) -> dict[str, Any]:
            if version is None:
                return {"type": kind_of_event, "object": obj}
            return {
                "type": kind_of_event,
                "object": table.table(kind.kind, [obj], include_object=include, api_version=version),
            }

        deadline = time.monotonic() + timeout
        if not since or since == "0":
            listed = self.store.list_of(kind, namespace or None)
            revision = int(listed["metadata"]["resourceVersion"])
            for obj in listed["items"]:
                if wanted(obj):
                    yield event("ADDED", obj)
        else:
            try:
                revision = int(since)
            except ValueError:
                yield {"type": "ERROR", "object": _gone(since)}
                return
        while self.serving() and time.monotonic() < deadline:
            found = self.store.changes_and_revision(revision)
            if found is None:
                yield {"type": "ERROR", "object": _gone(str(revision))}
                return
            changes, current = found
            for number, kind_of_event, resource, obj in changes:
                revision = number
                if resource == kind.resource and wanted(obj):
                    yield event(kind_of_event, obj)
            revision = max(revision, current)
            self.store.wait_for_change(revision, min(1.0, max(deadline - time.monotonic(), 0)))

    # --- writes ---

    def _body(self, request: Request, found: Route, name: str | None) -> dict[str, Any]:
        """The decoded, checked and schema-validated object of a create or update."""
        kind = found.kind
        if kind is CONFIGMAPS:
            obj = parse_configmap(request.body, found.namespace, name)
        else:
            obj = parse_object(request.body, kind, found.namespace, name)
        return self._validated(request, kind, obj, found.namespace)

    def _validated(self, request: Request, kind: Kind, obj: dict[str, Any], namespace: str) -> dict[str, Any]:
        api_version = obj.get("apiVersion", kind.api_version)
        if api_version != kind.api_version:
            raise ApiError(
                400,
                "BadRequest",
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({kind.api_version})",
            )
        obj = {**obj, "apiVersion": kind.api_version, "kind": kind.kind}
        if kind.namespaced:
            obj["metadata"] = {**obj["metadata"], "namespace": namespace}
        validation.validate(obj, field_validation=_field_validation(request.query))
        return obj

    def _create(self, request: Request, found: Route) -> tuple[int, dict[str, Any]]:
        kind = found.kind
        obj = self._body(request, found, None)
        self.guard(kind.resource, found.namespace, obj)
        if _dry_run(request.query):
            return 201, self._dry_created(kind, found.namespace, obj)
        if kind is CONFIGMAPS:
            return 201, self.create_configmap(found.namespace, obj)
        return 201, self.store.create(found.namespace, obj, kind)

    def _dry_created(self, kind: Kind, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        """What a create would store, checked against the store but not written (dryRun=All)."""
        if kind.namespaced:
            self._need_namespace(namespace)
        name = obj["metadata"].get("name")
        if name:
            try:
                self.store.get(kind, namespace, name)
            except ApiError:
                pass
            else:
                raise ApiError(409, "AlreadyExists", f'{kind.resource} "{name}" already exists', {"name": name})
        obj = copy.deepcopy(obj)
        apply_defaults(obj)
        meta = obj["metadata"]
        meta.setdefault("name", meta.get("generateName", ""))
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        if not kind.namespaced:
            meta.pop("namespace", None)
        return obj

    def _store_update(self, found: Route, obj: dict[str, Any], dry_run: bool) -> dict[str, Any]:
        """Write a replacement (unless dry run), keeping what the subresource written does not own."""
        kind = found.kind
        current = self.store.get(kind, found.namespace, found.name)
        if "status" in kind.subresources:
            if found.subresource == "status":
                # A status write keeps the stored metadata: only its resourceVersion precondition is the caller's.
                version = obj["metadata"].get("resourceVersion")
                obj = {
                    **current,
                    "status": obj.get("status"),
                    "metadata": {**current["metadata"], "resourceVersion": version},
                }
            elif "status" in current:
                obj = {**obj, "status": current["status"]}
            else:
                obj = {k: v for k, v in obj.items() if k != "status"}
        self.guard(kind.resource, found.namespace, obj)
        if dry_run:
            if obj["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
                raise _conflict(kind, found.name)
            return {**obj, "metadata": {**current["metadata"], **_meta_of(obj)}}
        if kind is CONFIGMAPS:
            return self.replace_configmap(found.namespace, found.name, obj)
        return self.store.replace(found.namespace, found.name, obj, kind)

    def _update(self, request: Request, found: Route) -> tuple[int, dict[str, Any]]:
        if not found.name:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        obj = self._body(request, found, found.name)
        return 200, self._store_update(found, obj, _dry_run(request.query))

    def _patch(self, request: Request, found: Route) -> tuple[int, dict[str, Any]]:
        if not found.name:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        patch = _load(request.body)
        content_type = request.headers.get("content-type", "")
        kind = found.kind
        for attempt in range(PATCH_RETRIES):
            current = self.store.get(kind, found.namespace, found.name)
            patched = apply_patch(content_type, current, patch)
            # Only a resourceVersion the patch itself names is a precondition (the rest inherit the current one).
            wanted_version = _patch_version(patch)
            if wanted_version and wanted_version != current["metadata"]["resourceVersion"]:
                raise _conflict(kind, found.name)
            if not isinstance(patched.get("metadata"), dict):
                raise ApiError(422, "Invalid", f"{kind.kind} metadata must be an object")
            patched["metadata"] = {
                **patched["metadata"],
                "name": found.name,
                "resourceVersion": current["metadata"]["resourceVersion"],
            }
            body = json.dumps(patched).encode()
            parse = parse_configmap if kind is CONFIGMAPS else (lambda b, ns, n: parse_object(b, kind, ns, n))
            obj = self._validated(request, kind, parse(body, found.namespace, found.name), found.namespace)
            try:
                return 200, self._store_update(found, obj, _dry_run(request.query))
            except ApiError as error:
                # Someone wrote in between: a patch applies to the newest version, so try again on it.
                if error.code != 409 or wanted_version or attempt == PATCH_RETRIES - 1:
                    raise
        raise _conflict(kind, found.name)  # pragma: no cover - the loop returns or raises

    def _scale(
        self, request: Request, found: Route, verb: str
    ) -> tuple[int, dict[str, Any] | Iterator[dict[str, Any]]]:
        kind = found.kind
        for attempt in range(PATCH_RETRIES):
            current = self.store.get(kind, found.namespace, found.name)
            scale = _scale(current)
            if verb == "get":
                return 200, scale
            if verb == "update":
                wanted = _load(request.body)
                asked_version = ((wanted.get("metadata") if isinstance(wanted, dict) else None) or {}).get(
                    "resourceVersion"
                )
            elif verb == "patch":
                body = _load(request.body)
                wanted = apply_patch(request.headers.get("content-type", ""), scale, body)
                asked_version = _patch_version(body)
            else:
                raise ApiError(405, "MethodNotAllowed", f"the server does not allow {verb} on {kind.resource}/scale")
            if not isinstance(wanted, dict):
                raise ApiError(400, "BadRequest", "a Scale object is expected")
            replicas = (wanted.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                message = f"Invalid value: {json.dumps(replicas)}: must be greater than or equal to 0"
                raise ApiError(
                    422,
                    "Invalid",
                    f'Scale.autoscaling "{found.name}" is invalid: spec.replicas: {message}',
                    {
                        "name": found.name,
                        "group": "autoscaling",
                        "kind": "Scale",
                        "causes": [{"reason": "FieldValueInvalid", "message": message, "field": "spec.replicas"}],
                    },
                )
            if asked_version and asked_version != current["metadata"]["resourceVersion"]:
                raise _conflict(kind, found.name)
            updated = {**current, "spec": {**(current.get("spec") or {}), "replicas": replicas}}
            if _dry_run(request.query):
                return 200, _scale(updated)
            try:
                return 200, _scale(self.store.replace(found.namespace, found.name, updated, kind))
            except ApiError as error:
                if error.code != 409 or asked_version or attempt == PATCH_RETRIES - 1:
                    raise
        raise _conflict(kind, found.name)  # pragma: no cover

    def _delete_options(self, request: Request) -> tuple[str, bool]:
        """The propagation policy and dry run of a delete, from the query or a DeleteOptions body."""
        options = _load(request.body) if request.body.strip() else {}
        if not isinstance(options, dict):
            raise ApiError(400, "BadRequest", "the body of a delete must be a DeleteOptions object")
        propagation = request.query.get("propagationPolicy") or options.get("propagationPolicy") or "Background"
        if propagation not in {"Orphan", "Background", "Foreground"}:
            raise ApiError(
                422,
                "Invalid",
                f'propagationPolicy: Unsupported value: "{propagation}": supported values: '
                '"Foreground", "Background", "Orphan"',
            )
        dry_run = _dry_run(request.query) or options.get("dryRun") == ["All"]
        return propagation, dry_run

    def _delete(self, request: Request, found: Route) -> tuple[int, dict[str, Any]]:
        kind = found.kind
        propagation, dry_run = self._delete_options(request)
        options = _load(request.body) if request.body.strip() else {}
        if kind is NAMESPACES and found.name in UNDELETABLE_NAMESPACES:
            raise ApiError(
                403,
                "Forbidden",
                f'namespaces "{found.name}" is forbidden: this namespace may not be deleted',
                {"name": found.name, "kind": "namespaces"},
            )
        current = self.store.get(kind, found.namespace, found.name)
        preconditions = options.get("preconditions") or {}
        for key in ("uid", "resourceVersion"):
            if preconditions.get(key) and preconditions[key] != current["metadata"].get(key):
                raise ApiError(
                    409,
                    "Conflict",
                    f"Precondition failed: {key} in precondition: {preconditions[key]}, {key} in object meta: "
                    f"{current['metadata'].get(key)}",
                    {"name": found.name, "kind": kind.resource},
                )
        if dry_run:
            return 200, current
        return 200, self.store.delete(kind, found.namespace, found.name, propagation)

    def _delete_collection(self, request: Request, found: Route) -> tuple[int, dict[str, Any]]:
        kind = found.kind
        propagation, dry_run = self._delete_options(request)
        listed = self.store.list_of(kind, found.namespace or None)
        deleted = []
        for item in self._selected(request, kind, listed["items"]):
            meta = item["metadata"]
            if kind is NAMESPACES and meta["name"] in UNDELETABLE_NAMESPACES:
                continue
            if not dry_run:
                try:
                    item = self.store.delete(kind, meta.get("namespace", ""), meta["name"], propagation)
                except ApiError:
                    continue  # gone already (an owner took it along)
            deleted.append(item)
        return 200, {
            "kind": f"{kind.kind}List",
            "apiVersion": kind.api_version,
            "metadata": {"resourceVersion": str(self.store.revision)},
            "items": deleted,
        }

    # --- nodes (reported by a callback, read-only) ---

    def _nodes(
        self, request: Request, found: Route, verb: str
    ) -> tuple[int, dict[str, Any] | Iterator[dict[str, Any]]]:
        if verb not in {"get", "list", "watch"}:
            raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on nodes: {request.method}")
        if verb == "watch":
            return 200, self._node_events(request, found.name)
        items = copy.deepcopy(self.nodes())
        if found.name:
            return 200, self._one(request, NODES, find_node(items, found.name))
        return 200, self._listing(request, NODES, items, str(self.store.revision))

    def _node_events(self, request: Request, name: str) -> Iterator[dict[str, Any]]:
        """A watch on nodes: the callback is looked at every NODE_POLL_SECONDS and differences sent."""
        labels = parse_labels(request.query.get("labelSelector", ""))
        fields = parse_fields(request.query.get("fieldSelector", ""), "Node")
        version = table.table_version(request.headers.get("accept", ""))
        include = request.query.get("includeObject", "Metadata")
        timeout = min(float(request.query.get("timeoutSeconds") or WATCH_TIMEOUT), WATCH_TIMEOUT)
        deadline = time.monotonic() + timeout
        fresh = request.query.get("resourceVersion", "") in {"", "0"}

        def snapshot() -> dict[str, dict[str, Any]]:
            return {
                node["metadata"]["name"]: node
                for node in copy.deepcopy(self.nodes())
                if (not name or node["metadata"]["name"] == name)
                and match_labels(labels, node["metadata"].get("labels"))
                and match_fields(fields, node)
            }

        def event(kind_of_event: str, obj: dict[str, Any]) -> dict[str, Any]:
            shown = obj if version is None else table.table("Node", [obj], include_object=include, api_version=version)
            return {"type": kind_of_event, "object": shown}

        seen = snapshot()
        if fresh:
            for node in seen.values():
                yield event("ADDED", node)
        while self.serving() and time.monotonic() < deadline:
            time.sleep(NODE_POLL_SECONDS)
            now = snapshot()
            for node_name, node in now.items():
                if node_name not in seen:
                    yield event("ADDED", node)
                elif node != seen[node_name]:
                    yield event("MODIFIED", node)
            for node_name, node in seen.items():
                if node_name not in now:
                    yield event("DELETED", node)
            seen = now


def _meta_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The metadata a write may change (labels, annotations and the like; not identity or server fields)."""
    fixed = {"uid", "creationTimestamp", "generation", "namespace", "name"}
    return {k: v for k, v in (obj.get("metadata") or {}).items() if k not in fixed}


def _patch_version(patch: Any) -> str | None:
    """The resourceVersion a patch body itself names (a merge patch's metadata, or a JSON patch's add, replace or
    test of /metadata/resourceVersion), or None: the precondition a patch carries."""
    if isinstance(patch, dict):
        meta = patch.get("metadata")
        version = meta.get("resourceVersion") if isinstance(meta, dict) else None
        return str(version) if version else None
    if isinstance(patch, list):
        for operation in reversed(patch):
            if (
                isinstance(operation, dict)
                and operation.get("path") == "/metadata/resourceVersion"
                and operation.get("op") in {"add", "replace", "test"}
                and operation.get("value")
            ):
                return str(operation["value"])
    return None


def _conflict(kind: Kind, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {kind.resource} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        {"name": name, "kind": kind.resource},
    )


def _gone(revision: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"too old resource version: {revision}",
        "reason": "Expired",
        "code": 410,
    }
