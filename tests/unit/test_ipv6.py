"""IPv6: `kubernetesNetworkConfig.ipFamily: IPv6` clusters and `vpc.autoAllocateIPv6`, built as eksctl builds them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from chalicelib.cfn import templates
from chalicelib.model import clusterconfig
from chalicelib.model.spec import ClusterSpec
from tests.unit.test_templates import all_templates, cfn_lint, resources_of_type

REGION = "us-west-2"
ZONES = ["us-west-2a", "us-west-2b", "us-west-2c"]
DATA = Path(__file__).parents[1] / "data" / "clusterconfigs"
IPV6_ADDONS = [{"name": "vpc-cni"}, {"name": "coredns"}, {"name": "kube-proxy"}]


def ipv6(**fields: Any) -> dict[str, Any]:
    """An IPv6 cluster body eksctl's rules accept, with `fields` replacing its own."""
    body: dict[str, Any] = {
        "name": "six",
        "region": REGION,
        "kubernetesNetworkConfig": {"ipFamily": "IPv6"},
        "iam": {"withOIDC": True},
        "addons": IPV6_ADDONS,
        "managedNodeGroups": [{"name": "ng", "desiredCapacity": 1}],
    }
    return {**body, **fields}


def dual_stack(**vpc: Any) -> dict[str, Any]:
    return {"name": "dual", "region": REGION, "vpc": {"autoAllocateIPv6": True, **vpc}}


def cluster(body: dict[str, Any], zones: list[str] | None = None) -> dict[str, Any]:
    spec = ClusterSpec.model_validate(body)
    return templates.build_cluster_template(spec, "cid", zones or ZONES[:2])


