"""eksctl's wellKnownPolicies: the flags, the policies each grants, and cfn-lint clean inside a role."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint
from pydantic import ValidationError

from chalicelib.cfn.well_known_policies import well_known
from chalicelib.model.well_known import FLAGS, WellKnownPolicies


def role_template(arns: list[Any], statements: list[dict[str, Any]]) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}
            ],
        },
    }
    if arns:
        properties["ManagedPolicyArns"] = arns
    if statements:
        properties["Policies"] = [
            {"PolicyName": "WellKnown", "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}
        ]
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": properties}},
    }


def test_the_flags_are_eksctls_and_all_default_off() -> None:
    policies = WellKnownPolicies()
    assert not policies.any
    assert policies.enabled() == []
    assert well_known(policies) == ([], [])
    assert set(WellKnownPolicies.model_validate({f: True for f in FLAGS}).model_dump(by_alias=True)) == set(FLAGS)


def test_an_unknown_flag_is_refused() -> None:
    with pytest.raises(ValidationError, match="fsx"):
        WellKnownPolicies.model_validate({"fsx": True})


@pytest.mark.parametrize(
    ("flag", "managed", "actions"),
    [
        ("imageBuilder", ["AmazonEC2ContainerRegistryPowerUser"], set()),
        ("ebsCSIController", ["service-role/AmazonEBSCSIDriverPolicy"], set()),
        ("autoScaler", [], {"autoscaling:SetDesiredCapacity", "autoscaling:DescribeAutoScalingGroups"}),
        ("awsLoadBalancerController", [], {"elasticloadbalancing:CreateLoadBalancer", "ec2:CreateSecurityGroup"}),
        ("externalDNS", [], {"route53:ChangeResourceRecordSets", "route53:ListHostedZones"}),
        ("certManager", [], {"route53:ChangeResourceRecordSets", "route53:GetChange"}),
        ("efsCSIController", [], {"elasticfilesystem:CreateAccessPoint", "elasticfilesystem:DeleteAccessPoint"}),
    ],
)
def test_each_flag_grants_what_eksctl_grants(flag: str, managed: list[str], actions: set[str]) -> None:
    arns, statements = well_known(WellKnownPolicies.model_validate({flag: True}))
    assert arns == [{"Fn::Sub": f"arn:${{AWS::Partition}}:iam::aws:policy/{name}"} for name in managed]
    granted = {a for s in statements for a in s["Action"]}
    assert actions <= granted
    assert all(s["Effect"] == "Allow" for s in statements)
    assert not any(a.startswith(("iam:Pass", "sts:")) for a in granted)


def test_autoscaler_changes_only_groups_tagged_for_discovery_and_the_cluster() -> None:
    _, statements = well_known(WellKnownPolicies(autoScaler=True), cluster="demo")
    (scaling,) = [s for s in statements if "autoscaling:SetDesiredCapacity" in s["Action"]]
    assert scaling["Condition"] == {
        "StringEquals": {
            "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true",
            "aws:ResourceTag/k8s.io/cluster-autoscaler/demo": "owned",
        }
    }


def test_a_statement_two_flags_share_is_listed_once() -> None:
    _, statements = well_known(WellKnownPolicies(externalDNS=True, certManager=True))
    changes = [s for s in statements if s["Action"] == ["route53:ChangeResourceRecordSets"]]
    assert len(changes) == 1


def test_every_flag_together_is_cfn_lint_clean_in_a_role() -> None:
    arns, statements = well_known(WellKnownPolicies.model_validate({f: True for f in FLAGS}), cluster="demo")
    template = role_template(arns, statements)
    matches = lint(json.dumps(template), config=ManualArgs(regions=["us-west-2"]))
    assert [f"{m.rule.id} {m.message}" for m in matches] == []
    assert len(json.dumps(statements, separators=(",", ":"))) < 10240  # IAM's inline limit for a role
