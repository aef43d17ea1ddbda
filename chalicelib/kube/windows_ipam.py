"""Windows IP address management in the VPC CNI, as eksctl turns it on for a cluster with Windows nodes.

EKS's VPC resource controller gives Windows pods their IP addresses once the `amazon-vpc-cni`
ConfigMap in kube-system says `enable-windows-ipam: "true"` ("Enabling Windows support",
https://docs.aws.amazon.com/eks/latest/userguide/windows-support.html). eksctl sets it after a
Windows node group is made: the ConfigMap is made when missing, else the key is merged into what is
there (other keys are kept). Here the write carries the resourceVersion read, and a 409 (someone
wrote in between, or made the ConfigMap first) reads and merges again, as aws-auth's edits do.
"""

from __future__ import annotations

import copy
import random
import time
from typing import TYPE_CHECKING, Any

from chalicelib.kube.client import MAX_CONFLICT_RETRIES, KubeConflictError

if TYPE_CHECKING:
    from collections.abc import Callable

    from chalicelib.kube.client import KubeClient

NAMESPACE = "kube-system"
NAME = "amazon-vpc-cni"
FIELD = "enable-windows-ipam"


def enabled(configmap: dict[str, Any] | None) -> bool:
    """Whether the ConfigMap (None: missing) turns Windows IPAM on."""
    return ((configmap or {}).get("data") or {}).get(FIELD) == "true"


def with_windows_ipam(current: dict[str, Any] | None) -> dict[str, Any]:
    """The ConfigMap to write: `current` (its metadata and resourceVersion, its other keys) with the key set."""
    body: dict[str, Any] = copy.deepcopy(current) if current else {"apiVersion": "v1", "kind": "ConfigMap"}
    metadata: dict[str, Any] = body.setdefault("metadata", {})
    metadata.setdefault("name", NAME)
    metadata.setdefault("namespace", NAMESPACE)
    body["data"] = {**(body.get("data") or {}), FIELD: "true"}
    return body


def enable(kube: KubeClient, sleep: Callable[[float], None] = time.sleep, attempts: int = MAX_CONFLICT_RETRIES) -> bool:
    """Turn Windows IPAM on; False when it already was (nothing written)."""
    for attempt in range(attempts):
        current = kube.get_configmap(NAMESPACE, NAME)
        if enabled(current):
            return False
        body = with_windows_ipam(current)
        try:
            if current is None:
                kube.create_configmap(NAMESPACE, body)
            else:
                kube.replace_configmap(NAMESPACE, NAME, body)
            return True
        except KubeConflictError:
            sleep(min(2.0, 0.05 * 2**attempt) * random.random())
    raise KubeConflictError(f"{NAMESPACE}/{NAME} kept changing; gave up after {attempts} attempts")
