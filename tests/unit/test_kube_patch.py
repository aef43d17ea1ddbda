"""The emulator's PATCH bodies: JSON patch, JSON merge patch and strategic merge patch as kubectl sends them."""

from __future__ import annotations

from typing import Any

import pytest

from local.kube.patch import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    PatchError,
    apply_patch,
    json_patch,
    merge_patch,
    strategic_merge,
)
from local.kube.status import ApiError


def deployment() -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a"]},
        "spec": {
            "replicas": 1,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.27",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        },
                        {"name": "sidecar", "image": "busybox"},
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                }
            },
        },
    }


def test_merge_patch_merges_objects_replaces_lists_and_deletes_nulls() -> None:
    original = {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"list": [1, 2]}}
    patched = merge_patch(original, {"metadata": {"labels": {"a": None, "c": "3"}}, "spec": {"list": [3]}})
    assert patched == {"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {"list": [3]}}
    assert original["metadata"]["labels"] == {"a": "1", "b": "2"}  # the original is left alone


def test_json_patch_applies_each_operation_in_order() -> None:
    original = {"metadata": {"labels": {"a": "1"}}, "items": [1, 2, 3]}
    patched = json_patch(
        original,
        [
            {"op": "add", "path": "/metadata/labels/b~1c", "value": "2"},
            {"op": "replace", "path": "/items/0", "value": 10},
            {"op": "remove", "path": "/items/1"},
            {"op": "add", "path": "/items/-", "value": 4},
            {"op": "copy", "from": "/metadata/labels/a", "path": "/copied"},
            {"op": "move", "from": "/copied", "path": "/moved"},
            {"op": "test", "path": "/moved", "value": "1"},
        ],
    )
    assert patched == {"metadata": {"labels": {"a": "1", "b/c": "2"}}, "items": [10, 3, 4], "moved": "1"}


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "test", "path": "/a", "value": 2},
        {"op": "remove", "path": "/missing"},
        {"op": "replace", "path": "/missing", "value": 1},
        {"op": "add", "path": "/list/9", "value": 1},
        {"op": "frobnicate", "path": "/a"},
    ],
)
def test_json_patch_that_does_not_apply_is_422(operation: dict[str, Any]) -> None:
    with pytest.raises(PatchError) as raised:
        json_patch({"a": 1, "list": []}, [operation])
    assert raised.value.code == 422


def test_strategic_merge_merges_containers_by_name_and_ports_by_container_port() -> None:
    patch = {
        "spec": {
            "replicas": 3,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "web", "image": "nginx:1.28", "ports": [{"containerPort": 443}]},
                        {"name": "new", "image": "redis"},
                    ]
                }
            },
        }
    }
    patched = strategic_merge(deployment(), patch)
    containers = patched["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web", "sidecar", "new"]
    assert containers[0]["image"] == "nginx:1.28"
    assert containers[0]["env"] == deployment()["spec"]["template"]["spec"]["containers"][0]["env"]
    assert containers[0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}]
    assert patched["spec"]["replicas"] == 3


def test_strategic_merge_honours_delete_replace_and_order_directives() -> None:
    patch = {
        "metadata": {"finalizers": ["b"], "labels": {"app": None}},
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}],
                    "containers": [
                        {"name": "web", "env": [{"name": "A", "$patch": "delete"}, {"name": "C", "value": "3"}]}
                    ],
                    "volumes": [{"$patch": "replace"}, {"name": "other", "emptyDir": {}}],
                }
            }
        },
    }
    patched = strategic_merge(deployment(), patch)
    spec = patched["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["containers"]] == ["sidecar", "web"]
    assert spec["containers"][1]["env"] == [{"name": "B", "value": "2"}, {"name": "C", "value": "3"}]
    assert spec["volumes"] == [{"name": "other", "emptyDir": {}}]
    assert patched["metadata"]["finalizers"] == ["a", "b"]  # a merged list of scalars
    assert "app" not in patched["metadata"]["labels"]


def test_strategic_merge_service_ports_merge_by_port_and_maps_can_be_replaced() -> None:
    service = {"spec": {"selector": {"app": "a", "tier": "x"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    patch = {"spec": {"ports": [{"port": 80, "nodePort": 30080}], "selector": {"$patch": "replace", "app": "b"}}}
    patched = strategic_merge(service, patch)
    assert patched["spec"]["ports"] == [{"port": 80, "targetPort": 8080, "nodePort": 30080}]
    assert patched["spec"]["selector"] == {"app": "b"}


def test_strategic_merge_item_without_its_merge_key_is_422() -> None:
    with pytest.raises(PatchError) as raised:
        strategic_merge(deployment(), {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}})
    assert raised.value.code == 422 and "name" in raised.value.message


def test_apply_patch_dispatches_on_media_type_and_refuses_others() -> None:
    original = {"metadata": {"labels": {"a": "1"}}, "spec": {"containers": [{"name": "x", "image": "1"}]}}
    change = {"spec": {"containers": [{"name": "y", "image": "2"}]}}
    assert len(apply_patch(MERGE_PATCH, original, change)["spec"]["containers"]) == 1
    assert len(apply_patch(STRATEGIC_MERGE_PATCH + "; charset=utf-8", original, change)["spec"]["containers"]) == 2
    ops = [{"op": "add", "path": "/metadata/labels/b", "value": "2"}]
    assert apply_patch(JSON_PATCH, original, ops)["metadata"]["labels"] == {"a": "1", "b": "2"}
    with pytest.raises(ApiError) as raised:
        apply_patch("application/apply-patch+yaml", original, change)
    assert raised.value.code == 415
    with pytest.raises(ApiError) as raised:
        apply_patch(MERGE_PATCH, original, ops)
    assert raised.value.code == 400
