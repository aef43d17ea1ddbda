"""Fargate profiles on the local engine: made in moto's EKS by the Fargate stack, refused as EKS refuses them.

EKS runs Fargate pods only in private subnets and makes one profile of a cluster at a time; the
model refuses a public subnet and a profile made alongside another, as CreateFargateProfile does.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib.cfn import kinds, templates
from chalicelib.model.spec import ClusterSpec
from local import fargate_models

REGION = "us-west-2"
ZONES = [f"{REGION}a", f"{REGION}b"]


@pytest.fixture(autouse=True)
def fargate_type() -> None:
    fargate_models.register()  # what the local engine registers next to the EKS models


def cfn() -> Any:
    return boto3.client("cloudformation", region_name=REGION)


def eks() -> Any:
    return boto3.client("eks", region_name=REGION)


def ec2() -> Any:
    return boto3.client("ec2", region_name=REGION)


def stack(name: str, template: dict[str, Any]) -> str:
    cfn().create_stack(StackName=name, TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"])
    return str(cfn().describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])


def failure(name: str) -> tuple[str, str]:
    events = cfn().describe_stack_events(StackName=name)["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert failed, [(e["LogicalResourceId"], e["ResourceStatus"]) for e in events]
    return failed[0]["LogicalResourceId"], failed[0].get("ResourceStatusReason", "")


def outputs(name: str) -> dict[str, str]:
    found = cfn().describe_stacks(StackName=name)["Stacks"][0].get("Outputs", [])
    return {o["OutputKey"]: o["OutputValue"] for o in found}


PROFILES = [
    {"name": "fp-default", "selectors": [{"namespace": "default"}, {"namespace": "kube-system"}]},
    {"name": "fp-dev", "selectors": [{"namespace": "dev", "labels": {"env": "dev"}}], "tags": {"env": "dev"}},
]


def a_cluster(name: str, profiles: list[dict[str, Any]] | None = None) -> ClusterSpec:
    """The cluster stack of a spec with Fargate profiles, made; the spec."""
    spec = ClusterSpec.model_validate(
        {"name": name, "region": REGION, "fargateProfiles": profiles or PROFILES, "managedNodeGroups": []}
    )
    status = stack(f"eksctl-{name}-cluster", templates.build_cluster_template(spec, "cid", ZONES))
    assert status == "CREATE_COMPLETE", failure(f"eksctl-{name}-cluster")
    return spec


def fargate_template(spec: ClusterSpec) -> dict[str, Any]:
    return templates.build_workload_template(spec, kinds.FARGATE.name, "", "cid")


def profile(name: str, cluster: str, subnets: Any = None, **attributes: Any) -> dict[str, Any]:
    """A profile resource with the pod execution role of `role_resource`'s stack."""
    props: dict[str, Any] = {
        "ClusterName": cluster,
        "FargateProfileName": name,
        "PodExecutionRoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
        "Selectors": [{"Namespace": name}],
    }
    if subnets is not None:
        props["Subnets"] = subnets
    return {"Type": "AWS::EKS::FargateProfile", "Properties": props, **attributes}


