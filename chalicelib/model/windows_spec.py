"""The cluster-wide rules for Windows node groups (amiFamily WindowsServer2019/2022 Full or Core).

A node group's own rules are in `nodegroup_spec` and `selfmanaged_spec`; these look at the cluster:
- Windows nodes run no kube-system pods: CoreDNS, the VPC CNI's controllers and the add-ons run on
  Linux nodes only, so a cluster with Windows groups needs a Linux group next to them (eksctl warns,
  "a Linux node group is required to support Windows workloads"; on EKS the add-ons would never be
  ready). Auto Mode's node pools are Linux nodes too.
- EKS runs no Windows pods on IPv6 clusters ("Windows Pods and services aren't supported" in EKS's
  IPv6 documentation).
- EC2 takes no ED25519 key pair for Windows instances: a Windows group's `ssh.publicKey` is RSA (an EC2
  key pair named by `publicKeyName` is checked when requested, chalicelib/operations/key_pairs.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.model.images import LINUX_FAMILIES, is_windows

if TYPE_CHECKING:
    from chalicelib.model.spec import ClusterSpec
    from chalicelib.model.validation import Problem


def has_windows(spec: ClusterSpec) -> bool:
    """Whether any node group of the cluster runs Windows."""
    return any(is_windows(group.ami_family) for group in spec.nodegroups)


def windows_problems(spec: ClusterSpec) -> list[Problem]:
    """What keeps the cluster's Windows node groups from running pods, each on the group's amiFamily."""
    groups = spec.nodegroups
    windows = [index for index, group in enumerate(groups) if is_windows(group.ami_family)]
    if not windows:
        return []
    problems: list[Problem] = []
    linux = any(not is_windows(group.ami_family) for group in groups) or spec.auto_mode
    if not linux:
        index = windows[0]
        message = (
            "a cluster with Windows node groups needs a Linux node group too (amiFamily "
            f"{', '.join(LINUX_FAMILIES)}): CoreDNS and the other kube-system pods run only on Linux nodes "
            "(eksctl warns; the add-ons would never become ready)"
        )
        family = groups[index].ami_family
        problems.append(((*spec.group_loc(index), "amiFamily"), "windows_needs_linux", message, family))
    for index in windows:
        ssh = groups[index].ssh
        if ssh is not None and ssh.public_key is not None and ssh.public_key.startswith("ssh-ed25519"):
            message = "EC2 takes no ED25519 key for Windows instances: give an RSA key"
            problems.append(((*spec.group_loc(index), "ssh", "publicKey"), "windows_key_type", message, None))
    network = spec.kubernetes_network_config
    if network is not None and network.ip_family == "IPv6":
        for index in windows:
            message = "EKS runs no Windows pods on an IPv6 cluster; use an IPv4 cluster for Windows node groups"
            family = groups[index].ami_family
            problems.append(((*spec.group_loc(index), "amiFamily"), "windows_ipv6", message, family))
    return problems
