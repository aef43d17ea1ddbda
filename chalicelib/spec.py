"""The cluster request: what a caller may ask for, its rules and eksctl's defaults.

Field names are eksctl's ClusterConfig names (camelCase) so a request reads like
the `eksctl create cluster` config people already write. Unknown fields are
refused rather than dropped: a caller must never believe we built something we
ignored.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

from chalicelib import naming
from chalicelib.errors import SpecValidationError

SUPPORTED_VERSIONS = ("1.30", "1.31", "1.32", "1.33", "1.34")
DEFAULT_VERSION = "1.33"
DEFAULT_REGION = "us-west-2"
DEFAULT_VPC_CIDR = "192.168.0.0/16"
DEFAULT_INSTANCE_TYPE = "m5.large"
DEFAULT_DESIRED_CAPACITY = 2
DEFAULT_VOLUME_SIZE = 80
MAX_NODEGROUPS = 10
MAX_NODES_PER_GROUP = 450  # EKS managed node group quota

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
REGION_PATTERN = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$"
INSTANCE_TYPE_PATTERN = r"^[a-z][a-z0-9-]*\.[a-z0-9]+$"
# Address space EKS accepts for a VPC: RFC 1918 plus the shared 100.64/10 range.
PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
RESERVED_LABEL_PREFIXES = ("kubernetes.io/", "k8s.io/", "eks.amazonaws.com/")


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
    )


def _errors(title: str, problems: list[tuple[tuple[str | int, ...], str, str, Any]]) -> None:
    """Raise one ValidationError naming each field (loc), rule (type) and message."""
    raise ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(type=PydanticCustomError(rule, message), loc=loc, input=value)
            for loc, rule, message, value in problems
        ],
    )


def _check_tags(tags: dict[str, str]) -> dict[str, str]:
    if len(tags) > 40:  # 50 is AWS's limit; we add our own ownership tags
        raise PydanticCustomError("too_many_tags", "at most 40 tags are allowed")
    for key, value in tags.items():
        if not 1 <= len(key) <= 128:
            raise PydanticCustomError("tag_key_length", "tag keys must be 1-128 characters")
        if len(value) > 256:
            raise PydanticCustomError("tag_value_length", "tag values must be at most 256 characters")
        if key.startswith(naming.RESERVED_TAG_PREFIXES):
            raise PydanticCustomError(
                "reserved_tag",
                "tag key '{key}' uses a reserved prefix ({prefixes})",
                {"key": key, "prefixes": ", ".join(naming.RESERVED_TAG_PREFIXES)},
            )
    return tags


def _name_rule(value: str) -> str:
    if not re.match(NAME_PATTERN, value):
        raise PydanticCustomError(
            "name_format",
            "must start with a letter or digit and contain only letters, digits, '-' and '_'",
        )
    return value


NAT_MODES = ("Single", "HighlyAvailable", "Disable")
LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
AMI_FAMILIES = {  # eksctl's amiFamily → EKS AmiType, per processor
    "AmazonLinux2023": ("AL2023_x86_64_STANDARD", "AL2023_ARM_64_STANDARD"),
    "AmazonLinux2": ("AL2_x86_64", "AL2_ARM_64"),
    "Bottlerocket": ("BOTTLEROCKET_x86_64", "BOTTLEROCKET_ARM_64"),
}
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


class NatSpec(_Model):
    gateway: Literal["Single", "HighlyAvailable", "Disable"] = "Single"


class EndpointsSpec(_Model):
    public_access: bool = True
    private_access: bool = False

    @model_validator(mode="after")
    def _reachable(self) -> EndpointsSpec:
        if not self.public_access and not self.private_access:
            raise PydanticCustomError("endpoint_unreachable", "publicAccess and privateAccess cannot both be false")
        return self


class VpcSpec(_Model):
    cidr: str = DEFAULT_VPC_CIDR
    nat: NatSpec = Field(default_factory=NatSpec)
    cluster_endpoints: EndpointsSpec = Field(default_factory=EndpointsSpec)
    public_access_cid_rs: Annotated[list[str], Field(alias="publicAccessCIDRs", max_length=40)] = Field(
        default_factory=list
    )

    @field_validator("public_access_cid_rs")
    @classmethod
    def _cidrs(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.IPv4Network(value, strict=True)
            except ValueError as exc:
                raise PydanticCustomError(
                    "cidr_invalid", "'{value}' is not an IPv4 network ({reason})", {"value": value, "reason": str(exc)}
                ) from None
        return values

    @field_validator("cidr")
    @classmethod
    def _private_cidr(cls, value: str) -> str:
        try:
            network = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise PydanticCustomError(
                "cidr_invalid", "must be an IPv4 network such as 192.168.0.0/16 ({reason})", {"reason": str(exc)}
            ) from None
        if not 16 <= network.prefixlen <= 24:
            raise PydanticCustomError("cidr_size", "the prefix length must be between /16 and /24")
        if not any(network.subnet_of(r) for r in PRIVATE_RANGES):
            raise PydanticCustomError(
                "cidr_not_private",
                "must lie in a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10)",
            )
        return str(network)


class TaintSpec(_Model):
    key: Annotated[str, Field(min_length=1, max_length=63)]
    value: Annotated[str, Field(max_length=63)] | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class UpdateConfigSpec(_Model):
    max_unavailable: Annotated[int, Field(ge=1, le=100)] | None = None
    max_unavailable_percentage: Annotated[int, Field(ge=1, le=100)] | None = None

    @model_validator(mode="after")
    def _one(self) -> UpdateConfigSpec:
        if (self.max_unavailable is None) == (self.max_unavailable_percentage is None):
            raise PydanticCustomError("one_of", "give exactly one of maxUnavailable and maxUnavailablePercentage")
        return self


class NodegroupSpec(_Model):
    """One managed node group (`managedNodeGroups[]` in eksctl)."""

    name: Annotated[str, Field(min_length=1, max_length=63), AfterValidator(lambda v: _name_rule(v))]
    instance_type: Annotated[str, Field(max_length=32, pattern=INSTANCE_TYPE_PATTERN)] = DEFAULT_INSTANCE_TYPE
    # Declared min, max, desired: each validator only sees fields declared before it.
    min_size: Annotated[int, Field(ge=0, le=MAX_NODES_PER_GROUP)] | None = None
    max_size: Annotated[int, Field(ge=1, le=MAX_NODES_PER_GROUP)] | None = None
    desired_capacity: Annotated[int, Field(ge=0, le=MAX_NODES_PER_GROUP)] | None = None
    volume_size: Annotated[int, Field(ge=4, le=16384)] = DEFAULT_VOLUME_SIZE
    labels: Annotated[dict[str, str], Field(max_length=50)] = Field(default_factory=dict)
    private_networking: bool = False
    instance_types: Annotated[
        list[Annotated[str, Field(max_length=32, pattern=INSTANCE_TYPE_PATTERN)]] | None,
        Field(min_length=1, max_length=20),
    ] = None
    spot: bool = False
    ami_family: Literal["AmazonLinux2023", "AmazonLinux2", "Bottlerocket"] = "AmazonLinux2023"
    taints: Annotated[list[TaintSpec], Field(max_length=50)] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    update_config: UpdateConfigSpec | None = None
    # Zones of the cluster's availabilityZones to put the nodes in (default: all of them).
    availability_zones: Annotated[list[str] | None, Field(min_length=1, max_length=3)] = None
    # These two need a launch template; the node group stack makes one.
    # io1/io2 need volumeIOPS, which is not supported yet.
    volume_type: Literal["gp2", "gp3", "sc1", "st1"] | None = None
    max_pods_per_node: Annotated[int, Field(ge=1, le=737)] | None = None

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: dict[str, str]) -> dict[str, str]:
        return _check_tags(tags)

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
    def _max_pods_needs_a_known_bootstrap(self) -> NodegroupSpec:
        if self.max_pods_per_node is not None and self.ami_family == "AmazonLinux2":
            raise PydanticCustomError(
                "max_pods_ami", "maxPodsPerNode is supported with amiFamily AmazonLinux2023 or Bottlerocket"
            )
        return self

    @property
    def types(self) -> list[str]:
        """The instance types the group may run (the first decides the processor)."""
        return list(self.instance_types or [self.instance_type])

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
        for key, value in labels.items():
            prefix, _, name = key.rpartition("/")
            if not name or not _LABEL_NAME.match(name) or (prefix and not _DNS_SUBDOMAIN.match(prefix)):
                raise PydanticCustomError(
                    "label_key", "label key '{key}' is not a valid Kubernetes label", {"key": key}
                )
            if key.startswith(RESERVED_LABEL_PREFIXES):
                raise PydanticCustomError("label_reserved", "label key '{key}' uses a reserved prefix", {"key": key})
            if not _LABEL_NAME.match(value):
                raise PydanticCustomError(
                    "label_value", "label value '{value}' is not a valid Kubernetes label value", {"value": value}
                )
        return labels

    @model_validator(mode="after")
    def _fill_sizes(self) -> NodegroupSpec:
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


class ScalingRequest(_Model):
    """`PATCH /clusters/{name}/nodegroups/{ng}`: any of the three sizes, as eksctl scales."""

    min_size: int | None = Field(default=None, ge=0, le=MAX_NODES_PER_GROUP)
    max_size: int | None = Field(default=None, ge=1, le=MAX_NODES_PER_GROUP)
    desired_capacity: int | None = Field(default=None, ge=0, le=MAX_NODES_PER_GROUP)

    @model_validator(mode="after")
    def _something(self) -> ScalingRequest:
        if self.min_size is None and self.max_size is None and self.desired_capacity is None:
            raise ValueError("send at least one of minSize, maxSize, desiredCapacity")
        return self


class LeaseRequest(BaseModel):
    """`POST /clusters/{name}/lease`: the lease ends `hours` from now (within the policy's maximum)."""

    model_config = ConfigDict(extra="forbid")

    hours: int = Field(ge=1, le=8760)


IAM_PRINCIPAL_PATTERN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9_+=,.@/-]+$"
ACCOUNT_PATTERN = r"^[0-9]{12}$"
GROUP_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9:._@-]*$"
# Groups only the node role mapping may hold: granting them to a person would let
# that person act as a kubelet.
NODE_GROUPS = ("system:bootstrappers", "system:nodes")
MASTERS_GROUP = "system:masters"


