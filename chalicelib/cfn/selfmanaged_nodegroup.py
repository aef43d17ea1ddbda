"""The self-managed node group resource set: instance role, security group, launch template and Auto Scaling group.

Mirrors eksctl's `nodegroup.go` in `pkg/cfn/builder` (eksctl's `nodeGroups[]`): the stack launches
its own instances, which join the cluster with the user data of `node_userdata` once the workflow
maps the role in aws-auth. Their security groups are in `node_security_groups`, their role's policies
in `node_policies`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.cfn.node_policies import inline_policies, managed_policies
from chalicelib.cfn.node_security_groups import add_node_security_groups, ssh_key
from chalicelib.cfn.node_userdata import root_device, user_data
from chalicelib.cfn.template import (
    OUTPUT_NODE_ROLE_ARN,
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

if TYPE_CHECKING:
    from chalicelib.model.selfmanaged_spec import SelfManagedNodegroupSpec
    from chalicelib.model.spec import ClusterSpec

# What the Auto Scaling group is called and what it outputs: its name, for scaling and deleting.
OUTPUT_ASG_NAME = "NodeGroupAutoScalingGroup"
# EC2 Auto Scaling's limit of tags per group (and EC2's per instance).
MAX_ASG_TAGS = 50
AUTOSCALER_PREFIX = "k8s.io/cluster-autoscaler/"


def add_selfmanaged_nodegroup(
    t: Template, spec: ClusterSpec, group: SelfManagedNodegroupSpec, node_tags: dict[str, str]
) -> None:
    """Add the group's role, instance profile, security groups, launch template and Auto Scaling group.

    `node_tags` are what the nodes are tagged with (the launch template names them all: propagation
    never reaches instances). Raises ValueError for a group with no image yet, too many tags or
    user data over EC2's limit.
    """
    if group.image_id is None:
        raise ValueError(f"node group {group.name} has no imageId: resolve its ami before building its stack")
    role_arn = _add_role(t, spec, group)
    security_groups = add_node_security_groups(t, spec, group)
    name = group.instance_name or f"{spec.name}-{group.name}-Node"
    asg_tags = _asg_tags(t, spec, group, node_tags, name)
    t.new_resource(
        "NodeGroupLaunchTemplate",
        "AWS::EC2::LaunchTemplate",
        {"LaunchTemplateData": _launch_template_data(t, spec, group, security_groups, {**node_tags, "Name": name})},
    )
    version: dict[str, Any] = {
        "LaunchTemplateId": {"Ref": "NodeGroupLaunchTemplate"},
        "Version": get_att("NodeGroupLaunchTemplate", "LatestVersionNumber"),
    }
    properties: dict[str, Any] = {
        "MinSize": str(group.min_size),
        "MaxSize": str(group.max_size),
        "DesiredCapacity": str(group.desired_capacity),
        "VPCZoneIdentifier": _subnets(spec, group),
        "Tags": [{"Key": k, "Value": v, "PropagateAtLaunch": True} for k, v in sorted(asg_tags.items())],
    }
    mixed = group.instances_distribution
    if mixed is None:
        properties["LaunchTemplate"] = version
    else:
        distribution: dict[str, Any] = {
            "OnDemandBaseCapacity": mixed.on_demand_base_capacity,
            "OnDemandPercentageAboveBaseCapacity": mixed.on_demand_percentage_above_base_capacity,
        }
        if mixed.spot_allocation_strategy:
            distribution["SpotAllocationStrategy"] = mixed.spot_allocation_strategy
        if mixed.spot_instance_pools is not None:
            distribution["SpotInstancePools"] = mixed.spot_instance_pools
        if mixed.max_price is not None:
            distribution["SpotMaxPrice"] = f"{mixed.max_price:f}"
        properties["MixedInstancesPolicy"] = {
            "LaunchTemplate": {
                "LaunchTemplateSpecification": version,
                "Overrides": [{"InstanceType": kind} for kind in mixed.instance_types],
            },
            "InstancesDistribution": distribution,
        }
        if mixed.capacity_rebalance:
            properties["CapacityRebalance"] = True
    if group.asg_metrics_collection:
        properties["MetricsCollection"] = [
            {"Granularity": m.granularity, **({"Metrics": list(m.metrics)} if m.metrics else {})}
            for m in group.asg_metrics_collection
        ]
    if group.max_instance_lifetime is not None:
        properties["MaxInstanceLifetime"] = group.max_instance_lifetime
    if group.target_group_arns:
        properties["TargetGroupARNs"] = list(group.target_group_arns)
    if group.classic_load_balancer_names:
        properties["LoadBalancerNames"] = list(group.classic_load_balancer_names)
    # A new launch template version replaces the nodes a few at a time, as eksctl's groups do, with
    # asgSuspendProcesses suspended meanwhile.
    rolling: dict[str, Any] = {}
    if group.asg_suspend_processes:
        rolling["SuspendProcesses"] = list(group.asg_suspend_processes)
    t.new_resource(
        "NodeGroup",
        "AWS::AutoScaling::AutoScalingGroup",
        properties,
        UpdatePolicy={"AutoScalingRollingUpdate": rolling},
    )
    t.add_output(OUTPUT_NODE_ROLE_ARN, role_arn)
    t.add_output(OUTPUT_ASG_NAME, {"Ref": "NodeGroup"})
    if is_windows(group.ami_family):
        t.add_output(OUTPUT_WINDOWS_NODES, "true")


def _add_role(t: Template, spec: ClusterSpec, group: SelfManagedNodegroupSpec) -> dict[str, list[str]]:
    """Add the instance role (its managed and inline policies) and its instance profile; return the role's ARN."""
    properties: dict[str, Any] = {
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}
            ],
        },
        "ManagedPolicyArns": managed_policies(group),
        "Path": "/",
    }
    if group.iam and group.iam.instance_role_permissions_boundary:
        properties["PermissionsBoundary"] = group.iam.instance_role_permissions_boundary
    inline = inline_policies(group, spec.name)
    if inline:
        properties["Policies"] = inline
    t.new_resource("NodeInstanceRole", "AWS::IAM::Role", properties)
    t.new_resource(
        "NodeInstanceProfile", "AWS::IAM::InstanceProfile", {"Path": "/", "Roles": [{"Ref": "NodeInstanceRole"}]}
    )
    return get_att("NodeInstanceRole", "Arn")


