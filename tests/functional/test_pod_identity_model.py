"""The local engine's AWS::EKS::PodIdentityAssociation: made, updated and deleted as on EKS, refused as EKS refuses.

Add-ons' PodIdentityAssociations are associations EKS makes for the add-on: they count like any other
and go with the add-on.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from local import eks_models, podidentity_models
from tests.functional.test_local_models import cfn, cluster, failure, stack

REGION = "us-west-2"
ACCOUNT = "123456789012"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
        }
    ],
}


@pytest.fixture(autouse=True)
def pod_identity_type() -> None:
    podidentity_models.register()  # what the local engine registers next to the EKS models


def role(name: str) -> str:
    iam = boto3.client("iam", region_name=REGION)
    return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"])


def association(**props: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::EKS::PodIdentityAssociation",
        "Properties": {"ClusterName": "c1", "Namespace": "dev", "ServiceAccount": "app", **props},
    }


def test_an_association_is_made_updated_and_deleted() -> None:
    cluster("c1")
    first, second = role("app-a"), role("app-b")

    made = stack("pods", {"App": association(RoleArn=first, Tags=[{"Key": "team", "Value": "x"}])})

    assert made["StackStatus"] == "CREATE_COMPLETE", failure("pods")
    (found,) = podidentity_models.associations_of(ACCOUNT, REGION, "c1").values()
    assert (found.namespace, found.service_account, found.role_arn, found.tags) == ("dev", "app", first, {"team": "x"})
    (resource,) = cfn().describe_stack_resources(StackName="pods")["StackResources"]
    assert resource["PhysicalResourceId"] == found.arn
    assert f":podidentityassociation/c1/{found.association_id}" in found.arn

    updated = stack("pods", {"App": association(RoleArn=second, DisableSessionTags=True)}, update=True)

    assert updated["StackStatus"] == "UPDATE_COMPLETE", failure("pods")
    (found,) = podidentity_models.associations_of(ACCOUNT, REGION, "c1").values()
    assert (found.role_arn, found.disable_session_tags) == (second, True)

    cfn().delete_stack(StackName="pods")

    assert podidentity_models.associations_of(ACCOUNT, REGION, "c1") == {}


@pytest.mark.parametrize(
    ("props", "reason"),
    [
        ({"ClusterName": "nowhere"}, "No cluster found for name: nowhere."),
        ({"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/missing"}, "Role provided in the request does not exist"),
        ({"Namespace": "Dev"}, "is not a valid Kubernetes namespace"),
        ({"ServiceAccount": "App_1"}, "is not a valid Kubernetes name"),
        ({"Namespace": None}, "required key [Namespace] not found"),
    ],
)
def test_what_eks_refuses_fails_the_resource(props: dict[str, Any], reason: str) -> None:
    cluster("c1")
    given = {"RoleArn": role("app"), **props}
    resource = association(**given)
    resource["Properties"] = {k: v for k, v in resource["Properties"].items() if v is not None}

    made = stack("pods", {"App": resource})

    assert made["StackStatus"] == "ROLLBACK_COMPLETE"
    assert reason in failure("pods")[1]
    assert podidentity_models.associations_of(ACCOUNT, REGION, "c1") == {}


def test_a_cluster_that_is_not_active_is_refused() -> None:
    cluster("c1")
    arn = role("app")
    eks = eks_models.eks_backends[ACCOUNT][REGION].clusters["c1"]
    eks.status = "CREATING"

    made = stack("pods", {"App": association(RoleArn=arn)})

    assert made["StackStatus"] == "ROLLBACK_COMPLETE"
    assert "Cluster 'c1' is not in ACTIVE status" in failure("pods")[1]


def test_one_association_per_service_account() -> None:
    cluster("c1")
    stack("first", {"App": association(RoleArn=role("app-a"))})

    made = stack("second", {"App": association(RoleArn=role("app-b"))})

    assert made["StackStatus"] == "ROLLBACK_COMPLETE"
    assert "Association already exists for service account app in namespace dev" in failure("second")[1]
    (kept,) = podidentity_models.associations_of(ACCOUNT, REGION, "c1").values()
    assert kept.role_arn.endswith("/app-a")


def test_an_add_ons_associations_are_made_with_it_and_go_with_it() -> None:
    cluster("c1")
    arn = role("cni")
    cni = {
        "Type": "AWS::EKS::Addon",
        "Properties": {
            "ClusterName": "c1",
            "AddonName": "vpc-cni",
            "PodIdentityAssociations": [{"ServiceAccount": "aws-node", "RoleArn": arn}],
        },
    }

    made = stack("addons", {"Cni": cni})

    assert made["StackStatus"] == "CREATE_COMPLETE", failure("addons")
    (found,) = podidentity_models.associations_of(ACCOUNT, REGION, "c1").values()
    assert (found.namespace, found.service_account, found.role_arn, found.owner) == (
        "kube-system",
        "aws-node",
        arn,
        "vpc-cni",
    )
    # The service account is taken: a stack of its own cannot associate it again.
    taken = stack("pods", {"App": association(Namespace="kube-system", ServiceAccount="aws-node", RoleArn=arn)})
    assert taken["StackStatus"] == "ROLLBACK_COMPLETE"

    cfn().delete_stack(StackName="addons")

    assert podidentity_models.associations_of(ACCOUNT, REGION, "c1") == {}


def test_an_add_on_whose_role_does_not_exist_is_refused_and_not_kept() -> None:
    cluster("c1")
    missing = f"arn:aws:iam::{ACCOUNT}:role/missing"
    cni = {
        "Type": "AWS::EKS::Addon",
        "Properties": {
            "ClusterName": "c1",
            "AddonName": "vpc-cni",
            "PodIdentityAssociations": [{"ServiceAccount": "aws-node", "RoleArn": missing}],
        },
    }

    made = stack("addons", {"Cni": cni})

    assert made["StackStatus"] == "ROLLBACK_COMPLETE"
    assert "Role provided in the request does not exist" in failure("addons")[1]
    assert eks_models.addons_of(ACCOUNT, REGION, "c1") == {}


@pytest.mark.parametrize("values", ["[1, 2]", "a: [", "just words"])
def test_configuration_values_that_are_not_a_json_object_are_refused(values: str) -> None:
    cluster("c1")
    cni = {
        "Type": "AWS::EKS::Addon",
        "Properties": {"ClusterName": "c1", "AddonName": "vpc-cni", "ConfigurationValues": values},
    }

    made = stack("addons", {"Cni": cni})

    assert made["StackStatus"] == "ROLLBACK_COMPLETE"
    assert "ConfigurationValue provided in request is not supported" in failure("addons")[1]
