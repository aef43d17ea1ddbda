"""Make moto refuse what a fresh AWS account refuses: the sixth VPC, Elastic IP or internet gateway of a region.

moto creates as many VPCs, internet gateways, Elastic IPs, NAT gateways and EKS clusters as
it is asked for, and its Service Quotas knows nothing of the applied values. Every cluster
here takes a VPC, an internet gateway and one Elastic IP per NAT gateway, so in a real
account the fifth cluster of a region (the default VPC is the first VPC) fails ten minutes
in, with a rolled-back stack. Without these checks nothing local would ever fail that way.

The quotas, their codes and their defaults for a new account:

- VPCs per Region, `vpc/L-F678F1CE`: 5 (the default VPC counts)
- Internet gateways per Region, `vpc/L-A4707A72`: 5
- NAT gateways per Availability Zone, `vpc/L-FE5A380F`: 5 (pending, available and deleting ones count)
- EC2-VPC Elastic IPs, `ec2/L-0263D0A3`: 5
- Clusters (EKS, per Region), `eks/L-1194D53C`: 100

from "Amazon Virtual Private Cloud endpoints and quotas"
(https://docs.aws.amazon.com/general/latest/gr/vpc-service.html), "Elastic IP address quota"
(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/elastic-ip-addresses-eip.html), "Amazon
Elastic Kubernetes Service endpoints and quotas" (https://docs.aws.amazon.com/general/latest/gr/eks.html)
and the codes as the EKS best-practices guide lists them ("Known Limits and Service Quotas",
https://docs.aws.amazon.com/eks/latest/best-practices/known_limits_and_service_quotas.html).

Refusals are AWS's: EC2's `VpcLimitExceeded` ("The maximum number of VPCs has been reached."),
`InternetGatewayLimitExceeded`, `AddressLimitExceeded`, `NatGatewayLimitExceeded` ("Performing
this operation would exceed the limit of 5 NAT gateways") and EKS's `ResourceLimitExceededException`
("Cluster limit exceeded for account."), as AWS's answers read in public issues. Through a
stack, the resource fails as CloudFormation reports it (`Resource handler returned message:
"The maximum number of VPCs has been reached. (Service: Ec2, ...)"`) and the stack rolls back.

Service Quotas is served for these codes as AWS serves it: `GetServiceQuota` and
`ListServiceQuotas` answer applied values only (a quota never adjusted is
`NoSuchResourceException` / absent), `GetAWSDefaultServiceQuota` and
`ListAWSDefaultServiceQuotas` the defaults. `set_quota()` applies a value, as an approved
request would (lower too, which AWS never does, so tests need not fill a quota to reach it);
applied values live in moto's Service Quotas back end and go with a reset.

`install()` once per process (the engine does, after its other moto hooks).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.exceptions import JsonRESTError
from moto.ec2.exceptions import EC2ClientError
from moto.eks.exceptions import EKSError
from moto.utilities.utils import get_partition

from local.cfn_models import ResourceFailed

if TYPE_CHECKING:
    from collections.abc import Callable

# NAT gateways in these states hold a place in their zone's quota (AWS's description of L-FE5A380F).
NAT_COUNTED_STATES = frozenset({"pending", "available", "deleting"})
SERVICE_NAMES = {
    "vpc": "Amazon Virtual Private Cloud (Amazon VPC)",
    "ec2": "Amazon Elastic Compute Cloud (Amazon EC2)",
    "eks": "Amazon Elastic Kubernetes Service (Amazon EKS)",
}


@dataclass(frozen=True)
class AccountQuota:
    service_code: str
    code: str
    name: str
    default: float
    # The EC2/EKS error code a request over the quota gets, its message ({value} is the quota),
    # and CloudFormation's handler error code when a stack's resource is refused so.
    error: str
    message: str
    handler_code: str = "GeneralServiceException"


VPCS = AccountQuota(
    "vpc", "L-F678F1CE", "VPCs per Region", 5, "VpcLimitExceeded", "The maximum number of VPCs has been reached."
)
INTERNET_GATEWAYS = AccountQuota(
    "vpc",
    "L-A4707A72",
    "Internet gateways per Region",
    5,
    "InternetGatewayLimitExceeded",
    "The maximum number of internet gateways has been reached.",
    handler_code="ServiceLimitExceeded",
)
NAT_GATEWAYS = AccountQuota(
    "vpc",
    "L-FE5A380F",
    "NAT gateways per Availability Zone",
    5,
    "NatGatewayLimitExceeded",
    "Performing this operation would exceed the limit of {value} NAT gateways",
)
ELASTIC_IPS = AccountQuota(
    "ec2",
    "L-0263D0A3",
    "EC2-VPC Elastic IPs",
    5,
    "AddressLimitExceeded",
    "The maximum number of addresses has been reached.",
)
EKS_CLUSTERS = AccountQuota(
    "eks", "L-1194D53C", "Clusters", 100, "ResourceLimitExceededException", "Cluster limit exceeded for account."
)
QUOTAS = {q.code: q for q in (VPCS, INTERNET_GATEWAYS, NAT_GATEWAYS, ELASTIC_IPS, EKS_CLUSTERS)}

_installed = False


class LimitExceededError(EC2ClientError):
    """EC2's answer to a request over an account quota."""

    def __init__(self, quota: AccountQuota, value: float) -> None:
        super().__init__(quota.error, quota.message.format(value=_number(value)))
        self.quota = quota


