"""EKS Hybrid Nodes (`remoteNetworkConfig`): eksctl's and EKS's rules, what the cluster stack builds, the round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.cfn import templates
from chalicelib.model import clusterconfig
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.spec import ClusterSpec, validate
from tests.unit.test_templates import cfn_lint, resources_of_type

REGION = "us-west-2"
ZONES = ["us-west-2a", "us-west-2b"]
CONFIG = Path(__file__).resolve().parents[1] / "data" / "clusterconfigs" / "hybrid-nodes.yaml"
REMOTE = {"remoteNodeNetworks": [{"cidrs": ["10.80.146.0/24"]}], "remotePodNetworks": [{"cidrs": ["10.81.0.0/16"]}]}


def spec_of(**extra: Any) -> ClusterSpec:
    return ClusterSpec.model_validate({"name": "hybrid", "region": REGION, "remoteNetworkConfig": REMOTE, **extra})


def refused(body: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecValidationError) as refusal:
        validate(ClusterSpec, {"name": "hybrid", **body}, "cluster request")
    return [(f["field"], f["rule"]) for f in refusal.value.details["fields"]]


def test_the_cluster_gets_the_networks_their_https_rules_and_the_nodes_role_with_its_access_entry() -> None:
    template = templates.build_cluster_template(spec_of(), "cid", ZONES)
    resources = template["Resources"]

    assert resources["ControlPlane"]["Properties"]["RemoteNetworkConfig"] == {
        "RemoteNodeNetworks": [{"Cidrs": ["10.80.146.0/24"]}],
        "RemotePodNetworks": [{"Cidrs": ["10.81.0.0/16"]}],
    }
    assert resources["ControlPlane"]["Properties"]["AccessConfig"]["AuthenticationMode"] == "API_AND_CONFIG_MAP"
    rules = resources_of_type(template, "AWS::EC2::SecurityGroupIngress")
    remote = {r["Properties"]["CidrIp"]: r["Properties"] for k, r in rules.items() if "RemoteNetworks" in k}
    assert set(remote) == {"10.80.146.0/24", "10.81.0.0/16"}
    assert all(r["FromPort"] == r["ToPort"] == 443 for r in remote.values())
    assert all(r["GroupId"] == {"Ref": "ControlPlaneSecurityGroup"} for r in remote.values())
    role = resources["HybridNodesSSMRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["ssm.amazonaws.com"]}
    assert [p["Fn::Sub"].rsplit("/", 1)[1] for p in role["ManagedPolicyArns"]] == [
        "AmazonSSMManagedInstanceCore",
        "AmazonEC2ContainerRegistryPullOnly",
    ]
    entry = resources["RemoteNodesAccessEntry"]["Properties"]
    assert (entry["Type"], entry["PrincipalArn"]) == ("HYBRID_LINUX", {"Fn::GetAtt": ["HybridNodesSSMRole", "Arn"]})
    assert template["Outputs"]["RemoteNodesRoleARN"]["Export"] == {"Name": "eksctl-hybrid-cluster::RemoteNodesRoleARN"}
    assert cfn_lint(template, REGION) == []


def test_without_remote_networks_nothing_of_it_is_built() -> None:
    template = templates.build_cluster_template(ClusterSpec.model_validate({"name": "plain"}), "cid", ZONES)
    assert "RemoteNetworkConfig" not in template["Resources"]["ControlPlane"]["Properties"]
    assert "HybridNodesSSMRole" not in template["Resources"]


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        (
            {"remoteNetworkConfig": {"remoteNodeNetworks": [{"cidrs": ["8.8.8.0/24"]}]}},
            [("remoteNetworkConfig.remoteNodeNetworks[0].cidrs[0]", "remote_network_cidr")],
        ),
        (
            {"remoteNetworkConfig": {"remoteNodeNetworks": [{"cidrs": ["10.80.146.1/24"]}]}},
            [("remoteNetworkConfig.remoteNodeNetworks[0].cidrs[0]", "remote_network_cidr")],
        ),
        (
            {"remoteNetworkConfig": {"remoteNodeNetworks": [{"cidrs": ["10.0.0.0/24"]}, {"cidrs": ["10.1.0.0/24"]}]}},
            [("remoteNetworkConfig.remoteNodeNetworks", "too_long")],
        ),
        (
            {"remoteNetworkConfig": {"remotePodNetworks": [{"cidrs": ["10.0.0.0/24"]}]}},
            [("remoteNetworkConfig.remoteNodeNetworks", "missing")],
        ),
        (
            {"remoteNetworkConfig": {**REMOTE, "iam": {"provider": "ira"}}},
            [("remoteNetworkConfig.iam.provider", "remote_nodes_provider")],
        ),
        (
            {"remoteNetworkConfig": {"remoteNodeNetworks": [{"cidrs": ["192.168.10.0/24"]}]}},
            [("remoteNetworkConfig.remoteNodeNetworks[0].cidrs[0]", "remote_network_overlap")],
        ),
        (
            {
                "remoteNetworkConfig": {"remoteNodeNetworks": [{"cidrs": ["10.80.0.0/16"]}]},
                "kubernetesNetworkConfig": {"serviceIPv4CIDR": "10.80.128.0/17"},
            },
            [("remoteNetworkConfig.remoteNodeNetworks[0].cidrs[0]", "remote_network_overlap")],
        ),
        (
            {"remoteNetworkConfig": {"remoteNodeNetworks": [{"cidrs": ["10.100.0.0/24"]}]}},  # EKS's service range
            [("remoteNetworkConfig.remoteNodeNetworks[0].cidrs[0]", "remote_network_overlap")],
        ),
        (
            {"remoteNetworkConfig": {**REMOTE, "remotePodNetworks": [{"cidrs": ["10.80.146.128/25"]}]}},
            [("remoteNetworkConfig.remotePodNetworks[0].cidrs[0]", "remote_network_overlap")],
        ),
        (
            {"remoteNetworkConfig": REMOTE, "accessConfig": {"authenticationMode": "CONFIG_MAP"}},
            [("accessConfig.authenticationMode", "remote_network_access")],
        ),
        (
            {"remoteNetworkConfig": REMOTE, "kubernetesNetworkConfig": {"ipFamily": "IPv6"}},
            [("remoteNetworkConfig", "remote_network_ipv6")],
        ),
    ],
)
def test_what_eksctl_and_eks_refuse_is_a_422_on_its_field(
    body: dict[str, Any], problems: list[tuple[str, str]]
) -> None:
    assert set(problems) <= set(refused(body))


def test_what_is_not_built_is_refused_saying_what_to_do() -> None:
    document = yaml.safe_load(CONFIG.read_text())
    document["remoteNetworkConfig"]["vpcGatewayID"] = "tgw-028fbe2348e6eed74"
    document["remoteNetworkConfig"]["iam"]["roleARN"] = "arn:aws:iam::123456789012:role/hybrid"
    with pytest.raises(SpecValidationError) as refusal:
        clusterconfig.parse(yaml.safe_dump(document).encode())
    fields = {f["field"]: f["message"] for f in refusal.value.details["fields"]}
    assert set(fields) == {"remoteNetworkConfig.vpcGatewayID", "remoteNetworkConfig.iam.roleARN"}
    assert all(f["rule"] == "unsupported_field" for f in refusal.value.details["fields"])


def test_the_clusterconfig_gives_it_back() -> None:
    spec = clusterconfig.parse(CONFIG.read_bytes())
    back = clusterconfig.from_spec(spec)
    assert back["remoteNetworkConfig"] == {
        "iam": {"provider": "SSM"},
        "remoteNodeNetworks": [{"cidrs": ["10.80.146.0/24"]}],
        "remotePodNetworks": [{"cidrs": ["10.81.0.0/16"]}],
    }
    assert clusterconfig.parse(yaml.safe_dump(back).encode()) == spec
