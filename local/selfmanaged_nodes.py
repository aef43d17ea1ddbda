"""Kubernetes Node objects for a cluster's self-managed node groups: the instances of its Auto Scaling groups.

On AWS an instance of a self-managed group becomes a Node only when both hold:
1. its bootstrap (user data, local/bootstrap_userdata.py) names this cluster and its API endpoint
   (and, when it gives one, the cluster's CA: the kubelet cannot trust another);
2. its instance role may join: aws-auth maps the role (path dropped, as aws-iam-authenticator compares)
   with group `system:nodes` and user `system:node:{{EC2PrivateDNSName}}`, in the CONFIG_MAP
   authentication modes, or the role has an `EC2_LINUX` access entry (`EC2_WINDOWS` for a Windows node,
   whose bootstrap is PowerShell), in the API modes.
The kubelet also refuses to start with `--node-labels` in the kubernetes.io / k8s.io namespaces other
than the few it may set itself. The Auto Scaling groups looked at are those tagged
`kubernetes.io/cluster/NAME: owned`, as eksctl tags its groups. A node is named as EC2 names the
instance (its private DNS name), and carries the labels and taints its bootstrap gives.

The aws-auth ConfigMap is read from the cluster's Kubernetes emulator, which the engine (or a test)
sets on the moto cluster as `kube_aws_auth` (a callable returning the ConfigMap's data).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import yaml

from local import bootstrap_userdata

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from local.bootstrap_userdata import Bootstrap

NODE_GROUPS = ("system:nodes",)
NODE_USERNAME = "system:node:{{EC2PrivateDNSName}}"
CONFIG_MAP_MODES = ("CONFIG_MAP", "API_AND_CONFIG_MAP")
API_MODES = ("API", "API_AND_CONFIG_MAP")
# Labels in the kubernetes.io and k8s.io namespaces the kubelet may set on its own Node (NodeRestriction).
KUBELET_LABELS = frozenset(
    {
        "kubernetes.io/hostname",
        "kubernetes.io/instance-type",
        "kubernetes.io/os",
        "kubernetes.io/arch",
        "beta.kubernetes.io/instance-type",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "node.kubernetes.io/instance-type",
    }
)
KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")
_ROLE_PATH = re.compile(r"^(arn:[^:]+:iam::\d+:role/)(?:.*/)?([^/]+)$")


def _account(cluster: Any) -> str:
    return str(cluster.arn).split(":")[4]


def _owned(group: Any, cluster: str) -> bool:
    key = f"kubernetes.io/cluster/{cluster}"
    return any(t.get("Key") == key and t.get("Value") == "owned" for t in group.tags)


def _same_endpoint(a: str, b: str) -> bool:
    return a.strip().rstrip("/").lower() == b.strip().rstrip("/").lower()


def bootstraps_into(cluster: Any, boot: Bootstrap | None) -> bool:
    """Whether a node with this bootstrap reaches this cluster's API server and trusts it."""
    if boot is None or boot.cluster != cluster.name:
        return False
    endpoint = str(getattr(cluster, "endpoint", "") or "")
    # AL2's bootstrap.sh and Windows's Start-EKSBootstrap.ps1 look the endpoint up (DescribeCluster) when it is
    # not given; nodeadm and Bottlerocket need it.
    if boot.endpoint is None:
        if boot.format not in ("bootstrap.sh", "powershell"):
            return False
    elif not _same_endpoint(boot.endpoint, endpoint):
        return False
    ca = ((getattr(cluster, "certificate_authority", None) or {}).get("data")) or ""
    if boot.certificate_authority and ca and boot.certificate_authority.strip() != ca.strip():
        return False
    return all(_kubelet_may_set(key) for key in boot.labels)


def _kubelet_may_set(key: str) -> bool:
    prefix = key.split("/", 1)[0] if "/" in key else ""
    restricted = any(prefix == ns or prefix.endswith("." + ns) for ns in ("kubernetes.io", "k8s.io"))
    return not restricted or key in KUBELET_LABELS or prefix.endswith(KUBELET_LABEL_NAMESPACES)


def instance_role(launch_data: Mapping[str, Any], account: str, region: str) -> str | None:
    """The role ARN of the instance profile a launch template names (by Arn or Name), if it exists."""
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    profile = launch_data.get("IamInstanceProfile") or {}
    arn, name = profile.get("Arn"), profile.get("Name")
    if not (arn or name):
        return None
    for found in list(iam_backends[account][get_partition(region)].instance_profiles.values()):
        if (arn and found.arn == arn) or (name and found.name == name):
            return str(found.roles[0].arn) if found.roles else None
    return None


