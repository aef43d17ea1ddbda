"""What a cluster takes of each account quota, and the refusal when one has no room (model/quotas.py)."""

from __future__ import annotations

import pytest

from chalicelib.model import quotas
from chalicelib.model.quotas import (
    EKS_CLUSTERS,
    ELASTIC_IPS,
    INTERNET_GATEWAYS,
    NAT_GATEWAYS,
    VPCS,
    Headroom,
    Need,
    QuotaExceededError,
    cluster_needs,
    needs_zones,
    refusal,
    shortfalls,
)
from chalicelib.model.spec import ClusterSpec

ZONES = ["us-west-2a", "us-west-2b", "us-west-2c"]


def spec(nat: str = "Single") -> ClusterSpec:
    return ClusterSpec.model_validate({"name": "c", "vpc": {"nat": {"gateway": nat}}})


def test_a_default_cluster_takes_a_vpc_a_gateway_one_address_one_nat_in_the_first_zone_and_a_cluster() -> None:
    assert cluster_needs(spec(), ZONES) == [
        Need(VPCS, 1),
        Need(INTERNET_GATEWAYS, 1),
        Need(ELASTIC_IPS, 1),
        Need(NAT_GATEWAYS, 1, "us-west-2a"),
        Need(EKS_CLUSTERS, 1),
    ]


def test_highly_available_nat_takes_an_address_and_a_nat_place_in_every_zone() -> None:
    needs = cluster_needs(spec("HighlyAvailable"), ZONES[:2])

    assert Need(ELASTIC_IPS, 2) in needs
    assert [n.zone for n in needs if n.quota is NAT_GATEWAYS] == ZONES[:2]


def test_without_nat_no_address_and_no_nat_place_and_no_zone_to_know() -> None:
    needs = cluster_needs(spec("Disable"), ZONES)

    assert [n.quota for n in needs] == [VPCS, INTERNET_GATEWAYS, EKS_CLUSTERS]
    assert not needs_zones(spec("Disable"))
    assert needs_zones(spec("Single")) and needs_zones(spec("HighlyAvailable"))


def test_a_cluster_in_an_existing_vpc_takes_only_the_eks_cluster() -> None:
    existing = ClusterSpec.model_validate(
        {
            "name": "c",
            "vpc": {
                "id": "vpc-0123456789abcdef0",
                "subnets": {"private": {z: {"id": f"subnet-0000000{i}"} for i, z in enumerate(ZONES[:2])}},
            },
            "managedNodeGroups": [{"name": "ng", "privateNetworking": True}],
        }
    )

    assert cluster_needs(existing, ZONES) == [Need(EKS_CLUSTERS, 1)]
    assert not needs_zones(existing)


def test_room_is_what_the_value_leaves_never_below_zero() -> None:
    assert Headroom(VPCS, 5.0, 1, quotas.DEFAULT).available == 4
    assert Headroom(VPCS, 5.0, 7, quotas.APPLIED).available == 0  # lowered below what is in use


def test_a_need_the_room_covers_is_no_shortfall_one_more_is() -> None:
    rooms = {
        (VPCS.code, None): Headroom(VPCS, 5, 4, quotas.DEFAULT),
        (ELASTIC_IPS.code, None): Headroom(ELASTIC_IPS, 5, 3, quotas.DEFAULT),
        (NAT_GATEWAYS.code, "us-west-2b"): Headroom(NAT_GATEWAYS, 5, 5, quotas.DEFAULT, "us-west-2b"),
    }
    needs = [Need(VPCS, 1), Need(ELASTIC_IPS, 3), Need(NAT_GATEWAYS, 1, "us-west-2b")]

    short = shortfalls(needs, rooms)

    assert [(s.headroom.quota, s.needed) for s in short] == [(ELASTIC_IPS, 3), (NAT_GATEWAYS, 1)]


def test_the_refusal_is_a_409_quota_exceeded_naming_each_quota_its_value_use_and_need() -> None:
    short = shortfalls(
        [Need(VPCS, 1), Need(NAT_GATEWAYS, 1, "us-west-2a")],
        {
            (VPCS.code, None): Headroom(VPCS, 5, 5, quotas.DEFAULT),
            (NAT_GATEWAYS.code, "us-west-2a"): Headroom(NAT_GATEWAYS, 2, 2, quotas.APPLIED, "us-west-2a"),
        },
    )

    error = refusal("mz-k8s", "us-west-2", short)

    assert isinstance(error, QuotaExceededError)
    assert error.status == 409
    body = error.to_dict()
    assert body["error"] == "quota_exceeded"
    assert (body["cluster"], body["region"]) == ("mz-k8s", "us-west-2")
    assert body["exceeded"][1] == {
        "quotaCode": "L-FE5A380F",
        "serviceCode": "vpc",
        "name": "NAT gateways per Availability Zone",
        "value": 2,
        "used": 2,
        "available": 0,
        "source": "applied",
        "zone": "us-west-2a",
        "needed": 1,
    }
    assert body["message"] == (
        "cluster 'mz-k8s' would not fit in us-west-2: VPCs per Region (vpc/L-F678F1CE) is 5, 5 in use, "
        "and the cluster needs 1; NAT gateways per Availability Zone (vpc/L-FE5A380F) is 2 in us-west-2a, "
        "2 in use, and the cluster needs 1. Free some, or have the quota raised in Service Quotas."
    )


@pytest.mark.parametrize("quota", quotas.QUOTAS, ids=lambda q: q.code)
def test_every_quota_has_a_service_quotas_code_and_aws_default(quota: quotas.Quota) -> None:
    assert quota.service_code in {"vpc", "ec2", "eks"}
    assert quota.code.startswith("L-") and len(quota.code) == 10
    assert quota.default > 0
