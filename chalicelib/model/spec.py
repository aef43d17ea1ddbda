"""The cluster request: what a caller may ask for, its rules and eksctl's defaults.

Field names are eksctl's ClusterConfig names (camelCase) so a request reads like
the `eksctl create cluster` config people already write. Unknown fields are
refused rather than dropped: a caller must never believe we built something we
ignored.

ClusterSpec and its cluster-wide parts live here; its node groups, network and access
have modules of their own, and the shared rules are in `validation`. The names other
code imports from here are re-exported (`__all__`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from chalicelib.model import naming, private_cluster_spec
from chalicelib.model.access_spec import AccessConfigSpec, AccessEntrySpec, IdentityMapping
from chalicelib.model.addon_iam_spec import (
    AddonsConfigSpec,
    ConfigurationValues,
    ResolveConflicts,
    addon_iam_problems,
    uses_pod_identity,
)
from chalicelib.model.automode_spec import AutoModeConfigSpec
from chalicelib.model.cluster_options_spec import (
    ControlPlaneScalingConfigSpec,
    IdentityProviderSpec,
    LogRetentionDays,
    SecretsEncryptionSpec,
    UpgradePolicySpec,
    ZonalShiftConfigSpec,
    retention_needs_log_types,
)
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.fargate_spec import FargateProfiles, fargate_problems
from chalicelib.model.inline_policy import InlinePolicy  # noqa: TC001 (pydantic reads it at runtime)
from chalicelib.model.ipv6_spec import ipv6_problems
from chalicelib.model.mappings import NODE_GROUPS
from chalicelib.model.network_spec import (
    MIN_SUBNET_ZONES,
    EndpointsSpec,
    KubernetesNetworkSpec,
    NatSpec,
    VpcSpec,
    service_range,
)
from chalicelib.model.nodegroup_spec import AMI_FAMILIES, NodeGroupBase, NodegroupSpec, ScalingRequest
from chalicelib.model.podidentity_spec import (
    AddonPodIdentitySpec,
    PodIdentityAssociations,
    PolicyArns,
    pod_identity_problems,
)
from chalicelib.model.private_cluster_spec import PrivateClusterSpec  # noqa: TC001 (pydantic reads it at runtime)
from chalicelib.model.remote_network_spec import RemoteNetworkConfigSpec, remote_network_problems
from chalicelib.model.selfmanaged_spec import MAX_ASG_TAGS, SelfManagedNodegroupSpec
from chalicelib.model.serviceaccount_spec import ServiceAccounts, service_account_problems
from chalicelib.model.settings import DEFAULT_TIMEOUT_MINUTES as DEFAULT_TIMEOUT_MINUTES
from chalicelib.model.validation import (
    NAME_PATTERN,
    PermissionsBoundaryArn,
    Problem,
    SpecModel,
    Tags,
    check_name,
    raise_problems,
    refuse_problems,
    validate,
)
from chalicelib.model.well_known import WellKnownPolicies  # noqa: TC001 (pydantic reads it at runtime)
from chalicelib.model.windows_spec import windows_problems

__all__ = [
    "ADDONS_BEFORE_NODES",
    "ADDONS_WITH_IAM_ROLES",
    "ADDON_NAMES",
    "AMI_FAMILIES",
    "DEFAULT_REGION",
    "DEFAULT_VERSION",
    "LOG_TYPES",
    "MAX_NODEGROUPS",
    "NAME_PATTERN",
    "NODE_GROUPS",
    "REGION_PATTERN",
    "SUPPORTED_VERSIONS",
    "AccessConfigSpec",
    "AccessEntrySpec",
    "AddonSpec",
    "AutoModeConfigSpec",
    "CloudWatchSpec",
    "ClusterLoggingSpec",
    "ClusterSpec",
    "IamSpec",
    "IdentityMapping",
    "LeaseRequest",
    "NodeGroupBase",
    "NodegroupSpec",
    "ScalingRequest",
    "SelfManagedNodegroupSpec",
    "refuse_addons_that_cannot_run",
    "refuse_nodegroups_with_auto_mode",
    "validate",
]

SUPPORTED_VERSIONS = ("1.30", "1.31", "1.32", "1.33", "1.34")
DEFAULT_VERSION = "1.33"
DEFAULT_REGION = "us-west-2"
REGION_PATTERN = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$"
MAX_NODEGROUPS = 10
LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
ADDON_NAMES = ("vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver", "eks-pod-identity-agent")


# Add-ons made with the control plane, before any node exists (eksctl's CreateBeforeNodeGroup): their
# pods are DaemonSets, so with no node there is nothing to run and EKS reports them ACTIVE, and nodes
# need vpc-cni and kube-proxy to become Ready. Every other add-on runs a Deployment (coredns, the EBS
# CSI controller) whose pods stay Pending until a node can take them: EKS reports it DEGRADED, and
# CloudFormation, which waits for ACTIVE, fails its stack. Those are made in the add-ons stack, once
# the node groups are ACTIVE. (eksctl makes coredns before the node groups too, but does not wait for
# it there; an AWS::EKS::Addon always waits.)
ADDONS_BEFORE_NODES = frozenset({"vpc-cni", "kube-proxy", "eks-pod-identity-agent"})
# Add-ons whose pods call AWS and get an IAM role for their service account (IRSA), which trusts the
# cluster's OIDC provider (eksctl's wellKnownPolicies; the roles are in chalicelib/cfn/addons.py).
ADDONS_WITH_IAM_ROLES = frozenset({"aws-ebs-csi-driver"})
# The add-ons EKS Auto Mode runs itself (off the cluster, or on its nodes): eksctl makes none of them
# with an Auto Mode cluster and refuses them in the config ("core networking addons are not required on
# a cluster using Auto Mode"), and it makes no node group with one either.
AUTO_MODE_ADDONS = frozenset({"vpc-cni", "kube-proxy", "coredns"})
# A taint the add-ons' pods tolerate (EKS's add-ons all tolerate it; it keeps other pods off their nodes).
ADDON_TOLERATED_TAINT = "CriticalAddonsOnly"


class AddonSpec(SpecModel):
    """One of `addons[]`; its IAM and configuration follow eksctl's rules (addon_iam_spec)."""

    name: Literal["vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver", "eks-pod-identity-agent"]
    version: Annotated[str, Field(pattern=r"^(latest|v\d+\.\d+\.\d+-eksbuild\.\d+)$")] | None = None
    # The IRSA role of the add-on's service account (at most one of the three; addon_iam_spec).
    attach_policy_arns: PolicyArns = Field(default=None, alias="attachPolicyARNs")
    attach_policy: InlinePolicy | None = None
    well_known_policies: WellKnownPolicies | None = None
    # Or EKS Pod Identity: roles the stack makes, given to EKS with the add-on.
    pod_identity_associations: Annotated[list[AddonPodIdentitySpec] | None, Field(min_length=1, max_length=5)] = None
    use_default_pod_identity_associations: bool = False
    configuration_values: ConfigurationValues | None = None
    resolve_conflicts: ResolveConflicts | None = None
    tags: Tags = Field(default_factory=dict)

    @property
    def needs_nodes(self) -> bool:
        """Whether EKS can make the add-on ACTIVE only once a node runs its pods (see ADDONS_BEFORE_NODES)."""
        return self.name not in ADDONS_BEFORE_NODES

    @property
    def needs_iam_role(self) -> bool:
        return self.name in ADDONS_WITH_IAM_ROLES

    @property
    def irsa_policies_set(self) -> bool:
        """Whether the request gives the add-on an IRSA role's policies (eksctl's HasIRSAPoliciesSet)."""
        well_known = bool(self.well_known_policies and self.well_known_policies.any)
        return bool(self.attach_policy_arns or self.attach_policy or well_known)

    @property
    def iam_fields_set(self) -> list[str]:
        """The IAM fields the request sets on the add-on, by eksctl's names."""
        fields = {
            "attachPolicyARNs": self.attach_policy_arns,
            "attachPolicy": self.attach_policy,
            "wellKnownPolicies": self.well_known_policies and self.well_known_policies.any,
            "podIdentityAssociations": self.pod_identity_associations,
            "useDefaultPodIdentityAssociations": self.use_default_pod_identity_associations,
        }
        return [name for name, value in fields.items() if value]


