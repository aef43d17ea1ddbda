"""A cluster in an existing VPC (`vpc.id`, `vpc.subnets`): the spec's rules and what the templates build."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from cfnlint.api import ManualArgs, lint
from pydantic import ValidationError

from chalicelib.cfn import templates
from chalicelib.model import clusterconfig
from chalicelib.model.spec import ClusterSpec

REGION = "ap-northeast-1"
VPC_ID = "vpc-0a1b2c3d4e5f60718"
NETWORK_KINDS = {
    "AWS::EC2::VPC",
    "AWS::EC2::InternetGateway",
    "AWS::EC2::VPCGatewayAttachment",
    "AWS::EC2::NatGateway",
    "AWS::EC2::EIP",
    "AWS::EC2::RouteTable",
    "AWS::EC2::Route",
    "AWS::EC2::SubnetRouteTableAssociation",
    "AWS::EC2::Subnet",
}


def subnet(n: int) -> str:
    return f"subnet-0000000000000000{n}"


def body(**extra: Any) -> dict[str, Any]:
    return {
        "name": "byo",
        "region": REGION,
        "vpc": {
            "id": VPC_ID,
            "subnets": {
                "public": {"ap-northeast-1a": {"id": subnet(1)}, "ap-northeast-1c": {"id": subnet(2)}},
                "private": {"ap-northeast-1a": {"id": subnet(3)}, "ap-northeast-1c": {"id": subnet(4)}},
            },
        },
        "managedNodeGroups": [
            {"name": "pub"},
            {"name": "priv", "privateNetworking": True},
            {"name": "one-zone", "privateNetworking": True, "availabilityZones": ["ap-northeast-1c"]},
        ],
        **extra,
    }


def errors(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        ClusterSpec.model_validate(raw)
    return {".".join(str(p) for p in e["loc"]): e["type"] for e in caught.value.errors()}


def cluster_template(spec: ClusterSpec) -> dict[str, Any]:
    return templates.build_cluster_template(spec, "cid", list(spec.availability_zones or []))


def test_the_subnets_zones_are_the_clusters() -> None:
    assert ClusterSpec.model_validate(body()).availability_zones == ["ap-northeast-1a", "ap-northeast-1c"]


def test_no_network_is_built_in_an_existing_vpc() -> None:
    template = cluster_template(ClusterSpec.model_validate(body()))

    kinds = {r["Type"] for r in template["Resources"].values()}
    assert not kinds & NETWORK_KINDS
    group = template["Resources"]["ControlPlaneSecurityGroup"]["Properties"]
    assert group["VpcId"] == VPC_ID
    vpc_config = template["Resources"]["ControlPlane"]["Properties"]["ResourcesVpcConfig"]
    assert vpc_config["SubnetIds"] == [subnet(1), subnet(2), subnet(3), subnet(4)]


def test_the_outputs_node_groups_import_carry_the_given_ids() -> None:
    outputs = {k: o["Value"] for k, o in cluster_template(ClusterSpec.model_validate(body()))["Outputs"].items()}

    assert outputs["VPC"] == VPC_ID
    assert outputs["SubnetsPublic"] == f"{subnet(1)},{subnet(2)}"
    assert outputs["SubnetsPrivate"] == f"{subnet(3)},{subnet(4)}"
    assert (outputs["SubnetsPrivate1"], outputs["SubnetsPrivate2"]) == (subnet(3), subnet(4))


def test_every_template_passes_cfn_lint() -> None:
    spec = ClusterSpec.model_validate(body())
    built = [cluster_template(spec)] + [templates.build_nodegroup_template(spec, g, "cid") for g in spec.nodegroups]
    for template in built:
        matches = lint(json.dumps(template), config=ManualArgs(regions=[REGION]))
        assert [f"{m.rule.id} {m.message}" for m in matches] == []


def test_only_private_subnets_leave_no_subnets_for_public_nodes() -> None:
    raw = body()
    del raw["vpc"]["subnets"]["public"]

    assert errors(raw) == {"managedNodeGroups.0.privateNetworking": "no_subnets"}
    template = cluster_template(ClusterSpec.model_validate({**raw, "managedNodeGroups": raw["managedNodeGroups"][1:]}))
    assert "SubnetsPublic" not in template["Outputs"]


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"cidr": "10.0.0.0/16"}, "vpc.cidr", "vpc_existing"),
        ({"nat": {"gateway": "Disable"}}, "vpc.nat", "vpc_existing"),
        ({"subnets": None}, "vpc.subnets", "subnets_required"),
        ({"subnets": {"private": {"a": {"az": "ap-northeast-1a"}}}}, "vpc.subnets.private.a.id", "subnet_id_required"),
        ({"id": "vpc-nothex"}, "vpc.id", "string_pattern_mismatch"),
        ({"securityGroup": "sg-nothex"}, "vpc.securityGroup", "string_pattern_mismatch"),
        ({"sharedNodeSecurityGroup": "sg-nothex"}, "vpc.sharedNodeSecurityGroup", "string_pattern_mismatch"),
        ({"controlPlaneSubnetIDs": [subnet(9)]}, "vpc.controlPlaneSubnetIDs.0", "control_plane_subnet_not_listed"),
        ({"controlPlaneSubnetIDs": [subnet(1), subnet(3)]}, "vpc.controlPlaneSubnetIDs", "subnet_zones"),
    ],
)
def test_what_an_existing_vpc_refuses(change: dict[str, Any], field: str, rule: str) -> None:
    raw = body()
    raw["vpc"] = {k: v for k, v in {**raw["vpc"], **change}.items() if v is not None}

    assert errors(raw).get(field) == rule


def test_the_control_plane_goes_in_the_subnets_named_for_it() -> None:
    raw = body()
    raw["vpc"]["controlPlaneSubnetIDs"] = [subnet(3), subnet(4)]
    spec = ClusterSpec.model_validate(raw)

    template = cluster_template(spec)
    vpc_config = template["Resources"]["ControlPlane"]["Properties"]["ResourcesVpcConfig"]
    assert vpc_config["SubnetIds"] == [subnet(3), subnet(4)]
    assert template["Outputs"]["SubnetsPublic"]["Value"] == f"{subnet(1)},{subnet(2)}"  # nodes keep theirs
    assert clusterconfig.from_spec(spec)["vpc"]["controlPlaneSubnetIDs"] == [subnet(3), subnet(4)]


def test_subnets_need_a_vpc_id_and_two_zones() -> None:
    raw = body()
    del raw["vpc"]["id"]
    assert errors(raw) == {"vpc.subnets": "subnets_need_vpc_id"}

    one_zone = {"private": {"ap-northeast-1a": {"id": subnet(3)}}}
    raw = body(managedNodeGroups=[{"name": "n", "privateNetworking": True}])
    raw["vpc"]["subnets"] = one_zone
    assert errors(raw) == {"vpc.subnets": "subnet_zones"}


def test_a_subnet_listed_twice_is_refused() -> None:
    raw = body()
    raw["vpc"]["subnets"]["private"]["ap-northeast-1c"] = {"id": subnet(1)}

    assert errors(raw) == {"vpc.subnets.private.ap-northeast-1c.id": "duplicate_subnet"}


def test_subnets_keyed_by_name_wait_for_their_zone() -> None:
    raw = body(managedNodeGroups=[{"name": "n", "privateNetworking": True}])
    raw["vpc"]["subnets"] = {"private": {"a": {"id": subnet(3)}, "b": {"id": subnet(4)}}}

    assert ClusterSpec.model_validate(raw).availability_zones is None  # EC2 tells them when it is requested


def test_the_clusterconfig_round_trips_the_vpc_fields() -> None:
    spec = ClusterSpec.model_validate(body())
    config = clusterconfig.from_spec(spec)

    assert config["vpc"]["id"] == VPC_ID
    assert "cidr" not in config["vpc"] and "nat" not in config["vpc"]
    assert config["vpc"]["subnets"]["private"]["ap-northeast-1a"] == {"id": subnet(3)}
    assert clusterconfig.parse(yaml.safe_dump(config).encode()) == spec
