"""The security groups of self-managed nodes: the cluster's shared node group and each node group's own.

Mirrors eksctl's `addResourcesForSecurityGroups` (`pkg/cfn/builder/nodegroup.go`) and the shared node
security group of its cluster stack (`cluster.go`): nodes talk to the control plane through its
security group on the kubelet and HTTPS ports, and to every other node, managed ones included,
through the shared group and EKS's cluster security group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.cfn.template import OUTPUT_SECURITY_GROUP, OUTPUT_VPC, Ref, Template, export_name, get_att

if TYPE_CHECKING:
    from chalicelib.model.nodegroup_spec import SshSpec
    from chalicelib.model.selfmanaged_spec import SelfManagedNodegroupSpec
    from chalicelib.model.spec import ClusterSpec

# The cluster stack's export of the shared node security group (eksctl's output name).
OUTPUT_SHARED_NODE_SECURITY_GROUP = "SharedNodeSecurityGroup"
ANYWHERE_IPV4, ANYWHERE_IPV6 = "0.0.0.0/0", "::/0"
# Control plane to kubelet and workloads, and to extension API servers on HTTPS (eksctl's rules).
_NODE_PORTS = ((1025, 65535, "kubelet and workload TCP ports"), (443, 443, "workloads using HTTPS port"))


def add_shared_node_security_group(t: Template, vpc: Ref | str, existing: str | None = None, rules: bool = True) -> Any:
    """Add the group every self-managed node shares, open between its members and EKS's cluster security group.

    EKS puts managed nodes and the control plane in its cluster security group; these rules let
    self-managed nodes and those talk both ways on every port. Exported for node group stacks.
    With `existing` (vpc.sharedNodeSecurityGroup) that group is exported instead and nothing is made
    but, unless `rules` is off (manageSharedNodeSecurityGroupRules), its rules with EKS's group (as eksctl).
    """
    group: Any = existing
    rule_set: list[tuple[str, Any, Any, str]] = []
    if existing is None:
        group = t.new_resource(
            "ClusterSharedNodeSecurityGroup",
            "AWS::EC2::SecurityGroup",
            {
                "GroupDescription": "Communication between all nodes in the cluster",
                "VpcId": vpc,
                "Tags": t.ec2_tags("ClusterSharedNodeSecurityGroup"),
            },
        )
        rule_set.append(
            ("IngressInterNodeGroupSG", group, group, "Allow nodes to communicate with each other (all ports)")
        )
    eks_group = get_att("ControlPlane", "ClusterSecurityGroupId")
    if rules:
        rule_set += [
            (
                "IngressDefaultClusterToNodeSG",
                group,
                eks_group,
                "Allow managed and unmanaged nodes to communicate (all ports)",
            ),
            (
                "IngressNodeToDefaultClusterSG",
                eks_group,
                group,
                "Allow unmanaged nodes to reach the control plane (all ports)",
            ),
        ]
    for logical_id, target, source, description in rule_set:
        t.new_resource(
            logical_id,
            "AWS::EC2::SecurityGroupIngress",
            {
                "GroupId": target,
                "SourceSecurityGroupId": source,
                "Description": description,
                "IpProtocol": "-1",  # every protocol and port
            },
        )
    t.add_output(OUTPUT_SHARED_NODE_SECURITY_GROUP, group, export=True)
    return group


def add_node_security_groups(t: Template, spec: ClusterSpec, group: SelfManagedNodegroupSpec) -> list[Any]:
    """Add the group's own security group and its rules with the control plane's (unless withLocal is off).

    Return the groups the nodes are in: attachIDs, the cluster's shared one, their own.
    """
    chosen = group.security_groups
    groups: list[Any] = list(chosen.attach_ids or [])
    if chosen.with_shared:
        groups.append({"Fn::ImportValue": export_name(spec.name, OUTPUT_SHARED_NODE_SECURITY_GROUP)})
    if not chosen.with_local:
        return groups
    control_plane = {"Fn::ImportValue": export_name(spec.name, OUTPUT_SECURITY_GROUP)}
    about = f"worker nodes in group {group.name}"
    ingress: list[dict[str, Any]] = [
        {
            "SourceSecurityGroupId": control_plane,
            "Description": f"Allow {about} to communicate with control plane ({why})",
            "IpProtocol": "tcp",
            "FromPort": low,
            "ToPort": high,
        }
        for low, high, why in _NODE_PORTS
    ]
    ingress += _ssh_rules(spec, group, about)
    local = t.new_resource(
        "SG",
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": f"Communication between the control plane and {about}",
            "VpcId": {"Fn::ImportValue": export_name(spec.name, OUTPUT_VPC)},
            "SecurityGroupIngress": ingress,
            "Tags": t.ec2_tags("SG", {f"kubernetes.io/cluster/{spec.name}": "owned"}),
        },
    )
    for (low, high, why), logical_id in zip(_NODE_PORTS, ("EgressInterCluster", "EgressInterClusterAPI"), strict=True):
        t.new_resource(
            logical_id,
            "AWS::EC2::SecurityGroupEgress",
            {
                "GroupId": control_plane,
                "DestinationSecurityGroupId": local,
                "Description": f"Allow control plane to communicate with {about} ({why})",
                "IpProtocol": "tcp",
                "FromPort": low,
                "ToPort": high,
            },
        )
    t.new_resource(
        "IngressInterClusterCP",
        "AWS::EC2::SecurityGroupIngress",
        {
            "GroupId": control_plane,
            "SourceSecurityGroupId": local,
            "Description": f"Allow control plane to receive API requests from {about}",
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
        },
    )
    return [*groups, local]


def _ssh_rules(spec: ClusterSpec, group: SelfManagedNodegroupSpec, about: str) -> list[dict[str, Any]]:
    """Port 22 from the given groups; else from the VPC for private nodes of a VPC we built, else anywhere."""
    ssh = group.ssh
    if ssh is None or not ssh.allow:
        return []
    port = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22}
    if ssh.source_security_group_ids:
        return [{**port, "SourceSecurityGroupId": sg} for sg in ssh.source_security_group_ids]
    description = f"Allow SSH access to {about}"
    if group.private_networking and not spec.vpc.existing:
        return [{**port, "CidrIp": spec.vpc.cidr, "Description": f"{description} (private, only inside VPC)"}]
    return [
        {**port, "CidrIp": ANYWHERE_IPV4, "Description": description},
        {**port, "CidrIpv6": ANYWHERE_IPV6, "Description": description},
    ]


def ssh_key(t: Template, spec: ClusterSpec, group: str, ssh: SshSpec) -> Any:
    """The EC2 key pair a group's nodes get: the one `publicKeyName` names, or a Ref to the key this stack
    imports from `publicKey` (eksctl imports it with its API instead; in the stack, it goes with the group)."""
    if ssh.public_key is None:
        return ssh.public_key_name
    return t.new_resource(
        "SSHKeyPair",
        "AWS::EC2::KeyPair",
        {
            "KeyName": ssh.key_pair_name(spec.name, group),
            "PublicKeyMaterial": ssh.public_key,
            "Tags": t.ec2_tags("SSHKeyPair"),
        },
    )
