"""CloudFormation templates: what eksctl builds, tagged as ours, and clean under cfn-lint."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint

from chalicelib.cfn import templates
from chalicelib.model import naming
from chalicelib.model.spec import ClusterSpec

ZONES = ["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"]


def cfn_lint(template: dict[str, Any], region: str) -> list[str]:
    matches = lint(json.dumps(template), config=ManualArgs(regions=[region]))
    return [f"{m.rule.id} {m.message}" for m in matches]


def spec_of(body: dict[str, Any]) -> ClusterSpec:
    return ClusterSpec.model_validate({"region": "ap-northeast-1", **body})


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def all_templates(spec: ClusterSpec, zones: list[str]) -> list[dict[str, Any]]:
    return [templates.build_cluster_template(spec, "cid", zones)] + [
        templates.build_nodegroup_template(spec, group, "cid") for group in spec.nodegroups
    ]


VARIANTS = [
    ({"name": "mz-k8s"}, ZONES[:2]),
    (
        {
            "name": "big",
            "version": "1.30",
            "vpc": {"cidr": "10.20.30.0/24"},
            "tags": {"team": "data", "cost-centre": "42"},
            "managedNodeGroups": [
                {"name": "general", "instanceType": "m5.xlarge", "minSize": 0, "maxSize": 10},
                {"name": "arm", "instanceType": "m6g.large", "privateNetworking": True, "labels": {"arch": "arm64"}},
            ],
        },
        ZONES,
    ),
    ({"name": "empty", "managedNodeGroups": []}, ZONES),
    (
        {
            "name": "kitchen-sink",
            "vpc": {
                "nat": {"gateway": "HighlyAvailable"},
                "clusterEndpoints": {"publicAccess": True, "privateAccess": True},
                "publicAccessCIDRs": ["203.0.113.0/24"],
            },
            "cloudWatch": {"clusterLogging": {"enableTypes": ["audit", "authenticator"]}},
            "kubernetesNetworkConfig": {"serviceIPv4CIDR": "172.20.0.0/16"},
            "iam": {"withOIDC": True},
            "addons": [{"name": "vpc-cni"}, {"name": "coredns", "version": "v1.11.3-eksbuild.1"}],
            "accessConfig": {
                "accessEntries": [
                    {
                        "principalARN": "arn:aws:iam::123456789012:role/admins",
                        "accessPolicies": [
                            {
                                "policyARN": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                                "accessScope": {"type": "cluster"},
                            }
                        ],
                    }
                ]
            },
            "managedNodeGroups": [
                {
                    "name": "spot",
                    "instanceTypes": ["m5.large", "m5a.large"],
                    "spot": True,
                    "amiFamily": "Bottlerocket",
                    "taints": [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}],
                    "tags": {"purpose": "batch"},
                    "updateConfig": {"maxUnavailablePercentage": 25},
                    "privateNetworking": True,
                    "volumeType": "gp3",
                    "maxPodsPerNode": 58,
                }
            ],
        },
        ZONES,
    ),
    ({"name": "no-nat", "vpc": {"nat": {"gateway": "Disable"}}}, ZONES[:2]),
]


@pytest.mark.parametrize(("body", "zones"), VARIANTS, ids=[v[0]["name"] for v in VARIANTS])
def test_every_template_passes_cfn_lint(body: dict[str, Any], zones: list[str]) -> None:
    spec = spec_of(body)
    for template in all_templates(spec, zones):
        assert cfn_lint(template, spec.region) == []


def test_subnets_split_the_vpc_like_eksctl() -> None:
    assert templates.subnet_cidrs("192.168.0.0/16", 2) == (
        ["192.168.0.0/19", "192.168.32.0/19"],
        ["192.168.64.0/19", "192.168.96.0/19"],
    )
    public, private = templates.subnet_cidrs("10.0.0.0/24", 3)
    assert public == ["10.0.0.0/27", "10.0.0.32/27", "10.0.0.64/27"]
    assert private[0] == "10.0.0.96/27"


def test_the_cluster_stack_has_a_public_and_private_subnet_per_zone_one_nat_and_the_control_plane() -> None:
    template = templates.build_cluster_template(spec_of({"name": "mz"}), "cid", ZONES)

    subnets = resources_of_type(template, "AWS::EC2::Subnet")
    assert sorted(s["Properties"]["AvailabilityZone"] for s in subnets.values()) == sorted(ZONES * 2)
    assert len(resources_of_type(template, "AWS::EC2::NatGateway")) == 1
    assert len(resources_of_type(template, "AWS::EC2::InternetGateway")) == 1
    assert len(resources_of_type(template, "AWS::EC2::SubnetRouteTableAssociation")) == 6
    (plane,) = resources_of_type(template, "AWS::EKS::Cluster").values()
    assert plane["Properties"]["Name"] == "mz"
    assert len(plane["Properties"]["ResourcesVpcConfig"]["SubnetIds"]) == 6
    assert set(template["Outputs"]) >= {"Endpoint", "CertificateAuthorityData", "ARN", "VPC", "SubnetsPrivate"}
    assert template["Outputs"]["SubnetsPrivate"]["Export"]["Name"] == "eksctl-mz-cluster::SubnetsPrivate"


def test_public_subnets_are_for_public_load_balancers_private_for_internal_ones() -> None:
    template = templates.build_cluster_template(spec_of({"name": "mz"}), "cid", ZONES[:2])

    for logical_id, subnet in resources_of_type(template, "AWS::EC2::Subnet").items():
        tags = {t["Key"]: t["Value"] for t in subnet["Properties"]["Tags"]}
        role = "kubernetes.io/role/elb" if "Public" in logical_id else "kubernetes.io/role/internal-elb"
        assert tags[role] == "1"
        assert tags["kubernetes.io/cluster/mz"] == "owned"


def test_every_tagged_resource_carries_our_ownership_tags_and_the_users() -> None:
    spec = spec_of({"name": "mz", "tags": {"team": "data"}, "managedNodeGroups": [{"name": "a"}]})

    for template in all_templates(spec, ZONES[:2]):
        for logical_id, resource in template["Resources"].items():
            raw = resource["Properties"].get("Tags")
            if raw is None:
                continue
            tags = raw if isinstance(raw, dict) else {t["Key"]: t["Value"] for t in raw}
            assert naming.is_ours(tags, "mz"), logical_id
            assert tags[naming.TAG_CLUSTER_ID] == "cid"
            assert tags["team"] == "data"


def test_resources_that_cannot_be_tagged_are_the_only_untagged_ones() -> None:
    untaggable = {
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::EC2::Route",
        "AWS::EC2::SubnetRouteTableAssociation",
    }
    template = templates.build_cluster_template(spec_of({"name": "mz"}), "cid", ZONES[:2])

    untagged = {r["Type"] for r in template["Resources"].values() if "Tags" not in r["Properties"]}
    assert untagged == untaggable


def test_node_groups_use_the_subnets_their_networking_asks_for() -> None:
    spec = spec_of({"name": "mz", "managedNodeGroups": [{"name": "pub"}, {"name": "priv", "privateNetworking": True}]})
    pub, priv = (templates.build_nodegroup_template(spec, g, "cid") for g in spec.nodegroups)

    def imported(template: dict[str, Any]) -> str:
        subnets = template["Resources"]["ManagedNodeGroup"]["Properties"]["Subnets"]
        return str(subnets["Fn::Split"][1]["Fn::ImportValue"])

    assert imported(pub) == "eksctl-mz-cluster::SubnetsPublic"
    assert imported(priv) == "eksctl-mz-cluster::SubnetsPrivate"


def test_node_group_sizes_type_disk_labels_and_worker_policies() -> None:
    body = {
        "name": "mz",
        "managedNodeGroups": [
            {
                "name": "a",
                "instanceType": "c7g.large",
                "minSize": 1,
                "desiredCapacity": 3,
                "maxSize": 6,
                "volumeSize": 100,
                "labels": {"role": "worker"},
            },
        ],
    }
    spec = spec_of(body)
    template = templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid")

    props = template["Resources"]["ManagedNodeGroup"]["Properties"]
    assert props["ScalingConfig"] == {"MinSize": 1, "DesiredSize": 3, "MaxSize": 6}
    assert (props["InstanceTypes"], props["DiskSize"], props["Labels"]) == (["c7g.large"], 100, {"role": "worker"})
    assert props["AmiType"] == "AL2023_ARM_64_STANDARD"
    assert props["Tags"][naming.TAG_NODEGROUP] == "a"
    policies = [
        p["Fn::Sub"].rsplit("/", 1)[1]
        for p in template["Resources"]["NodeInstanceRole"]["Properties"]["ManagedPolicyArns"]
    ]
    assert sorted(policies) == sorted(templates.WORKER_POLICIES)
    assert template["Outputs"][templates.OUTPUT_NODE_ROLE_ARN]


@pytest.mark.parametrize(
    ("instance_type", "ami"),
    [
        ("m5.large", "AL2023_x86_64_STANDARD"),
        ("m6g.large", "AL2023_ARM_64_STANDARD"),
        ("t4g.small", "AL2023_ARM_64_STANDARD"),
        ("m6gd.xlarge", "AL2023_ARM_64_STANDARD"),
        ("g5.xlarge", "AL2023_x86_64_STANDARD"),
        ("c6i.large", "AL2023_x86_64_STANDARD"),
    ],
)
def test_ami_type_follows_the_processor(instance_type: str, ami: str) -> None:
    assert templates.ami_type(instance_type) == ami


def test_fewer_than_two_zones_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        templates.build_cluster_template(spec_of({"name": "mz"}), "cid", ["ap-northeast-1a"])


def test_building_is_deterministic() -> None:
    spec = spec_of({"name": "mz", "tags": {"b": "1", "a": "2"}})

    first = templates.to_json(templates.build_cluster_template(spec, "cid", ZONES))
    assert first == templates.to_json(templates.build_cluster_template(spec, "cid", ZONES))


def test_templates_import_no_aws_sdk() -> None:
    code = "import sys, chalicelib.cfn.templates; print('boto3' in sys.modules or 'botocore' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


SERVICE_ROLES = (
    "arn:aws:iam::123456789012:role/ekspress-dev-UpdateAwsAuthRole-ABC",
    "arn:aws:iam::123456789012:role/ekspress-dev-ApiHandlerRole-DEF",
)


def test_service_roles_get_cluster_admin_access_entries() -> None:
    """A deployment's Kubernetes-speaking functions reach every cluster, whoever created it."""
    template = templates.build_cluster_template(spec_of({"name": "mz"}), "cid", ZONES[:2], SERVICE_ROLES)
    entries = resources_of_type(template, "AWS::EKS::AccessEntry")
    assert sorted(e["Properties"]["PrincipalArn"] for e in entries.values()) == sorted(SERVICE_ROLES)
    for entry in entries.values():
        (policy,) = entry["Properties"]["AccessPolicies"]
        assert policy["PolicyArn"]["Fn::Sub"].endswith("/AmazonEKSClusterAdminPolicy")
        assert policy["AccessScope"] == {"Type": "cluster"}
    access = template["Resources"]["ControlPlane"]["Properties"]["AccessConfig"]
    assert access["AuthenticationMode"] == "API_AND_CONFIG_MAP"
    assert cfn_lint(template, "ap-northeast-1") == []


def test_without_service_roles_the_cluster_keeps_eks_defaults() -> None:
    template = templates.build_cluster_template(spec_of({"name": "mz"}), "cid", ZONES[:2])
    assert resources_of_type(template, "AWS::EKS::AccessEntry") == {}
    assert "AccessConfig" not in template["Resources"]["ControlPlane"]["Properties"]
