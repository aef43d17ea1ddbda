"""A cluster in an existing VPC against moto: its subnets are checked before anything is recorded, then used."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import pytest

from chalicelib.model import steps
from chalicelib.model.errors import NotFoundError, SpecValidationError
from chalicelib.model.spec import ClusterSpec
from chalicelib.operations import create
from tests.functional.helpers import settings_with_workflows, step_context

if TYPE_CHECKING:
    from chalicelib.aws.clients import Clients
    from chalicelib.aws.store import Store
    from chalicelib.model.settings import Settings

REGION = "us-west-2"


@pytest.fixture
def settings() -> Settings:
    """Settings with a create state machine that exists (moto does not run it here)."""
    return settings_with_workflows("create_state_machine_arn")


@pytest.fixture
def network() -> dict[str, str]:
    """A VPC with private subnets in two zones and a public one, and a subnet of another VPC."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    other = ec2.create_vpc(CidrBlock="10.41.0.0/16")["Vpc"]["VpcId"]

    def subnet(vpc_id: str, cidr: str, zone: str) -> str:
        return str(ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"])

    return {
        "vpc": vpc,
        "a": subnet(vpc, "10.40.0.0/20", "us-west-2a"),
        "b": subnet(vpc, "10.40.16.0/20", "us-west-2b"),
        "pub": subnet(vpc, "10.40.32.0/20", "us-west-2a"),
        "other": subnet(other, "10.41.0.0/20", "us-west-2b"),
    }


def body(net: dict[str, str], private: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": "byo",
        "region": REGION,
        "vpc": {"id": net["vpc"], "subnets": {"private": private or {"a": {"id": net["a"]}, "b": {"id": net["b"]}}}},
        "managedNodeGroups": [{"name": "ng", "privateNetworking": True}],
    }


def request(db: Store, settings: Settings, raw: dict[str, Any]) -> dict[str, Any]:
    return create.request_create(step_context(db=db, settings=settings), ClusterSpec.model_validate(raw), "tester")


def test_the_subnets_zones_and_cidrs_come_from_ec2_and_the_stack_builds_in_them(
    db: Store, clients: Clients, settings: Settings, network: dict[str, str]
) -> None:
    record = request(db, settings, body(network))

    spec = db.get_cluster("byo")["spec"]
    assert spec["availabilityZones"] == ["us-west-2a", "us-west-2b"]
    assert spec["vpc"]["subnets"]["private"]["a"] == {"id": network["a"], "az": "us-west-2a", "cidr": "10.40.0.0/20"}
    create.create_cluster_stack(
        step_context(db=db, clients=clients), steps.ClusterStep(name="byo", clusterId=record["clusterId"])
    )
    template = boto3.client("cloudformation", region_name=REGION).get_template(StackName="eksctl-byo-cluster")
    resources = template["TemplateBody"]["Resources"]
    assert not [r for r in resources.values() if r["Type"] in ("AWS::EC2::VPC", "AWS::EC2::Subnet")]
    vpc_config = boto3.client("eks", region_name=REGION).describe_cluster(name="byo")["cluster"]["resourcesVpcConfig"]
    assert sorted(vpc_config["subnetIds"]) == sorted([network["a"], network["b"]])
    assert vpc_config["vpcId"] == network["vpc"]


@pytest.mark.parametrize(
    ("private", "expected"),
    [
        (
            {"a": {"id": "subnet-0123456789abcdef0"}, "b": {"id": "B"}},
            {"vpc.subnets.private.a.id": "subnet_not_found"},
        ),
        ({"a": {"id": "A"}, "b": {"id": "OTHER"}}, {"vpc.subnets.private.b.id": "subnet_not_in_vpc"}),
        (
            {"a": {"id": "A", "az": "us-west-2c"}, "b": {"id": "B"}},
            {"vpc.subnets.private.a.az": "subnet_zone_mismatch"},
        ),
        ({"us-west-2b": {"id": "A"}, "b": {"id": "B"}}, {"vpc.subnets.private.us-west-2b.id": "subnet_zone_mismatch"}),
        (
            {"a": {"id": "A", "cidr": "10.40.99.0/24"}, "b": {"id": "B"}},
            {"vpc.subnets.private.a.cidr": "subnet_cidr_mismatch"},
        ),
        ({"a": {"id": "A"}, "a2": {"id": "PUB"}}, {"vpc.subnets": "subnet_zones"}),
    ],
)
def test_a_subnet_that_does_not_fit_is_a_422_naming_it_and_nothing_is_recorded(
    db: Store, settings: Settings, network: dict[str, str], private: dict[str, Any], expected: dict[str, str]
) -> None:
    names = {"A": network["a"], "B": network["b"], "OTHER": network["other"], "PUB": network["pub"]}
    given = {k: {**v, "id": names.get(v["id"], v["id"])} for k, v in private.items()}

    with pytest.raises(SpecValidationError) as err:
        request(db, settings, body(network, given))

    assert {f["field"]: f["rule"] for f in err.value.details["fields"]} == expected
    with pytest.raises(NotFoundError):
        db.get_cluster("byo")


def test_a_vpc_that_does_not_exist_is_a_422(db: Store, settings: Settings, network: dict[str, str]) -> None:
    raw = body(network)
    raw["vpc"]["id"] = "vpc-0123456789abcdef0"

    with pytest.raises(SpecValidationError) as err:
        request(db, settings, raw)

    assert [(f["field"], f["rule"]) for f in err.value.details["fields"]] == [("vpc.id", "vpc_not_found")]


@pytest.mark.parametrize(
    ("cidrs", "field"),
    [
        (["10.40.128.0/24"], "remoteNetworkConfig.remoteNodeNetworks[0].cidrs[0]"),  # in the VPC's block
        (["10.90.0.0/24", "172.20.3.0/24"], "remoteNetworkConfig.remoteNodeNetworks[0].cidrs[1]"),  # EKS's pick
    ],
)
def test_hybrid_nodes_remote_networks_are_checked_against_the_vpc_ec2_describes(
    db: Store, settings: Settings, network: dict[str, str], cidrs: list[str], field: str
) -> None:
    """Given by subnet ids only, the VPC's blocks and so EKS's service range (172.20.0.0/16 for a VPC in
    10.0.0.0/8) are known once EC2 is asked; a remote network overlapping either is a 422 then."""
    raw = {**body(network), "remoteNetworkConfig": {"remoteNodeNetworks": [{"cidrs": cidrs}]}}
    ClusterSpec.model_validate(raw)  # nothing known against it before EC2 is asked

    with pytest.raises(SpecValidationError) as refused:
        request(db, settings, raw)

    assert [(f["field"], f["rule"]) for f in refused.value.details["fields"]] == [(field, "remote_network_overlap")]
    with pytest.raises(NotFoundError):
        db.get_cluster("byo")
