"""Service Quotas' values, and EC2's and EKS's counts of what holds a place in each quota.

Clients are passed in (`Clients.servicequotas`, `.ec2`, `.eks` of one region). A quota never
adjusted in the account has no applied value: `GetServiceQuota` answers
`NoSuchResourceException`, and the value is AWS's default (`GetAWSDefaultServiceQuota`).

Every create reads about a dozen of these. Reads of the same thing with the same client that
overlap in time make one call, whose answer they all get (`shared`): a burst of creates costs
AWS a few reads, not a dozen each. Nothing is kept once a read has answered, so no answer is
older than the request that gets it.
"""

from __future__ import annotations

import functools
import threading
from collections import Counter
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from chalicelib.model.quotas import APPLIED, DEFAULT

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

# What holds a place in "NAT gateways per Availability Zone": gateways pending, available or deleting.
NAT_COUNTED_STATES = ("pending", "available", "deleting")
# Values per filter EC2 accepts in one call.
_FILTER_VALUES = 200

_inflight: dict[Hashable, Future[Any]] = {}
_inflight_lock = threading.Lock()


def shared[T](key: Hashable, read: Callable[[], T]) -> T:
    """`read()`, or the answer of the same read already in flight (same `key`) in another thread."""
    with _inflight_lock:
        running = _inflight.get(key)
        if running is None:
            mine: Future[Any] = Future()
            _inflight[key] = mine
    if running is not None:
        answer: T = running.result()
        return answer
    try:
        result = read()
    except BaseException as exc:
        mine.set_exception(exc)
        raise
    else:
        mine.set_result(result)
        return result
    finally:
        with _inflight_lock:
            _inflight.pop(key, None)


def _shared_read[**P, T](read: Callable[P, T]) -> Callable[P, T]:
    """`read`, shared by the calls with the same arguments (clients compare by identity) that overlap in time."""

    @functools.wraps(read)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        return shared((read.__name__, args, tuple(sorted(kwargs.items()))), lambda: read(*args, **kwargs))

    return call


@_shared_read
def quota_value(servicequotas: Any, service_code: str, quota_code: str) -> tuple[float, str] | None:
    """(value, APPLIED or DEFAULT) of a quota in the client's region; None if Service Quotas knows neither."""
    missing = servicequotas.exceptions.NoSuchResourceException
    try:
        quota = servicequotas.get_service_quota(ServiceCode=service_code, QuotaCode=quota_code)["Quota"]
        return float(quota["Value"]), APPLIED
    except missing:
        pass
    try:
        quota = servicequotas.get_aws_default_service_quota(ServiceCode=service_code, QuotaCode=quota_code)["Quota"]
        return float(quota["Value"]), DEFAULT
    except missing:
        return None


def _paged(client: Any, operation: str, key: str, **params: Any) -> int:
    return sum(len(page.get(key, [])) for page in client.get_paginator(operation).paginate(**params))


@_shared_read
def count_vpcs(ec2: Any, account: str) -> int:
    """The VPCs `account` owns in the region, the default one included.

    VPCs shared into the account (AWS RAM, common in an Organization) are listed by DescribeVpcs
    too, but count toward their owner's quota.
    """
    return sum(
        1
        for page in ec2.get_paginator("describe_vpcs").paginate()
        for vpc in page.get("Vpcs", [])
        if vpc.get("OwnerId", account) == account
    )


_accounts: dict[str, str] = {}
_accounts_lock = threading.Lock()


def account_id(sts: Any, region: str) -> str:
    """The caller's account (STS GetCallerIdentity, which needs no permission), once per process and region."""
    with _accounts_lock:
        known = _accounts.get(region)
    if known is None:
        known = str(sts.get_caller_identity()["Account"])
        with _accounts_lock:
            _accounts[region] = known
    return known


@_shared_read
def count_internet_gateways(ec2: Any) -> int:
    return _paged(ec2, "describe_internet_gateways", "InternetGateways")


@_shared_read
def count_addresses(ec2: Any) -> int:
    """Elastic IPs allocated in the region, associated or not (all are EC2-VPC addresses now)."""
    return len(ec2.describe_addresses().get("Addresses", []))


@_shared_read
def count_clusters(eks: Any) -> int:
    return _paged(eks, "list_clusters", "clusters")


@_shared_read
def nat_gateways_per_zone(ec2: Any) -> Counter[str]:
    """Zone → NAT gateways holding a place in it (pending, available, deleting)."""
    subnets = [
        nat["SubnetId"]
        for page in ec2.get_paginator("describe_nat_gateways").paginate(
            Filters=[{"Name": "state", "Values": list(NAT_COUNTED_STATES)}]
        )
        for nat in page.get("NatGateways", [])
        if nat.get("SubnetId")
    ]
    zones: dict[str, str] = {}
    unique = sorted(set(subnets))
    for start in range(0, len(unique), _FILTER_VALUES):
        # A filter, not SubnetIds=: an id EC2 no longer knows must not fail the whole count.
        chunk = unique[start : start + _FILTER_VALUES]
        for page in ec2.get_paginator("describe_subnets").paginate(Filters=[{"Name": "subnet-id", "Values": chunk}]):
            zones.update({s["SubnetId"]: s["AvailabilityZone"] for s in page.get("Subnets", [])})
    return Counter(zones[s] for s in subnets if s in zones)


@_shared_read
def available_zones(ec2: Any) -> list[str]:
    """The region's available availability zones, by name."""
    answer = ec2.describe_availability_zones(
        Filters=[{"Name": "state", "Values": ["available"]}, {"Name": "zone-type", "Values": ["availability-zone"]}]
    )
    return sorted(z["ZoneName"] for z in answer.get("AvailabilityZones", []))


@functools.cache
def known_regions() -> frozenset[str]:
    """The regions botocore knows EKS in, in every partition (offline: botocore's endpoint data)."""
    # boto3 only when asked: most requests never look a region up.
    import boto3

    session = boto3.session.Session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("eks", partition_name=partition)
    )
