"""Kubernetes Node objects for a moto EKS cluster (for the emulator): managed node groups, self-managed
ones and EKS Auto Mode's.

Each node looks as `kubectl get node -o wide` and `kubectl describe node` show an EKS node: Ready (with
the kubelet's other conditions), the cluster's kubelet version, the OS image, kernel and container
runtime of its AMI family, an internal IP in one of its subnets (as moto knows them), capacity and
allocatable from its instance type (max pods as the VPC CNI computes them), the labels EKS and the
kubelet set, its provider ID and its node group's taints. Names are deterministic: the same cluster,
group and index give the same node.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass, field
from typing import Any

# The patch release EKS runs of each Kubernetes minor version (what kubelets report).
KUBELET_PATCHES = {"1.28": "15", "1.29": "15", "1.30": "14", "1.31": "13", "1.32": "9", "1.33": "5", "1.34": "1"}
FAMILIES = ("al2023", "al2", "bottlerocket", "windows")
# What each AMI family's node reports in status.nodeInfo.
OS_IMAGES = {
    "al2023": "Amazon Linux 2023.9.20251117",
    "al2": "Amazon Linux 2",
    "bottlerocket": "Bottlerocket OS 1.50.0 (aws-k8s-{version})",
    "windows": "Windows Server 2022 Datacenter",
}
KERNELS = {
    "al2023": "6.1.158-180.294.amzn2023.{arch}",
    "al2": "5.10.245-241.976.amzn2.{arch}",
    "bottlerocket": "6.1.156",
    "windows": "10.0.20348.4294",
}
RUNTIMES = {
    "al2023": "containerd://1.7.27",
    "al2": "containerd://1.7.27",
    "bottlerocket": "containerd://1.7.28+bottlerocket",
    "windows": "containerd://1.7.20",
}
DEFAULT_INSTANCE_TYPE = "m5.large"
AUTO_MODE_INSTANCE_TYPE = "c6a.large"
TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
# The taint EKS Auto Mode's `system` node pool puts on its nodes.
CRITICAL_ADDONS_ONLY = {"key": "CriticalAddonsOnly", "effect": "NoSchedule"}


@dataclass
class NodeShape:
    """What makes one node: where it runs, on what, and what its group gives it."""

    name: str
    ip: str
    zone: str
    instance_id: str
    instance_type: str
    family: str
    arch: str  # amd64 or arm64, as Kubernetes spells it
    created: str
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)
    max_pods: int | None = None


def kubelet_version(kubernetes_version: str | None) -> str:
    """`v1.XX.Y-eks-HASH` for a cluster's Kubernetes version, as EKS's kubelets report it."""
    minor = str(kubernetes_version or "1.31")
    patch = KUBELET_PATCHES.get(minor, "0")
    build = hashlib.sha256(f"kubelet/{minor}.{patch}".encode()).hexdigest()[:7]
    return f"v{minor}.{patch}-eks-{build}"


def timestamp(value: Any) -> str:
    """An RFC 3339 UTC time from a datetime (naive ones are UTC, as moto keeps them), a string or nothing (now)."""
    if isinstance(value, dt.datetime):
        when = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, str) and value:
        try:
            return timestamp(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            pass
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def instance_type_info(instance_type: str) -> dict[str, Any]:
    """What EC2 says of an instance type (vCPUs, memory, network limits), or {} when it does not know it."""
    from moto.ec2.models.instance_types import INSTANCE_TYPES

    return dict(INSTANCE_TYPES.get(instance_type) or {})


def max_pods(instance_type: str) -> int:
    """The VPC CNI's max pods: ENIs * (IPv4 addresses per ENI - 1) + 2, capped as EKS caps it (110; 250 from 30
    vCPUs)."""
    info = instance_type_info(instance_type)
    network = info.get("NetworkInfo") or {}
    enis, addresses = network.get("MaximumNetworkInterfaces"), network.get("Ipv4AddressesPerInterface")
    if not enis or not addresses:
        return 110
    cap = 250 if int((info.get("VCpuInfo") or {}).get("DefaultVCpus", 2)) >= 30 else 110
    return min(int(enis) * (int(addresses) - 1) + 2, cap)


def instance_arch(instance_type: str) -> str:
    """arm64 for Graviton instance types, amd64 otherwise."""
    supported = (instance_type_info(instance_type).get("ProcessorInfo") or {}).get("SupportedArchitectures") or []
    return "arm64" if supported and "x86_64" not in supported else "amd64"


def _reserved_millicores(cpus: int) -> int:
    """The CPU EKS's bootstrap reserves for the kubelet: 6% of the first core, 1% of the next, 0.5% of the next
    two, 0.25% of the rest."""
    tiers = ((1, 60), (1, 10), (2, 5))
    reserved, left = 0.0, cpus
    for count, per_core in tiers:
        used = min(left, count)
        reserved += used * per_core
        left -= used
    return int(reserved + left * 2.5)


def resources(instance_type: str, pods: int) -> tuple[dict[str, str], dict[str, str]]:
    """capacity and allocatable of a node: cpu, memory and pods (with EKS's kube-reserved and eviction threshold)."""
    info = instance_type_info(instance_type)
    cpus = int((info.get("VCpuInfo") or {}).get("DefaultVCpus", 2))
    mebibytes = int((info.get("MemoryInfo") or {}).get("SizeInMiB", 8192))
    # The kernel keeps some memory for itself: the kubelet sees about 96.5% of it.
    memory_ki = int(mebibytes * 1024 * 0.965)
    reserved_ki = (255 + 11 * pods + 100) * 1024
    ephemeral_ki = 20 * 1024 * 1024
    capacity = {
        "cpu": str(cpus),
        "ephemeral-storage": f"{ephemeral_ki}Ki",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": f"{memory_ki}Ki",
        "pods": str(pods),
    }
    allocatable = {
        **capacity,
        "cpu": f"{cpus * 1000 - _reserved_millicores(cpus)}m",
        "ephemeral-storage": str(int(ephemeral_ki * 1024 * 0.9)),
        "memory": f"{memory_ki - reserved_ki}Ki",
    }
    return capacity, allocatable


def node_object(cluster: Any, region: str, shape: NodeShape) -> dict[str, Any]:
    """The Node object of a shape, Ready, as a kubelet of the cluster's version registers and heartbeats it."""
    pods = shape.max_pods or max_pods(shape.instance_type)
    capacity, allocatable = resources(shape.instance_type, pods)
    operating_system = "windows" if shape.family == "windows" else "linux"
    version = str(getattr(cluster, "version", None) or "1.31")
    labels = {
        "beta.kubernetes.io/arch": shape.arch,
        "beta.kubernetes.io/instance-type": shape.instance_type,
        "beta.kubernetes.io/os": operating_system,
        "failure-domain.beta.kubernetes.io/region": region,
        "failure-domain.beta.kubernetes.io/zone": shape.zone,
        "kubernetes.io/arch": shape.arch,
        "kubernetes.io/hostname": shape.name,
        "kubernetes.io/os": operating_system,
        "node.kubernetes.io/instance-type": shape.instance_type,
        "topology.kubernetes.io/region": region,
        "topology.kubernetes.io/zone": shape.zone,
        **shape.labels,
    }
    spec: dict[str, Any] = {"providerID": f"aws:///{shape.zone}/{shape.instance_id}"}
    if shape.taints:
        spec["taints"] = [dict(t) for t in shape.taints]
    now = timestamp(None)

    def condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
        return {
            "type": kind,
            "status": status,
            "lastHeartbeatTime": now,
            "lastTransitionTime": shape.created,
            "reason": reason,
            "message": message,
        }

    arch_name = "aarch64" if shape.arch == "arm64" else "x86_64"
    machine = hashlib.sha256(f"machine/{shape.instance_id}".encode()).hexdigest()
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": shape.name,
            "uid": str(_uuid(f"node/{shape.instance_id}")),
            "creationTimestamp": shape.created,
            "labels": labels,
            "annotations": {
                "alpha.kubernetes.io/provided-node-ip": shape.ip,
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": spec,
        "status": {
            "conditions": [
                condition(
                    "MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"
                ),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": shape.ip},
                {"type": "InternalDNS", "address": shape.name},
                {"type": "Hostname", "address": shape.name},
            ],
            "capacity": capacity,
            "allocatable": allocatable,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": machine[:32],
                "systemUUID": str(_uuid(f"system/{shape.instance_id}")),
                "bootID": str(_uuid(f"boot/{shape.instance_id}")),
                "kernelVersion": KERNELS[shape.family].format(arch=arch_name),
                "osImage": OS_IMAGES[shape.family].format(version=version),
                "containerRuntimeVersion": RUNTIMES[shape.family],
                "kubeletVersion": kubelet_version(version),
                "kubeProxyVersion": "",
                "operatingSystem": operating_system,
                "architecture": shape.arch,
            },
        },
    }


