"""Kubernetes Node objects for a moto EKS cluster (for the emulator): managed node groups and self-managed ones."""

from __future__ import annotations

import hashlib
from typing import Any


def managed_nodes_of(cluster: Any, region: str) -> list[dict[str, Any]]:
    """One Ready node per desired instance of each managed node group, named as EC2 names them."""
    nodes = []
    for group in list(cluster.nodegroups.values()):
        instance_type = (group.instance_types or ["m5.large"])[0]
        for index in range(int(group.scaling_config.get("desiredSize", 0))):
            seed = hashlib.sha256(f"{cluster.name}/{group.nodegroup_name}/{index}".encode()).digest()
            name = f"ip-192-168-{seed[0]}-{seed[1]}.{region}.compute.internal"
            labels = {
                "eks.amazonaws.com/nodegroup": group.nodegroup_name,
                "node.kubernetes.io/instance-type": instance_type,
                "kubernetes.io/hostname": name,
                **(group.labels or {}),
            }
            nodes.append(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": name, "labels": labels},
                    "status": {"conditions": [{"type": "Ready", "status": "True"}]},
                }
            )
    return nodes


def nodes_of(cluster: Any, region: str) -> list[dict[str, Any]]:
    """Every node of the cluster: its managed node groups', then those its Auto Scaling groups' instances join."""
    from local.selfmanaged_nodes import selfmanaged_nodes_of

    return managed_nodes_of(cluster, region) + selfmanaged_nodes_of(cluster, region)