class ResourceLimitExceededException(EKSError):
    """EKS's answer to a CreateCluster over the account's cluster quota."""

    TYPE = "ResourceLimitExceededException"
    STATUS = 400


class NoSuchResourceError(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("NoSuchResourceException", message)


# -- applied values -----------------------------------------------------------------------


def _applied(account_id: str, region: str) -> dict[str, float]:
    """The applied values of one account and region, kept on moto's Service Quotas back end (a reset clears them)."""
    from moto.servicequotas.models import servicequotas_backends

    try:
        backend = servicequotas_backends[account_id][region]
    except KeyError:  # a region moto's Service Quotas does not serve: nothing can be applied there
        return {}
    applied: dict[str, float] = backend.__dict__.setdefault("ekspress_applied_quotas", {})
    return applied


def _regions(region: str | None) -> list[str]:
    """`region`, or every region moto's Service Quotas serves."""
    if region is not None:
        return [region]
    from moto.servicequotas.models import servicequotas_backends

    return sorted(servicequotas_backends[DEFAULT_ACCOUNT_ID].regions)


def set_quota(code: str, value: float, region: str | None, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Apply `value` to quota `code` in `region` (None: in every region), as an approved quota request would.

    Tests may lower a quota too, which AWS never does; a fixture whose tests build more
    clusters in a region than a new account holds raises them, as one would for a CI account.
    """
    if code not in QUOTAS:
        raise KeyError(f"{code} is not one of the quotas the engine enforces: {', '.join(QUOTAS)}")
    for name in _regions(region):
        _applied(account_id, name)[code] = float(value)


def raise_all(value: float, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Every quota here at `value` in every region, as an account whose increases were approved.

    Test suites that build more clusters per region than a new account holds start from this;
    `make run` keeps AWS's defaults.
    """
    for code in QUOTAS:
        set_quota(code, value, None, account_id)


def clear_quota(code: str, region: str | None, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Forget an applied value in `region` (None: everywhere): the quota is AWS's default again."""
    for name in _regions(region):
        _applied(account_id, name).pop(code, None)


def quota_value(quota: AccountQuota, region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> float:
    """What the account may hold: the applied value, else the default."""
    return _applied(account_id, region).get(quota.code, quota.default)


def _check(quota: AccountQuota, used: int, region: str, account_id: str) -> None:
    value = quota_value(quota, region, account_id)
    if used + 1 > value:
        if quota is EKS_CLUSTERS:
            raise ResourceLimitExceededException(message=quota.message)
        raise LimitExceededError(quota, value)


# -- the EC2 and EKS back ends --------------------------------------------------------------


def _nat_gateways_in_zone(ec2: Any, zone: str) -> int:
    count = 0
    for nat in list(ec2.nat_gateways.values()):
        if nat.state not in NAT_COUNTED_STATES:
            continue
        try:
            if ec2.get_subnet(nat.subnet_id).availability_zone == zone:
                count += 1
        except Exception:  # a subnet gone with its VPC: its gateway is in no zone any more
            continue
    return count


def _guard(original: Callable[..., Any], count: Callable[..., tuple[AccountQuota, int] | None]) -> Callable[..., Any]:
    """`original` (a back-end method), refused first when `count` says the new resource would pass its quota."""

    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        counted = count(self, *args, **kwargs)
        if counted is not None:
            _check(counted[0], counted[1], self.region_name, self.account_id)
        return original(self, *args, **kwargs)

    guarded.__name__ = original.__name__
    guarded.__doc__ = original.__doc__
    return guarded


def _vpcs(ec2: Any, *args: Any, **kwargs: Any) -> tuple[AccountQuota, int]:
    return VPCS, len(ec2.vpcs)


def _internet_gateways(ec2: Any, *args: Any, **kwargs: Any) -> tuple[AccountQuota, int]:
    return INTERNET_GATEWAYS, len(ec2.internet_gateways)


def _addresses(ec2: Any, *args: Any, **kwargs: Any) -> tuple[AccountQuota, int]:
    return ELASTIC_IPS, len(ec2.addresses)


def _nat_gateways(ec2: Any, subnet_id: str, *args: Any, **kwargs: Any) -> tuple[AccountQuota, int] | None:
    try:
        zone = ec2.get_subnet(subnet_id).availability_zone
    except Exception:  # an unknown subnet: moto's own CreateNatGateway answers it
        return None
    return NAT_GATEWAYS, _nat_gateways_in_zone(ec2, zone)


def _clusters(eks: Any, name: str, *args: Any, **kwargs: Any) -> tuple[AccountQuota, int] | None:
    # A name in use is EKS's ResourceInUseException, whatever the quota.
    return None if name in eks.clusters else (EKS_CLUSTERS, len(eks.clusters))


# -- CloudFormation --------------------------------------------------------------------------


def handler_failure(error: LimitExceededError) -> ResourceFailed:
    """The stack event CloudFormation writes when EC2 refused its resource handler for a quota."""
    return ResourceFailed(
        f'Resource handler returned message: "{error.message} (Service: Ec2, Status Code: 400, '
        f'Request ID: {uuid.uuid4()})" (RequestToken: {uuid.uuid4()}, HandlerErrorCode: {error.quota.handler_code})'
    )


def _failing_in_its_stack(model: Any) -> None:
    """A quota refusal inside CreateStack fails the resource (and rolls the stack back), not the API call."""
    original = model.create_from_cloudformation_json.__func__

    def create(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region: str, **kw: Any) -> Any:
        try:
            return original(cls, resource_name, cloudformation_json, account_id, region, **kw)
        except LimitExceededError as refused:
            failed = handler_failure(refused)
            failed.logical_id = str(kw.get("LogicalId") or resource_name)
            raise failed from None

    model.create_from_cloudformation_json = classmethod(create)


def _deferring_refused_exports() -> None:
    """A refused exported resource fails when the stack's resources are created, as any other.

    moto's CreateStack reads the new stack's exports before it creates its resources, and
    reading an export made from a `Ref` creates that resource then (the cluster stack exports
    its VPC): its refusal would escape as the API call's error and leave a stack that cannot
    be described. Read then, such exports are none; `create_resources` makes the resource
    again, and its refusal rolls the stack back (local/cfn_models.py).
    """
    from moto.cloudformation.models import Stack

    def exports(self: Stack) -> Any:
        try:
            return self.output_map.exports
        except ResourceFailed:
            return []

    Stack.exports = property(exports)  # type: ignore[assignment,method-assign]


# -- Service Quotas ----------------------------------------------------------------------------


def _quota_json(quota: AccountQuota, value: float, region: str, account_id: str | None) -> dict[str, Any]:
    owner = account_id or ""  # a default's ARN names no account
    return {
        "ServiceCode": quota.service_code,
        "ServiceName": SERVICE_NAMES[quota.service_code],
        "QuotaArn": f"arn:{get_partition(region)}:servicequotas:{region}:{owner}:{quota.service_code}/{quota.code}",
        "QuotaCode": quota.code,
        "QuotaName": quota.name,
        "Value": float(value),
        "Unit": "None",
        "Adjustable": True,
        "GlobalQuota": False,
    }


def _ours(service_code: str, quota_code: str) -> AccountQuota | None:
    quota = QUOTAS.get(quota_code)
    return quota if quota is not None and quota.service_code == service_code else None


def _never_adjusted(quota: AccountQuota) -> NoSuchResourceError:
    return NoSuchResourceError(f"The quota {quota.code} of {quota.service_code} has no applied value in this account.")


def _install_service_quotas() -> None:
    from moto.servicequotas.exceptions import NoSuchResource
    from moto.servicequotas.resources.default_quotas.vpc import VPC_DEFAULT_QUOTAS
    from moto.servicequotas.responses import ServiceQuotasResponse

    moto_get = ServiceQuotasResponse.get_service_quota

    def get_service_quota(self: ServiceQuotasResponse) -> str:
        params = json.loads(self.body)
        quota = _ours(str(params.get("ServiceCode")), str(params.get("QuotaCode")))
        if quota is None:
            return str(moto_get(self))
        applied = _applied(self.current_account, self.region)
        if quota.code not in applied:
            raise _never_adjusted(quota)
        return json.dumps({"Quota": _quota_json(quota, applied[quota.code], self.region, self.current_account)})

    def get_aws_default_service_quota(self: ServiceQuotasResponse) -> str:
        params = json.loads(self.body)
        service, code = str(params.get("ServiceCode")), str(params.get("QuotaCode"))
        quota = _ours(service, code)
        if quota is not None:
            return json.dumps({"Quota": _quota_json(quota, quota.default, self.region, None)})
        found = next((q for q in VPC_DEFAULT_QUOTAS if service == "vpc" and q["QuotaCode"] == code), None)
        if found is None:
            raise NoSuchResource
        return json.dumps({"Quota": found})

    def list_service_quotas(self: ServiceQuotasResponse) -> str:
        service = str(json.loads(self.body).get("ServiceCode"))
        applied = _applied(self.current_account, self.region)
        listed = [
            _quota_json(q, applied[q.code], self.region, self.current_account)
            for q in QUOTAS.values()
            if q.service_code == service and q.code in applied
        ]
        return json.dumps({"Quotas": listed})

    def list_aws_default_service_quotas(self: ServiceQuotasResponse) -> str:
        service = str(json.loads(self.body).get("ServiceCode"))
        ours = [_quota_json(q, q.default, self.region, None) for q in QUOTAS.values() if q.service_code == service]
        known = {q["QuotaCode"] for q in ours}
        others = [q for q in VPC_DEFAULT_QUOTAS if service == "vpc" and q["QuotaCode"] not in known]
        if not ours and not others:
            raise NoSuchResource
        return json.dumps({"Quotas": ours + others})

    ServiceQuotasResponse.get_service_quota = get_service_quota  # type: ignore[method-assign]
    ServiceQuotasResponse.get_aws_default_service_quota = get_aws_default_service_quota  # type: ignore[attr-defined]
    ServiceQuotasResponse.list_service_quotas = list_service_quotas  # type: ignore[attr-defined]
    ServiceQuotasResponse.list_aws_default_service_quotas = list_aws_default_service_quotas  # type: ignore[method-assign]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def install() -> None:
    """Enforce the quotas on EC2, EKS and CloudFormation and serve them through Service Quotas (once per process)."""
    global _installed
    if _installed:
        return
    from moto.ec2.models.elastic_ip_addresses import ElasticAddress, ElasticAddressBackend
    from moto.ec2.models.internet_gateways import InternetGateway, InternetGatewayBackend
    from moto.ec2.models.nat_gateways import NatGateway, NatGatewayBackend
    from moto.ec2.models.vpcs import VPC, VPCBackend
    from moto.eks.models import EKSBackend

    for backend, method, count in (
        (VPCBackend, "create_vpc", _vpcs),
        (InternetGatewayBackend, "create_internet_gateway", _internet_gateways),
        (ElasticAddressBackend, "allocate_address", _addresses),
        (NatGatewayBackend, "create_nat_gateway", _nat_gateways),
        (EKSBackend, "create_cluster", _clusters),
    ):
        setattr(backend, method, _guard(getattr(backend, method), count))
    for model in (VPC, InternetGateway, ElasticAddress, NatGateway):
        _failing_in_its_stack(model)
    _deferring_refused_exports()
    _install_service_quotas()
    _installed = True
