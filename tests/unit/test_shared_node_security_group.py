"""`vpc.sharedNodeSecurityGroup` and `vpc.manageSharedNodeSecurityGroupRules`: an existing VPC's group that
self-managed nodes share instead of the one the cluster stack makes, with or without its rules (as eksctl)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from chalicelib.cfn import templates
from chalicelib.model import clusterconfig
from chalicelib.model.spec import ClusterSpec
from tests.unit.test_existing_vpc import REGION, body
from tests.unit.test_templates import cfn_lint

SHARED = "sg-0fedcba9876543210"
EKS_GROUP = {"Fn::GetAtt": ["ControlPlane", "ClusterSecurityGroupId"]}


def cluster_template(vpc: dict[str, Any]) -> dict[str, Any]:
    raw = body()
    raw["vpc"] = {**raw["vpc"], **vpc}
    spec = ClusterSpec.model_validate(raw)
    return templates.build_cluster_template(spec, "cid", list(spec.availability_zones or []))


def ingress(template: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    rules = template["Resources"]
    return {
        name: (r["Properties"]["GroupId"], r["Properties"]["SourceSecurityGroupId"])
        for name, r in rules.items()
        if r["Type"] == "AWS::EC2::SecurityGroupIngress" and name.startswith("Ingress")
    }


def test_the_given_group_is_shared_with_its_rules_to_and_from_eks_cluster_group() -> None:
    template = cluster_template({"sharedNodeSecurityGroup": SHARED})

    assert "ClusterSharedNodeSecurityGroup" not in template["Resources"]
    assert ingress(template) == {
        "IngressDefaultClusterToNodeSG": (SHARED, EKS_GROUP),
        "IngressNodeToDefaultClusterSG": (EKS_GROUP, SHARED),
    }
    output = template["Outputs"]["SharedNodeSecurityGroup"]
    assert output == {"Value": SHARED, "Export": {"Name": "eksctl-byo-cluster::SharedNodeSecurityGroup"}}
    assert cfn_lint(template, REGION) == []


def test_without_managed_rules_the_given_group_is_only_exported() -> None:
    template = cluster_template({"sharedNodeSecurityGroup": SHARED, "manageSharedNodeSecurityGroupRules": False})

    assert ingress(template) == {}
    assert template["Outputs"]["SharedNodeSecurityGroup"]["Value"] == SHARED
    assert cfn_lint(template, REGION) == []


def test_without_a_given_group_the_cluster_stack_makes_its_own() -> None:
    template = cluster_template({"manageSharedNodeSecurityGroupRules": True})

    own = {"Ref": "ClusterSharedNodeSecurityGroup"}
    assert ingress(template) == {
        "IngressInterNodeGroupSG": (own, own),
        "IngressDefaultClusterToNodeSG": (own, EKS_GROUP),
        "IngressNodeToDefaultClusterSG": (EKS_GROUP, own),
    }


@pytest.mark.parametrize(
    ("vpc", "field", "rule"),
    [
        ({"manageSharedNodeSecurityGroupRules": False}, "vpc.manageSharedNodeSecurityGroupRules", "shared_node"),
        ({"id": None, "subnets": None, "sharedNodeSecurityGroup": SHARED}, "vpc.sharedNodeSecurityGroup", "needs_vpc"),
        ({"sharedNodeSecurityGroup": "sg-nothex"}, "vpc.sharedNodeSecurityGroup", "string_pattern_mismatch"),
    ],
)
def test_what_is_refused(vpc: dict[str, Any], field: str, rule: str) -> None:
    raw = body()
    raw["vpc"] = {k: v for k, v in {**raw["vpc"], **vpc}.items() if v is not None}
    if "id" not in raw["vpc"]:
        raw["managedNodeGroups"] = []
    with pytest.raises(ValidationError) as caught:
        ClusterSpec.model_validate(raw)

    found = {".".join(str(p) for p in e["loc"]): e["type"] for e in caught.value.errors()}
    assert rule in found[field]


def test_get_config_gives_both_fields_back() -> None:
    raw = body()
    raw["vpc"] = {**raw["vpc"], "sharedNodeSecurityGroup": SHARED, "manageSharedNodeSecurityGroupRules": False}
    vpc = clusterconfig.from_spec(ClusterSpec.model_validate(raw))["vpc"]

    assert vpc["sharedNodeSecurityGroup"] == SHARED
    assert vpc["manageSharedNodeSecurityGroupRules"] is False
