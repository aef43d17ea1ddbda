"""The managed node group resource set: AWS::EKS::Nodegroup and, when it needs one, its launch template.

Mirrors eksctl's `managed_nodegroup.go` and `managed_launch_template.go` in
`pkg/cfn/builder`: subnets come from the cluster stack's exports.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from chalicelib.cfn import bottlerocket_toml
from chalicelib.cfn.iam import add_node_instance_role
from chalicelib.cfn.node_policies import inline_policies, managed_policies
from chalicelib.cfn.node_security_groups import ssh_key
from chalicelib.cfn.node_userdata import BOUNDARY, root_device, user_data
from chalicelib.cfn.template import (
    OUTPUT_NODE_ROLE_ARN,
    OUTPUT_NODEGROUP_NAME,
    OUTPUT_SUBNETS_PRIVATE,
    OUTPUT_SUBNETS_PUBLIC,
    OUTPUT_WINDOWS_NODES,
    Template,
    export_name,
    get_att,
    tag_list,
)
from chalicelib.model.images import is_windows
from chalicelib.model.nodegroup_spec import DEFAULT_IO_IOPS
from chalicelib.model.spec import AMI_FAMILIES

if TYPE_CHECKING:
    from chalicelib.model.nodegroup_spec import NodeRepairConfigSpec
    from chalicelib.model.spec import ClusterSpec, NodegroupSpec

# Only for specs recorded before AMI types were chosen from EC2's facts (see `ami_type`):
# the guess their stacks were built with, Graviton families ending in "g" (m6g, c7g, t4g) on ARM.
_ARM_FAMILY = re.compile(r"^[a-z]+\d+[a-z]*g[a-z]*\.")
# The cluster stack's export of EKS's cluster security group (templates.build_cluster_template).
OUTPUT_CLUSTER_SECURITY_GROUP = "ClusterSecurityGroupId"
# Kubernetes taint effects as AWS::EKS::Nodegroup spells them.
TAINT_EFFECT = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}


def ami_type(nodegroup: NodegroupSpec) -> str:
    """The group's EKS AmiType: the one chosen from EC2's facts about its instance types when it was requested.

    A spec recorded before requests chose it keeps the AmiType its stack was built with, guessed from
    the first type's name: a different one would make CloudFormation replace the node group.
    """
    if nodegroup.custom_image:
        return "CUSTOM"  # EKS refuses any other AmiType with a launch template that names an image
    if nodegroup.ami_type:
        return nodegroup.ami_type
    x86, arm = AMI_FAMILIES[nodegroup.ami_family]
    return arm if _ARM_FAMILY.match(nodegroup.types[0]) else x86


def add_managed_nodegroup(
    t: Template,
    spec: ClusterSpec,
    nodegroup: NodegroupSpec,
    node_role_arn: dict[str, list[str]],
    node_tags: dict[str, str],
) -> None:
    """Add the node group (and its launch template if it needs one); output its name.

    `node_tags` are what the group and its nodes are tagged with. The node group gets
    the stack's tags by propagation and lists only the rest (the group's own `tags`);
    its instances and volumes get nothing from the stack, so a launch template names
    them all, as eksctl's does.
    """
    properties: dict[str, Any] = {
        "ClusterName": spec.name,
        "NodegroupName": nodegroup.name,
        "NodeRole": node_role_arn,
        "Subnets": _subnets(spec, nodegroup),
        "ScalingConfig": {
            "MinSize": nodegroup.min_size,
            "DesiredSize": nodegroup.desired_capacity,
            "MaxSize": nodegroup.max_size,
        },
        "InstanceTypes": nodegroup.node_group_instance_types,
        "AmiType": ami_type(nodegroup),
        "CapacityType": "SPOT" if nodegroup.spot else "ON_DEMAND",
        "DiskSize": nodegroup.volume_size,
    }
    own = t.own_tags(node_tags)
    if own:
        properties["Tags"] = own  # AWS::EKS::Nodegroup takes a map, not a list
    if nodegroup.labels:
        properties["Labels"] = dict(nodegroup.labels)
    if properties["InstanceTypes"] is None:
        del properties["InstanceTypes"]
    if nodegroup.launch_template is not None:
        # The caller's own template: it holds the disk (and maybe the image and instance type).
        del properties["DiskSize"]
        given = nodegroup.launch_template
        properties["LaunchTemplate"] = {"Id": given.id, **({"Version": given.version} if given.version else {})}
    elif nodegroup.needs_launch_template:
        # EKS takes the disk from the launch template then, never from DiskSize.
        del properties["DiskSize"]
        data = _launch_template(t, spec, nodegroup, node_tags)
        template = t.new_resource("LaunchTemplate", "AWS::EC2::LaunchTemplate", data)
        properties["LaunchTemplate"] = {
            "Id": template,
            "Version": get_att("LaunchTemplate", "LatestVersionNumber"),
        }
    if nodegroup.taints:
        properties["Taints"] = [
            {"Key": taint.key, **({"Value": taint.value} if taint.value else {}), "Effect": TAINT_EFFECT[taint.effect]}
            for taint in nodegroup.taints
        ]
    if nodegroup.update_config:
        update = nodegroup.update_config
        properties["UpdateConfig"] = (
            {"MaxUnavailable": update.max_unavailable}
            if update.max_unavailable is not None
            else {"MaxUnavailablePercentage": update.max_unavailable_percentage}
        )
    if nodegroup.release_version:
        properties["ReleaseVersion"] = nodegroup.release_version
    if nodegroup.ssh is not None and nodegroup.ssh.allow:
        # Never with a launch template (the spec refuses the pair, as EKS does).
        remote: dict[str, Any] = {"Ec2SshKey": ssh_key(t, spec, nodegroup.name, nodegroup.ssh)}
        if nodegroup.ssh.source_security_group_ids:
            remote["SourceSecurityGroups"] = list(nodegroup.ssh.source_security_group_ids)
        properties["RemoteAccess"] = remote
    if nodegroup.node_repair_config is not None:
        properties["NodeRepairConfig"] = _node_repair_config(nodegroup.node_repair_config)
    t.new_resource("ManagedNodeGroup", "AWS::EKS::Nodegroup", properties)
    t.add_output(OUTPUT_NODEGROUP_NAME, get_att("ManagedNodeGroup", "NodegroupName"))
    if is_windows(nodegroup.ami_family):
        t.add_output(OUTPUT_WINDOWS_NODES, "true")


def add_managed_node_role(t: Template, spec: ClusterSpec, nodegroup: NodegroupSpec) -> dict[str, list[str]]:
    """The node role: EKS's worker policies, or, with `iam`, the policies a self-managed group's role gets
    from the same fields (`node_policies`); output its ARN and return it."""
    if nodegroup.iam is None:
        return add_node_instance_role(t)
    properties: dict[str, Any] = {
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}
            ],
        },
        "ManagedPolicyArns": managed_policies(nodegroup),
    }
    if nodegroup.iam.instance_role_permissions_boundary:
        properties["PermissionsBoundary"] = nodegroup.iam.instance_role_permissions_boundary
    inline = inline_policies(nodegroup, spec.name)
    if inline:
        properties["Policies"] = inline
    t.new_resource("NodeInstanceRole", "AWS::IAM::Role", properties)
    arn = get_att("NodeInstanceRole", "Arn")
    t.add_output(OUTPUT_NODE_ROLE_ARN, arn)
    return arn


def _node_repair_config(repair: NodeRepairConfigSpec) -> dict[str, Any]:
    """`NodeRepairConfig`: eksctl's `nodeRepairConfig` under AWS::EKS::Nodegroup's names; unset limits left out."""
    config: dict[str, Any] = {"Enabled": repair.enabled}
    for name, value in (
        ("MaxUnhealthyNodeThresholdPercentage", repair.max_unhealthy_node_threshold_percentage),
        ("MaxUnhealthyNodeThresholdCount", repair.max_unhealthy_node_threshold_count),
        ("MaxParallelNodesRepairedPercentage", repair.max_parallel_nodes_repaired_percentage),
        ("MaxParallelNodesRepairedCount", repair.max_parallel_nodes_repaired_count),
    ):
        if value is not None:
            config[name] = value
    if repair.node_repair_config_overrides:
        config["NodeRepairConfigOverrides"] = [
            {
                "NodeMonitoringCondition": override.node_monitoring_condition,
                "NodeUnhealthyReason": override.node_unhealthy_reason,
                "MinRepairWaitTimeMins": override.min_repair_wait_time_mins,
                "RepairAction": override.repair_action,
            }
            for override in repair.node_repair_config_overrides
        ]
    return config


def _subnets(spec: ClusterSpec, nodegroup: NodegroupSpec) -> Any:
    """The cluster's exported public or private subnets: all of them, or those of the group's zones."""
    kind = OUTPUT_SUBNETS_PRIVATE if nodegroup.private_networking else OUTPUT_SUBNETS_PUBLIC
    if not nodegroup.availability_zones:
        return {"Fn::Split": [",", {"Fn::ImportValue": export_name(spec.name, kind)}]}
    # The cluster exports subnet N of each kind for its Nth zone.
    cluster_zones = list(spec.availability_zones or [])
    picked = [cluster_zones.index(zone) + 1 for zone in nodegroup.availability_zones]
    return [{"Fn::ImportValue": export_name(spec.name, f"{kind}{index}")} for index in picked]


def _node_user_data(spec: ClusterSpec, nodegroup: NodegroupSpec) -> Any:
    """What the launch template's UserData holds, in the format the node's image reads.

    A custom image (`ami`) gets the whole bootstrap, as a self-managed node's (`node_userdata`): EKS adds
    nothing then. Otherwise EKS merges its own bootstrap into MIME multipart user data, so only what the
    group adds goes in: preBootstrapCommands (and an AL2023 overrideBootstrapCommand) as shell script
    parts, maxPodsPerNode as a NodeConfig part (AL2023) or TOML settings (Bottlerocket).
    """
    if nodegroup.ami is not None:
        return user_data(spec, nodegroup)
    if is_windows(nodegroup.ami_family):
        # EKS runs the image's bootstrap after these (eksctl's managed Windows user data: the commands alone).
        if not nodegroup.pre_bootstrap_commands:
            return None
        return {"Fn::Base64": "\n".join(["<powershell>", *nodegroup.pre_bootstrap_commands, "</powershell>"])}
    if nodegroup.ami_family == "Bottlerocket":
        # EKS merges its own bootstrap settings (cluster, labels, taints) into these.
        if nodegroup.max_pods_per_node is None and not nodegroup.bottlerocket_user_data:
            return None
        given = nodegroup.bottlerocket
        settings = bottlerocket_toml.user_settings(
            given.settings if given is not None else None,
            given.enable_admin_container if given is not None else None,
            None,
            max_pods=nodegroup.max_pods_per_node,
        )
        return {"Fn::Base64": bottlerocket_toml.dumps(settings)}
    commands = list(nodegroup.pre_bootstrap_commands or [])
    if nodegroup.override_bootstrap_command is not None:
        commands.append(nodegroup.override_bootstrap_command)
    parts = [
        f'--{BOUNDARY}\nContent-Type: text/x-shellscript; charset="us-ascii"\n\n'
        + (command if command.startswith("#!") else f"#!/bin/bash\n{command}")
        + "\n\n"
        for command in commands
    ]
    if nodegroup.max_pods_per_node is not None:
        # AL2023's nodeadm reads a NodeConfig from a MIME part; EKS merges its own parts in.
        parts.append(
            f"--{BOUNDARY}\nContent-Type: application/node.eks.aws\n\n"
            "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  kubelet:\n    config:\n"
            f"      maxPods: {nodegroup.max_pods_per_node}\n\n"
        )
    if not parts:
        return None
    head = f'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="{BOUNDARY}"\n\n'
    return {"Fn::Base64": head + "".join(parts) + f"--{BOUNDARY}--\n"}


def _launch_template(t: Template, spec: ClusterSpec, nodegroup: NodegroupSpec, tags: dict[str, str]) -> dict[str, Any]:
    """The launch template's properties: the disk, IMDSv2, monitoring, tags for what it launches, user data,
    the image and security groups when the group names them."""
    data: dict[str, Any] = {
        "BlockDeviceMappings": [{"DeviceName": root_device(nodegroup.ami_family), "Ebs": _volume(nodegroup)}],
        "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2},
        "TagSpecifications": [
            {"ResourceType": kind, "Tags": tag_list(tags)} for kind in ("instance", "volume", "network-interface")
        ],
    }
    if nodegroup.enable_detailed_monitoring:
        data["Monitoring"] = {"Enabled": True}
    node_user_data = _node_user_data(spec, nodegroup)
    if node_user_data:
        data["UserData"] = node_user_data
    if nodegroup.ami is not None:
        data["ImageId"] = nodegroup.ami
    if nodegroup.ssh is not None and nodegroup.key_without_remote_access:
        data["KeyName"] = ssh_key(t, spec, nodegroup.name, nodegroup.ssh)
    if nodegroup.security_groups is not None:
        # A launch template that sets groups replaces EKS's: the cluster security group must be among them,
        # or the nodes cannot reach the control plane.
        cluster_group = {"Fn::ImportValue": export_name(spec.name, OUTPUT_CLUSTER_SECURITY_GROUP)}
        data["SecurityGroupIds"] = [*nodegroup.security_groups.attach_ids, cluster_group]
    return {"LaunchTemplateData": data}


def _volume(nodegroup: NodegroupSpec) -> dict[str, Any]:
    """The node volume: eksctl's gp3 unless another type is asked for, with its IOPS and throughput."""
    kind = nodegroup.volume_type or "gp3"
    volume: dict[str, Any] = {"VolumeSize": nodegroup.volume_size, "VolumeType": kind, "Encrypted": True}
    if nodegroup.volume_iops is not None:
        volume["Iops"] = nodegroup.volume_iops
    elif kind in ("io1", "io2"):
        volume["Iops"] = DEFAULT_IO_IOPS  # EC2 requires IOPS for these; eksctl's default
    if nodegroup.volume_throughput is not None:
        volume["Throughput"] = nodegroup.volume_throughput
    return volume
