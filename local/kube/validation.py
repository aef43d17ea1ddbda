"""Objects checked against Kubernetes' own schemas (the `kubernetes-validate` package ships them as JSON schema).

A schema violation becomes the API server's 422 Invalid Status with one `details.causes` entry per field
(`spec.containers[0].image: Required value`). Fields the schema does not know are what `fieldValidation`
decides: Strict refuses them (400, "strict decoding error: unknown field ..."), Warn and Ignore drop them, as
decoding into the API server's types does.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import TYPE_CHECKING, Any

from local.kube.status import ApiError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

# The Kubernetes minor version whose schemas apply (the emulator reports 1.32).
SCHEMA_VERSION = "v1.32.0-local-strict"
_PROPERTY = re.compile(r"'([^']+)' was unexpected")


def _schema_file(name: str) -> Any:
    path = resources.files("kubernetes_validate") / "kubernetes-json-schema" / SCHEMA_VERSION / name
    return json.loads(path.read_text())


@functools.cache
def _definitions() -> Any:
    return _schema_file("_definitions.json")


@functools.cache
def validator(api_version: str, kind: str) -> Validator | None:
    """A validator for one kind's schema (None when the package has no schema for it); built once per kind."""
    import jsonschema
    from referencing import Registry, Resource

    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = _schema_file(f"{kind.lower()}-{group}.json")
    except FileNotFoundError:
        return None
    registry: Registry[Any] = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(_definitions()) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


def field_path(parts: Iterable[Any]) -> str:
    """A JSON path as Kubernetes names fields: spec.containers[0].image."""
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _unknown_fields(error: ValidationError) -> list[str]:
    """The full paths of the properties an additionalProperties error is about."""
    names = _PROPERTY.findall(error.message) or [""]
    return [field_path([*error.absolute_path, name]) for name in names]


def _cause(error: ValidationError) -> dict[str, str]:
    """One details.causes entry, worded as the API server words it."""
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        field = field_path([*path, *missing[:1]])
        return {"reason": "FieldValueRequired", "message": "Required value", "field": field}
    if error.validator == "enum":
        allowed = ", ".join(json.dumps(v) for v in error.validator_value if v is not None)
        message = f"Unsupported value: {json.dumps(error.instance)}: supported values: {allowed}"
        return {"reason": "FieldValueNotSupported", "message": message, "field": field_path(path)}
    if error.validator == "type":
        wanted = error.validator_value
        wanted = [w for w in wanted if w != "null"] if isinstance(wanted, list) else [wanted]
        message = f"Invalid value: {json.dumps(error.instance)}: must be of type {' or '.join(wanted)}"
        return {"reason": "FieldValueTypeInvalid", "message": message, "field": field_path(path)}
    return {"reason": "FieldValueInvalid", "message": f"Invalid value: {error.message}", "field": field_path(path)}


def _drop(obj: Any, path: list[Any], name: str) -> None:
    for part in path:
        obj = obj[part]
    if isinstance(obj, dict):
        obj.pop(name, None)


def validate(obj: dict[str, Any], *, field_validation: str = "") -> list[str]:
    """Check obj (changed in place: unknown fields dropped unless Strict); return the unknown field paths.

    Raises 400 for unknown fields under fieldValidation=Strict and 422 Invalid for a schema violation.
    """
    checker = validator(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
    if checker is None:
        return []
    errors = list(checker.iter_errors(obj))
    unknown = [e for e in errors if e.validator == "additionalProperties"]
    found = [path for e in unknown for path in _unknown_fields(e)]
    if unknown and field_validation == "Strict":
        raise ApiError(
            400,
            "BadRequest",
            "strict decoding error: " + ", ".join(f'unknown field "{path}"' for path in found),
        )
    for error in unknown:
        for name in _PROPERTY.findall(error.message):
            _drop(obj, list(error.absolute_path), name)
    invalid = [_cause(e) for e in errors if e.validator != "additionalProperties"]
    if invalid:
        name = obj.get("metadata", {}).get("name") or obj.get("metadata", {}).get("generateName") or ""
        summary = ", ".join(f"{c['field']}: {c['message']}" for c in invalid)
        message = (
            f'{obj.get("kind")} "{name}" is invalid: {summary}'
            if len(invalid) == 1
            else (f'{obj.get("kind")} "{name}" is invalid: [{summary}]')
        )
        group = str(obj.get("apiVersion", "")).rpartition("/")[0]
        details = {"name": name, "group": group, "kind": obj.get("kind"), "causes": invalid}
        raise ApiError(422, "Invalid", message, details)
    return found
