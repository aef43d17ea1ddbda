"""The cluster's network as a request names it: its VPC, NAT, API endpoint access and Kubernetes service range."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from chalicelib.model.validation import SpecModel

DEFAULT_VPC_CIDR = "192.168.0.0/16"
# Address space EKS accepts for a VPC: RFC 1918 plus the shared 100.64/10 range.
PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
NAT_MODES = ("Single", "HighlyAvailable", "Disable")


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


class VpcSpec(SpecModel):
    cidr: str = DEFAULT_VPC_CIDR
    nat: NatSpec = Field(default_factory=NatSpec)
    cluster_endpoints: EndpointsSpec = Field(default_factory=EndpointsSpec)
    public_access_cid_rs: Annotated[list[str], Field(alias="publicAccessCIDRs", max_length=40)] = Field(
        default_factory=list
    )

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


class KubernetesNetworkSpec(SpecModel):
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
