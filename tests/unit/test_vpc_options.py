"""eksctl's cluster network options (`vpc.hostnameType`, `autoAllocateIPv6`, `controlPlaneOnPrivateSubnets`,
`controlPlaneSecurityGroupIDs`, `securityGroup`) and managed `nodeRepairConfig`: rules, templates, EC2 checks."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from chalicelib.cfn import templates
from chalicelib.model import clusterconfig
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.spec import ClusterSpec
from chalicelib.operations import network
from tests.unit.test_existing_vpc import REGION, VPC_ID, subnet
from tests.unit.test_existing_vpc import body as existing_vpc_body
from tests.unit.test_templates import ZONES, all_templates, cfn_lint, resources_of_type

SG_A = "sg-0123456789abcdef0"
SG_B = "sg-0fedcba9876543210"


def existing(**vpc: Any) -> dict[str, Any]:
    """A cluster body in an existing VPC (test_existing_vpc's), with `vpc` fields added."""
    cluster = existing_vpc_body(name="opts", managedNodeGroups=[{"name": "ng", "privateNetworking": True}])
    return {**cluster, "vpc": {**cluster["vpc"], **vpc}}


def built(**vpc: Any) -> dict[str, Any]:
    """A cluster body in a VPC ekspress builds, with `vpc` fields added."""
    return {"name": "opts", "region": REGION, "vpc": vpc, "managedNodeGroups": [{"name": "ng"}]}


def errors(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        ClusterSpec.model_validate(raw)
    return {".".join(str(p) for p in e["loc"]): e["type"] for e in caught.value.errors()}


def cluster(spec: ClusterSpec, zones: list[str] | None = None) -> dict[str, Any]:
    return templates.build_cluster_template(spec, "cid", zones or list(spec.availability_zones or ZONES[:2]))


def vpc_config(template: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = template["Resources"]["ControlPlane"]["Properties"]["ResourcesVpcConfig"]
    return config


# -- the spec's rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field", "rule"),
    [
        (existing(autoAllocateIPv6=True), "vpc.autoAllocateIPv6", "ipv6_existing_vpc"),
        (built(hostnameType="dns-name"), "vpc.hostnameType", "literal_error"),
        (existing(hostnameType="ip-name"), "vpc.hostnameType", "hostname_type_existing_vpc"),
        (
            existing(controlPlaneOnPrivateSubnets=True, controlPlaneSubnetIDs=[subnet(3), subnet(4)]),
            "vpc.controlPlaneOnPrivateSubnets",
            "one_of",
        ),
        (built(securityGroup=SG_A), "vpc.securityGroup", "security_group_needs_vpc_id"),
        (built(controlPlaneSecurityGroupIDs=[SG_A]), "vpc.controlPlaneSecurityGroupIDs", "security_group_needs_vpc_id"),
        (existing(securityGroup=SG_A, controlPlaneSecurityGroupIDs=[SG_B]), "vpc.securityGroup", "one_of"),
        (
            existing(controlPlaneSecurityGroupIDs=[SG_A, SG_A]),
            "vpc.controlPlaneSecurityGroupIDs.1",
            "duplicate_security_group",
        ),
        (
            existing(controlPlaneSecurityGroupIDs=["sg-1234"]),
            "vpc.controlPlaneSecurityGroupIDs.0",
            "string_pattern_mismatch",
        ),
        (existing(controlPlaneSecurityGroupIDs=[]), "vpc.controlPlaneSecurityGroupIDs", "too_short"),
        (
            existing(controlPlaneSecurityGroupIDs=[f"sg-0000000000000000{n}" for n in range(5)]),
            "vpc.controlPlaneSecurityGroupIDs",
            "too_long",
        ),
    ],
)
def test_each_rule_names_its_field(raw: dict[str, Any], field: str, rule: str) -> None:
    assert errors(raw).get(field) == rule


def test_the_control_plane_on_private_subnets_needs_two_of_them() -> None:
    raw = existing(controlPlaneOnPrivateSubnets=True)
    raw["vpc"]["subnets"]["private"] = {"ap-northeast-1a": {"id": subnet(3)}}
    raw["managedNodeGroups"] = [{"name": "ng"}]

    assert errors(raw) == {"vpc.controlPlaneOnPrivateSubnets": "control_plane_private_subnets"}


def test_false_and_unset_options_are_accepted_and_leave_the_config_as_it_was() -> None:
    spec = ClusterSpec.model_validate(built(autoAllocateIPv6=False, controlPlaneOnPrivateSubnets=False))
    plain = ClusterSpec.model_validate(built())

    assert spec.vpc.auto_allocate_ipv6 is False
    assert "hostnameType" not in clusterconfig.from_spec(plain)["vpc"]
    assert cluster(ClusterSpec.model_validate(built(controlPlaneOnPrivateSubnets=False))) == cluster(plain)


# -- the templates ---------------------------------------------------------------------------


@pytest.mark.parametrize("hostname_type", ["resource-name", "ip-name"])
def test_hostname_type_goes_on_every_subnet_ekspress_builds(hostname_type: str) -> None:
    template = cluster(ClusterSpec.model_validate(built(hostnameType=hostname_type)))

    subnets = resources_of_type(template, "AWS::EC2::Subnet")
    assert len(subnets) == 4
    for resource in subnets.values():
        assert resource["Properties"]["PrivateDnsNameOptionsOnLaunch"] == {"HostnameType": hostname_type}


def test_without_hostname_type_subnets_keep_ec2s_default() -> None:
    template = cluster(ClusterSpec.model_validate(built()))

    assert all("PrivateDnsNameOptionsOnLaunch" not in r["Properties"] for r in template["Resources"].values())


def test_control_plane_on_private_subnets_of_a_built_vpc() -> None:
    template = cluster(ClusterSpec.model_validate(built(controlPlaneOnPrivateSubnets=True)))

    assert vpc_config(template)["SubnetIds"] == [{"Ref": "SubnetPrivate1"}, {"Ref": "SubnetPrivate2"}]
    assert "NATGateway" in template["Resources"], "the public subnets stay for NAT and load balancers"


def test_control_plane_on_private_subnets_of_an_existing_vpc() -> None:
    template = cluster(ClusterSpec.model_validate(existing(controlPlaneOnPrivateSubnets=True)))

    assert vpc_config(template)["SubnetIds"] == [subnet(3), subnet(4)]


def test_control_plane_security_groups_join_ekspress_own() -> None:
    template = cluster(ClusterSpec.model_validate(existing(controlPlaneSecurityGroupIDs=[SG_A, SG_B])))

    assert vpc_config(template)["SecurityGroupIds"] == [{"Ref": "ControlPlaneSecurityGroup"}, SG_A, SG_B]
    assert template["Outputs"]["SecurityGroup"]["Value"] == {"Ref": "ControlPlaneSecurityGroup"}


def test_an_existing_security_group_replaces_ekspress_own() -> None:
    template = cluster(ClusterSpec.model_validate(existing(securityGroup=SG_A)))

    assert vpc_config(template)["SecurityGroupIds"] == [SG_A]
    assert "ControlPlaneSecurityGroup" not in template["Resources"]
    assert template["Outputs"]["SecurityGroup"]["Value"] == SG_A  # node group stacks import it as ours


@pytest.mark.parametrize(
    "raw",
    [
        built(hostnameType="resource-name", controlPlaneOnPrivateSubnets=True, autoAllocateIPv6=False),
        existing(controlPlaneOnPrivateSubnets=True, controlPlaneSecurityGroupIDs=[SG_A, SG_B]),
        existing(securityGroup=SG_A),
    ],
)
def test_every_template_passes_cfn_lint(raw: dict[str, Any]) -> None:
    spec = ClusterSpec.model_validate(raw)
    for template in all_templates(spec, list(spec.availability_zones or ZONES[:2])):
        assert cfn_lint(template, REGION) == []


# -- ClusterConfig in and out ----------------------------------------------------------------


def test_example_49_control_plane_on_private_subnets_is_accepted() -> None:
    raw = b"""
apiVersion: eksctl.io/v1alpha5
kind: ClusterConfig
metadata: {name: cluster-49, region: us-west-2}
availabilityZones: [us-west-2a, us-west-2b]
vpc:
  controlPlaneOnPrivateSubnets: true
  nat: {gateway: HighlyAvailable}
  clusterEndpoints: {publicAccess: true, privateAccess: true}
managedNodeGroups:
  - name: mng1
    privateNetworking: true
"""
    spec = clusterconfig.parse(raw)

    assert vpc_config(cluster(spec, ["us-west-2a", "us-west-2b"]))["SubnetIds"] == [
        {"Ref": "SubnetPrivate1"},
        {"Ref": "SubnetPrivate2"},
    ]
    assert clusterconfig.from_spec(spec)["vpc"]["controlPlaneOnPrivateSubnets"] is True


def test_the_options_round_trip_through_a_clusterconfig() -> None:
    spec = ClusterSpec.model_validate(existing(controlPlaneOnPrivateSubnets=True, controlPlaneSecurityGroupIDs=[SG_A]))
    config = clusterconfig.from_spec(spec)

    assert config["vpc"]["controlPlaneSecurityGroupIDs"] == [SG_A]
    assert config["vpc"]["controlPlaneOnPrivateSubnets"] is True
    assert clusterconfig.parse(yaml.safe_dump(config).encode()) == spec


def test_auto_allocated_ipv6_is_taken_and_given_back() -> None:
    raw = b"""
apiVersion: eksctl.io/v1alpha5
kind: ClusterConfig
metadata: {name: v6}
vpc: {autoAllocateIPv6: true}
"""
    spec = clusterconfig.parse(raw)

    assert spec.vpc.auto_allocate_ipv6 is True
    assert clusterconfig.from_spec(spec)["vpc"]["autoAllocateIPv6"] is True


# -- the EC2 checks when a cluster is requested --------------------------------------------


class FakeEc2:
    """DescribeVpcs, DescribeSubnets and DescribeSecurityGroups over a fixed VPC, as EC2 filters them."""

    def __init__(self, groups: dict[str, str], private_zones: tuple[str, str] = ("a", "c")) -> None:
        self.groups = groups
        self.subnets = {
            subnet(1): f"{REGION}a",
            subnet(2): f"{REGION}c",
            subnet(3): f"{REGION}{private_zones[0]}",
            subnet(4): f"{REGION}{private_zones[1]}",
        }
        self.asked: list[str] = []

    def describe_vpcs(self, Filters: list[dict[str, Any]]) -> dict[str, Any]:
        return {"Vpcs": [{"VpcId": VPC_ID}] if Filters[0]["Values"] == [VPC_ID] else []}

    def get_paginator(self, operation: str) -> Any:
        self.asked.append(operation)
        return SimpleNamespace(paginate=lambda Filters: [self._page(operation, Filters[0]["Values"])])

    def _page(self, operation: str, wanted: list[str]) -> dict[str, Any]:
        if operation == "describe_subnets":
            return {
                "Subnets": [
                    {"SubnetId": s, "VpcId": VPC_ID, "AvailabilityZone": z, "CidrBlock": f"10.0.{s[-1]}.0/24"}
                    for s, z in self.subnets.items()
                    if s in wanted
                ]
            }
        return {"SecurityGroups": [{"GroupId": g, "VpcId": v} for g, v in self.groups.items() if g in wanted]}


def checked(raw: dict[str, Any], ec2: FakeEc2) -> ClusterSpec:
    ctx: Any = SimpleNamespace(clients=SimpleNamespace(ec2=lambda region: ec2))
    return network.with_existing_subnets(ctx, ClusterSpec.model_validate(raw))


def refused_fields(raw: dict[str, Any], ec2: FakeEc2) -> list[tuple[str, str]]:
    with pytest.raises(SpecValidationError) as refused:
        checked(raw, ec2)
    return [(f["field"], f["rule"]) for f in refused.value.details["fields"]]


def test_security_groups_in_the_vpc_pass() -> None:
    ec2 = FakeEc2({SG_A: VPC_ID, SG_B: VPC_ID})

    spec = checked(existing(controlPlaneSecurityGroupIDs=[SG_A, SG_B]), ec2)

    assert spec.vpc.control_plane_security_group_ids == [SG_A, SG_B]
    assert "describe_security_groups" in ec2.asked


def test_each_missing_or_stray_security_group_is_named() -> None:
    ec2 = FakeEc2({SG_B: "vpc-0ffffffffffffffff"})

    assert refused_fields(existing(controlPlaneSecurityGroupIDs=[SG_A, SG_B]), ec2) == [
        ("vpc.controlPlaneSecurityGroupIDs[0]", "security_group_not_found"),
        ("vpc.controlPlaneSecurityGroupIDs[1]", "security_group_not_in_vpc"),
    ]
    assert refused_fields(existing(securityGroup=SG_A), ec2) == [("vpc.securityGroup", "security_group_not_found")]


def test_no_security_group_named_asks_ec2_nothing_about_groups() -> None:
    ec2 = FakeEc2({})

    checked(existing(), ec2)

    assert "describe_security_groups" not in ec2.asked


def test_private_subnets_in_one_zone_cannot_take_the_control_plane() -> None:
    raw = existing(controlPlaneOnPrivateSubnets=True)
    raw["vpc"]["subnets"]["private"] = {"one": {"id": subnet(3)}, "two": {"id": subnet(4)}}

    assert refused_fields(raw, FakeEc2({}, private_zones=("a", "a"))) == [
        ("vpc.controlPlaneOnPrivateSubnets", "subnet_zones")
    ]
    assert checked(raw, FakeEc2({})).vpc.control_plane_on_private_subnets is True


# -- managed nodeRepairConfig ----------------------------------------------------------------


def repair_group(**config: Any) -> dict[str, Any]:
    return {"name": "opts", "region": REGION, "managedNodeGroups": [{"name": "ng", "nodeRepairConfig": config}]}


@pytest.mark.parametrize(
    ("config", "field", "rule"),
    [
        (
            {"enabled": True, "maxUnhealthyNodeThresholdPercentage": 20, "maxUnhealthyNodeThresholdCount": 3},
            "maxUnhealthyNodeThresholdCount",
            "one_of",
        ),
        (
            {"enabled": True, "maxParallelNodesRepairedPercentage": 20, "maxParallelNodesRepairedCount": 3},
            "maxParallelNodesRepairedCount",
            "one_of",
        ),
        (
            {"enabled": True, "maxUnhealthyNodeThresholdPercentage": 101},
            "maxUnhealthyNodeThresholdPercentage",
            "less_than_equal",
        ),
        (
            {"enabled": True, "maxParallelNodesRepairedPercentage": 0},
            "maxParallelNodesRepairedPercentage",
            "greater_than_equal",
        ),
        ({"enabled": True, "maxParallelNodesRepairedCount": 0}, "maxParallelNodesRepairedCount", "greater_than_equal"),
        (
            {"enabled": True, "nodeRepairConfigOverrides": [{"nodeMonitoringCondition": "NetworkNotReady"}]},
            "nodeRepairConfigOverrides.0.nodeUnhealthyReason",
            "missing",
        ),
        (
            {
                "enabled": True,
                "nodeRepairConfigOverrides": [
                    {
                        "nodeMonitoringCondition": "NetworkNotReady",
                        "nodeUnhealthyReason": "InterfaceNotUp",
                        "minRepairWaitTimeMins": 15,
                        "repairAction": "Restart",
                    }
                ],
            },
            "nodeRepairConfigOverrides.0.repairAction",
            "literal_error",
        ),
    ],
)
def test_node_repair_rules(config: dict[str, Any], field: str, rule: str) -> None:
    assert errors(repair_group(**config)).get(f"managedNodeGroups.0.nodeRepairConfig.{field}") == rule


def test_node_repair_settings_map_onto_the_nodegroup() -> None:
    override = {
        "nodeMonitoringCondition": "AcceleratedInstanceNotReady",
        "nodeUnhealthyReason": "NvidiaXID13Error",
        "minRepairWaitTimeMins": 5,
        "repairAction": "Replace",
    }
    spec = ClusterSpec.model_validate(
        repair_group(
            enabled=True,
            maxUnhealthyNodeThresholdPercentage=25,
            maxParallelNodesRepairedCount=1,
            nodeRepairConfigOverrides=[override],
        )
    )
    template = templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid")

    assert template["Resources"]["ManagedNodeGroup"]["Properties"]["NodeRepairConfig"] == {
        "Enabled": True,
        "MaxUnhealthyNodeThresholdPercentage": 25,
        "MaxParallelNodesRepairedCount": 1,
        "NodeRepairConfigOverrides": [
            {
                "NodeMonitoringCondition": "AcceleratedInstanceNotReady",
                "NodeUnhealthyReason": "NvidiaXID13Error",
                "MinRepairWaitTimeMins": 5,
                "RepairAction": "Replace",
            }
        ],
    }
    assert cfn_lint(template, REGION) == []
    config = clusterconfig.from_spec(spec)["managedNodeGroups"][0]["nodeRepairConfig"]
    assert config["nodeRepairConfigOverrides"] == [override]


def test_only_enabled_gives_only_enabled() -> None:
    spec = ClusterSpec.model_validate(repair_group(enabled=True))
    template = templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid")

    assert template["Resources"]["ManagedNodeGroup"]["Properties"]["NodeRepairConfig"] == {"Enabled": True}
