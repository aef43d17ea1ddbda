"""The three PATCH bodies the Kubernetes API server takes: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and
strategic merge patch, the one `kubectl apply`, `expose`, `annotate` and friends send for built-in kinds.

Strategic merge differs from merge patch on lists: a list with a patch merge key (containers by `name`, container
ports by `containerPort`, Service ports by `port`, ...) is merged item by item, and `$patch: delete|replace|merge`,
`$setElementOrder/FIELD`, `$deleteFromPrimitiveList/FIELD` and `$retainKeys` directives are honoured.
"""

from __future__ import annotations

import copy
from typing import Any

from local.kube.status import ApiError

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)

# Lists merged item by item, by field name: the item key that identifies an item (Kubernetes' patchMergeKey).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "ownerReferences": "uid",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "readinessGates": "conditionType",
    "secrets": "name",
}
# Lists of scalars merged as sets (patchStrategy: merge without a key).
MERGED_SCALAR_LISTS = {"finalizers"}
_DIRECTIVE = "$patch"
_ORDER = "$setElementOrder/"
_DELETE_FROM = "$deleteFromPrimitiveList/"
_RETAIN = "$retainKeys"


class PatchError(ApiError):
    """A patch that cannot be applied: 422 as the API server answers (400 for a body that is not a patch)."""

    def __init__(self, message: str, code: int = 422) -> None:
        super().__init__(code, "Invalid" if code == 422 else "BadRequest", message)


