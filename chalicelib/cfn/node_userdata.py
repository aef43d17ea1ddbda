"""A self-managed node's user data (or a managed node's on a custom `ami`), in the format its image reads at boot.

AmazonLinux2023's nodeadm reads a NodeConfig from a MIME part (`application/node.eks.aws`),
AmazonLinux2 runs a shell script that calls `/etc/eks/bootstrap.sh`, Bottlerocket reads TOML
settings and Windows runs PowerShell that calls the image's `Start-EKSBootstrap.ps1`: each as the
image's documentation gives it, since that is what decides whether a node joins.
The cluster's endpoint and CA are imported from the cluster stack at deploy time, through `Fn::Sub`.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from typing import TYPE_CHECKING, Any

from chalicelib.cfn import bottlerocket_toml
from chalicelib.cfn.bottlerocket_toml import toml_string as toml_string  # re-exported
from chalicelib.cfn.template import OUTPUT_CA, OUTPUT_ENDPOINT, export_name
from chalicelib.model.images import is_windows
from chalicelib.model.naming import TAG_EKSCTL_CLUSTER, TAG_EKSCTL_NODEGROUP
from chalicelib.model.network_spec import service_range
from chalicelib.model.selfmanaged_spec import MAX_USER_DATA

if TYPE_CHECKING:
    from chalicelib.model.nodegroup_spec import NodegroupSpec
    from chalicelib.model.selfmanaged_spec import SelfManagedNodegroupSpec
    from chalicelib.model.spec import ClusterSpec

BOUNDARY = "//"
# Stand-ins while the text is built: `Fn::Sub` variables once user text is escaped.
_ENDPOINT, _CA = "\x00endpoint\x00", "\x00ca\x00"
# What the imports stand for, at their longest, when measuring against EC2's 16 KB: an EKS
# endpoint is ~70 characters and a cluster CA ~1,500 base64 characters.
_ENDPOINT_ROOM, _CA_ROOM = 128, 2048


def node_labels(spec: ClusterSpec, group: SelfManagedNodegroupSpec | NodegroupSpec) -> dict[str, str]:
    """The group's labels with eksctl's own, which say which cluster and group a node is of."""
    return {**group.labels, TAG_EKSCTL_CLUSTER: spec.name, TAG_EKSCTL_NODEGROUP: group.name}


def _taints(group: SelfManagedNodegroupSpec | NodegroupSpec) -> str:
    return ",".join(f"{t.key}={t.value}:{t.effect}" if t.value else f"{t.key}:{t.effect}" for t in group.taints)


def _labels(spec: ClusterSpec, group: SelfManagedNodegroupSpec | NodegroupSpec) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(node_labels(spec, group).items()))


def _kubelet_extra(group: SelfManagedNodegroupSpec | NodegroupSpec) -> dict[str, Any] | None:
    """kubeletExtraConfig: a self-managed group's field; a managed group has none."""
    extra: dict[str, Any] | None = getattr(group, "kubelet_extra_config", None)
    return extra


def _script(commands: list[str]) -> str:
    return "".join(f'--{BOUNDARY}\nContent-Type: text/x-shellscript; charset="us-ascii"\n\n{c}\n\n' for c in commands)


