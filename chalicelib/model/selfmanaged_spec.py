"""A self-managed node group (`nodeGroups[]` in eksctl): its own launch template and Auto Scaling group.

Field names and defaults are eksctl's (`NodeGroup` in its ClusterConfig schema). What a managed
group shares is in `nodegroup_spec.NodeGroupBase`; the stack is built in
`chalicelib/cfn/selfmanaged_nodegroup.py`. These nodes join the cluster through aws-auth: their
instance role is mapped to `system:bootstrappers` and `system:nodes` once the stack is up.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from chalicelib.model import naming
from chalicelib.model.images import is_windows
from chalicelib.model.inline_policy import InlinePolicy  # noqa: TC001 (pydantic reads it at runtime)
from chalicelib.model.nodegroup_spec import (
    DEFAULT_INSTANCE_TYPE,
    INSTANCE_TYPE_PATTERN,
    SECURITY_GROUP_ID_PATTERN,
    NodeGroupBase,
)
from chalicelib.model.validation import POLICY_ARN_PATTERN, PermissionsBoundaryArn, Problem, SpecModel, raise_problems

SUBNET_ID_PATTERN = r"^subnet-[0-9a-f]{8,17}$"
AMI_ID_PATTERN = r"^ami-[0-9a-f]{8,17}$"
# An ELBv2 target group (`arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID`) and a Classic
# Load Balancer's name (1-32 letters, digits and hyphens, no hyphen first or last), as ELB names them.
TARGET_GROUP_ARN_PATTERN = (
    r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z]{2}(-[a-z]+)+-\d:\d{12}:targetgroup/"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?/[0-9a-f]{16}$"
)
CLASSIC_LB_NAME_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$"
# EC2 Auto Scaling's quotas: target groups and Classic Load Balancers per Auto Scaling group.
MAX_ASG_LOAD_BALANCERS = 50
# eksctl's `ami` keywords: resolve the EKS-optimized image from the public SSM parameters EKS publishes.
AMI_AUTO = ("auto", "auto-ssm")
SPOT_ALLOCATION_STRATEGIES = (
    "lowest-price",
    "capacity-optimized",
    "capacity-optimized-prioritized",
    "price-capacity-optimized",
)
ASG_METRICS = (
    "GroupMinSize",
    "GroupMaxSize",
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupPendingInstances",
    "GroupStandbyInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
    "GroupInServiceCapacity",
    "GroupPendingCapacity",
    "GroupStandbyCapacity",
    "GroupTerminatingCapacity",
    "GroupTotalCapacity",
    "WarmPoolDesiredCapacity",
    "WarmPoolWarmedCapacity",
    "WarmPoolPendingCapacity",
    "WarmPoolTerminatingCapacity",
    "WarmPoolTotalCapacity",
    "GroupAndWarmPoolDesiredCapacity",
    "GroupAndWarmPoolTotalCapacity",
)
# The Auto Scaling processes a rolling update may suspend (EC2 Auto Scaling's SuspendProcesses names, as eksctl
# checks them); eksctl puts asgSuspendProcesses in the group's UpdatePolicy.AutoScalingRollingUpdate.
ASG_PROCESSES = (
    "Launch",
    "Terminate",
    "AddToLoadBalancer",
    "AlarmNotification",
    "AZRebalance",
    "HealthCheck",
    "InstanceRefresh",
    "ReplaceUnhealthy",
    "ScheduledActions",
)
# IAM's limit of managed policies per role (default quota).
MAX_ROLE_POLICIES = 10
# A node role holds naming.WORKER_POLICIES unless attachPolicyARNs replaces them, ECR reads anyway,
# and a managed policy for each of these withAddonPolicies flags.
ECR_READ = "AmazonEC2ContainerRegistryReadOnly"
ADDON_MANAGED_POLICY_FLAGS = ("ebs", "cloudWatch", "imageBuilder")
# Tags ekspress puts on a node group stack (ownership, kind, node group names); CloudFormation passes them on.
STACK_OWN_TAGS = 7
# An Auto Scaling group takes at most 50 tags.
MAX_ASG_TAGS = 50
# Bootstrap scripts go into user data, which EC2 caps at 16 KB before base64.
MAX_USER_DATA = 16 * 1024
CONTAINERD = "containerd"
# Instance types a self-managed group names itself (eksctl's rule), and an Auto Scaling group's overrides.
MAX_NAMED_TYPES, MAX_SELECTED_TYPES = 20, 40

InstanceType = Annotated[str, Field(max_length=32, pattern=INSTANCE_TYPE_PATTERN)]


class InstancesDistributionSpec(SpecModel):
    """`instancesDistribution`: several instance types, spot and on-demand mixed (the ASG's MixedInstancesPolicy)."""

    # 20 named (as eksctl), up to the Auto Scaling group's 40 overrides when instanceSelector chose them.
    instance_types: Annotated[list[InstanceType], Field(min_length=1, max_length=MAX_SELECTED_TYPES)]
    max_price: Annotated[float, Field(gt=0)] | None = None
    on_demand_base_capacity: Annotated[int, Field(ge=0)] = 0
    on_demand_percentage_above_base_capacity: Annotated[int, Field(ge=0, le=100)] = 100
    spot_instance_pools: Annotated[int, Field(ge=1, le=20)] | None = None
    spot_allocation_strategy: (
        Literal["lowest-price", "capacity-optimized", "capacity-optimized-prioritized", "price-capacity-optimized"]
        | None
    ) = None
    capacity_rebalance: bool = False

    @model_validator(mode="after")
    def _pools_with_lowest_price(self) -> InstancesDistributionSpec:
        # EC2 Auto Scaling takes SpotInstancePools only with the lowest-price strategy (as eksctl checks).
        strategy = self.spot_allocation_strategy or "lowest-price"
        if self.spot_instance_pools is not None and strategy != "lowest-price":
            message = f"spotInstancePools applies only to spotAllocationStrategy lowest-price, not {strategy}"
            raise_problems("InstancesDistributionSpec", [(("spotInstancePools",), "spot_pools", message, None)])
        return self


class NodeSecurityGroupsSpec(SpecModel):
    """`securityGroups`: extra groups to attach, and whether to use the cluster's shared and the group's own."""

    attach_ids: Annotated[
        list[Annotated[str, Field(pattern=SECURITY_GROUP_ID_PATTERN)]] | None, Field(min_length=1, max_length=3)
    ] = Field(default=None, alias="attachIDs")
    with_shared: bool = True
    with_local: bool = True


class AddonPoliciesSpec(SpecModel):
    """`iam.withAddonPolicies`: eksctl's well-known policies for add-ons that run on these nodes."""

    auto_scaler: bool | None = None
    ebs: bool | None = None
    efs: bool | None = None
    alb_ingress: bool | None = None
    aws_load_balancer_controller: bool | None = None
    cloud_watch: bool | None = None
    external_dns: bool | None = Field(default=None, alias="externalDNS")
    cert_manager: bool | None = None
    image_builder: bool | None = None
    x_ray: bool | None = Field(default=None, alias="xRay")
    fsx: bool | None = None

    def enabled(self) -> list[str]:
        """The policies asked for, by their eksctl field names."""
        dumped = self.model_dump(by_alias=True, exclude_none=True)
        return [name for name, on in dumped.items() if on]


class NodeGroupIamSpec(SpecModel):
    """`iam` of a self-managed group: the policies of the instance role ekspress makes for it."""

    attach_policy_arns: Annotated[
        list[Annotated[str, Field(pattern=POLICY_ARN_PATTERN)]] | None,
        Field(min_length=1, max_length=MAX_ROLE_POLICIES),
    ] = Field(default=None, alias="attachPolicyARNs")
    with_addon_policies: AddonPoliciesSpec | None = None
    # An inline policy of the caller's (eksctl's Policy1), held to the inline policy rule and the service
    # policy's allowed actions (inline_policy).
    attach_policy: InlinePolicy | None = None
    # A boundary only narrows what the role may do, so any policy may be one.
    instance_role_permissions_boundary: PermissionsBoundaryArn | None = None


class SelfManagedNodegroupSpec(NodeGroupBase):
    """One self-managed node group (`nodeGroups[]` in eksctl)."""

    # eksctl writes "mixed" here with instancesDistribution; the first of its types is kept.
    instance_type: Annotated[str, Field(max_length=32, pattern=r"^(mixed|[a-z][a-z0-9-]*\.[a-z0-9]+)$")] = (
        DEFAULT_INSTANCE_TYPE
    )
    instances_distribution: InstancesDistributionSpec | None = None
    volume_encrypted: bool | None = None
    volume_kms_key_id: Annotated[str, Field(min_length=1, max_length=2048)] | None = Field(
        default=None, alias="volumeKmsKeyID"
    )
    # Subnet IDs of the cluster's existing VPC, or names of its vpc.subnets (eksctl takes both).
    subnets: Annotated[list[Annotated[str, Field(min_length=1, max_length=255)]] | None, Field(min_length=1)] = None
    security_groups: NodeSecurityGroupsSpec = Field(default_factory=NodeSecurityGroupsSpec)
    iam: NodeGroupIamSpec | None = None
    # `auto` (eksctl's default): the EKS-optimized image from EKS's public SSM parameters; or an AMI ID.
    ami: Annotated[str, Field(pattern=rf"^(auto|auto-ssm|{AMI_ID_PATTERN[1:-1]})$")] = "auto"
    # The image the stack launches: `ami` resolved when the group was requested; a request leaves it out.
    image_id: Annotated[str | None, Field(pattern=AMI_ID_PATTERN, json_schema_extra={"readOnly": True})] = None
    pre_bootstrap_commands: Annotated[list[Annotated[str, Field(max_length=4096)]] | None, Field(max_length=20)] = None
    override_bootstrap_command: Annotated[str, Field(min_length=1, max_length=MAX_USER_DATA)] | None = None
    kubelet_extra_config: Annotated[dict[str, Any], Field(max_length=50)] | None = None
    # eksctl's `containerRuntime`: containerd, the only runtime EKS's images run from Kubernetes 1.24 (unset: the same).
    container_runtime: str | None = None
    asg_metrics_collection: Annotated[list[AsgMetricsSpec] | None, Field(max_length=1)] = Field(
        default=None, alias="asgMetricsCollection"
    )
    disable_imds_v1: bool = Field(default=True, alias="disableIMDSv1")
    disable_pod_imds: bool = Field(default=False, alias="disablePodIMDS")
    propagate_asg_tags: bool | None = Field(default=None, alias="propagateASGTags")
    max_instance_lifetime: Annotated[int, Field(ge=86400, le=31536000)] | None = None
    ebs_optimized: bool | None = None
    cpu_credits: Literal["standard", "unlimited"] | None = None
    instance_name: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    # The Auto Scaling group's TargetGroupARNs and LoadBalancerNames: its instances are registered there.
    target_group_arns: Annotated[
        list[Annotated[str, Field(pattern=TARGET_GROUP_ARN_PATTERN)]] | None,
        Field(min_length=1, max_length=MAX_ASG_LOAD_BALANCERS),
    ] = Field(default=None, alias="targetGroupARNs")
    classic_load_balancer_names: Annotated[
        list[Annotated[str, Field(pattern=CLASSIC_LB_NAME_PATTERN)]] | None,
        Field(min_length=1, max_length=MAX_ASG_LOAD_BALANCERS),
    ] = None
    # Suspended while CloudFormation replaces the group's nodes in a rolling update (its UpdatePolicy).
    asg_suspend_processes: Annotated[list[str] | None, Field(min_length=1, max_length=len(ASG_PROCESSES))] = None

    @property
    def managed(self) -> bool:
        return False

    @property
    def types(self) -> list[str]:
        """The instance types the group may run (the first decides the processor)."""
        if self.instances_distribution is not None:
            return list(self.instances_distribution.instance_types)
        return [self.instance_type]

    def type_fields(self) -> list[tuple[tuple[str | int, ...], str]]:
        if self.instances_distribution is None:
            return [(("instanceType",), self.instance_type)]
        names = self.instances_distribution.instance_types
        return [(("instancesDistribution", "instanceTypes", index), name) for index, name in enumerate(names)]

    @property
    def role_policy_count(self) -> int:
        """How many managed policies the instance role holds (see `cfn/node_policies.managed_policies`)."""
        given = {arn.rsplit("/", 1)[-1] for arn in (self.iam.attach_policy_arns if self.iam else None) or []}
        addons = self.iam.with_addon_policies if self.iam else None
        flags = set(addons.enabled()) if addons else set()
        names = given or set(naming.WORKER_POLICIES)
        if "imageBuilder" in flags:
            names.discard(ECR_READ)  # PowerUser, a superset, takes its place
        else:
            names.add(ECR_READ)  # kept with attachPolicyARNs, as eksctl
        names |= {flag for flag in flags if flag in ADDON_MANAGED_POLICY_FLAGS}
        return len(names)

    def asg_tag_count(self, cluster_tags: int) -> int:
        """The Auto Scaling group's tags: the stack's (the cluster's and ekspress's), the group's, Name,
        `kubernetes.io/cluster/NAME`, cluster-autoscaler's two with autoScaler and, with propagateASGTags,
        one per label and taint."""
        propagated = len(self.labels) + len(self.taints) if self.propagate_asg_tags else 0
        addons = self.iam.with_addon_policies if self.iam else None
        autoscaler = 2 if addons is not None and addons.auto_scaler else 0  # cluster-autoscaler's discovery tags
        return cluster_tags + STACK_OWN_TAGS + len(self.tags) + 2 + propagated + autoscaler

    @property
    def custom_ami(self) -> bool:
        return self.ami not in AMI_AUTO

    @field_validator("asg_suspend_processes")
    @classmethod
    def _known_processes(cls, value: list[str] | None) -> list[str] | None:
        unknown = [name for name in value or [] if name not in ASG_PROCESSES]
        if unknown:
            raise PydanticCustomError(
                "asg_process",
                "unknown Auto Scaling process(es) {unknown}; valid: {valid}",
                {"unknown": ", ".join(unknown), "valid": ", ".join(ASG_PROCESSES)},
            )
        if value is not None and len(set(value)) != len(value):
            raise PydanticCustomError("duplicate", "a process is named twice", {})
        return value

    @field_validator("kubelet_extra_config")
    @classmethod
    def _kubelet_config_is_data(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        # eksctl merges it into the KubeletConfiguration; keys are the kubelet's camelCase names.
        for key in value or {}:
            if not key or not key[0].isalpha():
                raise PydanticCustomError(
                    "kubelet_key", "kubeletExtraConfig key '{key}' is not a kubelet setting", {"key": key}
                )
        return value

    @field_validator("container_runtime")
    @classmethod
    def _containerd_only(cls, value: str | None) -> str | None:
        if value is not None and value != CONTAINERD:
            raise PydanticCustomError(
                "container_runtime",
                "only containerd is supported for container runtime, starting with EKS version 1.24 (as eksctl); "
                "every version offered is later",
            )
        return value

    @model_validator(mode="after")
    def _rules(self) -> SelfManagedNodegroupSpec:
        problems: list[Problem] = []
        mixed = self.instances_distribution
        if mixed is not None:
            # eksctl writes instanceType "mixed" then; a stored spec carries the first type, which decides the image.
            given = "instance_type" in self.model_fields_set and self.instance_type not in (
                "mixed",
                mixed.instance_types[0],
            )
            if given:
                message = "give instanceType or instancesDistribution.instanceTypes, not both (as eksctl)"
                problems.append((("instanceType",), "one_of", message, self.instance_type))
            object.__setattr__(self, "instance_type", mixed.instance_types[0])
        if mixed is not None and self.instance_selector is None and len(mixed.instance_types) > MAX_NAMED_TYPES:
            message = f"name at most {MAX_NAMED_TYPES} instance types (as eksctl; instanceSelector may choose 40)"
            problems.append((("instancesDistribution", "instanceTypes"), "too_long", message, None))
        if self.custom_ami and self.override_bootstrap_command is None and self.ami_family == "AmazonLinux2":
            # eksctl's rule: a custom AL2 image has no known bootstrap script to call.
            message = "a custom ami with amiFamily AmazonLinux2 needs overrideBootstrapCommand"
            problems.append((("overrideBootstrapCommand",), "bootstrap_required", message, None))
        if self.override_bootstrap_command is not None and self.ami_family == "Bottlerocket":
            message = "Bottlerocket takes TOML settings, not a bootstrap command; remove overrideBootstrapCommand"
            problems.append((("overrideBootstrapCommand",), "bootstrap_family", message, None))
        if self.pre_bootstrap_commands and self.ami_family == "Bottlerocket":
            message = "Bottlerocket runs no shell at boot; remove preBootstrapCommands"
            problems.append((("preBootstrapCommands",), "bootstrap_family", message, None))
        if self.kubelet_extra_config and self.ami_family == "Bottlerocket":
            message = "Bottlerocket takes kubelet settings as TOML settings, not kubeletExtraConfig"
            problems.append((("kubeletExtraConfig",), "kubelet_config_family", message, None))
        if self.kubelet_extra_config and is_windows(self.ami_family):
            message = f"kubeletExtraConfig is not supported for {self.ami_family} nodegroups (as eksctl)"
            problems.append((("kubeletExtraConfig",), "kubelet_config_family", message, None))
        if self.container_runtime is not None and self.override_bootstrap_command is not None:
            message = (
                "overrideBootstrapCommand overwrites the container runtime setting (as eksctl): pass the runtime "
                "to the bootstrap script in the command instead, and leave containerRuntime out"
            )
            problems.append((("containerRuntime",), "container_runtime_override", message, self.container_runtime))
        if self.role_policy_count > MAX_ROLE_POLICIES:
            message = (
                f"the instance role would hold {self.role_policy_count} managed policies (attachPolicyARNs, "
                f"ECR reads and the withAddonPolicies that are managed policies); IAM allows {MAX_ROLE_POLICIES}"
            )
            problems.append((("iam", "attachPolicyARNs"), "too_many_role_policies", message, None))
        if self.volume_kms_key_id is not None and self.volume_encrypted is False:
            message = "volumeKmsKeyID needs volumeEncrypted"
            problems.append((("volumeKmsKeyID",), "kms_needs_encryption", message, self.volume_kms_key_id))
        for field, named in (
            ("targetGroupARNs", self.target_group_arns),
            ("classicLoadBalancerNames", self.classic_load_balancer_names),
        ):
            seen: set[str] = set()
            for index, item in enumerate(named or []):
                if item in seen:
                    problems.append(((field, index), "duplicate", f"{item} is named twice", item))
                seen.add(item)
        ssh = self.ssh
        if ssh is not None and ssh.allow and not self.security_groups.with_local:
            message = "ssh rules live on the group's own security group: keep securityGroups.withLocal"
            problems.append((("ssh", "allow"), "ssh_needs_local_group", message, None))
        if not (self.security_groups.with_shared or self.security_groups.with_local or self.security_groups.attach_ids):
            message = "a node needs a security group: keep withShared or withLocal, or give attachIDs"
            problems.append((("securityGroups",), "no_security_group", message, None))
        if problems:
            raise_problems("SelfManagedNodegroupSpec", problems)
        return self


class AsgMetricsSpec(SpecModel):
    """`asgMetricsCollection[]`: the group metrics the ASG sends to CloudWatch (1Minute is the only granularity)."""

    granularity: Literal["1Minute"]
    metrics: Annotated[list[str] | None, Field(min_length=1, max_length=20)] = None

    @field_validator("metrics")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        unknown = [m for m in value or [] if m not in ASG_METRICS]
        if unknown:
            raise PydanticCustomError(
                "asg_metric", "unknown Auto Scaling metric(s) {unknown}", {"unknown": ", ".join(unknown)}
            )
        return value
