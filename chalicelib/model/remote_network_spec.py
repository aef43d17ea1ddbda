"""EKS Hybrid Nodes (`remoteNetworkConfig`): machines of the caller's own network join the cluster.

As eksctl builds it (`pkg/cfn/builder/cluster.go`, `iam.go`): the cluster gets the remote node and
pod networks (`RemoteNetworkConfig`), its control plane security group lets those networks reach
the API server on 443, and the cluster stack makes the role the remote nodes get credentials for
through AWS Systems Manager (`iam.provider: SSM`, eksctl's default) with a `HYBRID_LINUX` access
entry for it. What eksctl and EKS refuse is a 422 on its field:

- exactly one remote node network and at most one remote pod network (EKS's and eksctl's limit),
  each of 1 to 15 IPv4 CIDRs in RFC 1918 or 100.64.0.0/10 space (`remote_network_cidr`), overlapping
  neither each other, the VPC ekspress builds, nor the cluster's service range (`remote_network_overlap`);
- an IPv6 cluster (`remote_network_ipv6`), and `authenticationMode: CONFIG_MAP`: the remote nodes
  join through their access entry (`remote_network_access`).

Not built, and refused with what to do instead (chalicelib/model/refusals.py): `iam.provider: IRA`
(IAM Roles Anywhere), `iam.roleARN` (a role the service did not make) and `vpcGatewayID` (routes to
the remote networks through a gateway the caller attaches).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from chalicelib.model.validation import SpecModel

if TYPE_CHECKING:
    from chalicelib.model.spec import ClusterSpec
    from chalicelib.model.validation import Problem

# The address space EKS takes for remote node and pod networks.
REMOTE_SPACE = tuple(
    ipaddress.ip_network(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
MAX_CIDRS = 15  # per remote network (EKS)


def _remote_cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise PydanticCustomError(
            "remote_network_cidr", "{value} is not an IPv4 CIDR block", {"value": value}
        ) from None
    if network.version != 4 or not any(network.subnet_of(space) for space in REMOTE_SPACE):  # type: ignore[arg-type]
        message = "{value} is not in RFC 1918 space (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) or 100.64.0.0/10"
        raise PydanticCustomError("remote_network_cidr", message, {"value": value})
    return str(network)


def _provider(value: str) -> str:
    provider = value.upper()  # eksctl compares it case-insensitively
    if provider == "IRA":
        message = "IAM Roles Anywhere (IRA) is not built yet: use SSM (eksctl's default), hybrid activations"
        raise PydanticCustomError("remote_nodes_provider", message)
    if provider != "SSM":
        raise PydanticCustomError("remote_nodes_provider", "only SSM and IRA are providers (eksctl's rule)")
    return provider


class RemoteNetworkSpec(SpecModel):
    cidrs: Annotated[list[Annotated[str, AfterValidator(_remote_cidr)]], Field(min_length=1, max_length=MAX_CIDRS)]


class RemoteNodesIamSpec(SpecModel):
    # How the remote nodes get AWS credentials: AWS Systems Manager's hybrid activations (eksctl's default).
    provider: Annotated[str, AfterValidator(_provider)] = "SSM"


class RemoteNetworkConfigSpec(SpecModel):
    iam: RemoteNodesIamSpec = Field(default_factory=RemoteNodesIamSpec)
    remote_node_networks: Annotated[list[RemoteNetworkSpec], Field(min_length=1, max_length=1)]
    remote_pod_networks: Annotated[list[RemoteNetworkSpec], Field(max_length=1)] | None = None

    @property
    def cidrs(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every remote CIDR, with where it is written (under remoteNetworkConfig)."""
        found: list[tuple[tuple[str | int, ...], str]] = []
        for kind, networks in (
            ("remoteNodeNetworks", self.remote_node_networks),
            ("remotePodNetworks", self.remote_pod_networks),
        ):
            for index, network in enumerate(networks or []):
                found += [((kind, index, "cidrs", i), cidr) for i, cidr in enumerate(network.cidrs)]
        return found


def remote_network_problems(spec: ClusterSpec, service_range: str) -> list[Problem]:
    """What the cluster's remote networks cannot be made with, each on its field (nothing without them)."""
    config = spec.remote_network_config
    if config is None:
        return []
    problems: list[Problem] = []
    here = ("remoteNetworkConfig",)
    if spec.kubernetes_network_config and spec.kubernetes_network_config.ipv6:
        message = "remote networks are IPv4: EKS takes no remoteNetworkConfig on an IPv6 cluster (eksctl's rule)"
        problems.append((here, "remote_network_ipv6", message, None))
    if spec.access_config and spec.access_config.authentication_mode == "CONFIG_MAP":
        message = "hybrid nodes join through an access entry: use API or API_AND_CONFIG_MAP (eksctl's rule)"
        problems.append((("accessConfig", "authenticationMode"), "remote_network_access", message, "CONFIG_MAP"))
    taken: list[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network]] = []
    if _service_range_known(spec):
        taken.append(("the cluster's service range", ipaddress.ip_network(service_range)))
    if not spec.vpc.existing:
        taken.append(("the VPC's CIDR (vpc.cidr)", ipaddress.ip_network(spec.vpc.cidr)))
    return problems + _overlaps(config, taken)


def _service_range_known(spec: ClusterSpec) -> bool:
    """Whether the service range is known yet: EKS picks it from the VPC's CIDR, which an existing VPC's
    subnets say only once EC2 has been asked (chalicelib/operations/network.py fills them in)."""
    if not spec.vpc.existing or (spec.kubernetes_network_config and spec.kubernetes_network_config.service_ipv4_cidr):
        return True
    return bool(spec.vpc.subnets and spec.vpc.subnets.cidrs)


def existing_vpc_problems(spec: ClusterSpec, vpc_cidrs: list[str]) -> list[Problem]:
    """The remote networks that overlap an existing VPC's CIDR blocks, as EC2 gives them."""
    if spec.remote_network_config is None:
        return []
    taken = [(f"the VPC's CIDR {cidr}", ipaddress.ip_network(cidr)) for cidr in vpc_cidrs]
    # Their overlaps with one another were refused with the spec.
    return _overlaps(spec.remote_network_config, taken, among_themselves=False)


def _overlaps(
    config: RemoteNetworkConfigSpec,
    taken: list[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network]],
    among_themselves: bool = True,
) -> list[Problem]:
    """A problem for each remote CIDR that overlaps one of `taken` (or an earlier remote CIDR)."""
    problems: list[Problem] = []
    here = ("remoteNetworkConfig",)
    for loc, cidr in config.cidrs:
        network = ipaddress.ip_network(cidr)
        clash = next((what for what, other in taken if network.overlaps(other)), None)
        if clash is not None:
            message = f"{cidr} overlaps {clash}: remote networks must be routable to and from the VPC"
            problems.append(((*here, *loc), "remote_network_overlap", message, cidr))
        if among_themselves:
            taken.append((f"remote network {cidr}", network))
    return problems
