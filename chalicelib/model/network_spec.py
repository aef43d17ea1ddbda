"""The cluster's network as a request names it: its VPC, NAT, API endpoint access, control-plane placement and
security groups, and the Kubernetes service range."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from chalicelib.model.validation import Problem, SpecModel, raise_problems

if TYPE_CHECKING:
    from chalicelib.model.spec import ClusterSpec

DEFAULT_VPC_CIDR = "192.168.0.0/16"
# Address space EKS accepts for a VPC: RFC 1918 plus the shared 100.64/10 range.
PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
NAT_MODES = ("Single", "HighlyAvailable", "Disable")
VPC_ID_PATTERN = r"^vpc-[0-9a-f]{8,17}$"
SUBNET_ID_PATTERN = r"^subnet-[0-9a-f]{8,17}$"
ZONE_PATTERN = r"^[a-z0-9-]+[a-z]$"
SECURITY_GROUP_PATTERN = r"^sg-[0-9a-f]{8,17}$"
# EKS takes at most five security groups for the control plane; ekspress's own group is one of them.
MAX_CONTROL_PLANE_SECURITY_GROUPS = 4


class NatSpec(SpecModel):
    gateway: Literal["Single", "HighlyAvailable", "Disable"] = "Single"


class EndpointsSpec(SpecModel):
    public_access: bool = True
    private_access: bool = False

    @model_validator(mode="after")
    def _reachable(self) -> EndpointsSpec:
        if not self.public_access and not self.private_access:
            raise PydanticCustomError("endpoint_unreachable", "publicAccess and privateAccess cannot both be false")
        return self


class SubnetSpec(SpecModel):
    """An existing subnet (eksctl's AZSubnetSpec): its id, and the zone and CIDR it must have, if named.

    With a CIDR and no id, the subnet is the VPC's subnet with that CIDR: EC2 tells its id and zone when
    the cluster is requested."""

    id: Annotated[str, Field(pattern=SUBNET_ID_PATTERN)] | None = None
    az: Annotated[str, Field(pattern=ZONE_PATTERN)] | None = None
    cidr: str | None = None

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            return str(ipaddress.IPv4Network(value, strict=True))
        except ValueError as exc:
            raise PydanticCustomError("cidr_invalid", "not an IPv4 network ({reason})", {"reason": str(exc)}) from None


SubnetMap = Annotated[dict[Annotated[str, Field(min_length=1, max_length=64)], SubnetSpec], Field(max_length=16)]


class SubnetsSpec(SpecModel):
    """The VPC's subnets by kind, each keyed by a name or by its zone (eksctl's ClusterSubnets)."""

    public: SubnetMap = Field(default_factory=dict)
    private: SubnetMap = Field(default_factory=dict)

    def items(self) -> list[tuple[str, str, SubnetSpec]]:
        """(kind, key, subnet) for every subnet, public first."""
        return [("public", k, s) for k, s in self.public.items()] + [("private", k, s) for k, s in self.private.items()]

    @property
    def cidrs(self) -> list[str]:
        """The CIDRs the request gives (or EC2 filled in) for its subnets, public first."""
        return [str(s.cidr) for _, _, s in self.items() if s.cidr]


def subnet_zone(key: str, subnet: SubnetSpec, region: str) -> str | None:
    """The zone a subnet must be in: its `az`, else its key when the key is a zone of `region`."""
    if subnet.az:
        return subnet.az
    if key.startswith(region) and len(key) == len(region) + 1:
        return key
    return None


MIN_SUBNET_ZONES = 2


class VpcSpec(SpecModel):
    # An existing VPC: nothing of the network is built, the cluster goes in `subnets`.
    id: Annotated[str, Field(pattern=VPC_ID_PATTERN)] | None = None
    subnets: SubnetsSpec | None = None
    # Of the given subnets, those the control plane is placed in (unset: all of them).
    control_plane_subnet_ids: Annotated[
        list[Annotated[str, Field(pattern=SUBNET_ID_PATTERN)]] | None,
        Field(alias="controlPlaneSubnetIDs", max_length=16),
    ] = None
    cidr: str = DEFAULT_VPC_CIDR
    nat: NatSpec = Field(default_factory=NatSpec)
    cluster_endpoints: EndpointsSpec = Field(default_factory=EndpointsSpec)
    public_access_cid_rs: Annotated[list[str], Field(alias="publicAccessCIDRs", max_length=40)] = Field(
        default_factory=list
    )
    # EC2 hostnames of what is launched in the subnets ekspress builds (unset: EC2's default, as eksctl).
    hostname_type: Literal["resource-name", "ip-name"] | None = None
    # An Amazon-provided IPv6 block on the VPC and a /64 of it on each subnet (dual stack; the cluster stays IPv4).
    auto_allocate_ipv6: bool | None = Field(default=None, alias="autoAllocateIPv6")
    # The control plane's network interfaces in the private subnets only (eksctl's default: every subnet).
    control_plane_on_private_subnets: bool | None = None
    # An existing VPC's security groups the control plane joins, next to the one ekspress makes.
    control_plane_security_group_ids: Annotated[
        list[Annotated[str, Field(pattern=SECURITY_GROUP_PATTERN)]] | None,
        Field(alias="controlPlaneSecurityGroupIDs", min_length=1, max_length=MAX_CONTROL_PLANE_SECURITY_GROUPS),
    ] = None
    # An existing VPC's security group the control plane uses instead of the one ekspress would make.
    security_group: Annotated[str, Field(pattern=SECURITY_GROUP_PATTERN)] | None = None
    # An existing VPC's security group self-managed nodes share instead of ClusterSharedNodeSecurityGroup,
    # and whether the cluster stack opens it to and from EKS's cluster security group (unset: it does).
    shared_node_security_group: Annotated[str, Field(pattern=SECURITY_GROUP_PATTERN)] | None = None
    manage_shared_node_security_group_rules: bool | None = None

    @property
    def manages_shared_node_rules(self) -> bool:
        """Whether the cluster stack adds the shared node group's rules with EKS's cluster security group."""
        return self.manage_shared_node_security_group_rules is not False

    @property
    def existing(self) -> bool:
        """Whether the cluster goes in a VPC the request names (nothing of the network is built)."""
        return self.id is not None

    @model_validator(mode="after")
    def _existing(self) -> VpcSpec:
        problems: list[Problem] = []
        if self.id is None:
            for field, alias in (("subnets", "subnets"), ("control_plane_subnet_ids", "controlPlaneSubnetIDs")):
                if getattr(self, field) is not None:
                    message = f"{alias} name an existing VPC's subnets: set vpc.id"
                    problems.append(((alias,), "subnets_need_vpc_id", message, None))
        else:
            if self.subnets is None or not self.subnets.items():
                problems.append(
                    (("subnets",), "subnets_required", "an existing VPC needs its subnets (private or public)", None)
                )
            # The defaults stay (a stored spec carries them); anything else describes a VPC to build.
            for built, value, default in (("cidr", self.cidr, DEFAULT_VPC_CIDR), ("nat", self.nat.gateway, "Single")):
                if value != default:
                    message = f"vpc.{built} describes a VPC ekspress builds; leave it out with vpc.id"
                    problems.append(((built,), "vpc_existing", message, value))
            seen: dict[str, str] = {}
            cidrs: dict[str, str] = {}
            for kind, key, subnet in self.subnets.items() if self.subnets else []:
                problems += self._subnet_cidr_problems(kind, key, subnet, cidrs)
                if subnet.id is None:
                    if subnet.cidr is None:
                        message = "name the existing subnet's id, or its cidr to find it in the VPC"
                        problems.append((("subnets", kind, key, "id"), "subnet_id_required", message, None))
                elif subnet.id in seen:
                    message = f"{subnet.id} is listed twice (also as {seen[subnet.id]})"
                    problems.append((("subnets", kind, key, "id"), "duplicate_subnet", message, subnet.id))
                else:
                    seen[subnet.id] = f"{kind}.{key}"
            for index, subnet_id in enumerate(self.control_plane_subnet_ids or []):
                loc: tuple[str | int, ...] = ("controlPlaneSubnetIDs", index)
                if subnet_id not in seen:
                    message = f"{subnet_id} is not one of vpc.subnets (list it there, public or private)"
                    problems.append((loc, "control_plane_subnet_not_listed", message, subnet_id))
                elif subnet_id in (self.control_plane_subnet_ids or [])[:index]:
                    problems.append((loc, "duplicate_subnet", f"{subnet_id} is listed twice", subnet_id))
        if problems:
            raise_problems("VpcSpec", problems)
        return self

    def _subnet_cidr_problems(self, kind: str, key: str, subnet: SubnetSpec, cidrs: dict[str, str]) -> list[Problem]:
        """An existing subnet's CIDR listed twice, or (when it alone names the subnet) outside a given vpc.cidr."""
        if subnet.cidr is None:
            return []
        loc: tuple[str | int, ...] = ("subnets", kind, key, "cidr")
        if subnet.cidr in cidrs:
            message = f"{subnet.cidr} is listed twice (also as {cidrs[subnet.cidr]})"
            return [(loc, "duplicate_subnet", message, subnet.cidr)]
        cidrs[subnet.cidr] = f"{kind}.{key}"
        # Only a subnet not yet found has its CIDR checked here; EC2 tells the rest when the cluster is requested.
        inside = ipaddress.IPv4Network(subnet.cidr).subnet_of(ipaddress.IPv4Network(self.cidr))
        if subnet.id is None and "cidr" in self.model_fields_set and not inside:
            message = f"{subnet.cidr} is not inside vpc.cidr {self.cidr}"
            return [(loc, "subnet_cidr_outside_vpc", message, subnet.cidr)]
        return []

    @model_validator(mode="after")
    def _options(self) -> VpcSpec:
        """eksctl's rules for the control plane's placement and groups, and what ekspress cannot build yet."""
        problems: list[Problem] = []
        if self.auto_allocate_ipv6 and self.existing:
            message = (
                "vpc.autoAllocateIPv6 gives IPv6 blocks to a VPC ekspress builds; an existing VPC's blocks are not "
                "ekspress's to change (associate them in EC2 and leave autoAllocateIPv6 out)"
            )
            problems.append((("autoAllocateIPv6",), "ipv6_existing_vpc", message, True))
        if self.hostname_type is not None and self.existing:
            message = (
                "vpc.hostnameType is not supported with an existing VPC (as eksctl): its subnets are not "
                "ekspress's to change; set the hostname type on the subnets in EC2"
            )
            problems.append((("hostnameType",), "hostname_type_existing_vpc", message, self.hostname_type))
        if self.control_plane_on_private_subnets and self.control_plane_subnet_ids is not None:
            message = "give only one of vpc.controlPlaneSubnetIDs and vpc.controlPlaneOnPrivateSubnets (as eksctl)"
            problems.append((("controlPlaneOnPrivateSubnets",), "one_of", message, True))
        elif self.control_plane_on_private_subnets and self.existing and self.subnets is not None:
            private = len(self.subnets.private)
            if private < MIN_SUBNET_ZONES:
                message = (
                    f"vpc.controlPlaneOnPrivateSubnets needs at least {MIN_SUBNET_ZONES} private subnets "
                    f"in vpc.subnets.private, in {MIN_SUBNET_ZONES} zones; there are {private}"
                )
                problems.append((("controlPlaneOnPrivateSubnets",), "control_plane_private_subnets", message, True))
        if self.security_group is not None and self.control_plane_security_group_ids is not None:
            message = "give only one of vpc.securityGroup and vpc.controlPlaneSecurityGroupIDs (as eksctl)"
            problems.append((("securityGroup",), "one_of", message, self.security_group))
        if self.manage_shared_node_security_group_rules is False and self.shared_node_security_group is None:
            message = (
                "the shared node security group ekspress makes always has its rules (as eksctl): give "
                "vpc.sharedNodeSecurityGroup, or leave manageSharedNodeSecurityGroupRules out"
            )
            field: tuple[str | int, ...] = ("manageSharedNodeSecurityGroupRules",)
            problems.append((field, "needs_shared_node_security_group", message, False))
        for alias, value in (
            ("securityGroup", self.security_group),
            ("controlPlaneSecurityGroupIDs", self.control_plane_security_group_ids),
            ("sharedNodeSecurityGroup", self.shared_node_security_group),
        ):
            if value is not None and not self.existing:
                message = (
                    f"vpc.{alias} names security groups of an existing VPC: set vpc.id and vpc.subnets "
                    "(in a VPC ekspress builds, the groups could not exist yet)"
                )
                problems.append(((alias,), "security_group_needs_vpc_id", message, value))
        groups = self.control_plane_security_group_ids or []
        for index, group in enumerate(groups):
            if group in groups[:index]:
                loc: tuple[str | int, ...] = ("controlPlaneSecurityGroupIDs", index)
                problems.append((loc, "duplicate_security_group", f"{group} is listed twice", group))
        if problems:
            raise_problems("VpcSpec", problems)
        return self

    def subnet_zones(self, region: str) -> list[str] | None:
        """The zones of the given subnets, sorted; None while any subnet's zone is not yet known."""
        if self.subnets is None:
            return None
        zones = [subnet_zone(key, subnet, region) for _, key, subnet in self.subnets.items()]
        if any(z is None for z in zones):
            return None
        return sorted({z for z in zones if z})

    def control_plane_zones(self, region: str) -> list[str] | None:
        """The zones of `controlPlaneSubnetIDs`, sorted; None when unset or while a zone is not yet known."""
        if not self.control_plane_subnet_ids or self.subnets is None:
            return None
        wanted = set(self.control_plane_subnet_ids)
        zones = [subnet_zone(k, s, region) for _, k, s in self.subnets.items() if s.id in wanted]
        if any(z is None for z in zones):
            return None
        return sorted({z for z in zones if z})

    def zone_subnets(self, kind: str, zones: list[str], region: str) -> list[list[str]]:
        """The ids of the given `kind` subnets in each of `zones` (zones must be known)."""
        given = (self.subnets.public if kind == "public" else self.subnets.private) if self.subnets else {}
        return [[s.id for k, s in given.items() if s.id and subnet_zone(k, s, region) == zone] for zone in zones]

    def zones_with_subnets(self, kind: str, zones: list[str], region: str) -> list[bool]:
        """Whether each of `zones` has a `kind` subnet, named by id or (not yet found in EC2) by CIDR."""
        given = (self.subnets.public if kind == "public" else self.subnets.private) if self.subnets else {}
        return [any(subnet_zone(k, s, region) == zone for k, s in given.items()) for zone in zones]

    def public_access_refuses(self, networks: tuple[str, ...]) -> list[str]:
        """Those of `networks` the public endpoint would not admit: not inside any of publicAccessCIDRs.

        No publicAccessCIDRs means EKS's default, 0.0.0.0/0, which admits everyone.
        """
        if not self.public_access_cid_rs:
            return []
        allowed = [ipaddress.IPv4Network(c) for c in self.public_access_cid_rs]
        return [n for n in networks if not any(ipaddress.IPv4Network(n).subnet_of(a) for a in allowed)]

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


