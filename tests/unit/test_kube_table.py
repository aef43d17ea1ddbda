"""Server-side printing: the Table columns and cells kubectl shows for each kind."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from local.kube.table import human_duration, table, table_version

NOW = dt.datetime(2026, 1, 2, 12, 0, 0, tzinfo=dt.UTC)
CREATED = "2026-01-02T11:55:00Z"  # five minutes before NOW
TABLE_ACCEPT = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)


def columns(answer: dict[str, Any]) -> list[tuple[str, int]]:
    return [(c["name"], c["priority"]) for c in answer["columnDefinitions"]]


def cells(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    answer = table(kind, [obj], now=NOW)
    return {c["name"]: cell for c, cell in zip(answer["columnDefinitions"], answer["rows"][0]["cells"], strict=True)}


def test_table_is_asked_for_only_when_accept_puts_it_first() -> None:
    assert table_version(TABLE_ACCEPT) == "meta.k8s.io/v1"
    assert table_version("application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json") == "meta.k8s.io/v1beta1"
    assert table_version("application/json") is None
    assert table_version("application/json, application/json;as=Table;v=v1;g=meta.k8s.io") is None
    assert table_version("") is None


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (5, "5s"),
        (119, "119s"),
        (330, "5m30s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (30 * 3600, "30h"),
        (3 * 86400 + 3600, "3d1h"),
        (40 * 86400, "40d"),
        (800 * 86400, "2y70d"),
    ],
)
def test_ages_are_printed_as_kubernetes_prints_them(seconds: int, shown: str) -> None:
    assert human_duration(seconds) == shown


def test_pod_columns_with_wide_ones_at_priority_one() -> None:
    pod = {
        "metadata": {"name": "web", "creationTimestamp": CREATED},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "node-1"},
        "status": {
            "phase": "Running",
            "podIP": "192.168.1.5",
            "containerStatuses": [{"ready": True, "restartCount": 2}, {"ready": False, "restartCount": 1}],
        },
    }
    answer = table("Pod", [pod], now=NOW)
    assert columns(answer) == [
        ("Name", 0),
        ("Ready", 0),
        ("Status", 0),
        ("Restarts", 0),
        ("Age", 0),
        ("IP", 1),
        ("Node", 1),
        ("Nominated Node", 1),
        ("Readiness Gates", 1),
    ]
    assert answer["rows"][0]["cells"] == ["web", "1/2", "Running", 3, "5m", "192.168.1.5", "node-1", "<none>", "<none>"]


def test_pending_pod_and_waiting_container_status() -> None:
    assert (
        cells("Pod", {"metadata": {"name": "p"}, "spec": {"containers": [{}]}, "status": {"phase": "Pending"}})[
            "Status"
        ]
        == "Pending"
    )
    waiting = {"state": {"waiting": {"reason": "ContainerCreating"}}}
    pod = {"metadata": {"name": "p"}, "status": {"phase": "Pending", "containerStatuses": [waiting]}}
    assert cells("Pod", pod)["Status"] == "ContainerCreating"


def test_service_columns_for_cluster_ip_and_load_balancer() -> None:
    service = {
        "metadata": {"name": "web", "creationTimestamp": CREATED},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.100.3.4",
            "ports": [{"port": 80, "protocol": "TCP"}],
            "selector": {"app": "web"},
        },
    }
    assert cells("Service", service) == {
        "Name": "web",
        "Type": "ClusterIP",
        "Cluster-IP": "10.100.3.4",
        "External-IP": "<none>",
        "Port(s)": "80/TCP",
        "Age": "5m",
        "Selector": "app=web",
    }
    service["spec"].update(type="LoadBalancer", ports=[{"port": 80, "nodePort": 31000, "protocol": "TCP"}])
    assert cells("Service", service)["External-IP"] == "<pending>"
    assert cells("Service", service)["Port(s)"] == "80:31000/TCP"
    service["status"] = {"loadBalancer": {"ingress": [{"hostname": "a-1.us-west-2.elb.amazonaws.com"}]}}
    assert cells("Service", service)["External-IP"] == "a-1.us-west-2.elb.amazonaws.com"


def test_node_columns_ready_roles_and_node_info() -> None:
    node = {
        "metadata": {"name": "ip-1", "creationTimestamp": CREATED, "labels": {"node-role.kubernetes.io/worker": ""}},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "192.168.1.2"}],
            "nodeInfo": {
                "kubeletVersion": "v1.32.0-eks-1",
                "osImage": "Amazon Linux 2023",
                "kernelVersion": "6.1.0",
                "containerRuntimeVersion": "containerd://1.7.0",
            },
        },
    }
    assert cells("Node", node) == {
        "Name": "ip-1",
        "Status": "Ready",
        "Roles": "worker",
        "Age": "5m",
        "Version": "v1.32.0-eks-1",
        "Internal-IP": "192.168.1.2",
        "External-IP": "<none>",
        "OS-Image": "Amazon Linux 2023",
        "Kernel-Version": "6.1.0",
        "Container-Runtime": "containerd://1.7.0",
    }
    assert (
        cells("Node", {"metadata": {"name": "n"}, "spec": {"unschedulable": True}})["Status"]
        == "Unknown,SchedulingDisabled"
    )


def test_deployment_and_configmap_columns() -> None:
    deployment = {
        "metadata": {"name": "web", "creationTimestamp": CREATED},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}},
        },
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    assert cells("Deployment", deployment) == {
        "Name": "web",
        "Ready": "2/3",
        "Up-to-date": 3,
        "Available": 2,
        "Age": "5m",
        "Containers": "nginx",
        "Images": "nginx:1.27",
        "Selector": "app=web",
    }
    configmap = {"metadata": {"name": "c", "creationTimestamp": CREATED}, "data": {"a": "1", "b": "2"}}
    assert cells("ConfigMap", configmap) == {"Name": "c", "Data": 2, "Age": "5m"}
    assert columns(table("Widget", [])) == [("Name", 0), ("Age", 0)]


def test_rows_carry_metadata_the_whole_object_or_nothing() -> None:
    obj = {"metadata": {"name": "c", "uid": "u"}, "data": {}}
    assert table("ConfigMap", [obj])["rows"][0]["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"name": "c", "uid": "u"},
    }
    assert table("ConfigMap", [obj], include_object="Object")["rows"][0]["object"] == obj
    assert "object" not in table("ConfigMap", [obj], include_object="None")["rows"][0]
