"""Headroom under the account quotas a cluster takes: checked before a create starts, shown by `GET /quotas`.

In a new account the fifth cluster of a region (the default VPC is the first VPC) fails ten
minutes in, when CloudFormation reaches its VPC or Elastic IP and rolls the stack back. This
refuses it at once with a 409 naming the quota instead. The value is Service Quotas' applied
value, else AWS's default (model/quotas.py); what is in use is what EC2 and EKS list now.

A guardrail, as the owner limit is: creates racing for the last VPC may both pass (their
stacks do not exist yet), and CloudFormation still refuses the one that comes second. When
the reads fail (a permission not granted yet, AWS not answering) the create goes ahead with
a warning in the log: the stack would tell the same story, later. Node group changes take
none of these quotas (model/quotas.py) and are not checked.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from chalicelib.aws import quotas as aws_quotas
from chalicelib.model.errors import BadRequestError, SpecValidationError
from chalicelib.model.quotas import (
    DOCUMENTED,
    EKS_CLUSTERS,
    ELASTIC_IPS,
    INTERNET_GATEWAYS,
    NAT_GATEWAYS,
    QUOTAS,
    VPCS,
    Headroom,
    QuotasUnavailableError,
    cluster_needs,
    needs_zones,
    refusal,
    shortfalls,
)
from chalicelib.model.settings import ENV_ALLOWED_REGIONS
from chalicelib.model.spec import DEFAULT_REGION, REGION_PATTERN
from chalicelib.observability import logger

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from chalicelib.aws.clients import Clients
    from chalicelib.model.quotas import Quota
    from chalicelib.model.settings import Settings
    from chalicelib.model.spec import ClusterSpec
    from chalicelib.operations.context import Context

# What is in use, per quota of region scope, from the region's clients.
_IN_USE: dict[str, Callable[[Clients, str], int]] = {
    VPCS.code: lambda clients, region: aws_quotas.count_vpcs(
        clients.ec2(region), aws_quotas.account_id(clients.client("sts", region), region)
    ),
    INTERNET_GATEWAYS.code: lambda clients, region: aws_quotas.count_internet_gateways(clients.ec2(region)),
    ELASTIC_IPS.code: lambda clients, region: aws_quotas.count_addresses(clients.ec2(region)),
    EKS_CLUSTERS.code: lambda clients, region: aws_quotas.count_clusters(clients.eks(region)),
}


def headroom(ctx: Context, region: str, quotas: Iterable[Quota], zones: Sequence[str] = ()) -> list[Headroom]:
    """Each quota's value, use and room in `region`; a per-zone quota once for each of `zones`."""
    servicequotas = ctx.clients.servicequotas(region)
    rooms = []
    for quota in quotas:
        value, source = aws_quotas.quota_value(servicequotas, quota.service_code, quota.code) or (
            quota.default,
            DOCUMENTED,
        )
        if quota is NAT_GATEWAYS:
            per_zone = aws_quotas.nat_gateways_per_zone(ctx.clients.ec2(region))
            rooms += [Headroom(quota, value, per_zone.get(zone, 0), source, zone) for zone in zones]
        else:
            rooms.append(Headroom(quota, value, _IN_USE[quota.code](ctx.clients, region), source))
    return rooms


def _aws_errors() -> tuple[type[Exception], ...]:
    # botocore only when a check runs (it is loaded with the first client anyway).
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def check_create(ctx: Context, spec: ClusterSpec, zones: list[str]) -> None:
    """409 `quota_exceeded` when a quota the cluster takes has no room for it in its region, built in `zones`
    (the request's choice, create.cluster_layout)."""
    errors = _aws_errors()
    try:
        needs = cluster_needs(spec, zones if needs_zones(spec) else [])
        wanted = list(dict.fromkeys(need.quota for need in needs))
        nat_zones = [need.zone for need in needs if need.zone is not None]
        rooms = {(room.quota.code, room.zone): room for room in headroom(ctx, spec.region, wanted, nat_zones)}
    except errors as exc:
        logger.warning(
            "account quotas not checked: AWS did not answer",
            extra={"cluster": spec.name, "region": spec.region, "reason": str(exc)},
        )
        return
    short = shortfalls(needs, rooms)
    if short:
        raise refusal(spec.name, spec.region, short)


def _asked_region(region: str, settings: Settings) -> str:
    if not re.fullmatch(REGION_PATTERN, region):
        raise BadRequestError(f"region must be an AWS region name such as {DEFAULT_REGION}", field="region")
    if settings.allowed_regions and region not in settings.allowed_regions:
        allowed = ", ".join(settings.allowed_regions)
        raise SpecValidationError(
            f"{region} is not allowed by the service policy",
            fields=[
                {
                    "field": "region",
                    "rule": "region_not_allowed",
                    "message": f"{region} is not allowed by the service policy; allowed: {allowed} "
                    f"({ENV_ALLOWED_REGIONS})",
                }
            ],
        )
    if region not in aws_quotas.known_regions():
        raise BadRequestError(f"{region} is not a region EKS is offered in", field="region")
    return region


def report(ctx: Context, region: str | None = None) -> dict[str, Any]:
    """`GET /quotas`: headroom in `region`, else in each region the policy allows (the default region if any)."""
    regions = (
        [_asked_region(region, ctx.settings)]
        if region is not None
        else list(ctx.settings.allowed_regions or (DEFAULT_REGION,))
    )
    errors = _aws_errors()
    shown = []
    for name in regions:
        try:
            zones = aws_quotas.available_zones(ctx.clients.ec2(name))
            rooms = headroom(ctx, name, QUOTAS, zones)
        except errors as exc:
            raise QuotasUnavailableError(f"the account's quotas in {name} could not be read: {exc}") from None
        shown.append({"region": name, "quotas": [room.to_dict() for room in rooms]})
    return {"regions": shown}
