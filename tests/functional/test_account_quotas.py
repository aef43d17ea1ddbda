"""A fresh account's quotas, as the local engine enforces them (local/account_quotas.py), and the service reading them.

Each quota: the last resource within it is made, the next one is refused with EC2's (or EKS's)
error code and message. Through a stack the refusal fails the resource and rolls the stack
back, as CloudFormation does. Service Quotas answers applied values only; defaults come from
GetAWSDefaultServiceQuota. Then the service's side (aws/quotas.py, operations/quotas.py): the
values and counts it reads, and the 409 it answers before a create that would not fit.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.aws import quotas as aws_quotas
from chalicelib.cfn import templates
from chalicelib.model import quotas as model
from chalicelib.model import steps
from chalicelib.model.settings import get_settings
from chalicelib.model.spec import ClusterSpec
from chalicelib.operations import create
from chalicelib.operations import quotas as use_case
from local import account_quotas
from tests.functional.helpers import given_a_requested_cluster, step_context

if TYPE_CHECKING:
    from collections.abc import Iterator

    from chalicelib.aws.clients import Clients
    from chalicelib.aws.store import Store
    from chalicelib.operations.context import Context

REGION = "eu-west-1"
ROLE = "arn:aws:iam::123456789012:role/eks"


@pytest.fixture(autouse=True)
def enforced(aws: None) -> Iterator[None]:
    account_quotas.install()
    yield


@pytest.fixture
def ec2() -> Any:
    return boto3.client("ec2", region_name=REGION)


@pytest.fixture
def cfn() -> Any:
    return boto3.client("cloudformation", region_name=REGION)


@pytest.fixture
def servicequotas() -> Any:
    return boto3.client("service-quotas", region_name=REGION)


def refusal(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = exc.value.response["Error"]
    return error["Code"], error["Message"]


def subnet_in(ec2: Any, zone: str, cidr: str) -> str:
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    return str(ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"])


def create_step(record: dict[str, Any]) -> steps.ClusterStep:
    return steps.ClusterStep(name=record["name"], clusterId=record["clusterId"])


def failed_events(cfn: Any, stack: str) -> list[tuple[str, str]]:
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    return [(e["LogicalResourceId"], e["ResourceStatusReason"]) for e in failed]


# --- the engine refuses what a fresh account refuses -------------------------------------------


def test_the_default_vpc_counts_so_the_fifth_vpc_of_a_region_is_the_last(ec2: Any) -> None:
    assert len(ec2.describe_vpcs()["Vpcs"]) == 1  # the default VPC

    for i in range(4):
        ec2.create_vpc(CidrBlock=f"10.{i}.0.0/16")
    with pytest.raises(ClientError) as refused:
        ec2.create_vpc(CidrBlock="10.9.0.0/16")

    assert refusal(refused) == ("VpcLimitExceeded", "The maximum number of VPCs has been reached.")
    assert len(ec2.describe_vpcs()["Vpcs"]) == 5
    # Another region has a quota of its own.
    boto3.client("ec2", region_name="us-east-2").create_vpc(CidrBlock="10.9.0.0/16")


def test_five_elastic_ips_and_five_internet_gateways_per_region(ec2: Any) -> None:
    for _ in range(5):
        ec2.allocate_address(Domain="vpc")
        ec2.create_internet_gateway()

    with pytest.raises(ClientError) as no_address:
        ec2.allocate_address(Domain="vpc")
    with pytest.raises(ClientError) as no_gateway:
        ec2.create_internet_gateway()

    assert refusal(no_address) == ("AddressLimitExceeded", "The maximum number of addresses has been reached.")
    assert refusal(no_gateway) == (
        "InternetGatewayLimitExceeded",
        "The maximum number of internet gateways has been reached.",
    )


def test_a_released_address_frees_its_place(ec2: Any) -> None:
    allocations = [ec2.allocate_address(Domain="vpc")["AllocationId"] for _ in range(5)]

    ec2.release_address(AllocationId=allocations[0])

    ec2.allocate_address(Domain="vpc")


def test_nat_gateways_are_counted_per_zone(ec2: Any) -> None:
    account_quotas.set_quota(account_quotas.ELASTIC_IPS.code, 20, REGION)
    first, second = subnet_in(ec2, f"{REGION}a", "172.31.200.0/24"), subnet_in(ec2, f"{REGION}b", "172.31.201.0/24")
    for _ in range(5):
        ec2.create_nat_gateway(SubnetId=first, AllocationId=ec2.allocate_address(Domain="vpc")["AllocationId"])

    with pytest.raises(ClientError) as refused:
        ec2.create_nat_gateway(SubnetId=first, AllocationId=ec2.allocate_address(Domain="vpc")["AllocationId"])
    ec2.create_nat_gateway(SubnetId=second, AllocationId=ec2.allocate_address(Domain="vpc")["AllocationId"])

    assert refusal(refused) == (
        "NatGatewayLimitExceeded",
        "Performing this operation would exceed the limit of 5 NAT gateways",
    )


def test_a_deleted_nat_gateway_holds_no_place(ec2: Any) -> None:
    subnet = subnet_in(ec2, f"{REGION}a", "172.31.200.0/24")
    account_quotas.set_quota(account_quotas.NAT_GATEWAYS.code, 1, REGION)
    nat = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=ec2.allocate_address(Domain="vpc")["AllocationId"])

    ec2.delete_nat_gateway(NatGatewayId=nat["NatGateway"]["NatGatewayId"])

    ec2.create_nat_gateway(SubnetId=subnet, AllocationId=ec2.allocate_address(Domain="vpc")["AllocationId"])


def test_eks_refuses_a_cluster_over_its_quota_but_names_a_taken_name_first(ec2: Any) -> None:
    eks = boto3.client("eks", region_name=REGION)
    account_quotas.set_quota(account_quotas.EKS_CLUSTERS.code, 1, REGION)
    eks.create_cluster(name="one", roleArn=ROLE, resourcesVpcConfig={"subnetIds": []})

    with pytest.raises(ClientError) as over:
        eks.create_cluster(name="two", roleArn=ROLE, resourcesVpcConfig={"subnetIds": []})
    with pytest.raises(ClientError) as taken:
        eks.create_cluster(name="one", roleArn=ROLE, resourcesVpcConfig={"subnetIds": []})

    assert refusal(over) == ("ResourceLimitExceededException", "Cluster limit exceeded for account.")
    assert refusal(taken)[0] == "ResourceInUseException"


def test_a_stack_over_a_quota_fails_its_resource_and_rolls_back(ec2: Any, cfn: Any) -> None:
    account_quotas.set_quota(account_quotas.VPCS.code, 1, REGION)  # the default VPC fills it
    template = {
        "Resources": {
            "Gateway": {"Type": "AWS::EC2::InternetGateway"},
            "VPC": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}},
        }
    }

    cfn.create_stack(StackName="over", TemplateBody=json.dumps(template))

    stack = cfn.describe_stacks(StackName="over")["Stacks"][0]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    [(resource, reason)] = failed_events(cfn, "over")
    assert resource == "VPC"
    assert reason.startswith('Resource handler returned message: "The maximum number of VPCs has been reached. ')
    assert reason.endswith("HandlerErrorCode: GeneralServiceException)")
    # What the stack made before the refusal went with the rollback.
    assert ec2.describe_internet_gateways()["InternetGateways"] == []


def test_a_fresh_account_builds_four_clusters_in_a_region_and_refuses_the_fifth_at_its_vpc(
    db: Store, clients: Clients, cfn: Any, ec2: Any
) -> None:
    """The default VPC plus four clusters' VPCs fill the quota of five: the fifth stack rolls back."""
    statuses = []
    for i in range(5):
        record = given_a_requested_cluster(db, {"name": f"c{i}", "region": REGION})
        ref = create.create_cluster_stack(step_context(db=db, clients=clients), create_step(record))
        statuses.append(cfn.describe_stacks(StackName=ref["stackId"])["Stacks"][0]["StackStatus"])

    assert statuses == ["CREATE_COMPLETE"] * 4 + ["ROLLBACK_COMPLETE"]
    [(resource, reason)] = failed_events(cfn, "eksctl-c4-cluster")
    assert resource == "VPC"
    assert "The maximum number of VPCs has been reached." in reason
    assert len(ec2.describe_vpcs()["Vpcs"]) == 5
    assert len(boto3.client("eks", region_name=REGION).list_clusters()["clusters"]) == 4


