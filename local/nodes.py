"""Kubernetes Node objects for a moto EKS cluster (for the emulator): managed node groups, self-managed
ones and EKS Auto Mode's."""

from __future__ import annotations

import hashlib
from typing import Any


def ready_node(name: str, labels: dict[str, str]) -> dict[str, Any]:
    """A Ready Node object with these labels."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


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
            nodes.append(ready_node(name, labels))
    return nodes


def auto_mode_nodes_of(cluster: Any, region: str) -> list[dict[str, Any]]:
    """EKS Auto Mode's nodes: with node pools, EKS launches a node for pods no node can take.

    Modelled simply: while the cluster has an add-on whose pods need a node (not a DaemonSet), one
    Ready node per node pool, labelled as Auto Mode labels its nodes; none otherwise.
    """
    from local.eks_models import DAEMONSET_ADDONS

    pools = (getattr(cluster, "compute_config", None) or {}).get("nodePools") or []
    addons = getattr(cluster, "local_addons", None) or {}
    if not pools or all(name in DAEMONSET_ADDONS for name in addons):
        return []
    nodes = []
    for pool in pools:
        seed = hashlib.sha256(f"{cluster.name}/auto/{pool}".encode()).digest()
        name = f"i-0{seed.hex()[:16]}"
        labels = {
            "eks.amazonaws.com/compute-type": "auto",
            "karpenter.sh/nodepool": pool,
            "kubernetes.io/hostname": name,
        }
        nodes.append(ready_node(name, labels))
    return nodes


def nodes_of(cluster: Any, region: str) -> list[dict[str, Any]]:
    """Every node of the cluster: its managed node groups', those its Auto Scaling groups' instances join,
    then Auto Mode's."""
    from local.selfmanaged_nodes import selfmanaged_nodes_of

    return (
        managed_nodes_of(cluster, region) + selfmanaged_nodes_of(cluster, region) + auto_mode_nodes_of(cluster, region)
    )
