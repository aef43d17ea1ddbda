"""A node group as a request names it: what managed (`managedNodeGroups[]`) and self-managed
(`nodeGroups[]`, in `selfmanaged_spec`) groups share, the managed group, sizing defaults and scaling requests."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_serializer, model_validator
from pydantic_core import PydanticCustomError

from chalicelib.model import images, keys
from chalicelib.model.bottlerocket_spec import BottlerocketSpec  # noqa: TC001 (pydantic reads it at runtime)
from chalicelib.model.instance_selector_spec import InstanceSelectorSpec  # noqa: TC001 (read at runtime)
from chalicelib.model.validation import Problem, SpecModel, Tags, check_labels, check_name, raise_problems

DEFAULT_INSTANCE_TYPE = "m5.large"
DEFAULT_DESIRED_CAPACITY = 2
DEFAULT_VOLUME_SIZE = 80
MAX_NODES_PER_GROUP = 450  # EKS managed node group quota

INSTANCE_TYPE_PATTERN = r"^[a-z][a-z0-9-]*\.[a-z0-9]+$"
AMI_FAMILIES = images.AMI_FAMILIES  # eksctl's amiFamily → its standard AmiType per processor (x86_64, arm64)
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
# eksctl's EBS limits (v1alpha5 validation): IOPS per volume type, gp3 throughput in MiB/s.
VOLUME_IOPS = {"gp3": (3000, 16000), "io1": (100, 64000), "io2": (100, 256000)}
DEFAULT_IO_IOPS = 100  # eksctl's default for io1 and io2 when volumeIOPS is not given
VOLUME_THROUGHPUT = (125, 1000)
# EKS-optimized AMI release versions: `1.33.0-20250704` (AL2, AL2023) or `1.42.0-a1b2c3d4` (Bottlerocket).
RELEASE_VERSION_PATTERN = r"^\d+\.\d+\.\d+-[0-9a-z]+$"
SECURITY_GROUP_ID_PATTERN = r"^sg-[0-9a-f]{8,17}$"
LAUNCH_TEMPLATE_ID_PATTERN = r"^lt-[0-9a-f]{8,17}$"
MANAGED_AMI_ID_PATTERN = r"^ami-[0-9a-f]{8,17}$"
# EC2 caps user data at 16 KB before base64.
MAX_MANAGED_USER_DATA = 16 * 1024


class TaintSpec(SpecModel):
    key: Annotated[str, Field(min_length=1, max_length=63)]
    value: Annotated[str, Field(max_length=63)] | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class UpdateConfigSpec(SpecModel):
    max_unavailable: Annotated[int, Field(ge=1, le=100)] | None = None
    max_unavailable_percentage: Annotated[int, Field(ge=1, le=100)] | None = None

    @model_validator(mode="after")
    def _one(self) -> UpdateConfigSpec:
        if (self.max_unavailable is None) == (self.max_unavailable_percentage is None):
            raise PydanticCustomError("one_of", "give exactly one of maxUnavailable and maxUnavailablePercentage")
        return self


class SshSpec(SpecModel):
    """`ssh`: an EC2 key pair on the nodes and who may reach port 22.

    The key is an EC2 key pair by name (`publicKeyName`) or an OpenSSH public key (`publicKey`),
    which the group's stack imports as `eksctl-CLUSTER-nodegroup-NG-FINGERPRINT` (`keys.imported_key_name`)
    and deletes with the group. eksctl's `publicKeyPath` names a file on the caller's machine: the ekspress CLI reads
    it (and eksctl's default `~/.ssh/id_rsa.pub` for a bare `allow: true`) and sends `publicKey`.
    As in eksctl, a key given without `allow` turns SSH on, and with `allow: false` no rule opens port 22
    to the nodes; they still get the key, which eksctl does for `publicKeyName` only (it imports no
    `publicKey` then, silently).
    """

    allow: bool | None = None
    public_key_name: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    public_key: Annotated[str, AfterValidator(keys.check_public_key)] | None = None
    source_security_group_ids: Annotated[
        list[Annotated[str, Field(pattern=SECURITY_GROUP_ID_PATTERN)]] | None, Field(min_length=1, max_length=5)
    ] = None
    # eksctl's deprecated switch: the SSM agent is in every EKS-optimized AMI and cannot be turned off.
    enable_ssm: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _allow_with_a_key(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and data.get("allow") is None
            and (data.get("publicKeyName") or data.get("publicKey"))
        ):
            return {**data, "allow": True}  # eksctl's default: a key given means SSH on
        return data

    @model_validator(mode="after")
    def _key_when_allowed(self) -> SshSpec:
        problems: list[Problem] = []
        if self.public_key_name is not None and self.public_key is not None:
            message = "give one key: publicKeyName (an EC2 key pair) or publicKey (imported), not both"
            problems.append((("publicKey",), "one_of", message, None))
        if self.allow and self.public_key_name is None and self.public_key is None:
            message = (
                "ssh.allow needs a key: ssh.publicKeyName (an EC2 key pair in the region) or ssh.publicKey "
                "(the ekspress CLI reads ~/.ssh/id_rsa.pub into it, as eksctl does)"
            )
            problems.append((("publicKeyName",), "ssh_key_required", message, None))
        if self.enable_ssm is False:
            message = "the SSM agent is built into EKS AMIs and cannot be disabled (eksctl's rule)"
            problems.append((("enableSsm",), "ssm_always_on", message, False))
        if not self.allow and self.source_security_group_ids:
            message = "needs ssh.allow: true (without it, no rule opens port 22)"
            problems.append((("sourceSecurityGroupIds",), "ssh_not_allowed", message, None))
        if problems:
            raise_problems("SshSpec", problems)
        return self

    @property
    def has_key(self) -> bool:
        return self.public_key_name is not None or self.public_key is not None

    def key_pair_name(self, cluster: str, group: str) -> str | None:
        """The EC2 key pair the nodes get: the one named, or the one the group's stack imports."""
        if self.public_key is not None:
            return keys.imported_key_name(cluster, group, self.public_key)
        return self.public_key_name


class NodeRepairConfigOverrideSpec(SpecModel):
    """One of `nodeRepairConfig.nodeRepairConfigOverrides`: EKS takes one only with all four values."""

    node_monitoring_condition: Annotated[str, Field(min_length=1, max_length=128)]
    node_unhealthy_reason: Annotated[str, Field(min_length=1, max_length=128)]
    min_repair_wait_time_mins: Annotated[int, Field(ge=1)]
    # EKS's repair actions (AWS::EKS::Nodegroup NodeRepairConfigOverrides.RepairAction).
    repair_action: Literal["Replace", "Reboot", "NoAction"]


class NodeRepairConfigSpec(SpecModel):
    """`nodeRepairConfig`: EKS node auto repair, and when it stops and how fast it goes.

    Each limit is a percentage or a count, never both (eksctl's and EKS's rule).
    """

    enabled: bool
    max_unhealthy_node_threshold_percentage: Annotated[int, Field(ge=1, le=100)] | None = None
    max_unhealthy_node_threshold_count: Annotated[int, Field(ge=1, le=MAX_NODES_PER_GROUP)] | None = None
    max_parallel_nodes_repaired_percentage: Annotated[int, Field(ge=1, le=100)] | None = None
    max_parallel_nodes_repaired_count: Annotated[int, Field(ge=1, le=MAX_NODES_PER_GROUP)] | None = None
    node_repair_config_overrides: Annotated[list[NodeRepairConfigOverrideSpec] | None, Field(max_length=50)] = None

    @model_validator(mode="after")
    def _percentage_or_count(self) -> NodeRepairConfigSpec:
        problems: list[Problem] = []
        for what, percentage, count in (
            (
                "maxUnhealthyNodeThreshold",
                self.max_unhealthy_node_threshold_percentage,
                self.max_unhealthy_node_threshold_count,
            ),
            (
                "maxParallelNodesRepaired",
                self.max_parallel_nodes_repaired_percentage,
                self.max_parallel_nodes_repaired_count,
            ),
        ):
            if percentage is not None and count is not None:
                message = f"give {what}Percentage or {what}Count, not both (as eksctl and EKS)"
                problems.append(((f"{what}Count",), "one_of", message, count))
        if problems:
            raise_problems("NodeRepairConfigSpec", problems)
        return self


class ManagedSecurityGroupsSpec(SpecModel):
    """`securityGroups` of a managed group: only `attachIDs` (eksctl refuses withShared and withLocal there).

    The launch template puts the nodes in these groups and in EKS's cluster security group, without
    which they could not reach the control plane.
    """

    attach_ids: Annotated[
        list[Annotated[str, Field(pattern=SECURITY_GROUP_ID_PATTERN)]], Field(min_length=1, max_length=4)
    ] = Field(alias="attachIDs")


class LaunchTemplateRefSpec(SpecModel):
    """`launchTemplate`: the caller's own EC2 launch template, used instead of one the stack makes."""

    id: Annotated[str, Field(pattern=LAUNCH_TEMPLATE_ID_PATTERN)]
    # eksctl: a version number, at least 1; without it the template's default version.
    version: Annotated[str, Field(pattern=r"^[1-9][0-9]{0,8}$")] | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class NodeGroupBase(SpecModel):
    """What a managed and a self-managed node group share: eksctl's names, defaults and rules."""

    name: Annotated[str, Field(min_length=1, max_length=63), AfterValidator(check_name)]
    instance_type: Annotated[str, Field(max_length=32, pattern=INSTANCE_TYPE_PATTERN)] = DEFAULT_INSTANCE_TYPE
    # Declared min, max, desired: each validator only sees fields declared before it.
    min_size: Annotated[int, Field(ge=0, le=MAX_NODES_PER_GROUP)] | None = None
    max_size: Annotated[int, Field(ge=1, le=MAX_NODES_PER_GROUP)] | None = None
    desired_capacity: Annotated[int, Field(ge=0, le=MAX_NODES_PER_GROUP)] | None = None
    volume_size: Annotated[int, Field(ge=4, le=16384)] = DEFAULT_VOLUME_SIZE
    labels: Annotated[dict[str, str], Field(max_length=50)] = Field(default_factory=dict)
    private_networking: bool = False
    ami_family: images.AmiFamily = "AmazonLinux2023"
    # Chosen when the group is requested (images.py), from amiFamily, the version and EC2's facts about
    # the instance types, and kept in the stored spec for the templates. A request may leave it out.
    ami_type: Annotated[images.AmiType | None, Field(json_schema_extra={"readOnly": True})] = None
    taints: Annotated[list[TaintSpec], Field(max_length=50)] = Field(default_factory=list)
    tags: Tags = Field(default_factory=dict)
    # Zones of the cluster's availabilityZones to put the nodes in (default: all of them).
    availability_zones: Annotated[list[str] | None, Field(min_length=1, max_length=3)] = None
    volume_type: Literal["gp2", "gp3", "io1", "io2", "sc1", "st1"] | None = None
    max_pods_per_node: Annotated[int, Field(ge=1, le=737)] | None = None
    volume_iops: int | None = Field(default=None, alias="volumeIOPS")
    volume_throughput: int | None = None
    enable_detailed_monitoring: bool | None = None
    ssh: SshSpec | None = None
    # Bottlerocket's admin container and settings, merged into its TOML user data (amiFamily Bottlerocket).
    bottlerocket: BottlerocketSpec | None = None
    # Criteria for the instance types, turned into the group's types when it is requested (eksctl's way).
    instance_selector: InstanceSelectorSpec | None = None

    @property
    def managed(self) -> bool:
        """Whether EKS runs the group (AWS::EKS::Nodegroup) or its own Auto Scaling group does."""
        raise NotImplementedError

    @property
    def types(self) -> list[str]:
        """The instance types the group may run (the first decides the processor)."""
        raise NotImplementedError

    def type_fields(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Each instance type the group names, with the field it is written in (for 422s)."""
        raise NotImplementedError

    @model_validator(mode="after")
    def _selector_or_instance_type(self) -> Self:
        # eksctl refuses an instance type next to a selector; a list of types must be what it selects
        # (checked when requested), which is how a stored spec carries them.
        named_one = self.type_fields() == [(("instanceType",), self.instance_type)]
        given = "instance_type" in self.model_fields_set and self.instance_type != "mixed"
        if self.instance_selector is not None and named_one and given:
            message = "give instanceType or instanceSelector, not both (as eksctl)"
            raise_problems(type(self).__name__, [(("instanceType",), "one_of", message, self.instance_type)])
        return self

    @field_validator("taints", mode="before")
    @classmethod
    def _taints_as_map(cls, value: Any) -> Any:
        """eksctl also takes taints as a map, `key: "value:Effect"` (or `key: ":Effect"`)."""
        if not isinstance(value, dict):
            return value
        taints = []
        for key, spec in value.items():
            text = str(spec)
            taint_value, _, effect = text.rpartition(":") if ":" in text else ("", "", text)
            taints.append({"key": key, **({"value": taint_value} if taint_value else {}), "effect": effect})
        return taints

    @model_validator(mode="after")
    def _max_pods_needs_a_known_bootstrap(self) -> Self:
        no_setting = self.ami_family == "AmazonLinux2" or images.is_windows(self.ami_family)
        if self.max_pods_per_node is not None and no_setting and self.managed:
            raise PydanticCustomError(
                "max_pods_ami", "maxPodsPerNode is supported with amiFamily AmazonLinux2023 or Bottlerocket"
            )
        return self

    @model_validator(mode="after")
    def _bottlerocket_settings(self) -> Self:
        """eksctl's rules: `bottlerocket` only with amiFamily Bottlerocket, and none of the settings it writes."""
        if self.bottlerocket is None:
            return self
        if self.ami_family != "Bottlerocket":
            message = f"bottlerocket can only be used with amiFamily Bottlerocket, not {self.ami_family} (as eksctl)"
            raise_problems(type(self).__name__, [(("bottlerocket",), "bottlerocket_family", message, None)])
        problems = self.bottlerocket.problems(self.managed)
        if problems:
            raise_problems(type(self).__name__, problems)
        return self

    @model_validator(mode="after")
    def _volume_performance(self) -> Self:
        """eksctl's rules: IOPS for gp3, io1 and io2 within their ranges; throughput for gp3 only.

        Without volumeType the volume is gp3, eksctl's default.
        """
        kind = self.volume_type or "gp3"
        iops, throughput = self.volume_iops, self.volume_throughput
        problems: list[Problem] = []
        if iops is not None and kind not in VOLUME_IOPS:
            message = f"volumeIOPS is only supported for gp3, io1 and io2 volume types, not {kind}"
            problems.append((("volumeIOPS",), "volume_iops_type", message, iops))
        elif iops is not None and not VOLUME_IOPS[kind][0] <= iops <= VOLUME_IOPS[kind][1]:
            low, high = VOLUME_IOPS[kind]
            message = f"volumeIOPS for {kind} must be within range {low}-{high}"
            problems.append((("volumeIOPS",), "volume_iops_range", message, iops))
        if throughput is not None and kind != "gp3":
            message = f"volumeThroughput is only supported for the gp3 volume type, not {kind}"
            problems.append((("volumeThroughput",), "volume_throughput_type", message, throughput))
        elif throughput is not None and not VOLUME_THROUGHPUT[0] <= throughput <= VOLUME_THROUGHPUT[1]:
            message = "volumeThroughput must be within range {}-{}".format(*VOLUME_THROUGHPUT)
            problems.append((("volumeThroughput",), "volume_throughput_range", message, throughput))
        if problems:
            raise_problems(type(self).__name__, problems)
        return self

    @field_validator("max_size")
    @classmethod
    def _max_not_below_min(cls, value: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("min_size")
        if value is not None and low is not None and value < low:
            raise PydanticCustomError(
                "size_order", "maxSize ({max}) must be >= minSize ({min})", {"max": value, "min": low}
            )
        return value

    @field_validator("desired_capacity")
    @classmethod
    def _desired_within_bounds(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is None:
            return value
        low, high = info.data.get("min_size"), info.data.get("max_size")
        if low is not None and value < low:
            raise PydanticCustomError(
                "size_order", "desiredCapacity ({desired}) must be >= minSize ({min})", {"desired": value, "min": low}
            )
        if high is not None and value > high:
            raise PydanticCustomError(
                "size_order", "desiredCapacity ({desired}) must be <= maxSize ({max})", {"desired": value, "max": high}
            )
        return value

    @field_validator("labels")
    @classmethod
    def _kubernetes_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        return check_labels(labels)

    @model_validator(mode="after")
    def _fill_sizes(self) -> Self:
        """eksctl's sizing defaults: 2 nodes, min and max equal to desired unless given."""
        desired = self.desired_capacity
        if desired is None:
            desired = DEFAULT_DESIRED_CAPACITY
            if self.min_size is not None:
                desired = max(desired, self.min_size)
            if self.max_size is not None:
                desired = min(desired, self.max_size)
        low = self.min_size if self.min_size is not None else min(desired, self.max_size or desired)
        high = self.max_size if self.max_size is not None else max(desired, 1)
        object.__setattr__(self, "desired_capacity", desired)
        object.__setattr__(self, "min_size", low)
        object.__setattr__(self, "max_size", high)
        return self


class NodegroupSpec(NodeGroupBase):
    """One managed node group (`managedNodeGroups[]` in eksctl)."""

    instance_types: Annotated[
        list[Annotated[str, Field(max_length=32, pattern=INSTANCE_TYPE_PATTERN)]] | None,
        Field(min_length=1, max_length=20),
    ] = None
    spot: bool = False
    update_config: UpdateConfigSpec | None = None
    release_version: Annotated[str, Field(max_length=64, pattern=RELEASE_VERSION_PATTERN)] | None = None
    node_repair_config: NodeRepairConfigSpec | None = None
    security_groups: ManagedSecurityGroupsSpec | None = None
    # The node role's policies, as a self-managed group's (the same model and template code).
    iam: selfmanaged_spec.NodeGroupIamSpec | None = None
    # A custom image (an AMI ID): the launch template launches it and the group's AmiType is CUSTOM.
    ami: Annotated[str, Field(pattern=MANAGED_AMI_ID_PATTERN)] | None = None
    pre_bootstrap_commands: Annotated[list[Annotated[str, Field(max_length=4096)]] | None, Field(max_length=20)] = None
    override_bootstrap_command: Annotated[str, Field(min_length=1, max_length=MAX_MANAGED_USER_DATA)] | None = None
    launch_template: LaunchTemplateRefSpec | None = None
    # The image the nodes launch when it is not EKS's: `ami`, or the caller's launch template's ImageId
    # (read when the group is requested). A request leaves it out.
    image_id: Annotated[str | None, Field(pattern=MANAGED_AMI_ID_PATTERN, json_schema_extra={"readOnly": True})] = None

    @property
    def managed(self) -> bool:
        return True

    @property
    def custom_image(self) -> bool:
        """Whether the nodes launch an image of the caller's (AmiType CUSTOM, as EKS requires then)."""
        return bool(self.ami or self.image_id)

    @property
    def role_policy_count(self) -> int:
        """The node role's managed policies, counted as a self-managed group's are."""
        count = selfmanaged_spec.SelfManagedNodegroupSpec.role_policy_count.fget  # type: ignore[attr-defined]
        return int(count(self))

    @model_serializer(mode="wrap")
    def _leave_out_defaults_a_launch_template_refuses(self, handler: Any) -> Any:
        """With the caller's launch template, the defaults of instanceType and volumeSize are not the
        group's settings (eksctl refuses them there): a stored spec leaves them out, to read back the same."""
        data = handler(self)
        if self.launch_template is not None and isinstance(data, dict):
            drop = ["volumeSize", "volume_size"]
            if self.instance_types is None:
                drop += ["instanceType", "instance_type"]
            for key in drop:
                data.pop(key, None)
        return data

    @model_validator(mode="after")
    def _extras(self) -> NodegroupSpec:
        """eksctl's rules for a managed group's launch template, custom AMI, bootstrap commands and role."""
        problems: list[Problem] = []
        given = self.model_fields_set
        family = self.ami_family
        if self.launch_template is not None:
            # eksctl refuses these with a caller's launch template: the template holds them (or EKS takes
            # them only from a template the stack makes).
            clash = [
                ("instanceType", "instance_type" in given and self.instance_types is None),
                ("ami", self.ami is not None),
                (
                    "ssh",
                    self.ssh is not None
                    and bool(
                        self.ssh.allow or self.ssh.has_key or self.ssh.source_security_group_ids or self.ssh.enable_ssm
                    ),
                ),
                ("securityGroups", self.security_groups is not None),
                ("volumeSize", "volume_size" in given),
                ("volumeType", self.volume_type is not None),
                ("volumeIOPS", self.volume_iops is not None),
                ("volumeThroughput", self.volume_throughput is not None),
                ("maxPodsPerNode", self.max_pods_per_node is not None),
                ("enableDetailedMonitoring", self.enable_detailed_monitoring is not None),
                ("preBootstrapCommands", self.pre_bootstrap_commands is not None),
                ("overrideBootstrapCommand", self.override_bootstrap_command is not None),
                ("bottlerocket", self.bottlerocket_user_data),
            ]
            for name, present in clash:
                if present:
                    message = f"{name} cannot be set with launchTemplate: set it in the launch template (as eksctl)"
                    problems.append(((name,), "launch_template_conflict", message, None))
        windows = images.is_windows(family)
        if self.ami is not None and windows:
            message = (
                f"cannot set amiFamily to {family} when using a custom AMI for managed nodes (as eksctl): "
                "use EKS's Windows image, or a self-managed group (nodeGroups) for a Windows image of your own"
            )
            problems.append((("ami",), "custom_ami_family", message, self.ami))
        elif self.ami is not None:
            if self.ssh is not None and self.ssh.enable_ssm:
                # eksctl's rule: a custom image brings its own agents; the SSM agent may not be among them.
                message = "enableSsm cannot be set with a custom ami (as eksctl): the image must run the SSM agent"
                problems.append((("ssh", "enableSsm"), "custom_ami_conflict", message, None))
            if "ami_family" not in given:
                message = "a custom ami needs amiFamily set explicitly (as eksctl)"
                problems.append((("amiFamily",), "ami_family_required", message, None))
            if self.override_bootstrap_command is None and family == "AmazonLinux2":
                message = "overrideBootstrapCommand is required when using a custom AMI based on AmazonLinux2"
                problems.append((("overrideBootstrapCommand",), "bootstrap_required", message, None))
            if self.max_pods_per_node is not None:
                message = "maxPodsPerNode is not supported when using a custom AMI (ami)"
                problems.append((("maxPodsPerNode",), "custom_ami_conflict", message, None))
            if self.release_version is not None:
                message = "releaseVersion is not supported when using a custom AMI (ami): it names EKS's images"
                problems.append((("releaseVersion",), "custom_ami_conflict", message, None))
        elif self.override_bootstrap_command is not None and family != "AmazonLinux2023" and not windows:
            message = "overrideBootstrapCommand can only be set when a custom AMI (ami) is specified"
            problems.append((("overrideBootstrapCommand",), "bootstrap_needs_ami", message, None))
        if windows and self.override_bootstrap_command is not None and self.ami is None:
            # eksctl: EKS runs the Windows image's own bootstrap script on managed nodes.
            message = f"overrideBootstrapCommand is not supported for {family} managed node groups (as eksctl)"
            problems.append((("overrideBootstrapCommand",), "bootstrap_family", message, None))
        if family == "Bottlerocket":
            for name, value in (
                ("preBootstrapCommands", self.pre_bootstrap_commands),
                ("overrideBootstrapCommand", self.override_bootstrap_command),
            ):
                if value is not None:
                    message = f"{name} is not supported for Bottlerocket nodegroups"
                    problems.append(((name,), "bootstrap_family", message, None))
        if self.role_policy_count > selfmanaged_spec.MAX_ROLE_POLICIES:
            message = (
                f"the node role would hold {self.role_policy_count} managed policies (attachPolicyARNs, "
                f"ECR reads and the withAddonPolicies that are managed policies); IAM allows "
                f"{selfmanaged_spec.MAX_ROLE_POLICIES}"
            )
            problems.append((("iam", "attachPolicyARNs"), "too_many_role_policies", message, None))
        if problems:
            raise_problems("NodegroupSpec", problems)
        return self

    @model_validator(mode="after")
    def _one_way_to_name_types(self) -> NodegroupSpec:
        if self.instance_types is None:
            return self
        # A stored spec carries both, the first of instanceTypes as instanceType; a request names one.
        if "instance_type" in self.model_fields_set and self.instance_type != self.instance_types[0]:
            raise PydanticCustomError("one_of", "give instanceType or instanceTypes, not both (as eksctl)")
        object.__setattr__(self, "instance_type", self.instance_types[0])
        return self

    @model_validator(mode="after")
    def _ssh_without_launch_template(self) -> NodegroupSpec:
        # EKS refuses RemoteAccess on a node group with a launch template.
        if self.ssh is not None and self.ssh.allow and self.needs_launch_template:
            message = (
                "ssh cannot be combined with volumeType, volumeIOPS, volumeThroughput, maxPodsPerNode, "
                "enableDetailedMonitoring, securityGroups, ami, preBootstrapCommands, overrideBootstrapCommand, "
                "bottlerocket or launchTemplate: those need a launch template, and EKS takes no RemoteAccess with one"
            )
            raise_problems("NodegroupSpec", [(("ssh",), "ssh_with_launch_template", message, None)])
        return self

    @property
    def needs_launch_template(self) -> bool:
        """Whether the node group stack makes a launch template (the settings EKS takes only there)."""
        return bool(
            self.volume_type
            or self.max_pods_per_node
            or self.volume_iops is not None
            or self.volume_throughput is not None
            or self.enable_detailed_monitoring
            or self.security_groups is not None
            or self.ami is not None
            or self.pre_bootstrap_commands
            or self.override_bootstrap_command is not None
            or self.bottlerocket_user_data
            or self.key_without_remote_access
        )

    @property
    def key_without_remote_access(self) -> bool:
        """A key on the nodes with port 22 closed (`ssh.allow: false`): EKS's RemoteAccess always opens it, so
        the key goes in the group's launch template, as eksctl puts it."""
        return self.ssh is not None and not self.ssh.allow and self.ssh.has_key

    @property
    def bottlerocket_user_data(self) -> bool:
        """Whether `bottlerocket` adds to the user data (settings, or the admin container on or off)."""
        given = self.bottlerocket
        return given is not None and (bool(given.settings) or given.enable_admin_container is not None)

    @property
    def types(self) -> list[str]:
        """The instance types the group may run (the first decides the processor)."""
        return list(self.instance_types or [self.instance_type])

    @property
    def node_group_instance_types(self) -> list[str] | None:
        """AWS::EKS::Nodegroup's InstanceTypes: none with a caller's launch template that names no types
        (the template's, or EKS's default, then)."""
        if self.launch_template is not None and self.instance_types is None:
            return None
        return self.types

    def type_fields(self) -> list[tuple[tuple[str | int, ...], str]]:
        if self.instance_types is None:
            return [(("instanceType",), self.instance_type)]
        return [(("instanceTypes", index), name) for index, name in enumerate(self.instance_types)]


class ScalingRequest(SpecModel):
    """`PATCH /clusters/{name}/nodegroups/{ng}`: any of the three sizes, as eksctl scales."""

    min_size: int | None = Field(default=None, ge=0, le=MAX_NODES_PER_GROUP)
    max_size: int | None = Field(default=None, ge=1, le=MAX_NODES_PER_GROUP)
    desired_capacity: int | None = Field(default=None, ge=0, le=MAX_NODES_PER_GROUP)

    @model_validator(mode="after")
    def _something(self) -> ScalingRequest:
        if self.min_size is None and self.max_size is None and self.desired_capacity is None:
            raise ValueError("send at least one of minSize, maxSize, desiredCapacity")
        return self


# At the end: selfmanaged_spec imports this module's names, and NodegroupSpec's `iam` is its model.
from chalicelib.model import selfmanaged_spec  # noqa: E402