def test_without_a_default_vpc_the_sixth_cluster_is_refused_at_its_vpc_or_its_address(
    db: Store, clients: Clients, cfn: Any, ec2: Any
) -> None:
    """Five VPCs and five Elastic IPs: five clusters (one NAT gateway each) fit, the sixth does not."""
    default = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [default]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    ec2.delete_vpc(VpcId=default)

    statuses = []
    for i in range(6):
        record = given_a_requested_cluster(db, {"name": f"c{i}", "region": REGION})
        ref = create.create_cluster_stack(step_context(db=db, clients=clients), create_step(record))
        statuses.append(cfn.describe_stacks(StackName=ref["stackId"])["Stacks"][0]["StackStatus"])

    assert statuses == ["CREATE_COMPLETE"] * 5 + ["ROLLBACK_COMPLETE"]
    [(resource, reason)] = failed_events(cfn, "eksctl-c5-cluster")
    assert (resource, reason.split('"')[1].split(" (")[0]) in {
        ("VPC", "The maximum number of VPCs has been reached."),
        ("NATIP", "The maximum number of addresses has been reached."),
    }


# --- Service Quotas, as the engine serves it -----------------------------------------------------


def test_a_quota_never_adjusted_has_no_applied_value_only_a_default(servicequotas: Any) -> None:
    with pytest.raises(ClientError) as missing:
        servicequotas.get_service_quota(ServiceCode="vpc", QuotaCode="L-F678F1CE")
    default = servicequotas.get_aws_default_service_quota(ServiceCode="vpc", QuotaCode="L-F678F1CE")["Quota"]

    assert refusal(missing)[0] == "NoSuchResourceException"
    assert (default["QuotaName"], default["Value"]) == ("VPCs per Region", 5.0)
    assert servicequotas.list_service_quotas(ServiceCode="vpc")["Quotas"] == []


