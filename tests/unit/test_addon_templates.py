"""Add-ons: which go with the control plane and which wait for nodes, the EBS CSI driver's role, and what is refused."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from chalicelib.cfn import addons, kinds, templates
from chalicelib.model import naming
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.spec import (
    ADDON_NAMES,
    ADDONS_BEFORE_NODES,
    ADDONS_WITH_IAM_ROLES,
    ClusterSpec,
    addon_problems,
    refuse_addons_that_cannot_run,
)
from tests.unit.test_templates import ZONES, cfn_lint, resources_of_type

ALL_FOUR = ["vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver"]
PROVIDER = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.ap-northeast-1.amazonaws.com/id/0123456789ABCDEF"


def spec_of(names: list[str], **body: Any) -> ClusterSpec:
    return ClusterSpec.model_validate(
        {"name": "mz", "region": "ap-northeast-1", "iam": {"withOIDC": True}, "addons": [{"name": n} for n in names]}
        | body
    )


def addon_names(template: dict[str, Any]) -> list[str]:
    return sorted(r["Properties"]["AddonName"] for r in resources_of_type(template, "AWS::EKS::Addon").values())


def resolve_sub(value: dict[str, Any], variables: dict[str, str]) -> str:
    """An `Fn::Sub` [text, variables] as CloudFormation resolves it, given the variables' values."""
    text, declared = value["Fn::Sub"]
    assert set(declared) == set(variables)
    return re.sub(r"\$\{(\w+)\}", lambda m: variables[m.group(1)], text)


def test_addons_that_need_no_node_go_with_the_control_plane_and_the_rest_in_the_addons_stack() -> None:
    spec = spec_of(ALL_FOUR)

    cluster = templates.build_cluster_template(spec, "cid", ZONES[:2])
    after = templates.build_addons_template(spec, "cid")

    assert addon_names(cluster) == ["kube-proxy", "vpc-cni"]
    assert after is not None
    assert addon_names(after) == ["aws-ebs-csi-driver", "coredns"]


def test_every_addon_is_made_once_in_one_of_the_two_stacks() -> None:
    spec = spec_of(list(ADDON_NAMES))
    after = templates.build_addons_template(spec, "cid")
    assert after is not None

    both = addon_names(templates.build_cluster_template(spec, "cid", ZONES[:2])) + addon_names(after)

    assert sorted(both) == sorted(ADDON_NAMES)
    assert set(addon_names(after)) == set(ADDON_NAMES) - ADDONS_BEFORE_NODES


@pytest.mark.parametrize("names", [[], ["vpc-cni", "kube-proxy", "eks-pod-identity-agent"]])
def test_without_addons_that_need_nodes_there_is_no_addons_stack(names: list[str]) -> None:
    assert templates.build_addons_template(spec_of(names), "cid") is None


def test_the_addons_stack_is_named_tagged_and_deleted_as_its_own_kind() -> None:
    spec = spec_of(["coredns"])
    tags = templates.stack_tags(spec, "cid", kinds.ADDONS.name)

    assert kinds.ADDONS.stack_name("mz") == naming.addons_stack_name("mz") == "eksctl-mz-addons"
    assert kinds.by_stack_name("mz", "eksctl-mz-addons") is kinds.ADDONS
    assert kinds.kind("addons") is kinds.ADDONS
    assert tags[naming.TAG_STACK_KIND] == "addons"
    assert naming.is_ours(tags, "mz")
    # The reverse of creation: add-ons, then node groups, then the cluster stack.
    assert kinds.ADDONS.delete_order < kinds.NODEGROUP.delete_order < kinds.CLUSTER.delete_order
    assert len(naming.addons_stack_name("x" * 100)) <= naming.MAX_STACK_NAME


def test_the_addons_stack_imports_the_cluster_and_keeps_requested_versions() -> None:
    spec = ClusterSpec.model_validate(
        {"name": "mz", "addons": [{"name": "coredns", "version": "v1.11.3-eksbuild.1"}, {"name": "vpc-cni"}]}
    )
    after = templates.build_addons_template(spec, "cid")
    assert after is not None

    coredns = after["Resources"]["AddonCoredns"]["Properties"]

    assert coredns["ClusterName"] == {"Fn::ImportValue": "eksctl-mz-cluster::ClusterName"}
    assert coredns["AddonVersion"] == "v1.11.3-eksbuild.1"
    assert coredns["ResolveConflicts"] == "OVERWRITE"
    assert "ServiceAccountRoleArn" not in coredns
    assert after["Outputs"] == {"AddonCorednsARN": {"Value": {"Fn::GetAtt": ["AddonCoredns", "Arn"]}}}


def test_the_ebs_csi_driver_gets_an_irsa_role_trusted_by_its_service_account_only() -> None:
    after = templates.build_addons_template(spec_of(ALL_FOUR), "cid")
    assert after is not None

    role = after["Resources"]["AwsEbsCsiDriverRole"]
    addon = after["Resources"]["AddonAwsEbsCsiDriver"]["Properties"]
    document = role["Properties"]["AssumeRolePolicyDocument"]
    provider = {"Fn::ImportValue": "eksctl-mz-cluster::OIDCProviderARN"}
    issuer = PROVIDER.split(":oidc-provider/")[1]
    trust = json.loads(resolve_sub(document, {"ProviderArn": PROVIDER, "Issuer": issuer}))

    assert role["Type"] == "AWS::IAM::Role"
    assert addon["ServiceAccountRoleArn"] == {"Fn::GetAtt": ["AwsEbsCsiDriverRole", "Arn"]}
    assert role["Properties"]["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"}
    ]
    # The issuer is the provider ARN after `oidc-provider/`, both imported from the cluster stack.
    variables = document["Fn::Sub"][1]
    assert variables["ProviderArn"] == provider
    assert variables["Issuer"] == {"Fn::Select": [1, {"Fn::Split": [":oidc-provider/", provider]}]}
    (statement,) = trust["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Principal": {"Federated": PROVIDER},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {
            "StringEquals": {
                f"{issuer}:sub": "system:serviceaccount:kube-system:ebs-csi-controller-sa",
                f"{issuer}:aud": "sts.amazonaws.com",
            }
        },
    }
    assert after["Outputs"]["AwsEbsCsiDriverRoleARN"] == {"Value": {"Fn::GetAtt": ["AwsEbsCsiDriverRole", "Arn"]}}