def _uuid(seed: str) -> Any:
    import uuid

    return uuid.UUID(bytes=hashlib.sha256(seed.encode()).digest()[:16], version=4)


def ready_node(name: str, labels: dict[str, str]) -> dict[str, Any]:
    """A minimal Ready Node object with these labels (for callers that know no more of it)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def _account(cluster: Any) -> str:
    return str(getattr(cluster, "arn", "") or "").split(":")[4] if ":" in str(getattr(cluster, "arn", "")) else ""


def _ec2(cluster: Any, region: str) -> Any | None:
    from moto.ec2.models import ec2_backends

    account = _account(cluster)
    try:
        return ec2_backends[account][region] if account else None
    except Exception:  # an account or region moto cannot make
        return None


def _subnet(ec2: Any | None, subnet_id: str) -> Any | None:
    if ec2 is None:
        return None
    try:
        return ec2.get_subnet(subnet_id)
    except Exception:  # moto's InvalidSubnetIdError: a subnet it does not know
        return None


def dns_name(ip: str, region: str) -> str:
    """The private DNS name EC2 gives an address (`ec2.internal` in us-east-1)."""
    domain = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
    return f"ip-{ip.replace('.', '-')}.{domain}"


def address_in(cidr: str | None, seed: bytes) -> str | None:
    """A host address of the CIDR derived from seed, never one AWS reserves (the first four and the last)."""
    if not cidr:
        return None
    network = ipaddress.ip_network(cidr, strict=False)
    usable = network.num_addresses - 5
    if network.version != 4 or usable <= 0:
        return None
    return str(network.network_address + 4 + int.from_bytes(seed[:8], "big") % usable)


def _placement(cluster: Any, region: str, subnets: list[str], seed: bytes) -> tuple[str, str]:
    """An (address, zone) for a node: in one of its subnets as moto knows them, else 192.168.x.y in zone a."""
    ec2 = _ec2(cluster, region)
    if subnets:
        subnet = _subnet(ec2, subnets[seed[8] % len(subnets)])
        if subnet is not None:
            ip = address_in(str(subnet.cidr_block), seed)
            if ip is not None:
                return ip, str(subnet.availability_zone)
    return f"192.168.{seed[0]}.{seed[1]}", f"{region}a"


def _launch_template_data(cluster: Any, region: str, group: Any) -> dict[str, Any]:
    template = getattr(group, "launch_template", None) or {}
    ec2 = _ec2(cluster, region)
    if not template.get("id") or ec2 is None:
        return {}
    found = ec2.launch_templates.get(str(template["id"]))
    if found is None:
        return {}
    try:
        return dict(found.get_version(str(template.get("version") or "$Default")).data)
    except Exception:  # a version that no longer exists
        return {}


def _image_family(cluster: Any, region: str, image_id: str | None) -> str:
    """The AMI family of a custom image, from what EC2 describes of it (Amazon Linux 2 when nothing says)."""
    ec2 = _ec2(cluster, region)
    text = ""
    if image_id and ec2 is not None:
        image = ec2.amis.get(image_id)
        if image is not None:
            text = " ".join(str(getattr(image, k, "") or "") for k in ("name", "description", "platform")).lower()
    if "bottlerocket" in text:
        return "bottlerocket"
    if "windows" in text:
        return "windows"
    if "al2023" in text or "2023" in text:
        return "al2023"
    return "al2"


def ami_family(ami_type: str | None) -> str | None:
    """The family of an EKS AmiType (AL2023_x86_64_STANDARD, BOTTLEROCKET_ARM_64, ...); None for CUSTOM."""
    kind = str(ami_type or "AL2_x86_64").upper()
    for prefix, family in (
        ("AL2023", "al2023"),
        ("AL2_", "al2"),
        ("BOTTLEROCKET", "bottlerocket"),
        ("WINDOWS", "windows"),
    ):
        if kind.startswith(prefix):
            return family
    return None


def managed_nodes_of(cluster: Any, region: str) -> list[dict[str, Any]]:
    """One Ready node per desired instance of each managed node group, named as EC2 names them."""
    nodes = []
    for group in list(cluster.nodegroups.values()):
        data = _launch_template_data(cluster, region, group)
        instance_type = str(data.get("InstanceType") or (group.instance_types or [DEFAULT_INSTANCE_TYPE])[0])
        family = ami_family(group.ami_type) or _image_family(cluster, region, data.get("ImageId"))
        arch = "arm64" if "ARM" in str(group.ami_type or "").upper() else instance_arch(instance_type)
        taints = [
            {k: v for k, v in {"key": t.get("key"), "value": t.get("value"), "effect": effect}.items() if v}
            for t in group.taints or []
            if (effect := TAINT_EFFECTS.get(str(t.get("effect")), str(t.get("effect") or "")))
        ]
        image = str(data.get("ImageId") or "")
        for index in range(int(group.scaling_config.get("desiredSize", 0))):
            seed = hashlib.sha256(f"{cluster.name}/{group.nodegroup_name}/{index}".encode()).digest()
            ip, zone = _placement(cluster, region, list(group.subnets or []), seed)
            name = dns_name(ip, region)
            labels = {
                "eks.amazonaws.com/capacityType": str(getattr(group, "capacity_type", None) or "ON_DEMAND"),
                "eks.amazonaws.com/nodegroup": group.nodegroup_name,
                **({"eks.amazonaws.com/nodegroup-image": image} if image else {}),
                **(group.labels or {}),
            }
            shape = NodeShape(
                name=name,
                ip=ip,
                zone=zone,
                instance_id=f"i-0{seed.hex()[:16]}",
                instance_type=instance_type,
                family=family,
                arch=arch,
                created=timestamp(getattr(group, "created_at", None)),
                labels=labels,
                taints=taints,
            )
            nodes.append(node_object(cluster, region, shape))
    return nodes


def auto_mode_nodes_of(cluster: Any, region: str) -> list[dict[str, Any]]:
    """EKS Auto Mode's nodes: with node pools, EKS launches a node for pods no node can take.

    Modelled simply: while the cluster has an add-on whose pods need a node (not a DaemonSet), one
    Ready node per node pool, labelled as Auto Mode labels its nodes; none otherwise. Auto Mode's nodes
    run Bottlerocket and are named by their instance ID; the `system` pool's are tainted CriticalAddonsOnly.
    """
    from local.eks_models import DAEMONSET_ADDONS

    pools = (getattr(cluster, "compute_config", None) or {}).get("nodePools") or []
    addons = getattr(cluster, "local_addons", None) or {}
    if not pools or all(name in DAEMONSET_ADDONS for name in addons):
        return []
    subnets = list((getattr(cluster, "resources_vpc_config", None) or {}).get("subnetIds") or [])
    nodes = []
    for pool in pools:
        seed = hashlib.sha256(f"{cluster.name}/auto/{pool}".encode()).digest()
        name = f"i-0{seed.hex()[:16]}"
        ip, zone = _placement(cluster, region, subnets, seed)
        labels = {
            "eks.amazonaws.com/compute-type": "auto",
            "karpenter.sh/nodepool": pool,
            "karpenter.sh/capacity-type": "on-demand",
        }
        shape = NodeShape(
            name=name,
            ip=ip,
            zone=zone,
            instance_id=name,
            instance_type=AUTO_MODE_INSTANCE_TYPE,
            family="bottlerocket",
            arch="amd64",
            created=timestamp(getattr(cluster, "created_at", None)),
            labels=labels,
            taints=[dict(CRITICAL_ADDONS_ONLY)] if pool == "system" else [],
        )
        node = node_object(cluster, region, shape)
        # Auto Mode names a node by its instance; its DNS name is still the address's.
        node["status"]["addresses"][1]["address"] = dns_name(ip, region)
        nodes.append(node)
    return nodes


def nodes_of(cluster: Any, region: str) -> list[dict[str, Any]]:
    """Every node of the cluster: its managed node groups', those its Auto Scaling groups' instances join,
    then Auto Mode's."""
    from local.selfmanaged_nodes import selfmanaged_nodes_of

    return (
        managed_nodes_of(cluster, region) + selfmanaged_nodes_of(cluster, region) + auto_mode_nodes_of(cluster, region)
    )