def test_an_applied_value_is_what_service_quotas_answers_and_what_ec2_enforces(servicequotas: Any, ec2: Any) -> None:
    account_quotas.set_quota("L-0263D0A3", 2, REGION)

    applied = servicequotas.get_service_quota(ServiceCode="ec2", QuotaCode="L-0263D0A3")["Quota"]
    listed = servicequotas.list_service_quotas(ServiceCode="ec2")["Quotas"]
    ec2.allocate_address(Domain="vpc")
    ec2.allocate_address(Domain="vpc")
    with pytest.raises(ClientError) as refused:
        ec2.allocate_address(Domain="vpc")

    assert (applied["QuotaName"], applied["Value"]) == ("EC2-VPC Elastic IPs", 2.0)
    assert applied["QuotaArn"] == f"arn:aws:servicequotas:{REGION}:123456789012:ec2/L-0263D0A3"
    assert [q["QuotaCode"] for q in listed] == ["L-0263D0A3"]
    assert refusal(refused)[0] == "AddressLimitExceeded"


@pytest.mark.parametrize(
    ("service", "code", "name", "value"),
    [
        ("vpc", "L-F678F1CE", "VPCs per Region", 5),
        ("vpc", "L-A4707A72", "Internet gateways per Region", 5),
        ("vpc", "L-FE5A380F", "NAT gateways per Availability Zone", 5),
        ("ec2", "L-0263D0A3", "EC2-VPC Elastic IPs", 5),
        ("eks", "L-1194D53C", "Clusters", 100),
    ],
)
def test_the_engine_and_the_service_agree_on_each_quota(
    servicequotas: Any, service: str, code: str, name: str, value: int
) -> None:
    """Two tables, each from AWS's pages: the engine's (what AWS does) and the service's (what it checks)."""
    served = servicequotas.get_aws_default_service_quota(ServiceCode=service, QuotaCode=code)["Quota"]
    checked = next(q for q in model.QUOTAS if q.code == code)

    assert (served["ServiceCode"], served["QuotaName"], served["Value"]) == (service, name, value)
    assert (checked.service_code, checked.name, checked.default) == (service, name, value)


