"""Kubernetes' protobuf request bodies read as JSON objects.

kubectl's typed clients (`kubectl create configmap|secret|namespace|deployment|clusterrolebinding ...`) send
`application/vnd.kubernetes.protobuf`: the magic `k8s\\x00`, then a runtime.Unknown envelope holding the
TypeMeta and the object's own protobuf encoding. protobuf_fields.json holds the field numbering of the kinds
served (and the types they reach), as Kubernetes' generated.proto files declare it; this module walks the wire
format with it and produces the object as the JSON API would have carried it.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import struct
from pathlib import Path
from typing import Any

from local.kube.status import ApiError

PROTOBUF = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
UNKNOWN = "k8s.io.apimachinery.pkg.runtime.Unknown"
META = "k8s.io.apimachinery.pkg.apis.meta.v1."
# Proto package of each apiVersion served.
PACKAGES = {
    "v1": "k8s.io.api.core.v1",
    "apps/v1": "k8s.io.api.apps.v1",
    "rbac.authorization.k8s.io/v1": "k8s.io.api.rbac.v1",
    "autoscaling/v1": "k8s.io.api.autoscaling.v1",
    "meta.k8s.io/v1": "k8s.io.apimachinery.pkg.apis.meta.v1",
}
_VARINT_TYPES = {"int32", "int64", "uint32", "uint64", "bool", "sint32", "sint64"}


@functools.cache
def _fields() -> dict[str, dict[str, list[str]]]:
    loaded: dict[str, dict[str, list[str]]] = json.loads((Path(__file__).parent / "protobuf_fields.json").read_text())
    return loaded


class _Bad(Exception):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise _Bad("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _wire(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, raw value) for each field of one message."""
    pos, found = 0, []
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
            if pos > len(data):
                raise _Bad("truncated field")
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise _Bad(f"unsupported wire type {wire}")
        found.append((number, wire, value))
    return found


def _scalar(kind: str, wire: int, value: Any) -> Any:
    if kind == "string":
        return bytes(value).decode()
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode()
    if kind == "bool":
        return bool(value)
    if kind in _VARINT_TYPES:
        if kind in {"int32", "int64"} and value >= 1 << 63:
            value -= 1 << 64
        if kind == "int32" and value >= 1 << 31:
            value -= 1 << 32
        return value
    if kind == "double":
        return struct.unpack("<d", value)[0]
    if kind == "float":
        return struct.unpack("<f", value)[0]
    raise _Bad(f"unsupported type {kind}")


def _special(kind: str, data: bytes) -> tuple[bool, Any]:
    """The JSON form of the types Kubernetes marshals specially (times, quantities, int-or-string, raw JSON)."""
    if kind in {META + "Time", META + "MicroTime"}:
        fields = {n: v for n, _, v in _wire(data)}
        seconds, nanos = fields.get(1, 0), fields.get(2, 0)
        if not seconds and not nanos:
            return True, None
        moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
        if kind.endswith("MicroTime"):
            return True, moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1000:06d}Z"
        return True, moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "k8s.io.apimachinery.pkg.api.resource.Quantity":
        return True, bytes(dict((n, v) for n, _, v in _wire(data)).get(1, b"")).decode() or None
    if kind == "k8s.io.apimachinery.pkg.util.intstr.IntOrString":
        fields = {n: v for n, _, v in _wire(data)}
        if fields.get(1, 0) == 1:
            return True, bytes(fields.get(3, b"")).decode()
        return True, _scalar("int32", 0, fields.get(2, 0))
    if kind in {"k8s.io.apimachinery.pkg.runtime.RawExtension", META + "FieldsV1"}:
        raw = bytes(dict((n, v) for n, _, v in _wire(data)).get(1, b""))
        return True, json.loads(raw) if raw else None
    if kind == META + "Duration":
        nanoseconds = dict((n, v) for n, _, v in _wire(data)).get(1, 0)
        return True, f"{nanoseconds / 1e9:g}s"
    return False, None


def _value(kind: str, wire: int, value: Any) -> Any:
    if kind in _fields():
        special, answer = _special(kind, bytes(value))
        return answer if special else _message(kind, bytes(value))
    return _scalar(kind, wire, value)


def _packed(kind: str, value: bytes) -> list[Any]:
    if kind in _VARINT_TYPES:
        items, pos = [], 0
        while pos < len(value):
            number, pos = _varint(value, pos)
            items.append(_scalar(kind, 0, number))
        return items
    width = 8 if kind == "double" else 4
    return [_scalar(kind, 1, value[i : i + width]) for i in range(0, len(value), width)]


# Fields Kubernetes' JSON leaves out at their zero value (plain, not pointer, fields tagged omitempty). The wire
# format carries such fields always, so their zero values are dropped here; zero values of other fields (pointers,
# which are only sent when set: `replicas: 0`, `automountServiceAccountToken: false`) are kept.
OMITTED_ZEROS = {
    "hostPort",
    "nodePort",
    "stdin",
    "stdinOnce",
    "tty",
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "minReadySeconds",
    "paused",
    "readOnly",
    "restartCount",
    "generation",
}


def _empty(value: Any, key: str = "") -> bool:
    if key in OMITTED_ZEROS and value in (0, False):
        return True
    return value is None or value == "" or value == {} or value == []


def _message(name: str, data: bytes) -> dict[str, Any]:
    """One message as a JSON object; fields left at their zero string, list or object are left out."""
    schema = _fields()[name]
    obj: dict[str, Any] = {}
    for number, wire, value in _wire(data):
        field = schema.get(str(number))
        if field is None:
            continue  # a field newer than this table: dropped, as an older API server would
        key, kind, label = field
        if label == "m":
            entry = {n: (w, v) for n, w, v in _wire(bytes(value))}
            map_key = bytes(entry[1][1]).decode() if 1 in entry else ""
            wire_value = entry.get(2, (2, b"" if kind not in _VARINT_TYPES else 0))
            obj.setdefault(key, {})[map_key] = _value(kind, *wire_value)
        elif label == "r":
            if wire == 2 and kind not in _fields() and kind not in {"string", "bytes"}:
                obj.setdefault(key, []).extend(_packed(kind, bytes(value)))
            else:
                obj.setdefault(key, []).append(_value(kind, wire, value))
        else:
            obj[key] = _value(kind, wire, value)
    return {k: v for k, v in obj.items() if not _empty(v, k)}


def decode(body: bytes) -> dict[str, Any]:
    """A Kubernetes protobuf body as the JSON object it stands for, or raise 400/415."""
    if not body.startswith(MAGIC):
        raise ApiError(400, "BadRequest", "a protobuf body must start with the Kubernetes magic number")
    try:
        envelope = _message(UNKNOWN, body[len(MAGIC) :])
        type_meta = envelope.get("typeMeta") or {}
        api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
        name = f"{PACKAGES.get(api_version, '')}.{kind}"
        if name not in _fields():
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the server cannot read {kind} {api_version} as protobuf; send it as application/json",
            )
        raw = base64.b64decode(envelope.get("raw", ""))
        obj = _message(name, raw)
    except (_Bad, UnicodeDecodeError, ValueError, KeyError) as error:
        raise ApiError(400, "BadRequest", f"the protobuf body could not be read: {error}") from None
    return {"apiVersion": api_version, "kind": kind, **obj}