def apply_patch(content_type: str, original: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Apply a patch of the given media type to a copy of original and return the result."""
    media = content_type.split(";")[0].strip().lower()
    if media == JSON_PATCH:
        if not isinstance(patch, list):
            raise PatchError("a JSON patch must be a list of operations", 400)
        return json_patch(original, patch)
    if not isinstance(patch, dict):
        raise PatchError("a merge patch must be a JSON object", 400)
    if media == MERGE_PATCH:
        merged: dict[str, Any] = merge_patch(original, patch)
        return merged
    if media == STRATEGIC_MERGE_PATCH:
        return strategic_merge(original, patch)
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: {', '.join(PATCH_TYPES)}",
    )


# --- JSON merge patch ---


def merge_patch(original: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- JSON patch ---


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _index(container: list[Any], part: str, *, adding: bool) -> int:
    if adding and part == "-":
        return len(container)
    if not part.isdigit():
        raise PatchError(f"invalid array index {part!r}")
    index = int(part)
    if index > len(container) or (index == len(container) and not adding):
        raise PatchError(f"array index {index} out of bounds")
    return index


def _parent(doc: Any, parts: list[str]) -> Any:
    current = doc
    for part in parts[:-1]:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list):
            current = current[_index(current, part, adding=False)]
        else:
            raise PatchError(f"doc is missing path: /{'/'.join(parts)}")
    return current


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent = _parent(doc, parts)
    if isinstance(parent, dict) and parts[-1] in parent:
        return parent[parts[-1]]
    if isinstance(parent, list):
        return parent[_index(parent, parts[-1], adding=False)]
    raise PatchError(f"doc is missing path: {path}")


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _parent(doc, parts)
    if isinstance(parent, dict) and parts[-1] in parent:
        return parent.pop(parts[-1])
    if isinstance(parent, list):
        return parent.pop(_index(parent, parts[-1], adding=False))
    raise PatchError(f"unable to remove nonexistent key: {parts[-1]}: missing value")


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _parent(doc, parts)
    if isinstance(parent, dict):
        parent[parts[-1]] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, parts[-1], adding=True), value)
    else:
        raise PatchError(f"doc is missing path: {path}")
    return doc


def json_patch(original: dict[str, Any], operations: list[Any]) -> dict[str, Any]:
    """RFC 6902: add, remove, replace, move, copy and test, applied in order to a copy."""
    doc: Any = copy.deepcopy(original)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise PatchError("each JSON patch operation needs op and path", 400)
        op, path = operation["op"], operation["path"]
        if op in {"add", "replace", "test"} and "value" not in operation:
            raise PatchError(f"{op} operation does not apply: missing value")
        value = copy.deepcopy(operation.get("value"))
        if op == "add":
            doc = _add(doc, path, value)
        elif op == "remove":
            _remove(doc, path)
        elif op == "replace":
            _get(doc, path)  # must exist
            if _pointer(path):
                _remove(doc, path)
            doc = _add(doc, path, value)
        elif op in {"move", "copy"}:
            if "from" not in operation:
                raise PatchError(f"{op} operation does not apply: missing from")
            moved = _remove(doc, operation["from"]) if op == "move" else copy.deepcopy(_get(doc, operation["from"]))
            doc = _add(doc, path, moved)
        elif op == "test":
            if _get(doc, path) != value:
                raise PatchError(f"testing value {path} failed: test failed")
        else:
            raise PatchError(f"unexpected operation {op!r}")
    if not isinstance(doc, dict):
        raise PatchError("a JSON patch must leave an object")
    return doc


# --- strategic merge patch ---


def _merge_key(field: str, path: tuple[str, ...]) -> str | None:
    """The patch merge key of a list field at a path (ports depend on whether they are a container's)."""
    if field == "ports":
        return (
            "containerPort"
            if any(p in {"containers", "initContainers", "ephemeralContainers"} for p in path)
            else "port"
        )
    return MERGE_KEYS.get(field)


def strategic_merge(original: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Apply a strategic merge patch to a copy of original."""
    merged = _merge_map(copy.deepcopy(original), patch, ())
    if merged is None:
        raise PatchError("a strategic merge patch may not delete the whole object")
    return merged


def _merge_map(original: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    directive = patch.get(_DIRECTIVE)
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != _DIRECTIVE}
    if directive not in {None, "merge"}:
        raise PatchError(f"unknown patch type {directive!r} in map")
    result = original
    if _RETAIN in patch:
        keep = set(patch[_RETAIN] or [])
        result = {k: v for k, v in result.items() if k in keep}
    orders = {}
    for key, value in patch.items():
        if key.startswith(_ORDER):
            orders[key.removeprefix(_ORDER)] = value
        elif key.startswith(_DELETE_FROM):
            field = key.removeprefix(_DELETE_FROM)
            if isinstance(result.get(field), list):
                result[field] = [item for item in result[field] if item not in (value or [])]
    for key, value in patch.items():
        if key in {_DIRECTIVE, _RETAIN} or key.startswith((_ORDER, _DELETE_FROM)):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            merged = _merge_map(copy.deepcopy(current) if isinstance(current, dict) else {}, value, (*path, key))
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            current = result.get(key)
            result[key] = _merge_list(current if isinstance(current, list) else [], value, key, path)
        else:
            result[key] = copy.deepcopy(value)
    for field, order in orders.items():
        if isinstance(result.get(field), list) and isinstance(order, list):
            result[field] = _ordered(result[field], order, _merge_key(field, path))
    return result


def _merge_list(original: list[Any], patch: list[Any], field: str, path: tuple[str, ...]) -> list[Any]:
    key = _merge_key(field, path)
    if any(isinstance(item, dict) and item.get(_DIRECTIVE) == "replace" for item in patch):
        return [copy.deepcopy(item) for item in patch if not (isinstance(item, dict) and _DIRECTIVE in item)]
    if key is None:
        if field in MERGED_SCALAR_LISTS:
            return [*original, *(item for item in patch if item not in original)]
        return copy.deepcopy(patch)
    result = copy.deepcopy(original)
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError(f"{'.'.join((*path, field))}: items must be objects merged by {key}")
        if key not in item:
            raise PatchError(f"map: {item} does not contain declared merge key: {key}")
        position = next(
            (i for i, existing in enumerate(result) if isinstance(existing, dict) and existing.get(key) == item[key]),
            None,
        )
        if item.get(_DIRECTIVE) == "delete":
            result = [e for e in result if not (isinstance(e, dict) and e.get(key) == item[key])]
            continue
        if position is None:
            result.append({k: copy.deepcopy(v) for k, v in item.items() if k != _DIRECTIVE})
        else:
            merged = _merge_map(result[position], item, (*path, field))
            result[position] = merged if merged is not None else result[position]
    return result


def _ordered(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    """items sorted as order names them ($setElementOrder); items it does not name keep their place at the end."""

    def ident(item: Any) -> Any:
        return item.get(key) if key and isinstance(item, dict) else item

    wanted = [ident(o) for o in order]
    ranked = [item for w in wanted for item in items if ident(item) == w]
    return ranked + [item for item in items if ident(item) not in wanted]