class IamSpec(SpecModel):
    with_oidc: bool = Field(default=False, alias="withOIDC")
    pod_identity_associations: PodIdentityAssociations | None = None  # podidentity_spec
    # IAM roles for service accounts (serviceaccount_spec); they imply withOIDC (`_service_accounts_oidc`).
    service_accounts: ServiceAccounts | None = None
    service_role_permissions_boundary: PermissionsBoundaryArn | None = None
    fargate_pod_execution_role_permissions_boundary: PermissionsBoundaryArn | None = None

    @model_validator(mode="after")
    def _service_accounts_oidc(self) -> IamSpec:
        """Service accounts' roles trust the cluster's OIDC provider: as eksctl, withOIDC is implied when unset.

        Set on the model, so the recorded spec (and GET .../config) says `withOIDC: true`. A request
        that says `withOIDC: false` is refused (ClusterSpec._service_accounts; eksctl: it "must be
        enabled explicitly").
        """
        if not self.service_accounts or "with_oidc" in self.model_fields_set:
            return self
        object.__setattr__(self, "with_oidc", True)
        self.model_fields_set.add("with_oidc")
        return self


class ClusterLoggingSpec(SpecModel):
    enable_types: Annotated[list[str], Field(max_length=5)] = Field(default_factory=list)
    log_retention_in_days: LogRetentionDays | None = None
    _retention_needs_types = model_validator(mode="after")(retention_needs_log_types)

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


