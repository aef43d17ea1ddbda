"""The account quotas a cluster uses, what a request needs of each, and the refusal when one has no room.

A cluster stack (cfn/vpc.py) takes one VPC, one internet gateway and, per NAT gateway, one
Elastic IP and a place in its zone's NAT quota: `Single` puts one NAT gateway in the first
zone's public subnet, `HighlyAvailable` one in every zone, `Disable` none. The control plane
takes one EKS cluster; in an existing VPC (`vpc.id`) that is all the cluster takes. A node
group stack takes none of these (an instance role and an `AWS::EKS::Nodegroup` in the
cluster's subnets), so only creates are checked.

The codes are Service Quotas' (`GetServiceQuota` takes service and quota code); `default` is
AWS's value for a new account, used only when Service Quotas answers neither an applied nor a
default value. Sources: "Amazon Virtual Private Cloud endpoints and quotas"
(https://docs.aws.amazon.com/general/latest/gr/vpc-service.html), "Elastic IP address quota"
(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/elastic-ip-addresses-eip.html), "Amazon
Elastic Kubernetes Service endpoints and quotas" (https://docs.aws.amazon.com/general/latest/gr/eks.html),
and the codes in the EKS best-practices guide's "Known Limits and Service Quotas"
(https://docs.aws.amazon.com/eks/latest/best-practices/known_limits_and_service_quotas.html).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.model import private_cluster_spec
from chalicelib.model.errors import ConflictError, EkspressError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from chalicelib.model.spec import ClusterSpec

REGION = "region"
ZONE = "zone"
# Where a quota's value came from: Service Quotas' applied value, its AWS default, or the documented default.
APPLIED = "applied"
DEFAULT = "default"
DOCUMENTED = "documented"


@dataclass(frozen=True)
class Quota:
    service_code: str
    code: str
    name: str
    default: float
    scope: str = REGION  # ZONE: the value holds in each availability zone of the region


VPCS = Quota("vpc", "L-F678F1CE", "VPCs per Region", 5)
INTERNET_GATEWAYS = Quota("vpc", "L-A4707A72", "Internet gateways per Region", 5)
ELASTIC_IPS = Quota("ec2", "L-0263D0A3", "EC2-VPC Elastic IPs", 5)
NAT_GATEWAYS = Quota("vpc", "L-FE5A380F", "NAT gateways per Availability Zone", 5, ZONE)
EKS_CLUSTERS = Quota("eks", "L-1194D53C", "Clusters", 100)
QUOTAS: tuple[Quota, ...] = (VPCS, INTERNET_GATEWAYS, ELASTIC_IPS, NAT_GATEWAYS, EKS_CLUSTERS)


@dataclass(frozen=True)
class Need:
    """`count` more of `quota` (in `zone`, for a per-zone quota)."""

    quota: Quota
    count: int
    zone: str | None = None


def nat_zones(nat_gateway: str, zones: Sequence[str]) -> list[str]:
    """The zones a cluster's NAT gateways go in, as cfn/vpc.py places them."""
    if nat_gateway == "HighlyAvailable":
        return list(zones)
    if nat_gateway == "Single":
        return list(zones[:1])
    return []


def cluster_needs(spec: ClusterSpec, zones: Sequence[str]) -> list[Need]:
    """What creating `spec`'s cluster stack in `zones` (in their order) takes of each quota."""
    if spec.vpc.existing:  # nothing of the network is built: no VPC, gateway, NAT or Elastic IP
        return [Need(EKS_CLUSTERS, 1)]
    nats = nat_zones(spec.vpc.nat.gateway, zones)  # none in a fully private cluster's VPC (nat is Disable)
    # A fully private cluster's VPC has no internet gateway either.
    needs = [Need(VPCS, 1)] if private_cluster_spec.enabled(spec) else [Need(VPCS, 1), Need(INTERNET_GATEWAYS, 1)]
    if nats:
        needs.append(Need(ELASTIC_IPS, len(nats)))
    needs += [Need(NAT_GATEWAYS, 1, zone) for zone in nats]
    needs.append(Need(EKS_CLUSTERS, 1))
    return needs


def needs_zones(spec: ClusterSpec) -> bool:
    """Whether the needs depend on which zones the cluster gets (its NAT gateways do)."""
    return not spec.vpc.existing and bool(nat_zones(spec.vpc.nat.gateway, ["any"]))


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


@dataclass(frozen=True)
class Headroom:
    """A quota's value, what is in use, and what is left (in one zone, for a per-zone quota)."""

    quota: Quota
    value: float
    used: int
    source: str
    zone: str | None = None

    @property
    def available(self) -> int:
        return max(0, int(self.value) - self.used)

    def to_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "quotaCode": self.quota.code,
            "serviceCode": self.quota.service_code,
            "name": self.quota.name,
            "value": _number(self.value),
            "used": self.used,
            "available": self.available,
            "source": self.source,
        }
        if self.zone is not None:
            shown["zone"] = self.zone
        return shown


@dataclass(frozen=True)
class Shortfall:
    headroom: Headroom
    needed: int

    def to_dict(self) -> dict[str, Any]:
        return {**self.headroom.to_dict(), "needed": self.needed}

    def sentence(self) -> str:
        room = self.headroom
        where = f" in {room.zone}" if room.zone else ""
        return (
            f"{room.quota.name} ({room.quota.service_code}/{room.quota.code}) is {_number(room.value)}{where}, "
            f"{room.used} in use, and the cluster needs {self.needed}"
        )


def shortfalls(needs: Sequence[Need], rooms: Mapping[tuple[str, str | None], Headroom]) -> list[Shortfall]:
    """Every need its quota has no room for; `rooms` is keyed by (quota code, zone or None)."""
    short = []
    for need in needs:
        room = rooms[(need.quota.code, need.zone)]
        if need.count > room.available:
            short.append(Shortfall(room, need.count))
    return short


class QuotaExceededError(ConflictError):
    """The account has no room left in a quota the cluster would take: AWS would fail its stack."""

    code = "quota_exceeded"


class QuotasUnavailableError(EkspressError):
    """Service Quotas, EC2 or EKS could not be read: the headroom is unknown for now."""

    status = 503
    code = "QuotasUnavailable"


def refusal(cluster: str, region: str, short: Sequence[Shortfall]) -> QuotaExceededError:
    """The 409 naming each quota without room: its value, what is in use and what the cluster needs."""
    return QuotaExceededError(
        f"cluster {cluster!r} would not fit in {region}: "
        + "; ".join(s.sentence() for s in short)
        + ". Free some, or have the quota raised in Service Quotas.",
        cluster=cluster,
        region=region,
        exceeded=[s.to_dict() for s in short],
    )
