"""The emulator's Node objects: what `kubectl get node -o wide` and `kubectl describe node` read from them."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from types import SimpleNamespace
from typing import Any

import pytest

from local import nodes
from local.nodes import NodeShape, address_in, ami_family, kubelet_version, managed_nodes_of, max_pods, node_object

REGION = "us-west-2"


def group(**overrides: Any) -> SimpleNamespace:
    values: dict[str, Any] = {
        "nodegroup_name": "ng-1",
        "instance_types": ["m5.large"],
        "ami_type": "AL2023_x86_64_STANDARD",
        "taints": [],
        "labels": {"role": "web"},
        "scaling_config": {"desiredSize": 2},
        "subnets": [],
        "launch_template": None,
        "capacity_type": "ON_DEMAND",
        "created_at": dt.datetime(2026, 1, 2, 3, 4, 5),
    }
    return SimpleNamespace(**{**values, **overrides})


def cluster(*groups: SimpleNamespace, version: str = "1.32") -> SimpleNamespace:
    return SimpleNamespace(
        name="demo", version=version, arn="", nodegroups={g.nodegroup_name: g for g in groups}, compute_config=None
    )


def condition(node: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in node["status"]["conditions"] if c["type"] == kind)


def test_a_managed_node_is_ready_with_what_kubectl_shows() -> None:
    made = managed_nodes_of(cluster(group()), REGION)

    assert len(made) == 2
    node = made[0]
    ready = condition(node, "Ready")
    assert ready["status"] == "True" and ready["reason"] == "KubeletReady"
    assert ready["lastHeartbeatTime"] and ready["lastTransitionTime"] == "2026-01-02T03:04:05Z"
    assert {c["type"]: c["status"] for c in node["status"]["conditions"]} == {
        "MemoryPressure": "False",
        "DiskPressure": "False",
        "PIDPressure": "False",
        "Ready": "True",
    }
    assert node["metadata"]["creationTimestamp"] == "2026-01-02T03:04:05Z"
    info = node["status"]["nodeInfo"]
    assert re.fullmatch(r"v1\.32\.\d+-eks-[0-9a-f]{7}", info["kubeletVersion"])
    assert info["osImage"].startswith("Amazon Linux 2023")
    assert info["containerRuntimeVersion"].startswith("containerd://")
    assert info["kernelVersion"].endswith("amzn2023.x86_64")
    assert (info["architecture"], info["operatingSystem"]) == ("amd64", "linux")
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    name = node["metadata"]["name"]
    assert addresses["Hostname"] == addresses["InternalDNS"] == name
    assert name == f"ip-{addresses['InternalIP'].replace('.', '-')}.{REGION}.compute.internal"
    # m5.large: 2 vCPUs, 8 GiB, 3 ENIs of 10 addresses: 29 pods, as EKS says.
    assert node["status"]["capacity"]["cpu"] == "2"
    assert node["status"]["capacity"]["pods"] == node["status"]["allocatable"]["pods"] == "29"
    assert node["status"]["allocatable"]["cpu"] == "1930m"
    capacity_ki = int(node["status"]["capacity"]["memory"].removesuffix("Ki"))
    allocatable_ki = int(node["status"]["allocatable"]["memory"].removesuffix("Ki"))
    assert 7_000_000 < allocatable_ki < capacity_ki < 8 * 1024 * 1024
    labels = node["metadata"]["labels"]
    zone = labels["topology.kubernetes.io/zone"]
    assert labels["kubernetes.io/os"] == "linux" and labels["kubernetes.io/arch"] == "amd64"
    assert labels["eks.amazonaws.com/nodegroup"] == "ng-1" and labels["role"] == "web"
    assert labels["node.kubernetes.io/instance-type"] == "m5.large"
    assert labels["kubernetes.io/hostname"] == name
    assert re.fullmatch(rf"aws:///{zone}/i-0[0-9a-f]{{16}}", node["spec"]["providerID"])
    assert "taints" not in node["spec"]


def test_names_are_deterministic_and_distinct() -> None:
    first = [n["metadata"]["name"] for n in managed_nodes_of(cluster(group()), REGION)]
    again = [n["metadata"]["name"] for n in managed_nodes_of(cluster(group()), REGION)]

    assert first == again and len(set(first)) == 2


@pytest.mark.parametrize(
    ("ami_type", "instance_type", "image", "arch", "system"),
    [
        ("AL2023_x86_64_STANDARD", "m5.large", "Amazon Linux 2023", "amd64", "linux"),
        ("AL2_x86_64", "m5.large", "Amazon Linux 2", "amd64", "linux"),
        ("AL2023_ARM_64_STANDARD", "m6g.large", "Amazon Linux 2023", "arm64", "linux"),
        ("BOTTLEROCKET_ARM_64", "m6g.large", "Bottlerocket OS", "arm64", "linux"),
        ("BOTTLEROCKET_x86_64", "m5.large", "Bottlerocket OS", "amd64", "linux"),
        ("WINDOWS_CORE_2022_x86_64", "m5.large", "Windows Server", "amd64", "windows"),
    ],
)
def test_the_os_image_follows_the_ami_family(
    ami_type: str, instance_type: str, image: str, arch: str, system: str
) -> None:
    (node, *_) = managed_nodes_of(cluster(group(ami_type=ami_type, instance_types=[instance_type])), REGION)

    info = node["status"]["nodeInfo"]
    assert info["osImage"].startswith(image)
    assert (info["architecture"], info["operatingSystem"]) == (arch, system)
    assert node["metadata"]["labels"]["kubernetes.io/os"] == system
    assert node["metadata"]["labels"]["kubernetes.io/arch"] == arch


def test_the_node_groups_taints_are_on_its_nodes_as_kubernetes_spells_them() -> None:
    taints = [{"key": "dedicated", "value": "gpu", "effect": "NO_SCHEDULE"}, {"key": "spot", "effect": "NO_EXECUTE"}]

    (node, *_) = managed_nodes_of(cluster(group(taints=taints)), REGION)

    assert node["spec"]["taints"] == [
        {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
        {"key": "spot", "effect": "NoExecute"},
    ]


def test_a_group_scaled_to_zero_has_no_nodes() -> None:
    assert managed_nodes_of(cluster(group(scaling_config={"desiredSize": 0})), REGION) == []


def test_kubelet_version_follows_the_cluster() -> None:
    assert kubelet_version("1.31").startswith("v1.31.")
    assert kubelet_version("1.30") != kubelet_version("1.31")
    assert re.fullmatch(r"v1\.99\.0-eks-[0-9a-f]{7}", kubelet_version("1.99"))


def test_max_pods_is_the_vpc_cnis() -> None:
    assert max_pods("t3.medium") == 17
    assert max_pods("m5.xlarge") == 58
    assert max_pods("m5.24xlarge") == 250  # capped
    assert max_pods("no.such") == 110


def test_addresses_stay_in_the_subnet_and_out_of_what_aws_reserves() -> None:
    network = ipaddress.ip_network("10.0.8.0/28")
    seen = {address_in(str(network), bytes([i]) * 8) for i in range(256)}

    assert seen and all(a is not None and ipaddress.ip_address(a) in network for a in seen)
    reserved = {str(network.network_address + i) for i in range(4)} | {str(network.broadcast_address)}
    assert not seen & reserved
    assert address_in(None, b"\0" * 8) is None


def test_ami_families() -> None:
    assert ami_family("AL2023_x86_64_NVIDIA") == "al2023"
    assert ami_family("AL2_ARM_64") == "al2"
    assert ami_family("BOTTLEROCKET_x86_64_NVIDIA") == "bottlerocket"
    assert ami_family("WINDOWS_FULL_2019_x86_64") == "windows"
    assert ami_family("CUSTOM") is None


def test_us_east_1_names_nodes_in_ec2_internal() -> None:
    (node, *_) = managed_nodes_of(cluster(group()), "us-east-1")

    assert node["metadata"]["name"].endswith(".ec2.internal")


def test_a_shape_with_max_pods_reports_them() -> None:
    shape = NodeShape("n", "10.0.0.5", "us-west-2b", "i-1", "m5.large", "bottlerocket", "amd64", "2026-01-01T00:00:00Z")
    shape.max_pods = 110

    node = node_object(SimpleNamespace(version="1.31"), REGION, shape)

    assert node["status"]["capacity"]["pods"] == "110"
    assert node["status"]["nodeInfo"]["osImage"] == "Bottlerocket OS 1.50.0 (aws-k8s-1.31)"


def test_auto_mode_system_pool_nodes_are_tainted_critical_addons_only() -> None:
    made = SimpleNamespace(
        name="auto",
        version="1.32",
        arn="",
        nodegroups={},
        compute_config={"nodePools": ["general-purpose", "system"]},
        local_addons={"coredns": object()},
        resources_vpc_config={"subnetIds": []},
    )

    pools = {n["metadata"]["labels"]["karpenter.sh/nodepool"]: n for n in nodes.auto_mode_nodes_of(made, REGION)}

    assert pools["system"]["spec"]["taints"] == [{"key": "CriticalAddonsOnly", "effect": "NoSchedule"}]
    assert "taints" not in pools["general-purpose"]["spec"]
    assert pools["system"]["status"]["nodeInfo"]["osImage"].startswith("Bottlerocket")
