"""An existing VPC's subnet named by its CIDR alone (eksctl's example 24): the spec's rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from chalicelib.model import clusterconfig
from chalicelib.model.spec import ClusterSpec
from tests.unit.test_existing_vpc import REGION, VPC_ID, subnet

EXAMPLE_24 = Path(__file__).resolve().parents[1] / "data" / "clusterconfigs" / "example-24-nodegroup-subnets.yaml"


def body(private: dict[str, Any], **vpc: Any) -> dict[str, Any]:
    return {
        "name": "by-cidr",
        "region": REGION,
        "vpc": {"id": VPC_ID, "subnets": {"private": private}, **vpc},
        "managedNodeGroups": [{"name": "ng", "privateNetworking": True}],
    }


def errors(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        ClusterSpec.model_validate(raw)
    return {".".join(str(p) for p in e["loc"]): e["type"] for e in caught.value.errors()}


def test_a_subnet_may_be_named_by_its_cidr_alone() -> None:
    spec = ClusterSpec.model_validate(body({"one": {"cidr": "10.0.1.0/24"}, "two": {"id": subnet(4)}}))

    assert spec.vpc.subnets is not None
    assert spec.vpc.subnets.private["one"].id is None
    assert spec.vpc.subnets.private["one"].cidr == "10.0.1.0/24"
    assert spec.availability_zones is None  # EC2 tells the zones when the cluster is requested


def test_a_subnet_keyed_by_its_zone_may_be_named_by_its_cidr() -> None:
    spec = ClusterSpec.model_validate(
        body({f"{REGION}a": {"cidr": "10.0.1.0/24"}, f"{REGION}c": {"cidr": "10.0.2.0/24"}})
    )

    assert spec.availability_zones == [f"{REGION}a", f"{REGION}c"]


def test_id_and_cidr_together_are_accepted() -> None:
    spec = ClusterSpec.model_validate(body({"one": {"id": subnet(3), "cidr": "10.0.3.0/24"}, "two": {"id": subnet(4)}}))

    assert spec.vpc.subnets is not None
    assert spec.vpc.subnets.private["one"].id == subnet(3)


@pytest.mark.parametrize(
    ("private", "vpc", "field", "rule"),
    [
        ({"one": {"az": f"{REGION}a"}}, {}, "vpc.subnets.private.one.id", "subnet_id_required"),
        ({"one": {"cidr": "10.0.1.0/33"}}, {}, "vpc.subnets.private.one.cidr", "cidr_invalid"),
        ({"one": {"cidr": "10.0.1.1/24"}}, {}, "vpc.subnets.private.one.cidr", "cidr_invalid"),
        (
            {"one": {"cidr": "10.0.1.0/24"}},
            {"cidr": "192.168.0.0/16"},
            "vpc.subnets.private.one.cidr",
            "subnet_cidr_outside_vpc",
        ),
        (
            {"one": {"cidr": "10.0.1.0/24"}, "two": {"cidr": "10.0.1.0/24"}},
            {},
            "vpc.subnets.private.two.cidr",
            "duplicate_subnet",
        ),
        (
            {"one": {"cidr": "10.0.1.0/24"}, "two": {"id": subnet(4), "cidr": "10.0.1.0/24"}},
            {},
            "vpc.subnets.private.two.cidr",
            "duplicate_subnet",
        ),
    ],
)
def test_what_a_subnet_named_by_cidr_refuses(
    private: dict[str, Any], vpc: dict[str, Any], field: str, rule: str
) -> None:
    assert errors(body(private, **vpc)).get(field) == rule


def test_a_cidr_inside_a_given_vpc_cidr_is_accepted() -> None:
    raw = body({"one": {"cidr": "192.168.160.0/19"}, "two": {"id": subnet(4)}}, cidr="192.168.0.0/16")

    assert ClusterSpec.model_validate(raw).vpc.subnets is not None


def test_a_found_subnet_keeps_its_cidr_whatever_the_default_vpc_cidr() -> None:
    """Once EC2 gave the subnet its id (a stored spec carries the default vpc.cidr), its CIDR is EC2's."""
    raw = body({"one": {"id": subnet(3), "cidr": "10.0.3.0/24"}, "two": {"id": subnet(4)}}, cidr="192.168.0.0/16")

    assert ClusterSpec.model_validate(raw).vpc.subnets is not None


def test_the_clusterconfig_round_trips_a_subnet_named_by_cidr() -> None:
    spec = ClusterSpec.model_validate(body({"one": {"cidr": "10.0.1.0/24"}, "two": {"id": subnet(4)}}))
    config = clusterconfig.from_spec(spec)

    assert config["vpc"]["subnets"]["private"]["one"] == {"cidr": "10.0.1.0/24"}


def test_example_24_parses() -> None:
    spec = clusterconfig.parse(EXAMPLE_24.read_bytes())

    assert spec.vpc.subnets is not None
    assert spec.vpc.subnets.private["private-one"].cidr == "192.168.160.0/19"
    assert spec.vpc.subnets.private["private-one"].id is None
    assert [g.subnets for g in spec.node_groups or []] == [
        ["public-one", "subnet-083814b087bad140b"],
        ["private-one", "private-three"],
    ]