# --- the service's reading: values, counts, the check -----------------------------------------------


def test_the_value_is_the_applied_one_else_the_default(servicequotas: Any) -> None:
    assert aws_quotas.quota_value(servicequotas, "vpc", "L-F678F1CE") == (5.0, model.DEFAULT)
    account_quotas.set_quota("L-F678F1CE", 12, REGION)
    assert aws_quotas.quota_value(servicequotas, "vpc", "L-F678F1CE") == (12.0, model.APPLIED)
    assert aws_quotas.quota_value(servicequotas, "vpc", "L-00000000") is None


def test_counts_are_what_ec2_and_eks_hold(ec2: Any) -> None:
    ec2.create_vpc(CidrBlock="10.0.0.0/16")
    ec2.create_internet_gateway()
    subnet = subnet_in(ec2, f"{REGION}b", "172.31.200.0/24")
    ec2.create_nat_gateway(SubnetId=subnet, AllocationId=ec2.allocate_address(Domain="vpc")["AllocationId"])
    gone = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=ec2.allocate_address(Domain="vpc")["AllocationId"])
    ec2.delete_nat_gateway(NatGatewayId=gone["NatGateway"]["NatGatewayId"])

    assert aws_quotas.count_vpcs(ec2, aws_quotas.account_id(boto3.client("sts", region_name=REGION), REGION)) == 2
    assert aws_quotas.count_internet_gateways(ec2) == 1
    assert aws_quotas.count_addresses(ec2) == 2
    assert aws_quotas.nat_gateways_per_zone(ec2) == {f"{REGION}b": 1}
    assert aws_quotas.count_clusters(boto3.client("eks", region_name=REGION)) == 0


def test_reads_that_overlap_make_one_call_and_nothing_is_kept_after() -> None:
    calls: list[int] = []
    release = threading.Event()

    def read() -> int:
        calls.append(1)
        release.wait(5)
        return 7

    answers: list[int] = []
    threads = [threading.Thread(target=lambda: answers.append(aws_quotas.shared("vpcs", read))) for _ in range(5)]
    threads[0].start()
    while not calls:
        time.sleep(0.01)
    for thread in threads[1:]:
        thread.start()
    # Until the four others wait on the first read's answer (its condition's waiters), not a guessed time.
    in_flight = aws_quotas._inflight["vpcs"]
    deadline = time.monotonic() + 10
    while len(in_flight._condition._waiters) < 4 and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join()

    assert (calls, answers) == ([1], [7] * 5)
    assert aws_quotas.shared("vpcs", read) == 7
    assert calls == [1, 1]


def zones_of(ctx: Context, spec: ClusterSpec) -> list[str]:
    """The zones the create's request chooses for `spec`, which it checks the quotas in."""
    return list(create.cluster_layout(ctx, spec)["zones"])