class IdentityMapping(_Model):
    """One `iamIdentityMappings[]` entry, as eksctl takes it: an IAM role/user, or an account."""

    arn: Annotated[str, Field(max_length=2048, pattern=IAM_PRINCIPAL_PATTERN)] | None = None
    username: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    groups: Annotated[list[Annotated[str, Field(max_length=128, pattern=GROUP_PATTERN)]], Field(max_length=20)] = Field(
        default_factory=list
    )
    account: Annotated[str, Field(pattern=ACCOUNT_PATTERN)] | None = None
    no_duplicate_arns: bool = Field(default=True, alias="noDuplicateARNs")

    @model_validator(mode="after")
    def _one_kind(self) -> IdentityMapping:
        if (self.arn is None) == (self.account is None):
            _errors("IdentityMapping", [(("arn",), "arn_or_account", "give exactly one of arn or account", self.arn)])
        if self.account is not None and (self.username or self.groups):
            _errors(
                "IdentityMapping",
                [(("account",), "account_only", "an account mapping takes no username or groups", self.account)],
            )
        reserved = sorted(set(self.groups) & set(NODE_GROUPS))
        if reserved:
            _errors(
                "IdentityMapping",
                [(("groups",), "node_group_reserved", f"{', '.join(reserved)} are for node roles only", self.groups)],
            )
        return self

    @property
    def kind(self) -> str:
        """Which aws-auth list the entry belongs to: mapRoles, mapUsers or mapAccounts."""
        if self.account is not None:
            return "mapAccounts"
        return "mapRoles" if ":role/" in str(self.arn) else "mapUsers"