class CloudWatchSpec(SpecModel):
    cluster_logging: ClusterLoggingSpec = Field(default_factory=ClusterLoggingSpec)


class LeaseRequest(BaseModel):
    """`POST /clusters/{name}/lease`: the lease ends `hours` from now (within the policy's maximum)."""

    model_config = ConfigDict(extra="forbid")

    hours: int = Field(ge=1, le=8760)


def supported_version(value: Any) -> Any:
    """A Kubernetes version EKS runs (a cluster's, a pool's), as a string."""
    if isinstance(value, (int, float)):
        value = str(value)  # YAML and careless JSON write 1.30 as a number
    if value not in SUPPORTED_VERSIONS:
        raise PydanticCustomError(
            "version_unsupported",
            "Kubernetes version '{value}' is not supported; choose one of {supported}",
            {"value": value, "supported": ", ".join(SUPPORTED_VERSIONS)},
        )
    return value


class ClusterSpec(SpecModel):
    """What `POST /clusters` accepts."""

    name: Annotated[str, Field(min_length=1, max_length=100), AfterValidator(check_name)]
    region: Annotated[str, Field(pattern=REGION_PATTERN)] = DEFAULT_REGION
    version: str = DEFAULT_VERSION
    vpc: VpcSpec = Field(default_factory=VpcSpec)
    tags: Tags = Field(default_factory=dict)
    managed_node_groups: Annotated[list[NodegroupSpec] | None, Field(max_length=MAX_NODEGROUPS)] = None
    # Self-managed node groups (eksctl's `nodeGroups`): an Auto Scaling group of the stack's own.
    node_groups: Annotated[list[SelfManagedNodegroupSpec] | None, Field(max_length=MAX_NODEGROUPS)] = None
    iam_identity_mappings: Annotated[list[IdentityMapping], Field(max_length=100)] = Field(default_factory=list)
    availability_zones: Annotated[
        list[Annotated[str, Field(pattern=r"^[a-z0-9-]+[a-z]$")]] | None, Field(min_length=2, max_length=3)
    ] = None
    cloud_watch: CloudWatchSpec | None = None
    kubernetes_network_config: KubernetesNetworkSpec | None = None
    # EKS Hybrid Nodes: networks whose machines join the cluster (remote_network_spec).
    remote_network_config: RemoteNetworkConfigSpec | None = None
    # A fully private cluster: private subnets, VPC endpoints, private endpoint once built (private_cluster_spec).
    private_cluster: PrivateClusterSpec | None = None
    iam: IamSpec | None = None
    addons: Annotated[list[AddonSpec], Field(max_length=10)] = Field(default_factory=list)
    addons_config: AddonsConfigSpec | None = None  # addon_iam_spec
    access_config: AccessConfigSpec | None = None
    # EKS Auto Mode: EKS launches the nodes (autoModeConfig; the rules with the rest are `_auto_mode_problems`).
    auto_mode_config: AutoModeConfigSpec | None = None
    fargate_profiles: FargateProfiles = Field(default=None, alias="fargateProfiles")  # fargate_spec
    # Cluster-wide options built on the control plane (cluster_options_spec; the key is checked when requested).
    secrets_encryption: SecretsEncryptionSpec | None = None
    zonal_shift_config: ZonalShiftConfigSpec | None = None
    upgrade_policy: UpgradePolicySpec | None = None
    control_plane_scaling_config: ControlPlaneScalingConfigSpec | None = None
    # OIDC issuers whose tokens the API server accepts (EKS associates one per cluster).
    identity_providers: Annotated[list[IdentityProviderSpec], Field(max_length=1)] | None = None
    # Lease: hours until the cluster is torn down unless extended (default and maximum are policy).
    ttl_hours: Annotated[int, Field(ge=1, le=8760)] | None = None
    protected: bool = False
    # Minutes each stack may take to create or update before the cluster is FAILED (eksctl's
    # --timeout, a flag rather than a ClusterConfig field). Unset: DEFAULT_TIMEOUT_MINUTES; the
    # maximum is policy (EKSPRESS_MAX_TIMEOUT_MINUTES).
    timeout_minutes: Annotated[int, Field(ge=1)] | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _supported_version(cls, value: Any) -> Any:
        return supported_version(value)

    @model_validator(mode="after")
    def _nodegroups(self) -> ClusterSpec:
        if self.managed_node_groups is None and self.node_groups is None and not self.auto_mode:
            # eksctl's default: one managed group, unless the config names groups of either kind or
            # enables Auto Mode (EKS launches the nodes).
            # A fully private cluster's default group is in its private subnets, the only ones it has.
            private = private_cluster_spec.enabled(self)
            default = [
                NodegroupSpec.model_validate(
                    {
                        "name": naming.default_nodegroup_name(self.name),
                        **({"privateNetworking": True} if private else {}),
                    }
                )
            ]
            object.__setattr__(self, "managed_node_groups", default)
        groups = self.nodegroups
        problems: list[Problem] = []
        if len(groups) > MAX_NODEGROUPS:
            message = f"at most {MAX_NODEGROUPS} node groups in all (managedNodeGroups and nodeGroups)"
            problems.append((("nodeGroups",), "too_many_nodegroups", message, len(groups)))
        seen: set[str] = set()
        limit = naming.longest_nodegroup_name(self.name)
        for index, group in enumerate(groups):
            loc = (*self.group_loc(index), "name")
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
        problems += self._subnet_problems(groups) + self._named_subnet_problems() + self._auto_mode_problems()
        problems += fargate_problems(self) + windows_problems(self)
        for index, group in enumerate(self.node_groups or []):
            count = group.asg_tag_count(len(self.tags))
            if count > MAX_ASG_TAGS:
                message = (
                    f"the Auto Scaling group would carry {count} tags (the cluster's, the group's, ekspress's 9 and, "
                    f"with propagateASGTags, one per label and taint); EC2 Auto Scaling allows {MAX_ASG_TAGS}"
                )
                problems.append((("nodeGroups", index, "tags"), "too_many_asg_tags", message, count))
        cluster_zones = set(self.availability_zones or [])
        zones_unknown = self.vpc.existing and self.availability_zones is None
        for index, group in enumerate(groups):
            for z, zone in enumerate([] if zones_unknown else group.availability_zones or []):
                if zone not in cluster_zones:
                    problems.append(
                        (
                            (*self.group_loc(index), "availabilityZones", z),
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
        if self.vpc.nat.gateway == "Disable" and not self.vpc.existing and not private_cluster_spec.enabled(self):
            for index, group in enumerate(groups):
                if group.private_networking:
                    problems.append(
                        (
                            (*self.group_loc(index), "privateNetworking"),
                            "no_nat",
                            "nodes in private subnets need a NAT gateway to join; vpc.nat.gateway is Disable",
                            True,
                        )
                    )
        if problems:
            raise_problems("ClusterSpec", problems)
        return self

    @model_validator(mode="after")
    def _service_accounts(self) -> ClusterSpec:
        """`iam.serviceAccounts` across the list: each once, in a stack name that fits (serviceaccount_spec)."""
        accounts = (self.iam.service_accounts if self.iam else None) or []
        problems = service_account_problems(self.name, accounts)
        if accounts and self.iam and not self.iam.with_oidc:
            message = "iam.serviceAccounts need the cluster's OIDC provider: leave withOIDC unset (implied) or true"
            problems.append((("iam", "withOIDC"), "service_accounts_need_oidc", message, False))
        if problems:
            raise_problems("ClusterSpec", problems)
        return self

    @model_validator(mode="after")
    def _addon_iam_and_pod_identity(self) -> ClusterSpec:
        """Add-ons' IAM and addonsConfig (addon_iam_spec); iam.podIdentityAssociations (podidentity_spec)."""
        associations = (self.iam.pod_identity_associations if self.iam else None) or []
        names = [a.name for a in self.addons]
        problems = addon_iam_problems(self) + pod_identity_problems(self.name, associations, names, self.auto_mode)
        if problems:
            raise_problems("ClusterSpec", problems)
        return self

    @model_validator(mode="after")
    def _ipv6(self) -> ClusterSpec:
        """What an IPv6 cluster (kubernetesNetworkConfig.ipFamily) cannot be made with, as eksctl (ipv6_spec), and
        remote networks (remote_network_spec)."""
        problems = ipv6_problems(self) + remote_network_problems(self, service_range(self))
        if problems:
            raise_problems("ClusterSpec", problems)
        return self

    @model_validator(mode="after")
    def _private_cluster(self) -> ClusterSpec:
        """A fully private cluster (private_cluster_spec): its rules, then the network eksctl gives it.

        The control plane is created with public and private access (the public endpoint goes once the
        cluster is built) and a VPC ekspress builds gets no NAT gateway: both are written into the spec, as eksctl does,
        so the record says what was built.
        """
        problems = private_cluster_spec.private_cluster_problems(self)
        if problems:
            raise_problems("ClusterSpec", problems)
        if private_cluster_spec.enabled(self):
            update: dict[str, Any] = {
                "cluster_endpoints": EndpointsSpec.model_validate({"publicAccess": True, "privateAccess": True})
            }
            if not self.vpc.existing:  # an existing VPC's network is the caller's (vpc.nat stays unset)
                update["nat"] = NatSpec.model_validate({"gateway": "Disable"})
            vpc = self.vpc.model_copy(update=update)
            object.__setattr__(self, "vpc", vpc)
        return self

    @property
    def auto_mode(self) -> bool:
        """Whether EKS Auto Mode is enabled (autoModeConfig.enabled)."""
        return bool(self.auto_mode_config and self.auto_mode_config.enabled)

    def _auto_mode_problems(self) -> list[Problem]:
        """What Auto Mode cannot be made with, as eksctl and EKS refuse it.

        eksctl refuses the networking add-ons Auto Mode runs itself; EKS makes the node role's access
        entry, which needs authenticationMode API or API_AND_CONFIG_MAP. Node groups are refused only
        when the cluster is requested (`refuse_nodegroups_with_auto_mode`): they may be added later.
        """
        if not self.auto_mode:
            return []
        problems: list[Problem] = []
        for index, addon in enumerate(self.addons):
            if addon.name in AUTO_MODE_ADDONS:
                message = (
                    f"EKS Auto Mode runs {addon.name} itself (eksctl refuses it with Auto Mode); leave it out of addons"
                )
                problems.append((("addons", index, "name"), "auto_mode_addon", message, addon.name))
        if self.access_config and self.access_config.authentication_mode == "CONFIG_MAP":
            message = (
                "EKS Auto Mode gives its nodes access with an access entry: authenticationMode must be API or "
                "API_AND_CONFIG_MAP"
            )
            problems.append((("accessConfig", "authenticationMode"), "auto_mode_access", message, "CONFIG_MAP"))
        return problems

    def _subnet_problems(self, groups: list[NodeGroupBase]) -> list[Problem]:
        """An existing VPC's subnets: their zones become availabilityZones; each node group needs subnets of its kind.

        A subnet named by key alone (not a zone) gets its zone from EC2 when the cluster is requested
        (operations/network.py); until then the zones are unknown and these checks wait.
        """
        zones = self.vpc.subnet_zones(self.region)
        if not self.vpc.existing or zones is None:
            return []
        problems: list[Problem] = []
        if len(zones) < MIN_SUBNET_ZONES:
            message = f"EKS needs subnets in at least {MIN_SUBNET_ZONES} availability zones; these are in {zones}"
            problems.append((("vpc", "subnets"), "subnet_zones", message, zones))
        plane = self.vpc.control_plane_zones(self.region)
        if plane is not None and len(plane) < MIN_SUBNET_ZONES:
            message = f"EKS needs control plane subnets in at least {MIN_SUBNET_ZONES} zones; these are in {plane}"
            problems.append((("vpc", "controlPlaneSubnetIDs"), "subnet_zones", message, plane))
        if self.availability_zones is None:
            object.__setattr__(self, "availability_zones", zones)
        elif sorted(self.availability_zones) != zones:
            message = f"with vpc.subnets the cluster's zones are the subnets' ({', '.join(zones)})"
            problems.append((("availabilityZones",), "zones_subnets_mismatch", message, self.availability_zones))
            return problems
        ordered = list(self.availability_zones or zones)
        for index, group in enumerate(groups):
            kind = "private" if group.private_networking else "public"
            wanted = list(group.availability_zones or ordered)
            per_zone = self.vpc.zones_with_subnets(kind, ordered, self.region)
            missing = [z for z in wanted if z in ordered and not per_zone[ordered.index(z)]]
            if missing and (group.availability_zones or len(missing) == len(wanted)):
                message = f"vpc.subnets.{kind} has no subnet in {', '.join(missing)} for this group's nodes"
                problems.append(((*self.group_loc(index), "privateNetworking"), "no_subnets", message, kind))
        return problems

    def _named_subnet_problems(self) -> list[Problem]:
        """A self-managed group's `subnets` name subnets of the cluster's existing VPC, by key or ID."""
        problems: list[Problem] = []
        known = {key for _, key, _ in self.vpc.subnets.items()} if self.vpc.subnets else set()
        known |= {s.id for _, _, s in self.vpc.subnets.items() if s.id} if self.vpc.subnets else set()
        for index, group in enumerate(self.node_groups or []):
            for s, subnet in enumerate(group.subnets or []):
                if subnet not in known:
                    message = "name a subnet of vpc.subnets (its key or id); node subnets need an existing VPC"
                    problems.append((("nodeGroups", index, "subnets", s), "unknown_subnet", message, subnet))
        return problems

    @property
    def nodegroups(self) -> list[NodeGroupBase]:
        """Every node group, managed ones first then self-managed: the order `group_loc` counts in."""
        return [*(self.managed_node_groups or []), *(self.node_groups or [])]

    def group_loc(self, index: int) -> tuple[str, int]:
        """Where the `index`th of `nodegroups` is written: `("managedNodeGroups", i)` or `("nodeGroups", j)`."""
        managed = len(self.managed_node_groups or [])
        return ("managedNodeGroups", index) if index < managed else ("nodeGroups", index - managed)

    def with_nodegroups(self, groups: list[NodeGroupBase]) -> dict[str, Any]:
        """The spec's body with these node groups, each in the list of its kind (for re-validation)."""
        body = self.model_dump(mode="json", exclude_none=True)
        body["managedNodeGroups"] = [g.model_dump(mode="json", exclude_none=True) for g in groups if g.managed]
        body["nodeGroups"] = [g.model_dump(mode="json", exclude_none=True) for g in groups if not g.managed]
        return body


# -- add-ons a new cluster could not run ---------------------------------------------------


def _schedulable_nodes(group: NodeGroupBase) -> int:
    """The group's nodes an add-on's pods may run on: none while a taint they do not tolerate keeps them off."""
    keeps_off = any(t.effect != "PreferNoSchedule" and t.key != ADDON_TOLERATED_TAINT for t in group.taints)
    return 0 if keeps_off else int(group.desired_capacity or 0)


def addon_problems(spec: ClusterSpec) -> list[Problem]:
    """Why each add-on of a new cluster could not become ACTIVE, as `addons[i].name` problems.

    An add-on that needs nodes with no node to run on (no group, groups at desiredCapacity 0, or
    tainted so its pods stay off) is DEGRADED on AWS, and its stack fails after waiting for it:
    refused now rather than FAILED later. eksctl warns and goes on; it does not wait for such an
    add-on, where an AWS::EKS::Addon always does. An add-on that needs an IAM role needs the
    cluster's OIDC provider for the role to trust.
    """
    nodes = sum(_schedulable_nodes(group) for group in spec.nodegroups)
    # Auto Mode with a node pool launches a node for each pod that waits for one (tolerating no taint).
    auto_nodes = bool(spec.auto_mode_config and spec.auto_mode_config.makes_nodes)
    oidc = bool(spec.iam and spec.iam.with_oidc)
    problems: list[Problem] = []
    for index, addon in enumerate(spec.addons):
        loc = ("addons", index, "name")
        if addon.needs_nodes and nodes == 0 and not auto_nodes:
            remedy = (
                "keep Auto Mode's nodePools (general-purpose, system)"
                if spec.auto_mode
                else "give a node group desiredCapacity >= 1 without a NoSchedule or NoExecute taint"
            )
            message = (
                f"{addon.name} runs pods that need a node, and this cluster would have none they can run on "
                f"({remedy}): EKS would leave {addon.name} DEGRADED and its stack would fail"
            )
            problems.append((loc, "addon_needs_nodes", message, addon.name))
        if addon.needs_iam_role and not oidc and not uses_pod_identity(addon, spec.addons_config):
            message = (
                f"{addon.name} calls AWS with an IAM role for its service account, which trusts the cluster's "
                "OIDC provider: set iam.withOIDC to true (or give it podIdentityAssociations)"
            )
            problems.append((loc, "addon_needs_oidc", message, addon.name))
    return problems


def refuse_nodegroups_with_auto_mode(spec: ClusterSpec) -> None:
    """A 422 for node groups requested with an Auto Mode cluster.

    eksctl makes none with the cluster (they come later, after the networking add-ons), so this is a
    rule of the create request, not of the model: `eksctl create nodegroup` on the running cluster
    works, and so does POST /clusters/{name}/nodegroups.
    """
    if not spec.auto_mode:
        return
    message = (
        "with autoModeConfig.enabled EKS launches the nodes: node groups are not made with the cluster "
        "(eksctl refuses them too); leave managedNodeGroups and nodeGroups out and add groups once it is ACTIVE"
    )
    fields = [
        {"field": kind, "rule": "auto_mode_nodegroups", "message": message}
        for kind, groups in (("managedNodeGroups", spec.managed_node_groups), ("nodeGroups", spec.node_groups))
        if groups
    ]
    if fields:
        raise SpecValidationError("node groups are not made with an Auto Mode cluster", fields=fields)


def refuse_addons_that_cannot_run(spec: ClusterSpec) -> None:
    """A 422 naming each add-on a new cluster could not run (`addon_problems`).

    Checked when a cluster is requested, not by the model: a stored spec is read again by every
    step, and a cluster may later scale every group to zero (its add-ons are then DEGRADED, as on AWS).
    """
    refuse_problems("the request names add-ons EKS could not run", addon_problems(spec))
