"""The Fargate resource set: the pod execution role and one AWS::EKS::FargateProfile per profile.

Mirrors eksctl's `fargate.go` in `pkg/cfn/builder` (the role) and `pkg/fargate` (the profiles, which
eksctl makes through EKS's API one after another). Here both go in the `eksctl-NAME-fargate` stack:
EKS makes one profile of a cluster at a time (a second CreateFargateProfile while one is CREATING is
refused with ResourceInUseException), so each profile DependsOn the one before it, and
CloudFormation, which would otherwise create them in parallel, makes them in turn. The cluster's
name and private subnets are imported from the cluster stack's exports.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalicelib.cfn.iam import policy_arn
from chalicelib.cfn.template import (
    OUTPUT_CLUSTER_NAME,
    OUTPUT_SUBNETS_PRIVATE,
    Template,
    export_name,
    get_att,
    tag_list,
)
from chalicelib.model.fargate_spec import profile_subnet_ids

if TYPE_CHECKING:
    from chalicelib.model.spec import ClusterSpec

ROLE_LOGICAL_ID = "FargatePodExecutionRole"
OUTPUT_ROLE_ARN = "FargatePodExecutionRoleARN"
FARGATE_PODS_SERVICE = "eks-fargate-pods.amazonaws.com"
POD_EXECUTION_POLICY = "AmazonEKSFargatePodExecutionRolePolicy"


def profile_logical_id(index: int) -> str:
    """The profile's logical id: by position, since names differing only in case or `-`/`_` are distinct to EKS."""
    return f"FargateProfile{index + 1}"


def add_fargate(t: Template, spec: ClusterSpec) -> None:
    """Add the pod execution role and the cluster's Fargate profiles; output the role's and each profile's ARN."""
    role_arn = add_pod_execution_role(t, spec)
    cluster = {"Fn::ImportValue": export_name(spec.name, OUTPUT_CLUSTER_NAME)}
    previous: str | None = None
    for index, profile in enumerate(spec.fargate_profiles or []):
        properties: dict[str, Any] = {
            "ClusterName": cluster,
            "FargateProfileName": profile.name,
            "PodExecutionRoleArn": role_arn,
            "Selectors": [
                {
                    "Namespace": selector.namespace,
                    **({"Labels": tag_list(selector.labels)} if selector.labels else {}),
                }
                for selector in profile.selectors
            ],
            "Subnets": profile_subnet_ids(spec, profile)
            or {"Fn::Split": [",", {"Fn::ImportValue": export_name(spec.name, OUTPUT_SUBNETS_PRIVATE)}]},
        }
        own = t.own_tags(dict(profile.tags or {}))
        if own:
            properties["Tags"] = tag_list(own)
        logical_id = profile_logical_id(index)
        attributes = {"DependsOn": previous} if previous else {}
        t.new_resource(logical_id, "AWS::EKS::FargateProfile", properties, **attributes)
        t.add_output(f"{logical_id}ARN", get_att(logical_id, "Arn"))
        previous = logical_id


def add_pod_execution_role(t: Template, spec: ClusterSpec) -> dict[str, list[str]]:
    """The role Fargate's kubelet and image pulls run as: trusted by EKS's Fargate pods service for this
    cluster's profiles only (the `aws:SourceArn` condition AWS documents against the confused deputy), with
    AWS's managed policy and, if asked, `iam.fargatePodExecutionRolePermissionsBoundary`. Output its ARN."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": [FARGATE_PODS_SERVICE]},
                "Action": ["sts:AssumeRole"],
                "Condition": {
                    "ArnLike": {
                        "aws:SourceArn": "arn:${AWS::Partition}:eks:${AWS::Region}:${AWS::AccountId}:"
                        f"fargateprofile/{spec.name}/*"
                    }
                },
            }
        ],
    }
    properties: dict[str, Any] = {
        "AssumeRolePolicyDocument": {"Fn::Sub": json.dumps(trust, separators=(",", ":"))},
        "ManagedPolicyArns": [policy_arn(POD_EXECUTION_POLICY)],
        # No Tags: the stack's tags propagate to the role.
    }
    boundary = spec.iam.fargate_pod_execution_role_permissions_boundary if spec.iam else None
    if boundary:
        properties["PermissionsBoundary"] = boundary
    t.new_resource(ROLE_LOGICAL_ID, "AWS::IAM::Role", properties)
    arn = get_att(ROLE_LOGICAL_ID, "Arn")
    t.add_output(OUTPUT_ROLE_ARN, arn)
    return arn
