"""Kubernetes protobuf request bodies (kubectl's typed clients send them) read as JSON objects."""

from __future__ import annotations

import base64

import pytest

from local.kube.protobuf import MAGIC, decode
from local.kube.status import ApiError


def varint(value: int) -> bytes:
    out = b""
    while True:
        byte, value = value & 0x7F, value >> 7
        out += bytes([byte | (0x80 if value else 0)])
        if not value:
            return out


def field(number: int, value: bytes | int | str) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = field(1, api_version) + field(2, kind)
    return MAGIC + field(1, type_meta) + field(2, raw) + field(3, "") + field(4, "")


def entry(key: str, value: bytes | str) -> bytes:
    return field(1, key) + field(2, value)


def test_configmap_as_kubectl_create_configmap_sends_it() -> None:
    metadata = field(1, "settings") + field(2, "") + field(3, "default") + field(7, 0) + field(8, b"")
    raw = field(1, metadata) + field(2, entry("color", "blue")) + field(3, entry("blob", b"\x00\x01"))
    assert decode(envelope("v1", "ConfigMap", raw)) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "default"},
        "data": {"color": "blue"},
        "binaryData": {"blob": base64.b64encode(b"\x00\x01").decode()},
    }


def test_deployment_keeps_explicit_zero_replicas_and_reads_int_or_string() -> None:
    port = field(3, 8080) + field(2, 0) + field(4, "")  # containerPort, hostPort (zero: left out), protocol
    container = field(1, "web") + field(2, "nginx:1.27") + field(6, port) + field(16, 0)  # stdin false
    pod_spec = field(2, container)
    template = field(1, field(11, entry("app", "web"))) + field(2, pod_spec)
    rolling = field(1, field(1, 1) + field(3, "25%")) + field(2, field(2, 1))  # maxUnavailable "25%", maxSurge 1
    spec = field(1, 0) + field(3, template) + field(4, field(1, "RollingUpdate") + field(2, rolling))
    obj = decode(envelope("apps/v1", "Deployment", field(1, field(1, "web")) + field(2, spec)))
    assert obj["spec"]["replicas"] == 0
    assert obj["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1},
    }
    assert obj["spec"]["template"]["metadata"] == {"labels": {"app": "web"}}
    assert obj["spec"]["template"]["spec"]["containers"] == [
        {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 8080}]}
    ]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not protobuf", 400),
        (MAGIC + b"\x0a\xff", 400),
        (envelope("batch/v1", "Job", b""), 415),
    ],
)
def test_unreadable_bodies_are_refused(body: bytes, code: int) -> None:
    with pytest.raises(ApiError) as raised:
        decode(body)
    assert raised.value.code == code