def _named_subnets(spec: ClusterSpec, group: SelfManagedNodegroupSpec) -> list[tuple[str, bool]]:
    """(subnet ID, public) for each of `subnets`, a key or ID of vpc.subnets: the group's kind first, as a key
    (a zone) may name one subnet of each kind."""
    given = spec.vpc.subnets
    kinds = [(False, given.private), (True, given.public)] if given else []
    if not group.private_networking:
        kinds.reverse()
    found = []
    for name in group.subnets or []:
        match = next(
            ((s.id, public) for public, subnets in kinds for key, s in subnets.items() if name in (key, s.id) and s.id),
            (name, not group.private_networking),
        )
        found.append(match)
    return found


def _public(spec: ClusterSpec, group: SelfManagedNodegroupSpec) -> bool:
    """Whether the nodes go in public subnets (and so get a public address)."""
    if group.subnets:
        return all(public for _, public in _named_subnets(spec, group))
    return not group.private_networking


def _launch_template_data(
    t: Template, spec: ClusterSpec, group: SelfManagedNodegroupSpec, security_groups: list[Any], tags: dict[str, str]
) -> dict[str, Any]:
    """The launch template's data: image, type, profile, network, disk, IMDS, tags and user data."""
    data: dict[str, Any] = {
        "ImageId": group.image_id,
        "IamInstanceProfile": {"Arn": get_att("NodeInstanceProfile", "Arn")},
        "BlockDeviceMappings": [_block_device(group)],
        "MetadataOptions": {
            "HttpTokens": "required" if group.disable_imds_v1 or group.disable_pod_imds else "optional",
            "HttpPutResponseHopLimit": 1 if group.disable_pod_imds else 2,
        },
        "TagSpecifications": [
            {"ResourceType": kind, "Tags": tag_list(tags)} for kind in ("instance", "volume", "network-interface")
        ],
        "UserData": user_data(spec, group),
    }
    if group.instances_distribution is None:
        data["InstanceType"] = group.instance_type
    if _public(spec, group):
        # A public address whatever the subnet's default, so nodes in an existing VPC's public subnets reach EKS.
        data["NetworkInterfaces"] = [
            {"DeviceIndex": 0, "AssociatePublicIpAddress": True, "DeleteOnTermination": True, "Groups": security_groups}
        ]
    else:
        data["SecurityGroupIds"] = security_groups
    if group.ssh is not None and group.ssh.has_key:  # port 22 is opened only with ssh.allow
        data["KeyName"] = ssh_key(t, spec, group.name, group.ssh)
    if group.enable_detailed_monitoring is not None:
        data["Monitoring"] = {"Enabled": group.enable_detailed_monitoring}
    if group.ebs_optimized is not None:
        data["EbsOptimized"] = group.ebs_optimized
    if group.cpu_credits is not None:
        data["CreditSpecification"] = {"CpuCredits": group.cpu_credits}
    return data


