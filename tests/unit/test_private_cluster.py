"""A fully private cluster (`privateCluster`): eksctl's rules, the network and endpoints the cluster stack builds,
the endpoint closed by the create's last step, the round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.cfn import templates, vpc_endpoints
from chalicelib.model import clusterconfig, quotas
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.network_spec import KubernetesNetworkSpec, VpcSpec
from chalicelib.model.private_cluster_spec import private_cluster_problems
from chalicelib.model.spec import ClusterSpec, validate
from tests.unit.test_templates import cfn_lint, resources_of_type

REGION = "us-west-2"
ZONES = ["us-west-2a", "us-west-2b", "us-west-2c"]
CONFIG = Path(__file__).resolve().parents[1] / "data" / "clusterconfigs" / "private-cluster.yaml"
PRIVATE_GROUP = {"name": "m1", "privateNetworking": True}


def spec_of(private: dict[str, Any] | None = None, **extra: Any) -> ClusterSpec:
    body = {"name": "p1", "region": REGION, "privateCluster": {"enabled": True, **(private or {})}, **extra}
    return ClusterSpec.model_validate({"managedNodeGroups": [PRIVATE_GROUP], **body})


def refused(body: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecValidationError) as refusal:
        validate(ClusterSpec, {"name": "p1", "region": REGION, **body}, "cluster request")
    return [(f["field"], f["rule"]) for f in refusal.value.details["fields"]]


def test_the_vpc_has_private_subnets_and_endpoints_only() -> None:
    spec = spec_of(
        {"additionalEndpointServices": ["autoscaling"]}, cloudWatch={"clusterLogging": {"enableTypes": ["api"]}}
    )
    template = templates.build_cluster_template(spec, "cid", ZONES, endpoint_zones={"sts": ZONES[:2]})
    cfn_lint(template, REGION)

    assert not resources_of_type(template, "AWS::EC2::InternetGateway")
    assert not resources_of_type(template, "AWS::EC2::NatGateway")
    subnets = resources_of_type(template, "AWS::EC2::Subnet")
    assert sorted(subnets) == ["SubnetPrivate1", "SubnetPrivate2", "SubnetPrivate3"]
    assert not resources_of_type(template, "AWS::EC2::Route")  # nothing leaves the VPC
    endpoints = resources_of_type(template, "AWS::EC2::VPCEndpoint")
    names = {e["Properties"]["ServiceName"].removeprefix(f"com.amazonaws.{REGION}.") for e in endpoints.values()}
    assert names == {"ec2", "ecr.api", "ecr.dkr", "sts", "autoscaling", "logs", "s3"}
    assert sorted(endpoints) == sorted(vpc_endpoints.logical_id(n) for n in names)
    assert "VPCEndpointECRAPI" in endpoints  # eksctl's names
    # An interface endpoint goes in one private subnet per zone its service is in, with private DNS.
    assert endpoints["VPCEndpointSTS"]["Properties"]["SubnetIds"] == [
        {"Ref": "SubnetPrivate1"},
        {"Ref": "SubnetPrivate2"},
    ]
    assert len(endpoints["VPCEndpointEC2"]["Properties"]["SubnetIds"]) == 3
    assert all(e["Properties"].get("PrivateDnsEnabled") for n, e in endpoints.items() if n != "VPCEndpointS3")
    assert endpoints["VPCEndpointS3"]["Properties"] == {
        "ServiceName": f"com.amazonaws.{REGION}.s3",
        "VpcEndpointType": "Gateway",
        "VpcId": {"Ref": "VPC"},
        "RouteTableIds": [{"Ref": "PrivateRouteTable"}],
    }
    assert "SubnetsPublic" not in template["Outputs"] and template["Outputs"]["ClusterFullyPrivate"]["Value"] == "true"


def test_the_endpoint_is_public_and_private_until_the_last_step_closes_it() -> None:
    spec = spec_of()
    assert (spec.vpc.cluster_endpoints.public_access, spec.vpc.cluster_endpoints.private_access) == (True, True)
    opened = templates.build_cluster_template(spec, "cid", ZONES)["Resources"]["ControlPlane"]["Properties"]
    closed = templates.build_cluster_template(spec, "cid", ZONES, public_endpoint_closed=True)["Resources"][
        "ControlPlane"
    ]["Properties"]

    assert opened["ResourcesVpcConfig"]["EndpointPublicAccess"] is True
    assert closed["ResourcesVpcConfig"]["EndpointPublicAccess"] is False
    assert closed["ResourcesVpcConfig"]["EndpointPrivateAccess"] is True
    # Nothing else changes: the update turns the endpoint off and touches nothing else.
    closed["ResourcesVpcConfig"]["EndpointPublicAccess"] = True
    assert closed == opened
    # The stored spec reads back the same (the record's spec is validated again by every step).
    assert ClusterSpec.model_validate(spec.model_dump(mode="json", exclude_none=True)) == spec


def test_the_quota_check_counts_no_internet_or_nat_gateway_for_a_private_cluster() -> None:
    needed = {need.quota.name for need in quotas.cluster_needs(spec_of(), ZONES)}

    assert needed == {quotas.VPCS.name, quotas.EKS_CLUSTERS.name}


def test_a_cluster_that_is_not_private_gets_no_endpoints() -> None:
    spec = ClusterSpec.model_validate({"name": "p1", "region": REGION})
    template = templates.build_cluster_template(spec, "cid", ZONES)

    assert not resources_of_type(template, "AWS::EC2::VPCEndpoint")
    assert vpc_endpoints.endpoint_services(spec) == []
    assert resources_of_type(template, "AWS::EC2::InternetGateway")


def test_the_default_node_group_of_a_private_cluster_is_in_its_private_subnets() -> None:
    spec = ClusterSpec.model_validate({"name": "p1", "privateCluster": {"enabled": True}})

    assert [g.private_networking for g in spec.nodegroups] == [True]


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        (
            {"privateCluster": {"enabled": True}, "managedNodeGroups": [{"name": "m1"}]},
            [("managedNodeGroups[0].privateNetworking", "private_networking_required")],
        ),
        (
            {"privateCluster": {"enabled": True}, "nodeGroups": [{"name": "ng1", "privateNetworking": False}]},
            [("nodeGroups[0].privateNetworking", "private_networking_required")],
        ),
        (
            {
                "privateCluster": {"enabled": True},
                "vpc": {"clusterEndpoints": {"publicAccess": False, "privateAccess": True}},
            },
            [("vpc.clusterEndpoints", "private_cluster_endpoints")],
        ),
        (
            {"privateCluster": {"enabled": True}, "vpc": {"nat": {"gateway": "Single"}}},
            [("vpc.nat.gateway", "private_cluster_public_network")],
        ),
        (
            {"privateCluster": {"enabled": True, "skipEndpointCreation": True, "additionalEndpointServices": ["logs"]}},
            [
                ("privateCluster.additionalEndpointServices", "private_cluster_endpoints"),
                ("privateCluster.skipEndpointCreation", "private_cluster_endpoints"),
            ],
        ),
        (
            {"privateCluster": {"enabled": True, "additionalEndpointServices": ["logs", "logs"]}},
            [("privateCluster.additionalEndpointServices", "duplicate_endpoint_service")],
        ),
        (
            {"privateCluster": {"enabled": True, "additionalEndpointServices": ["s3"]}},
            [("privateCluster.additionalEndpointServices[0]", "literal_error")],
        ),
        (
            {"privateCluster": {"enabled": False, "skipEndpointCreation": True}},
            [("privateCluster.enabled", "private_cluster_disabled")],
        ),
        (
            {
                "privateCluster": {"enabled": True},
                "remoteNetworkConfig": {"remoteNodeNetworks": [{"cidrs": ["10.80.146.0/24"]}]},
            },
            [("remoteNetworkConfig", "private_cluster_remote_networks")],
        ),
    ],
)
def test_what_eksctl_refuses_is_a_422_on_its_field(body: dict[str, Any], problems: list[tuple[str, str]]) -> None:
    assert set(problems) <= set(refused(body))


def test_what_is_checked_with_the_rest_of_the_network_is_named_too() -> None:
    """IPv6 and an existing VPC's subnets: the spec's other rules refuse those bodies first, so these rules
    are read off a spec with them in place."""
    ipv6 = KubernetesNetworkSpec.model_validate({"ipFamily": "IPv6"})
    vpc = VpcSpec.model_validate(
        {"id": "vpc-0123456789abcdef0", "subnets": {"public": {"us-west-2a": {"id": "subnet-0123456789abcdef0"}}}}
    )

    with_ipv6 = spec_of().model_copy(update={"kubernetes_network_config": ipv6})
    assert [(p[0], p[1]) for p in private_cluster_problems(with_ipv6)] == [
        (("kubernetesNetworkConfig", "ipFamily"), "private_cluster_ipv6")
    ]
    assert {(p[0], p[1]) for p in private_cluster_problems(spec_of().model_copy(update={"vpc": vpc}))} == {
        (("vpc", "subnets", "public"), "private_cluster_public_network"),
        (("vpc", "subnets", "private"), "private_cluster_public_network"),
    }


def existing(skip: bool) -> ClusterSpec:
    private = {
        "us-west-2a": {"id": "subnet-0123456789abcdef0"},
        "a-second": {"id": "subnet-0123456789abcdef2", "az": "us-west-2a"},
        "us-west-2b": {"id": "subnet-0123456789abcdef1"},
    }
    return ClusterSpec.model_validate(
        {
            "name": "p1",
            "region": REGION,
            "privateCluster": {"enabled": True, **({"skipEndpointCreation": True} if skip else {})},
            "vpc": {"id": "vpc-0123456789abcdef0", "subnets": {"private": private}},
            "managedNodeGroups": [PRIVATE_GROUP],
        }
    )


def test_an_existing_vpc_gets_its_endpoints_in_one_private_subnet_a_zone_and_s3_on_their_tables() -> None:
    spec = existing(skip=False)
    template = templates.build_cluster_template(spec, "cid", ZONES[:2], endpoint_route_tables=["rtb-1", "rtb-2"])
    cfn_lint(template, REGION)

    endpoints = resources_of_type(template, "AWS::EC2::VPCEndpoint")
    assert len(endpoints) == 5
    interface = endpoints["VPCEndpointEC2"]["Properties"]
    assert interface["VpcId"] == "vpc-0123456789abcdef0"
    assert interface["SubnetIds"] == ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
    assert endpoints["VPCEndpointS3"]["Properties"]["RouteTableIds"] == ["rtb-1", "rtb-2"]
    with pytest.raises(ValueError, match="route tables"):  # never an S3 endpoint quietly left out
        templates.build_cluster_template(spec, "cid", ZONES[:2])


def test_an_existing_vpc_with_its_own_endpoints_gets_none_built() -> None:
    spec = existing(skip=True)
    template = templates.build_cluster_template(spec, "cid", ZONES[:2])

    # The record's spec reads back (its network is the caller's: no NAT setting is written into it).
    assert ClusterSpec.model_validate(spec.model_dump(mode="json", exclude_none=True)) == spec
    assert not resources_of_type(template, "AWS::EC2::VPCEndpoint")
    control = template["Resources"]["ControlPlane"]["Properties"]["ResourcesVpcConfig"]
    assert control["SubnetIds"] == ["subnet-0123456789abcdef0", "subnet-0123456789abcdef2", "subnet-0123456789abcdef1"]


def test_the_clusterconfig_gives_it_back() -> None:
    spec = clusterconfig.parse(CONFIG.read_bytes())
    back = clusterconfig.from_spec(spec)

    assert back["privateCluster"]["additionalEndpointServices"] == ["autoscaling"]
    assert clusterconfig.parse(yaml.safe_dump(back).encode()) == spec