def errors(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        ClusterSpec.model_validate(raw)
    return {".".join(str(p) for p in e["loc"]): e["type"] for e in caught.value.errors()}


def example(name: str) -> ClusterSpec:
    return clusterconfig.parse((DATA / name).read_bytes())


def subnet_block(index: int, count: int) -> dict[str, Any]:
    vpc_block = {"Fn::Select": [0, {"Fn::GetAtt": ["VPC", "Ipv6CidrBlocks"]}]}
    return {"Fn::Select": [index, {"Fn::Cidr": [vpc_block, count, 64]}]}


# -- an IPv6 cluster's template --------------------------------------------------------------


@pytest.mark.parametrize("zones", [ZONES[:2], ZONES])
def test_the_vpc_gets_an_amazon_provided_block_and_each_subnet_a_64_of_it(zones: list[str]) -> None:
    template = cluster(ipv6(), zones)
    resources = template["Resources"]

    assert resources_of_type(template, "AWS::EC2::VPCCidrBlock") == {
        "IPv6CidrBlock": {
            "Type": "AWS::EC2::VPCCidrBlock",
            "Properties": {"VpcId": {"Ref": "VPC"}, "AmazonProvidedIpv6CidrBlock": True},
        }
    }
    count = 2 * len(zones) + 2  # as eksctl: two per zone, two spare
    subnets = [f"SubnetPublic{i + 1}" for i in range(len(zones))] + [f"SubnetPrivate{i + 1}" for i in range(len(zones))]
    for index, logical_id in enumerate(subnets):  # public subnets first, as eksctl
        subnet = resources[logical_id]
        assert subnet["Properties"]["Ipv6CidrBlock"] == subnet_block(index, count)
        assert subnet["Properties"]["AssignIpv6AddressOnCreation"] is True
        assert subnet["DependsOn"] == "IPv6CidrBlock"


def test_public_subnets_route_ipv6_through_the_internet_gateway_private_ones_through_an_egress_only_one() -> None:
    resources = cluster(ipv6())["Resources"]

    public = resources["PublicSubnetIPv6DefaultRoute"]["Properties"]
    assert public == {
        "RouteTableId": {"Ref": "PublicRouteTable"},
        "DestinationIpv6CidrBlock": "::/0",
        "GatewayId": {"Ref": "InternetGateway"},
    }
    assert resources["EgressOnlyInternetGateway"] == {
        "Type": "AWS::EC2::EgressOnlyInternetGateway",
        "Properties": {"VpcId": {"Ref": "VPC"}},
    }
    assert resources["PrivateSubnetDefaultIpv6Route"]["Properties"] == {
        "RouteTableId": {"Ref": "PrivateRouteTable"},
        "DestinationIpv6CidrBlock": "::/0",
        "EgressOnlyInternetGatewayId": {"Ref": "EgressOnlyInternetGateway"},
    }
    # IPv4 still leaves the private subnets through the NAT gateway, as in eksctl's IPv6 VPC.
    assert resources["NATPrivateSubnetRoute"]["Properties"]["NatGatewayId"] == {"Ref": "NATGateway"}


def test_the_control_plane_is_ipv6() -> None:
    properties = cluster(ipv6())["Resources"]["ControlPlane"]["Properties"]

    assert properties["KubernetesNetworkConfig"] == {"IpFamily": "ipv6"}


def test_ipv4_named_is_written_as_eksctl_writes_it_and_unset_leaves_eks_default() -> None:
    named = cluster(
        {"name": "four", "kubernetesNetworkConfig": {"ipFamily": "IPv4", "serviceIPv4CIDR": "10.96.0.0/16"}}
    )
    unset = cluster({"name": "four"})

    assert named["Resources"]["ControlPlane"]["Properties"]["KubernetesNetworkConfig"] == {
        "ServiceIpv4Cidr": "10.96.0.0/16",
        "IpFamily": "ipv4",
    }
    assert "KubernetesNetworkConfig" not in unset["Resources"]["ControlPlane"]["Properties"]
    assert not resources_of_type(unset, "AWS::EC2::VPCCidrBlock")
    assert not resources_of_type(unset, "AWS::EC2::EgressOnlyInternetGateway")


def test_vpc_cni_gets_eksctls_ipv6_policy_instead_of_the_ipv4_managed_one() -> None:
    role = cluster(ipv6())["Resources"]["VpcCniRole"]["Properties"]

    assert "ManagedPolicyArns" not in role
    (policy,) = role["Policies"]
    first, tags = policy["PolicyDocument"]["Statement"]
    assert "ec2:AssignIpv6Addresses" in first["Action"]
    assert {"ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"} <= set(first["Action"])
    assert tags["Action"] == ["ec2:CreateTags"]


def test_vpc_cni_by_pod_identity_gets_the_ipv6_policy_too() -> None:
    addons = [{"name": "vpc-cni", "useDefaultPodIdentityAssociations": True}, *IPV6_ADDONS[1:]]
    body = ipv6(iam={}, addons=[*addons, {"name": "eks-pod-identity-agent"}])
    role = cluster(body)["Resources"]["VpcCniPodIdentityRole1"]["Properties"]

    assert "ManagedPolicyArns" not in role
    assert "ec2:AssignIpv6Addresses" in role["Policies"][0]["PolicyDocument"]["Statement"][0]["Action"]


def test_on_an_ipv4_cluster_vpc_cni_keeps_the_managed_policy() -> None:
    body = {"name": "four", "iam": {"withOIDC": True}, "addons": [{"name": "vpc-cni"}]}
    role = cluster(body)["Resources"]["VpcCniRole"]["Properties"]

    assert role["ManagedPolicyArns"] == [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonEKS_CNI_Policy"}]


# -- autoAllocateIPv6: dual stack, an IPv4 cluster ---------------------------------------------


@pytest.mark.parametrize("nat", ["Single", "HighlyAvailable", "Disable"])
def test_auto_allocated_ipv6_gives_each_subnet_a_block_and_the_public_ones_a_route(nat: str) -> None:
    template = cluster(dual_stack(nat={"gateway": nat}))
    resources = template["Resources"]

    assert resources["AutoAllocatedCIDRv6"]["Properties"] == {
        "VpcId": {"Ref": "VPC"},
        "AmazonProvidedIpv6CidrBlock": True,
    }
    blocks = resources_of_type(template, "AWS::EC2::SubnetCidrBlock")
    subnets = ["SubnetPublic1", "SubnetPublic2", "SubnetPrivate1", "SubnetPrivate2"]
    assert sorted(blocks) == sorted(f"{s}CIDRv6" for s in subnets)
    for index, logical_id in enumerate(subnets):
        assert blocks[f"{logical_id}CIDRv6"]["Properties"] == {
            "SubnetId": {"Ref": logical_id},
            "Ipv6CidrBlock": subnet_block(index, 6),
        }
        assert blocks[f"{logical_id}CIDRv6"]["DependsOn"] == "AutoAllocatedCIDRv6"
        assert "Ipv6CidrBlock" not in resources[logical_id]["Properties"]
    assert resources["PublicSubnetIPv6DefaultRoute"]["Properties"]["GatewayId"] == {"Ref": "InternetGateway"}
    # The cluster stays IPv4: no egress-only gateway, no IPv6 family on the control plane.
    assert not resources_of_type(template, "AWS::EC2::EgressOnlyInternetGateway")
    assert "KubernetesNetworkConfig" not in resources["ControlPlane"]["Properties"]


# -- every template passes cfn-lint ------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        ipv6(),
        ipv6(
            addons=[
                {"name": "vpc-cni", "useDefaultPodIdentityAssociations": True},
                *IPV6_ADDONS[1:],
                {"name": "eks-pod-identity-agent"},
                {"name": "aws-ebs-csi-driver"},
            ],
            fargateProfiles=[{"name": "fp", "selectors": [{"namespace": "default"}]}],
            vpc={"hostnameType": "resource-name", "controlPlaneOnPrivateSubnets": True},
            managedNodeGroups=[{"name": "ng", "privateNetworking": True, "desiredCapacity": 1}],
        ),
        ipv6(autoModeConfig={"enabled": True}, addons=[], managedNodeGroups=None),
        dual_stack(nat={"gateway": "HighlyAvailable"}, hostnameType="resource-name"),
        dual_stack(nat={"gateway": "Disable"}),
    ],
    ids=["ipv6", "ipv6-everything", "ipv6-auto-mode", "dual-stack-ha", "dual-stack-no-nat"],
)
@pytest.mark.parametrize("zones", [ZONES[:2], ZONES])
def test_every_template_passes_cfn_lint(body: dict[str, Any], zones: list[str]) -> None:
    body = {k: v for k, v in body.items() if v is not None}
    spec = ClusterSpec.model_validate({**body, "availabilityZones": zones})
    for template in all_templates(spec, zones):
        assert cfn_lint(template, REGION) == []


