"""An existing VPC's subnet named by its CIDR alone, found in EC2 (moto) when the cluster is requested."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from chalicelib.model import clusterconfig
from chalicelib.model.errors import NotFoundError, SpecValidationError
from chalicelib.model.spec import ClusterSpec
from chalicelib.operations import create, network
from tests.functional.helpers import settings_with_workflows, step_context

if TYPE_CHECKING:
    from chalicelib.aws.store import Store
    from chalicelib.model.settings import Settings

REGION = "us-west-2"


@pytest.fixture
def settings() -> Settings:
    """Settings with a create state machine that exists (moto does not run it here)."""
    return settings_with_workflows("create_state_machine_arn")


@pytest.fixture
def net() -> dict[str, str]:
    """A VPC with private subnets in two zones and a public one, and another VPC with a subnet of the same CIDR."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    other = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]

    def subnet(vpc_id: str, cidr: str, zone: str) -> str:
        return str(ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"])

    return {
        "vpc": vpc,
        "other-b": subnet(other, "10.40.16.0/20", "us-west-2c"),  # same CIDR as b, another VPC: not it
        "a": subnet(vpc, "10.40.0.0/20", "us-west-2a"),
        "b": subnet(vpc, "10.40.16.0/20", "us-west-2b"),
        "pub": subnet(vpc, "10.40.32.0/20", "us-west-2a"),
    }


def body(net: dict[str, str], private: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "by-cidr",
        "region": REGION,
        "vpc": {"id": net["vpc"], "subnets": {"private": private}},
        "managedNodeGroups": [{"name": "ng", "privateNetworking": True}],
    }


class Counted:
    """An EC2 client that counts the DescribeSubnets calls it makes."""

    def __init__(self) -> None:
        self.client = boto3.client("ec2", region_name=REGION)
        self.describe_subnets: list[Any] = []
        self.client.meta.events.register("provide-client-params.ec2.DescribeSubnets", self._record)

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.describe_subnets.append(params.get("Filters"))


def checked(raw: dict[str, Any], ec2: Counted | None = None) -> ClusterSpec:
    client = (ec2 or Counted()).client
    ctx: Any = SimpleNamespace(clients=SimpleNamespace(ec2=lambda region: client))
    return network.with_existing_subnets(ctx, ClusterSpec.model_validate(raw))


def refused(raw: dict[str, Any]) -> list[tuple[str, str, str]]:
    with pytest.raises(SpecValidationError) as err:
        checked(raw)
    return [(f["field"], f["rule"], f["message"]) for f in err.value.details["fields"]]


def test_subnets_named_by_cidr_get_their_id_and_zone_in_one_lookup(net: dict[str, str]) -> None:
    ec2 = Counted()
    spec = checked(body(net, {"one": {"cidr": "10.40.0.0/20"}, "two": {"cidr": "10.40.16.0/20"}}), ec2)

    assert spec.vpc.subnets is not None
    assert spec.vpc.subnets.private["one"].model_dump(exclude_none=True) == {
        "id": net["a"],
        "az": "us-west-2a",
        "cidr": "10.40.0.0/20",
    }
    assert spec.vpc.subnets.private["two"].id == net["b"]
    assert spec.availability_zones == ["us-west-2a", "us-west-2b"]
    by_cidr = [f for f in ec2.describe_subnets if any(x["Name"] == "cidr-block" for x in f)]
    assert by_cidr == [
        [
            {"Name": "vpc-id", "Values": [net["vpc"]]},
            {"Name": "cidr-block", "Values": ["10.40.0.0/20", "10.40.16.0/20"]},
        ]
    ]


def test_by_cidr_and_by_id_together(net: dict[str, str]) -> None:
    spec = checked(body(net, {"us-west-2a": {"cidr": "10.40.0.0/20"}, "b": {"id": net["b"], "cidr": "10.40.16.0/20"}}))

    assert spec.vpc.subnets is not None
    assert [s.id for s in spec.vpc.subnets.private.values()] == [net["a"], net["b"]]
    assert clusterconfig.from_spec(spec)["vpc"]["subnets"]["private"]["us-west-2a"]["id"] == net["a"]


def test_no_subnet_with_the_cidr_in_the_vpc_is_a_422_on_its_cidr(net: dict[str, str]) -> None:
    fields = refused(body(net, {"one": {"cidr": "10.40.99.0/24"}, "two": {"id": net["b"]}}))

    assert fields == [
        ("vpc.subnets.private.one.cidr", "subnet_not_found", f"no subnet with this CIDR in {net['vpc']}"),
    ]


def test_id_and_cidr_of_different_subnets_is_a_422(net: dict[str, str]) -> None:
    fields = refused(body(net, {"one": {"id": net["a"], "cidr": "10.40.16.0/20"}, "two": {"id": net["b"]}}))

    assert [(f, r) for f, r, _ in fields] == [("vpc.subnets.private.one.cidr", "subnet_cidr_mismatch")]


def test_a_cidr_naming_a_subnet_listed_by_id_is_a_422(net: dict[str, str]) -> None:
    fields = refused(body(net, {"one": {"cidr": "10.40.0.0/20"}, "two": {"id": net["a"]}, "three": {"id": net["b"]}}))

    assert [(f, r) for f, r, _ in fields] == [("vpc.subnets.private.one.cidr", "duplicate_subnet")]


def test_a_subnet_keyed_by_another_zone_than_its_cidrs_is_a_422_on_its_cidr(net: dict[str, str]) -> None:
    fields = refused(body(net, {"us-west-2b": {"cidr": "10.40.0.0/20"}, "two": {"id": net["b"]}}))

    assert [(f, r) for f, r, _ in fields] == [("vpc.subnets.private.us-west-2b.cidr", "subnet_zone_mismatch")]


def test_the_request_records_the_found_subnet(db: Store, settings: Settings, net: dict[str, str]) -> None:
    raw = body(net, {"one": {"cidr": "10.40.0.0/20"}, "two": {"id": net["b"]}})
    create.request_create(step_context(db=db, settings=settings), ClusterSpec.model_validate(raw), "tester")

    recorded = db.get_cluster("by-cidr")["spec"]["vpc"]["subnets"]["private"]["one"]
    assert recorded == {"id": net["a"], "az": "us-west-2a", "cidr": "10.40.0.0/20"}


def test_a_refused_request_records_nothing(db: Store, settings: Settings, net: dict[str, str]) -> None:
    raw = body(net, {"one": {"cidr": "10.40.99.0/24"}, "two": {"id": net["b"]}})
    with pytest.raises(SpecValidationError):
        create.request_create(step_context(db=db, settings=settings), ClusterSpec.model_validate(raw), "tester")

    with pytest.raises(NotFoundError):
        db.get_cluster("by-cidr")