def test_every_addon_that_needs_a_role_has_one_defined() -> None:
    assert set(addons.SERVICE_ACCOUNT_ROLES) >= ADDONS_WITH_IAM_ROLES


@pytest.mark.parametrize(
    "names", [ALL_FOUR, ["coredns"], ["aws-ebs-csi-driver"], list(ADDON_NAMES)], ids=lambda n: "+".join(n)
)
def test_the_addons_stack_passes_cfn_lint(names: list[str]) -> None:
    after = templates.build_addons_template(spec_of(names), "cid")
    assert after is not None

    assert cfn_lint(after, "ap-northeast-1") == []


def test_a_stored_spec_without_oidc_still_builds_the_ebs_csi_driver_without_a_role() -> None:
    after = templates.build_addons_template(spec_of(["aws-ebs-csi-driver"], iam={"withOIDC": False}), "cid")
    assert after is not None

    assert resources_of_type(after, "AWS::IAM::Role") == {}
    assert "ServiceAccountRoleArn" not in after["Resources"]["AddonAwsEbsCsiDriver"]["Properties"]
    assert cfn_lint(after, "ap-northeast-1") == []


# -- what a request may not ask for ----------------------------------------------------------


def fields(spec: ClusterSpec) -> list[tuple[str, str]]:
    with pytest.raises(SpecValidationError) as refused:
        refuse_addons_that_cannot_run(spec)
    return [(f["field"], f["rule"]) for f in refused.value.details["fields"]]


@pytest.mark.parametrize(
    "groups",
    [
        [],
        [{"name": "idle", "desiredCapacity": 0, "minSize": 0, "maxSize": 3}],
        [{"name": "batch", "taints": [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]}],
        [{"name": "drain", "taints": [{"key": "dedicated", "effect": "NoExecute"}]}],
    ],
    ids=["no-group", "zero-nodes", "no-schedule-taint", "no-execute-taint"],
)
def test_addons_that_need_nodes_are_refused_when_no_node_could_run_them(groups: list[dict[str, Any]]) -> None:
    spec = spec_of(ALL_FOUR, managedNodeGroups=groups)

    assert fields(spec) == [("addons[1].name", "addon_needs_nodes"), ("addons[3].name", "addon_needs_nodes")]


@pytest.mark.parametrize(
    "groups",
    [
        None,
        [{"name": "one", "desiredCapacity": 1}],
        [{"name": "idle", "desiredCapacity": 0, "minSize": 0}, {"name": "one", "desiredCapacity": 1}],
        [{"name": "soft", "taints": [{"key": "spot", "effect": "PreferNoSchedule"}]}],
        [{"name": "system", "taints": [{"key": "CriticalAddonsOnly", "value": "true", "effect": "NoSchedule"}]}],
    ],
    ids=["default-group", "one-node", "one-of-two-groups", "prefer-no-schedule", "critical-addons-only"],
)
def test_addons_that_need_nodes_pass_when_a_node_can_run_them(groups: list[dict[str, Any]] | None) -> None:
    spec = spec_of(ALL_FOUR, **({} if groups is None else {"managedNodeGroups": groups}))

    assert addon_problems(spec) == []
    refuse_addons_that_cannot_run(spec)


def test_addons_that_need_no_node_are_fine_without_nodes() -> None:
    spec = spec_of(["vpc-cni", "kube-proxy", "eks-pod-identity-agent"], managedNodeGroups=[])

    assert addon_problems(spec) == []


def test_the_ebs_csi_driver_without_oidc_is_refused_naming_the_addon_and_why() -> None:
    spec = spec_of(["vpc-cni", "aws-ebs-csi-driver"], iam={"withOIDC": False})

    with pytest.raises(SpecValidationError) as refused:
        refuse_addons_that_cannot_run(spec)

    (field,) = refused.value.details["fields"]
    assert field["field"] == "addons[1].name"
    assert field["rule"] == "addon_needs_oidc"
    assert "iam.withOIDC" in field["message"]
    assert refused.value.status == 422


def test_both_reasons_are_given_at_once() -> None:
    spec = ClusterSpec.model_validate(
        {"name": "bare", "addons": [{"name": "aws-ebs-csi-driver"}], "managedNodeGroups": []}
    )

    assert fields(spec) == [("addons[0].name", "addon_needs_nodes"), ("addons[0].name", "addon_needs_oidc")]


def test_a_stored_spec_with_every_group_at_zero_still_validates() -> None:
    """Scaling to zero later is allowed: the rule is the request's, not the model's."""
    spec = spec_of(ALL_FOUR, managedNodeGroups=[{"name": "idle", "desiredCapacity": 0, "minSize": 0}])

    assert ClusterSpec.model_validate(spec.model_dump(mode="json", by_alias=True)) == spec