# -- eksctl's rules, each a 422 on its field ----------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field", "rule"),
    [
        (ipv6(vpc={"autoAllocateIPv6": True}), "vpc.autoAllocateIPv6", "ipv6_auto_allocate"),
        (ipv6(vpc={"nat": {"gateway": "HighlyAvailable"}}), "vpc.nat.gateway", "ipv6_nat"),
        (ipv6(vpc={"nat": {"gateway": "Disable"}}), "vpc.nat.gateway", "ipv6_nat"),
        (
            ipv6(kubernetesNetworkConfig={"ipFamily": "IPv6", "serviceIPv4CIDR": "10.96.0.0/16"}),
            "kubernetesNetworkConfig.serviceIPv4CIDR",
            "ipv6_service_cidr",
        ),
        (ipv6(nodeGroups=[{"name": "self"}]), "nodeGroups.0", "ipv6_self_managed"),
        (ipv6(addons=IPV6_ADDONS[:2]), "addons", "ipv6_addons_required"),
        (ipv6(addons=IPV6_ADDONS[1:]), "addons", "ipv6_addons_required"),
        (ipv6(addons=[IPV6_ADDONS[0], IPV6_ADDONS[2]]), "addons", "ipv6_addons_required"),
        (ipv6(iam={"withOIDC": False}), "iam.withOIDC", "ipv6_vpc_cni_role"),
        (ipv6(iam=None), "iam.withOIDC", "ipv6_vpc_cni_role"),
        (
            ipv6(addons=[{"name": "vpc-cni", "version": "v1.9.3-eksbuild.1"}, *IPV6_ADDONS[1:]]),
            "addons.0.version",
            "ipv6_vpc_cni_version",
        ),
        (
            ipv6(managedNodeGroups=[{"name": "ng", "amiFamily": "AmazonLinux2023", "ami": "ami-0123456789abcdef0"}]),
            "managedNodeGroups.0.ami",
            "ipv6_custom_ami",
        ),
        (ipv6(kubernetesNetworkConfig={"ipFamily": "IPv5"}), "kubernetesNetworkConfig.ipFamily", "literal_error"),
    ],
)
def test_each_rule_names_its_field(raw: dict[str, Any], field: str, rule: str) -> None:
    raw = {k: v for k, v in raw.items() if v is not None}
    assert errors(raw).get(field) == rule