ADDON_NAMES = ("vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver", "eks-pod-identity-agent")


class AddonSpec(_Model):
    name: Literal["vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver", "eks-pod-identity-agent"]
    version: Annotated[str, Field(pattern=r"^(latest|v\d+\.\d+\.\d+-eksbuild\.\d+)$")] | None = None


class IamSpec(_Model):
    with_oidc: bool = Field(default=False, alias="withOIDC")


class AccessScopeSpec(_Model):
    type: Literal["cluster", "namespace"]
    namespaces: Annotated[list[str], Field(max_length=20)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _namespaces(self) -> AccessScopeSpec:
        if (self.type == "namespace") != bool(self.namespaces):
            raise PydanticCustomError("scope", "a namespace scope needs namespaces; a cluster scope takes none")
        return self


class AccessPolicySpec(_Model):
    policy_arn: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:eks::aws:cluster-access-policy/[A-Za-z]+$")] = Field(
        alias="policyARN"
    )
    access_scope: AccessScopeSpec


class AccessEntrySpec(_Model):
    principal_arn: Annotated[str, Field(pattern=IAM_PRINCIPAL_PATTERN)] = Field(alias="principalARN")
    kubernetes_groups: Annotated[list[Annotated[str, Field(pattern=GROUP_PATTERN)]], Field(max_length=20)] = Field(
        default_factory=list
    )
    kubernetes_username: str | None = None
    access_policies: Annotated[list[AccessPolicySpec], Field(max_length=20)] = Field(default_factory=list)

    @field_validator("kubernetes_groups")
    @classmethod
    def _no_system_groups(cls, groups: list[str]) -> list[str]:
        reserved = [g for g in groups if g.startswith("system:")]
        if reserved:
            raise PydanticCustomError(
                "group_reserved",
                "EKS access entries cannot name system: groups ({groups}); use accessPolicies",
                {"groups": ", ".join(reserved)},
            )
        return groups