def test_a_create_that_fits_passes_and_one_that_does_not_is_a_409_naming_the_quota(clients: Clients, ec2: Any) -> None:
    ctx = step_context(clients=clients)
    spec = ClusterSpec.model_validate({"name": "next", "region": REGION})
    use_case.check_create(ctx, spec, zones_of(ctx, spec))

    for i in range(4):
        ec2.create_vpc(CidrBlock=f"10.{i}.0.0/16")
    with pytest.raises(model.QuotaExceededError) as refused:
        use_case.check_create(ctx, spec, zones_of(ctx, spec))

    body = refused.value.to_dict()
    assert refused.value.status == 409
    assert body["error"] == "quota_exceeded"
    assert body["region"] == REGION
    assert body["exceeded"] == [
        {
            "quotaCode": "L-F678F1CE",
            "serviceCode": "vpc",
            "name": "VPCs per Region",
            "value": 5,
            "used": 5,
            "available": 0,
            "source": "default",
            "needed": 1,
        }
    ]
    assert "VPCs per Region (vpc/L-F678F1CE) is 5, 5 in use, and the cluster needs 1" in body["message"]


def test_highly_available_nat_needs_an_address_per_zone(clients: Clients, ec2: Any) -> None:
    ctx = step_context(clients=clients)
    zones = [f"{REGION}a", f"{REGION}b", f"{REGION}c"]
    spec = ClusterSpec.model_validate(
        {"name": "ha", "region": REGION, "availabilityZones": zones, "vpc": {"nat": {"gateway": "HighlyAvailable"}}}
    )
    for _ in range(3):
        ec2.allocate_address(Domain="vpc")

    with pytest.raises(model.QuotaExceededError) as refused:
        use_case.check_create(ctx, spec, zones)

    [short] = refused.value.to_dict()["exceeded"]
    assert (short["quotaCode"], short["used"], short["available"], short["needed"]) == ("L-0263D0A3", 3, 2, 3)
    single = {"name": "single", "region": REGION, "availabilityZones": zones, "vpc": {"nat": {"gateway": "Single"}}}
    use_case.check_create(ctx, ClusterSpec.model_validate(single), zones)


def test_the_zone_a_single_nat_gateway_goes_in_is_the_first_chosen_one(clients: Clients, ec2: Any) -> None:
    ctx = step_context(clients=clients)
    first_zone = create.choose_zones(ec2)[0]
    account_quotas.set_quota("L-FE5A380F", 1, REGION)
    ec2.create_nat_gateway(
        SubnetId=subnet_in(ec2, first_zone, "172.31.200.0/24"),
        AllocationId=ec2.allocate_address(Domain="vpc")["AllocationId"],
    )

    with pytest.raises(model.QuotaExceededError) as refused:
        single = ClusterSpec.model_validate({"name": "single", "region": REGION})
        use_case.check_create(ctx, single, zones_of(ctx, single))
    # Named elsewhere, or without NAT, the cluster fits.
    other = [z for z in create.choose_zones(ec2) if z != first_zone]
    use_case.check_create(
        ctx, ClusterSpec.model_validate({"name": "x", "region": REGION, "availabilityZones": other}), other
    )
    no_nat = ClusterSpec.model_validate({"name": "y", "region": REGION, "vpc": {"nat": {"gateway": "Disable"}}})
    use_case.check_create(ctx, no_nat, zones_of(ctx, no_nat))

    [short] = refused.value.to_dict()["exceeded"]
    assert (short["quotaCode"], short["zone"], short["value"], short["source"]) == (
        "L-FE5A380F",
        first_zone,
        1,
        "applied",
    )


