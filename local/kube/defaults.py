"""Server-side defaults the Kubernetes API server fills in, which kubectl's output and controllers rely on.

Pure functions over one object (the Service cluster IP is chosen by the store, which knows the IPs in use).
Each default only fills what is missing, so defaulting an already defaulted object changes nothing.
"""

from __future__ import annotations

import base64
import ipaddress
import random
from typing import Any

# The Service CIDR EKS gives an IPv4 cluster unless told otherwise; .1 is the `kubernetes` Service, .10 kube-dns.
SERVICE_CIDR = "10.100.0.0/16"
NODE_PORTS = range(30000, 32768)
_NAME_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"


def generated_name(prefix: str) -> str:
    """A name made from metadata.generateName as the API server makes it (five random characters appended)."""
    return prefix + "".join(random.choice(_NAME_SUFFIX) for _ in range(5))


def _container(container: dict[str, Any]) -> None:
    image = str(container.get("image", ""))
    tag = image.rsplit("/", 1)[-1]
    latest = "@" not in image and (":" not in tag or tag.endswith(":latest"))
    container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def pod_spec(spec: dict[str, Any]) -> None:
    """Default a PodSpec in place (a Pod's, or a workload's pod template's)."""
    for key, value in (
        ("restartPolicy", "Always"),
        ("dnsPolicy", "ClusterFirst"),
        ("schedulerName", "default-scheduler"),
        ("terminationGracePeriodSeconds", 30),
        ("securityContext", {}),
        ("enableServiceLinks", True),
    ):
        spec.setdefault(key, value)
    if "serviceAccountName" in spec or "serviceAccount" in spec:
        spec.setdefault("serviceAccountName", spec.get("serviceAccount"))
        spec.setdefault("serviceAccount", spec.get("serviceAccountName"))
    for field in ("containers", "initContainers"):
        for container in spec.get(field) or []:
            if isinstance(container, dict):
                _container(container)


def _pod(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    pod_spec(spec)
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    spec.setdefault(
        "tolerations",
        [
            {
                "key": f"node.kubernetes.io/{taint}",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
            for taint in ("not-ready", "unreachable")
        ],
    )
    status = obj.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", "BestEffort")


def _template(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    template = spec.get("template")
    if isinstance(template, dict):
        template.setdefault("metadata", {})
        if isinstance(template.get("spec"), dict):
            pod_spec(template["spec"])
    obj.setdefault("status", {})


def _deployment(obj: dict[str, Any]) -> None:
    _template(obj)
    spec = obj["spec"]
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy.setdefault("type", "RollingUpdate")
        strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})


def _service(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    kind = spec.setdefault("type", "ClusterIP")
    if kind != "ExternalName":
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind in {"NodePort", "LoadBalancer"}:
        spec.setdefault("externalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
    obj.setdefault("status", {"loadBalancer": {}})


def _secret(obj: dict[str, Any]) -> None:
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None) or {}
    if string_data:
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


DEFAULTERS = {
    "Pod": _pod,
    "Service": _service,
    "Deployment": _deployment,
    "ReplicaSet": _template,
    "Secret": _secret,
}


def apply_defaults(obj: dict[str, Any]) -> None:
    """Fill in the server-side defaults of obj's kind, in place."""
    defaulter = DEFAULTERS.get(str(obj.get("kind", "")))
    if defaulter is not None:
        defaulter(obj)


def allocate_service_ips(spec: dict[str, Any], used_ips: set[str], used_ports: set[int], cidr: str) -> None:
    """Give a Service its cluster IP (honouring a requested one) and node ports, in place; 422 cases raise
    ValueError with the field and message."""
    if spec.get("type") == "ExternalName":
        return
    network = ipaddress.ip_network(cidr)
    requested = spec.get("clusterIP")
    if requested and requested != "None":
        try:
            address = ipaddress.ip_address(requested)
        except ValueError:
            raise ValueError("spec.clusterIP", f"Invalid value: {requested!r}: must be a valid IP address") from None
        if address not in network:
            raise ValueError(
                "spec.clusterIP", f"Invalid value: {requested!r}: provided IP is not in the valid range {cidr}"
            )
        if requested in used_ips:
            raise ValueError("spec.clusterIP", f"Invalid value: {requested!r}: provided IP is already allocated")
    elif not requested:
        size = network.num_addresses
        for _ in range(1000):
            candidate = str(network.network_address + random.randrange(2, size - 1))
            if candidate not in used_ips and not candidate.endswith(".10"):
                spec["clusterIP"] = candidate
                break
    spec.setdefault("clusterIPs", [spec["clusterIP"]] if spec.get("clusterIP") else [])
    if spec.get("clusterIP") and spec["clusterIP"] != "None":
        spec.setdefault("ipFamilies", ["IPv6" if ":" in spec["clusterIP"] else "IPv4"])
    if spec.get("type") in {"NodePort", "LoadBalancer"}:
        for port in spec.get("ports") or []:
            if isinstance(port, dict) and not port.get("nodePort"):
                free = [p for p in NODE_PORTS if p not in used_ports]
                port["nodePort"] = random.choice(free)
                used_ports.add(port["nodePort"])