def canonical_role(arn: str) -> str:
    """A role ARN without its path, as aws-iam-authenticator maps the node's session back to it."""
    match = _ROLE_PATH.match(arn)
    return f"{match[1]}{match[2]}" if match else arn


def role_may_join(
    cluster: Any, role_arn: str | None, node_name: str, aws_auth: Mapping[str, Any], windows: bool = False
) -> bool:
    """Whether aws-auth or an access entry of the node's kind (EC2_LINUX, or EC2_WINDOWS for a Windows node)
    lets the role's nodes register as `node_name`."""
    if not role_arn:
        return False
    mode = (getattr(cluster, "access_config", None) or {}).get("authenticationMode", "CONFIG_MAP")
    canonical = canonical_role(role_arn)
    if mode in CONFIG_MAP_MODES:
        try:
            entries = yaml.safe_load(aws_auth.get("mapRoles") or "[]")
        except yaml.YAMLError:
            entries = []  # a malformed mapping lets nobody in
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict) or entry.get("rolearn") != canonical:
                continue
            username = str(entry.get("username") or "").replace("{{EC2PrivateDNSName}}", node_name)
            groups = {str(g) for g in entry.get("groups") or []}
            if username == f"system:node:{node_name}" and groups.issuperset(NODE_GROUPS):
                return True
    if mode in API_MODES:
        for entry in dict(cluster.__dict__.get("local_access_entries") or {}).values():
            kind = "EC2_WINDOWS" if windows else "EC2_LINUX"
            if entry.type == kind and entry.principal_arn in (role_arn, canonical):
                return True
    return False


BOOTSTRAP_FAMILIES = {
    "nodeadm": "al2023",
    "bootstrap.sh": "al2",
    "bottlerocket": "bottlerocket",
    "powershell": "windows",
}


def _node(cluster: Any, region: str, instance: Any, boot: Bootstrap) -> dict[str, Any]:
    from local.nodes import NodeShape, node_object, timestamp

    taints = [{k: v for k, v in t.items() if v} for t in boot.taints]
    shape = NodeShape(
        name=instance.private_dns_name,
        ip=instance.private_ip,
        zone=str(instance.availability_zone or ""),
        instance_id=instance.id,
        instance_type=instance.instance_type,
        family=BOOTSTRAP_FAMILIES.get(boot.format, "al2"),
        arch="arm64" if instance.architecture == "arm64" else "amd64",
        created=timestamp(getattr(instance, "launch_time", None)),
        labels=dict(boot.labels),
        taints=taints,
        max_pods=boot.max_pods,
    )
    return node_object(cluster, region, shape)


def launch_data(group: Any, instance: Any) -> dict[str, Any]:
    """The launch template data an instance was launched from (its group's current version if not recorded)."""
    version = getattr(instance, "launched_from", None)
    if version is None and group.ec2_launch_template is not None:
        version = group.ec2_launch_template.get_version(group.launch_template_version)
    return dict(version.data) if version is not None else {}


def selfmanaged_nodes_of(
    cluster: Any, region: str, aws_auth: Callable[[], Mapping[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The Ready nodes the cluster's Auto Scaling groups' running instances make by joining it."""
    from moto.autoscaling.models import autoscaling_backends

    account = _account(cluster)
    reader = aws_auth or getattr(cluster, "kube_aws_auth", None) or dict
    auth: Mapping[str, Any] | None = None
    nodes = []
    groups = autoscaling_backends[account][region].autoscaling_groups
    for group in sorted(list(groups.values()), key=lambda g: g.name):
        if not _owned(group, cluster.name):
            continue
        for state in list(group.instance_states):
            instance = state.instance
            if state.lifecycle_state != "InService" or instance.state != "running":
                continue
            data = launch_data(group, instance)
            boot = bootstrap_userdata.parse(data.get("UserData") or instance.user_data)
            if not bootstraps_into(cluster, boot):
                continue
            if auth is None:
                auth = dict(reader())
            role = instance_role(data, account, region)
            windows = boot is not None and boot.format == "powershell"
            if boot is not None and role_may_join(cluster, role, instance.private_dns_name, auth, windows):
                nodes.append(_node(cluster, region, instance, boot))
    return nodes