def test_a_check_aws_does_not_answer_lets_the_create_go_ahead(
    clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(*_: Any, **__: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "GetServiceQuota")

    monkeypatch.setattr(aws_quotas, "quota_value", denied)

    ctx, spec = step_context(clients=clients), ClusterSpec.model_validate({"name": "n", "region": REGION})
    use_case.check_create(ctx, spec, zones_of(ctx, spec))


def test_the_report_shows_each_quota_and_each_zone(clients: Clients, ec2: Any) -> None:
    ec2.allocate_address(Domain="vpc")

    report = use_case.report(step_context(clients=clients), REGION)

    [region] = report["regions"]
    rows = {(q["quotaCode"], q.get("zone")): q for q in region["quotas"]}
    assert region["region"] == REGION
    assert rows[("L-F678F1CE", None)] == {
        "quotaCode": "L-F678F1CE",
        "serviceCode": "vpc",
        "name": "VPCs per Region",
        "value": 5,
        "used": 1,
        "available": 4,
        "source": "default",
    }
    assert rows[("L-0263D0A3", None)]["used"] == 1
    assert rows[("L-1194D53C", None)]["available"] == 100
    zones = sorted(z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"])
    assert sorted(zone for code, zone in rows if code == "L-FE5A380F") == zones


def test_the_report_covers_the_policy_regions_unless_one_is_asked_for(
    clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EKSPRESS_ALLOWED_REGIONS", "eu-west-1,us-east-2")
    get_settings.cache_clear()
    ctx = step_context(clients=clients)

    assert [r["region"] for r in use_case.report(ctx)["regions"]] == ["eu-west-1", "us-east-2"]
    assert [r["region"] for r in use_case.report(ctx, "us-east-2")["regions"]] == ["us-east-2"]
    with pytest.raises(Exception, match="not allowed by the service policy") as refused:
        use_case.report(ctx, "ap-south-1")
    assert getattr(refused.value, "status", None) == 422


def test_a_region_nobody_offers_is_a_400(clients: Clients) -> None:
    ctx = step_context(clients=clients)
    for region in ("aa-a-0", "not a region"):
        with pytest.raises(Exception, match="region") as refused:
            use_case.report(ctx, region)
        assert getattr(refused.value, "status", None) == 400


def test_templates_build_the_resources_the_needs_count(clients: Clients) -> None:
    """The arithmetic follows the template: one VPC, one gateway, an EIP and a NAT gateway per NAT zone."""
    zones = [f"{REGION}a", f"{REGION}b", f"{REGION}c"]
    for mode in ("Single", "HighlyAvailable", "Disable"):
        spec = ClusterSpec.model_validate({"name": "t", "region": REGION, "vpc": {"nat": {"gateway": mode}}})
        resources = templates.build_cluster_template(spec, "id", zones, ())["Resources"]
        kinds = [r["Type"] for r in resources.values()]
        needs = {(n.quota.code, n.zone): n.count for n in model.cluster_needs(spec, zones)}
        nat_subnets = [
            resources[r["Properties"]["SubnetId"]["Ref"]]["Properties"]["AvailabilityZone"]
            for r in resources.values()
            if r["Type"] == "AWS::EC2::NatGateway"
        ]

        assert kinds.count("AWS::EC2::VPC") == needs[("L-F678F1CE", None)]
        assert kinds.count("AWS::EC2::InternetGateway") == needs[("L-A4707A72", None)]
        assert kinds.count("AWS::EC2::EIP") == needs.get(("L-0263D0A3", None), 0)
        assert kinds.count("AWS::EKS::Cluster") == needs[("L-1194D53C", None)]
        assert sorted(nat_subnets) == sorted(z for code, z in needs if code == "L-FE5A380F")


def test_a_vpc_shared_into_the_account_counts_toward_its_owner_not_us() -> None:
    """DescribeVpcs lists VPCs shared through AWS RAM too (moto cannot share: EC2's answer, as documented)."""
    pages = [{"Vpcs": [{"VpcId": "vpc-ours", "OwnerId": "111111111111"}, {"VpcId": "vpc-shared", "OwnerId": "2" * 12}]}]

    class Paginator:
        def paginate(self) -> list[dict[str, Any]]:
            return pages

    class Ec2:
        def get_paginator(self, operation: str) -> Paginator:
            assert operation == "describe_vpcs"
            return Paginator()

    assert aws_quotas.count_vpcs(Ec2(), "111111111111") == 1