class AccessConfigSpec(_Model):
    authentication_mode: Literal["CONFIG_MAP", "API_AND_CONFIG_MAP", "API"] = "API_AND_CONFIG_MAP"
    bootstrap_cluster_creator_admin_permissions: bool = True
    access_entries: Annotated[list[AccessEntrySpec], Field(max_length=100)] = Field(default_factory=list)


class ClusterLoggingSpec(_Model):
    enable_types: Annotated[list[str], Field(max_length=5)] = Field(default_factory=list)

    @field_validator("enable_types")
    @classmethod
    def _types(cls, values: list[str]) -> list[str]:
        if any(v in ("*", "all") for v in values):
            return list(LOG_TYPES)
        unknown = [v for v in values if v not in LOG_TYPES]
        if unknown:
            raise PydanticCustomError(
                "log_type",
                "unknown log type(s) {unknown}; choose from {known}, '*' or 'all'",
                {"unknown": ", ".join(unknown), "known": ", ".join(LOG_TYPES)},
            )
        return list(dict.fromkeys(values))


class CloudWatchSpec(_Model):
    cluster_logging: ClusterLoggingSpec = Field(default_factory=ClusterLoggingSpec)


class KubernetesNetworkSpec(_Model):
    service_ipv4_cidr: str | None = Field(default=None, alias="serviceIPv4CIDR")

    @field_validator("service_ipv4_cidr")
    @classmethod
    def _service_cidr(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            network = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise PydanticCustomError("cidr_invalid", "not an IPv4 network ({reason})", {"reason": str(exc)}) from None
        if not 12 <= network.prefixlen <= 24 or not any(network.subnet_of(r) for r in PRIVATE_RANGES[:3]):
            raise PydanticCustomError(
                "service_cidr", "must be a /12 to /24 block in 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 (EKS rule)"
            )
        return str(network)


class ClusterSpec(_Model):
    """What `POST /clusters` accepts."""

    name: Annotated[str, Field(min_length=1, max_length=100), AfterValidator(lambda v: _name_rule(v))]
    region: Annotated[str, Field(pattern=REGION_PATTERN)] = DEFAULT_REGION
    version: str = DEFAULT_VERSION
    vpc: VpcSpec = Field(default_factory=VpcSpec)
    tags: dict[str, str] = Field(default_factory=dict)
    managed_node_groups: Annotated[list[NodegroupSpec] | None, Field(max_length=MAX_NODEGROUPS)] = None
    iam_identity_mappings: Annotated[list[IdentityMapping], Field(max_length=100)] = Field(default_factory=list)
    availability_zones: Annotated[
        list[Annotated[str, Field(pattern=r"^[a-z0-9-]+[a-z]$")]] | None, Field(min_length=2, max_length=3)
    ] = None
    cloud_watch: CloudWatchSpec | None = None
    kubernetes_network_config: KubernetesNetworkSpec | None = None
    iam: IamSpec | None = None
    addons: Annotated[list[AddonSpec], Field(max_length=10)] = Field(default_factory=list)
    access_config: AccessConfigSpec | None = None
    # Lease: hours until the cluster is torn down unless extended (default and maximum are policy).
    ttl_hours: Annotated[int, Field(ge=1, le=8760)] | None = None
    protected: bool = False

    @field_validator("version", mode="before")
    @classmethod
    def _supported_version(cls, value: Any) -> Any:
        if isinstance(value, (int, float)):
            value = str(value)  # YAML and careless JSON write 1.30 as a number
        if value not in SUPPORTED_VERSIONS:
            raise PydanticCustomError(
                "version_unsupported",
                "Kubernetes version '{value}' is not supported; choose one of {supported}",
                {"value": value, "supported": ", ".join(SUPPORTED_VERSIONS)},
            )
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: dict[str, str]) -> dict[str, str]:
        return _check_tags(tags)

    @model_validator(mode="after")
    def _nodegroups(self) -> ClusterSpec:
        groups = self.managed_node_groups
        if groups is None:
            groups = [NodegroupSpec(name=naming.default_nodegroup_name(self.name))]
            object.__setattr__(self, "managed_node_groups", groups)
        problems: list[tuple[tuple[str | int, ...], str, str, Any]] = []
        seen: set[str] = set()
        limit = naming.longest_nodegroup_name(self.name)
        for index, group in enumerate(groups):
            loc = ("managedNodeGroups", index, "name")
            if group.name in seen:
                problems.append((loc, "duplicate_name", f"node group name {group.name!r} is used twice", group.name))
            seen.add(group.name)
            if len(group.name) > limit:
                problems.append(
                    (
                        loc,
                        "stack_name_too_long",
                        f"the node group stack name would pass {naming.MAX_STACK_NAME} characters; "
                        f"with this cluster name, node group names may be at most {limit} characters",
                        group.name,
                    )
                )
        for index, zone in enumerate(self.availability_zones or []):
            if not zone.startswith(self.region) or len(zone) != len(self.region) + 1:
                problems.append(
                    (("availabilityZones", index), "zone_region", f"{zone} is not a zone of {self.region}", zone)
                )
        if len(set(self.availability_zones or [])) != len(self.availability_zones or []):
            problems.append(
                (("availabilityZones",), "duplicate_zone", "a zone is listed twice", self.availability_zones)
            )
        cluster_zones = set(self.availability_zones or [])
        for index, group in enumerate(groups):
            for z, zone in enumerate(group.availability_zones or []):
                if zone not in cluster_zones:
                    problems.append(
                        (
                            ("managedNodeGroups", index, "availabilityZones", z),
                            "zone_not_in_cluster",
                            f"{zone} is not one of the cluster's availabilityZones (set those to choose node zones)",
                            zone,
                        )
                    )
        names = [a.name for a in self.addons]
        if len(set(names)) != len(names):
            problems.append((("addons",), "duplicate_addon", "an add-on is listed twice", names))
        access = self.access_config
        if access and access.authentication_mode == "CONFIG_MAP" and access.access_entries:
            problems.append(
                (
                    ("accessConfig", "accessEntries"),
                    "access_mode",
                    "access entries need authenticationMode API or API_AND_CONFIG_MAP",
                    None,
                )
            )
        if access and access.authentication_mode == "API" and self.iam_identity_mappings:
            problems.append(
                (
                    ("iamIdentityMappings",),
                    "access_mode",
                    "with authenticationMode API the aws-auth ConfigMap is ignored; use accessConfig.accessEntries",
                    None,
                )
            )
        if self.vpc.nat.gateway == "Disable":
            for index, group in enumerate(groups):
                if group.private_networking:
                    problems.append(
                        (
                            ("managedNodeGroups", index, "privateNetworking"),
                            "no_nat",
                            "nodes in private subnets need a NAT gateway to join; vpc.nat.gateway is Disable",
                            True,
                        )
                    )
        if problems:
            _errors("ClusterSpec", problems)
        return self

    @property
    def nodegroups(self) -> list[NodegroupSpec]:
        return list(self.managed_node_groups or [])


def field_path(loc: tuple[str | int, ...]) -> str:
    """`("managedNodeGroups", 0, "minSize")` → `managedNodeGroups[0].minSize`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def describe_errors(error: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as the API reports them: field path, rule and message."""
    return [
        {"field": field_path(tuple(e["loc"])) or "(body)", "rule": e["type"], "message": e["msg"]}
        for e in error.errors(include_url=False)
    ]


M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], body: dict[str, Any], what: str) -> M:
    """Validate a request body; a 422 names every field, its rule and why."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        fields = describe_errors(exc)
        names = ", ".join(sorted({f["field"] for f in fields}))
        raise SpecValidationError(f"the {what} is invalid: {names}", fields=fields) from None