def with_role(resources: dict[str, Any]) -> dict[str, Any]:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["eks-fargate-pods.amazonaws.com"]},
                "Action": ["sts:AssumeRole"],
            }
        ],
    }
    role = {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": trust}}
    return {"Resources": {"Role": role, **resources}}


def subnets_of(cluster: str, output: str) -> list[str]:
    return outputs(f"eksctl-{cluster}-cluster")[output].split(",")


# -- the Fargate stack ---------------------------------------------------------------------


def test_the_fargate_stack_makes_each_profile_in_the_private_subnets_and_deleting_it_removes_them() -> None:
    spec = a_cluster("fg")

    assert stack("eksctl-fg-fargate", fargate_template(spec)) == "CREATE_COMPLETE", failure("eksctl-fg-fargate")

    assert sorted(eks().list_fargate_profiles(clusterName="fg")["fargateProfileNames"]) == ["fp-default", "fp-dev"]
    dev = eks().describe_fargate_profile(clusterName="fg", fargateProfileName="fp-dev")["fargateProfile"]
    assert dev["selectors"] == [{"namespace": "dev", "labels": {"env": "dev"}}]
    assert sorted(dev["subnets"]) == sorted(subnets_of("fg", "SubnetsPrivate"))
    assert dev["tags"]["env"] == "dev"
    made = outputs("eksctl-fg-fargate")
    assert made["FargateProfile2ARN"] == dev["fargateProfileArn"]
    assert made["FargatePodExecutionRoleARN"] == dev["podExecutionRoleArn"]

    cfn().delete_stack(StackName="eksctl-fg-fargate")

    assert eks().list_fargate_profiles(clusterName="fg")["fargateProfileNames"] == []


# -- what EKS refuses ----------------------------------------------------------------------


def test_a_public_subnet_is_refused_as_eks_refuses_it() -> None:
    a_cluster("pub")
    public = subnets_of("pub", "SubnetsPublic")[0]

    status = stack("pub-profiles", with_role({"Profile": profile("web", "pub", [public])}))

    assert status == "ROLLBACK_COMPLETE"
    logical_id, reason = failure("pub-profiles")
    assert logical_id == "Profile"
    assert f"Subnet {public} provided in Fargate Profile is not a private subnet" in reason
    assert "InvalidParameterException" not in reason or "HandlerErrorCode: InvalidRequest" in reason
    assert eks().list_fargate_profiles(clusterName="pub")["fargateProfileNames"] == []


def test_a_private_subnet_is_taken() -> None:
    a_cluster("priv")
    private = subnets_of("priv", "SubnetsPrivate")[0]

    assert stack("priv-profiles", with_role({"Profile": profile("web", "priv", [private])})) == "CREATE_COMPLETE"


def test_a_profile_made_while_another_is_creating_is_refused() -> None:
    """CloudFormation makes resources that do not depend on each other side by side; EKS refuses the second."""
    a_cluster("race")
    private = subnets_of("race", "SubnetsPrivate")

    status = stack(
        "race-profiles", with_role({"One": profile("one", "race", private), "Two": profile("two", "race", private)})
    )

    assert status == "ROLLBACK_COMPLETE"
    _, reason = failure("race-profiles")
    assert "because cluster race currently has Fargate profile" in reason
    assert "in status CREATING" in reason
    assert "HandlerErrorCode: AlreadyExists" in reason
    assert eks().list_fargate_profiles(clusterName="race")["fargateProfileNames"] == []


def test_profiles_in_a_dependency_chain_are_made_one_after_another() -> None:
    a_cluster("chain")
    private = subnets_of("chain", "SubnetsPrivate")
    resources = {
        "One": profile("one", "chain", private),
        "Two": profile("two", "chain", private, DependsOn="One"),
        "Three": profile("three", "chain", private, DependsOn=["Two"]),
    }

    assert stack("chain-profiles", with_role(resources)) == "CREATE_COMPLETE", failure("chain-profiles")
    assert sorted(eks().list_fargate_profiles(clusterName="chain")["fargateProfileNames"]) == ["one", "three", "two"]


def test_a_profile_of_an_earlier_stack_is_active() -> None:
    a_cluster("later")
    private = subnets_of("later", "SubnetsPrivate")
    assert stack("later-one", with_role({"One": profile("one", "later", private)})) == "CREATE_COMPLETE"

    assert stack("later-two", with_role({"Two": profile("two", "later", private)})) == "CREATE_COMPLETE"


def test_an_unknown_cluster_is_refused() -> None:
    status = stack("nowhere", with_role({"Profile": profile("web", "nowhere", ["subnet-0123456789abcdef0"])}))

    assert status == "ROLLBACK_COMPLETE"
    assert "No cluster found for name: nowhere." in failure("nowhere")[1]


def test_a_subnet_of_another_vpc_is_refused() -> None:
    a_cluster("elsewhere")
    vpc = ec2().create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    other = ec2().create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24", AvailabilityZone=ZONES[0])["Subnet"]["SubnetId"]

    status = stack("elsewhere-profiles", with_role({"Profile": profile("web", "elsewhere", [other])}))

    assert status == "ROLLBACK_COMPLETE"
    assert f"Subnet {other} is not in the same VPC as the cluster" in failure("elsewhere-profiles")[1]


def test_a_pod_execution_role_that_does_not_exist_is_refused() -> None:
    a_cluster("norole")
    private = subnets_of("norole", "SubnetsPrivate")
    resource = profile("web", "norole", private)
    resource["Properties"]["PodExecutionRoleArn"] = "arn:aws:iam::123456789012:role/missing"

    status = stack("norole-profiles", {"Resources": {"Profile": resource}})

    assert status == "ROLLBACK_COMPLETE"
    assert "Role with arn: arn:aws:iam::123456789012:role/missing, does not exist." in failure("norole-profiles")[1]