def _ip_family(value: Any) -> Any:
    """eksctl compares ipFamily without case (`ipv6`, `IPv6`); kept as eksctl spells it."""
    if isinstance(value, str):
        return {"ipv4": "IPv4", "ipv6": "IPv6"}.get(value.lower(), value)
    return value


class KubernetesNetworkSpec(SpecModel):
    service_ipv4_cidr: str | None = Field(default=None, alias="serviceIPv4CIDR")
    # The addresses of pods and services (KubernetesNetworkConfig.IpFamily); unset is IPv4, as eksctl.
    ip_family: Annotated[Literal["IPv4", "IPv6"], BeforeValidator(_ip_family)] | None = Field(
        default=None, alias="ipFamily"
    )

    @property
    def ipv6(self) -> bool:
        return self.ip_family == "IPv6"

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


# EKS's service range when the cluster names none (nodeadm needs it to find the cluster DNS; remote
# networks must not overlap it).
DEFAULT_SERVICE_CIDR = "10.100.0.0/16"
ALTERNATE_SERVICE_CIDR = "172.20.0.0/16"  # when the VPC's range is in 10.0.0.0/8


def service_range(spec: ClusterSpec) -> str:
    """The cluster's service range: the one asked for, else the one EKS picks (172.20.0.0/16 when the VPC is
    in 10.0.0.0/8, else 10.100.0.0/16). An existing VPC is judged by its subnets' CIDRs when the request has them."""
    network = spec.kubernetes_network_config
    if network and network.service_ipv4_cidr:
        return network.service_ipv4_cidr
    vpc = spec.vpc
    existing = vpc.subnets.cidrs if vpc.subnets else []
    cidrs = existing if vpc.existing else [vpc.cidr]
    ten = ipaddress.ip_network("10.0.0.0/8")
    return ALTERNATE_SERVICE_CIDR if any(ipaddress.ip_network(c).overlaps(ten) for c in cidrs) else DEFAULT_SERVICE_CIDR