def test_an_existing_vpc_is_refused_with_ipv6_either_way() -> None:
    from tests.unit.test_existing_vpc import body as existing_vpc_body

    existing = existing_vpc_body(name="six", managedNodeGroups=[{"name": "ng", "privateNetworking": True}])
    family = {**ipv6(), "vpc": existing["vpc"], "region": existing["region"]}
    dual = {**existing, "vpc": {**existing["vpc"], "autoAllocateIPv6": True}}

    assert errors(family)["kubernetesNetworkConfig.ipFamily"] == "ipv6_existing_vpc"
    assert errors(dual)["vpc.autoAllocateIPv6"] == "ipv6_existing_vpc"


def test_a_custom_ami_with_its_own_bootstrap_is_taken() -> None:
    group = {
        "name": "ng",
        "amiFamily": "AmazonLinux2023",
        "ami": "ami-0123456789abcdef0",
        "overrideBootstrapCommand": "#!/bin/bash\n/usr/bin/nodeadm init",
    }

    assert ClusterSpec.model_validate(ipv6(managedNodeGroups=[group])).nodegroups[0].name == "ng"


def test_auto_mode_runs_the_networking_add_ons_itself() -> None:
    spec = ClusterSpec.model_validate({**ipv6(addons=[], iam={}), "autoModeConfig": {"enabled": True}})

    assert spec.kubernetes_network_config and spec.kubernetes_network_config.ipv6


def test_vpc_cni_by_pod_identity_needs_no_oidc() -> None:
    addons = [{"name": "vpc-cni", "useDefaultPodIdentityAssociations": True}, *IPV6_ADDONS[1:]]
    spec = ClusterSpec.model_validate(ipv6(iam={}, addons=[*addons, {"name": "eks-pod-identity-agent"}]))

    assert not (spec.iam and spec.iam.with_oidc)


def test_ip_family_is_read_without_case_as_eksctl() -> None:
    spec = ClusterSpec.model_validate(ipv6(kubernetesNetworkConfig={"ipFamily": "ipv6"}))

    assert spec.kubernetes_network_config and spec.kubernetes_network_config.ip_family == "IPv6"


# -- eksctl's examples 02 and 30, as ClusterConfig files ---------------------------------------


def test_example_30_an_ipv6_cluster_is_accepted_and_given_back() -> None:
    spec = example("eksctl-30-vpc-with-ip-family.yaml")
    config = clusterconfig.from_spec(spec)

    assert config["kubernetesNetworkConfig"] == {"ipFamily": "IPv6"}
    assert "nat" not in config["vpc"]  # eksctl refuses vpc.nat with IPv6: the config given back has none
    assert clusterconfig.parse(yaml.safe_dump(config).encode()) == spec


def test_example_02_auto_allocated_ipv6_is_accepted_and_given_back() -> None:
    spec = example("eksctl-02-custom-vpc-cidr-no-nodes.yaml")
    config = clusterconfig.from_spec(spec)

    assert spec.vpc.auto_allocate_ipv6 is True
    assert spec.nodegroups == []
    assert config["vpc"]["autoAllocateIPv6"] is True
    assert clusterconfig.parse(yaml.safe_dump(config).encode()) == spec