def _block_device(group: SelfManagedNodegroupSpec) -> dict[str, Any]:
    """The node volume: root on AL2 and AL2023, Bottlerocket's data volume; gp3 unless asked otherwise."""
    kind = group.volume_type or "gp3"
    volume: dict[str, Any] = {"VolumeSize": group.volume_size, "VolumeType": kind}
    if group.volume_encrypted is not None or group.volume_kms_key_id:
        volume["Encrypted"] = bool(group.volume_encrypted or group.volume_kms_key_id)
    if group.volume_kms_key_id:
        volume["KmsKeyId"] = group.volume_kms_key_id
    if group.volume_iops is not None:
        volume["Iops"] = group.volume_iops
    elif kind in ("io1", "io2"):
        volume["Iops"] = DEFAULT_IO_IOPS
    if group.volume_throughput is not None:
        volume["Throughput"] = group.volume_throughput
    return {"DeviceName": root_device(group.ami_family), "Ebs": volume}


def _subnets(spec: ClusterSpec, group: SelfManagedNodegroupSpec) -> Any:
    """The subnets `subnets` names (by key or ID), else the cluster's exported ones of the group's kind and zones."""
    if group.subnets:
        return [subnet for subnet, _ in _named_subnets(spec, group)]
    kind = OUTPUT_SUBNETS_PRIVATE if group.private_networking else OUTPUT_SUBNETS_PUBLIC
    if not group.availability_zones:
        return {"Fn::Split": [",", {"Fn::ImportValue": export_name(spec.name, kind)}]}
    # The cluster exports subnet N of each kind for its Nth zone.
    zones = list(spec.availability_zones or [])
    return [
        {"Fn::ImportValue": export_name(spec.name, f"{kind}{zones.index(z) + 1}")} for z in group.availability_zones
    ]


def _asg_tags(
    t: Template, spec: ClusterSpec, group: SelfManagedNodegroupSpec, node_tags: dict[str, str], name: str
) -> dict[str, str]:
    """The group's tags beyond the stack's (which CloudFormation gives it too), all propagated to the nodes.

    Raises ValueError past Auto Scaling's 50, the stack's tags counted.
    """
    tags = {**t.own_tags(node_tags), "Name": name, f"kubernetes.io/cluster/{spec.name}": "owned"}
    addons = group.iam.with_addon_policies if group.iam else None
    if addons is not None and addons.auto_scaler:
        # Cluster Autoscaler's auto-discovery tags; its policy may change only groups tagged for this cluster.
        tags.update({f"{AUTOSCALER_PREFIX}enabled": "true", f"{AUTOSCALER_PREFIX}{spec.name}": "owned"})
    if group.propagate_asg_tags:
        # What the nodes would have, for Cluster Autoscaler to scale the group up from zero.
        template = f"{AUTOSCALER_PREFIX}node-template/"
        tags.update({f"{template}label/{k}": v for k, v in group.labels.items()})
        tags.update({f"{template}taint/{x.key}": f"{x.value or ''}:{x.effect}" for x in group.taints})
    total = len({*t.stack_tags, *tags, *node_tags})
    if total > MAX_ASG_TAGS:
        raise ValueError(
            f"node group {group.name}: its Auto Scaling group and nodes would carry {total} tags, over the "
            f"{MAX_ASG_TAGS} EC2 Auto Scaling allows; use fewer tags, labels or taints, or leave propagateASGTags off"
        )
    return tags