def _al2023(spec: ClusterSpec, group: SelfManagedNodegroupSpec | NodegroupSpec) -> str:
    pre = [c if c.startswith("#!") else f"#!/bin/bash\n{c}" for c in group.pre_bootstrap_commands or []]
    head = f'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="{BOUNDARY}"\n\n'
    if group.override_bootstrap_command is not None:
        command = group.override_bootstrap_command
        return head + _script([*pre, command if command.startswith("#!") else f"#!/bin/bash\n{command}"]) + "--//--\n"
    cidr = service_range(spec)
    config: dict[str, Any] = dict(_kubelet_extra(group) or {})
    if group.max_pods_per_node is not None:
        config["maxPods"] = group.max_pods_per_node
    flags = [f"--node-labels={_labels(spec, group)}"]
    if group.taints:
        flags.append(f"--register-with-taints={_taints(group)}")
    # Scalars as JSON, which is YAML: quoting is then never a question.
    lines = [
        "---",
        "apiVersion: node.eks.aws/v1alpha1",
        "kind: NodeConfig",
        "spec:",
        "  cluster:",
        f"    name: {json.dumps(spec.name)}",
        f'    apiServerEndpoint: "{_ENDPOINT}"',
        f'    certificateAuthority: "{_CA}"',
        f"    cidr: {json.dumps(cidr)}",
        "  kubelet:",
    ]
    if config:
        lines += [
            "    config:",
            *(f"      {json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in sorted(config.items())),
        ]
    lines += ["    flags:", *(f"      - {json.dumps(flag)}" for flag in flags)]
    node_config = f"--{BOUNDARY}\nContent-Type: application/node.eks.aws\n\n" + "\n".join(lines) + "\n\n"
    return head + _script(pre) + node_config + f"--{BOUNDARY}--\n"


def _al2(spec: ClusterSpec, group: SelfManagedNodegroupSpec | NodegroupSpec) -> str:
    lines = ["#!/bin/bash", "set -o errexit -o pipefail", *(group.pre_bootstrap_commands or [])]
    if group.override_bootstrap_command is not None:
        return "\n".join([*lines, group.override_bootstrap_command]) + "\n"
    if _kubelet_extra(group):
        # bootstrap.sh starts from the image's kubelet config file: the extra settings are merged into it first.
        extra = shlex.quote(json.dumps(_kubelet_extra(group), sort_keys=True))
        config = "/etc/kubernetes/kubelet/kubelet-config.json"
        lines.append(f"echo \"$(jq -s '.[0] * .[1]' {config} - <<< {extra})\" > {config}")
    kubelet = [f"--node-labels={_labels(spec, group)}"]
    if group.taints:
        kubelet.append(f"--register-with-taints={_taints(group)}")
    bootstrap = [
        "/etc/eks/bootstrap.sh",
        shlex.quote(spec.name),
        "--apiserver-endpoint",
        f"'{_ENDPOINT}'",
        "--b64-cluster-ca",
        f"'{_CA}'",
    ]
    if group.max_pods_per_node is not None:
        bootstrap += ["--use-max-pods", "false"]
        kubelet.append(f"--max-pods={group.max_pods_per_node}")
    bootstrap += ["--kubelet-extra-args", shlex.quote(" ".join(kubelet))]
    return "\n".join([*lines, " ".join(bootstrap)]) + "\n"


def _bottlerocket(spec: ClusterSpec, group: SelfManagedNodegroupSpec | NodegroupSpec) -> str:
    taints: dict[str, list[str]] = {}
    for taint in group.taints:
        taints.setdefault(taint.key, []).append(f"{taint.value or ''}:{taint.effect}")
    given = group.bottlerocket
    ssh_allowed = group.ssh is not None and bool(group.ssh.allow)
    admin = given.admin_enabled(ssh_allowed) if given is not None else (True if ssh_allowed else None)
    settings = bottlerocket_toml.user_settings(
        given.settings if given is not None else None,
        admin,
        (spec.name, _ENDPOINT, _CA),
        node_labels(spec, group),
        taints,
        group.max_pods_per_node,
    )
    return bottlerocket_toml.dumps(settings)


# The EKS bootstrap script every EKS-optimized Windows image carries, and how eksctl calls it.
WINDOWS_BOOTSTRAP_SCRIPT = r"$env:ProgramFiles\Amazon\EKS\Start-EKSBootstrap.ps1"
# The script writes to PowerShell's other streams too: eksctl sends them to the output (the console log).
_WINDOWS_STREAMS = "3>&1 4>&1 5>&1 6>&1"


def root_device(family: str) -> str:
    """The device of the node volume a launch template sizes: Windows's root (`/dev/sda1`, as eksctl maps it),
    Bottlerocket's data volume (where it keeps containers), the root volume of the Amazon Linux images."""
    if is_windows(family):
        return "/dev/sda1"
    return "/dev/xvdb" if family == "Bottlerocket" else "/dev/xvda"


def cluster_dns_ip(spec: ClusterSpec) -> str:
    """The cluster DNS service's address: the 10th of the service range, as EKS (and eksctl) put it."""
    return str(ipaddress.ip_network(service_range(spec))[10])


def _quoted(value: str) -> str:
    """A value inside a PowerShell single-quoted string (no expansion; a quote is doubled)."""
    return value.replace("'", "''")


def _double_quoted(value: str) -> str:
    """A value inside a PowerShell double-quoted string: `$`, `"` and the backtick escaped with a backtick."""
    return re.sub(r'([`"$])', r"`\1", value)


def _windows(spec: ClusterSpec, group: SelfManagedNodegroupSpec | NodegroupSpec) -> str:
    """eksctl's Windows user data: PowerShell that runs the image's Start-EKSBootstrap.ps1 with the cluster's
    name, endpoint and CA, the service range and DNS address, containerd, and the kubelet's labels and taints.

    With overrideBootstrapCommand the same values are PowerShell variables (`$EKSClusterName`,
    `$APIServerEndpoint`, `$Base64ClusterCA`, `$KubeletExtraArgs`, ...) for the command to use.
    """
    kubelet = [("node-labels", _labels(spec, group)), ("register-with-taints", _taints(group))]
    if group.max_pods_per_node is not None:
        kubelet.append(("max-pods", str(group.max_pods_per_node)))
    params = [
        ("EKSClusterName", spec.name),
        ("APIServerEndpoint", _ENDPOINT),
        ("Base64ClusterCA", _CA),
        ("ServiceCIDR", service_range(spec)),
        ("DNSClusterIP", cluster_dns_ip(spec)),
        ("ContainerRuntime", "containerd"),  # eksctl's default, the only runtime from Kubernetes 1.24
        ("KubeletExtraArgs", " ".join(f"--{key}={value}" for key, value in kubelet)),
    ]
    lines = ["<powershell>", f'[string]$EKSBootstrapScriptFile = "{WINDOWS_BOOTSTRAP_SCRIPT}"']
    lines += group.pre_bootstrap_commands or []
    if group.override_bootstrap_command is not None:
        lines += [f"[string]${key} = '{_quoted(value)}'" for key, value in params]
        table = ";".join(f" '{key}' = '{_quoted(value)}'" for key, value in kubelet)
        lines += [f"$KubeletExtraArgsMap = @{{{table}}}", group.override_bootstrap_command.rstrip("\n")]
    else:
        arguments = " ".join(f'-{key} "{_double_quoted(value)}"' for key, value in params if value)
        lines.append(f"& $EKSBootstrapScriptFile {arguments} {_WINDOWS_STREAMS}")
    return "\n".join([*lines, "</powershell>"]) + "\n"


def user_data(spec: ClusterSpec, group: SelfManagedNodegroupSpec | NodegroupSpec) -> dict[str, Any]:
    """The launch template's UserData: `Fn::Base64` of `Fn::Sub` with the cluster's endpoint and CA imported.

    Raises ValueError when it would pass EC2's 16 KB (before base64).
    """
    builders = {"AmazonLinux2023": _al2023, "AmazonLinux2": _al2, "Bottlerocket": _bottlerocket}
    build = _windows if is_windows(group.ami_family) else builders[group.ami_family]
    text = build(spec, group)
    size = len(text.replace(_ENDPOINT, "x" * _ENDPOINT_ROOM).replace(_CA, "x" * _CA_ROOM).encode())
    if size > MAX_USER_DATA:
        raise ValueError(
            f"node group {group.name}: its user data would be about {size} bytes, over EC2's {MAX_USER_DATA}; "
            "shorten preBootstrapCommands, overrideBootstrapCommand or kubeletExtraConfig"
        )
    if _ENDPOINT not in text and _CA not in text:  # a script of the user's own: nothing to import
        return {"Fn::Base64": text}
    # `${` in user text is literal for Fn::Sub only as `${!`.
    escaped = text.replace("${", "${!").replace(_ENDPOINT, "${Endpoint}").replace(_CA, "${CA}")
    imports = {
        "Endpoint": {"Fn::ImportValue": export_name(spec.name, OUTPUT_ENDPOINT)},
        "CA": {"Fn::ImportValue": export_name(spec.name, OUTPUT_CA)},
    }
    return {"Fn::Base64": {"Fn::Sub": [escaped, imports]}}
