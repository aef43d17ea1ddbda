"""The local engine's CloudFormation models: made, updated and deleted as on AWS, and refused as AWS refuses.

moto skipped these types with a warning; now their stacks make them in moto's back ends, a
property the registry schema refuses fails the resource with CloudFormation's reason, and the
security group EKS makes for each cluster exists, in use, as on AWS.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.model import steps
from chalicelib.operations import create
from local import deployment_models, eks_models
from tests.functional.helpers import given_a_requested_cluster, step_context

if TYPE_CHECKING:
    from chalicelib.aws.clients import Clients
    from chalicelib.aws.store import Store

REGION = "us-west-2"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/eks-service"
VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"


@pytest.fixture(autouse=True)
def deployment_types() -> None:
    deployment_models.register()  # what sam.install() registers on the engine


def cfn() -> Any:
    return boto3.client("cloudformation", region_name=REGION)


def ec2() -> Any:
    return boto3.client("ec2", region_name=REGION)


def stack(name: str, resources: dict[str, Any], update: bool = False) -> dict[str, Any]:
    """Create (or update) a stack of `resources`; its description once CloudFormation is done."""
    body = json.dumps({"Resources": resources})
    if update:
        cfn().update_stack(StackName=name, TemplateBody=body)
    else:
        cfn().create_stack(StackName=name, TemplateBody=body)
    return dict(cfn().describe_stacks(StackName=name)["Stacks"][0])


def failure(name: str) -> tuple[str, str]:
    """The failed resource of a stack and CloudFormation's reason."""
    events = cfn().describe_stack_events(StackName=name)["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"] in ("CREATE_FAILED", "UPDATE_FAILED")]
    assert failed, [(e["LogicalResourceId"], e["ResourceStatus"]) for e in events]
    return failed[0]["LogicalResourceId"], failed[0].get("ResourceStatusReason", "")


def two_zone_subnets() -> list[str]:
    """A VPC (10.20.0.0/16) of its own, with a subnet in each of two zones; their ids."""
    vpc = ec2().create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    return [
        ec2().create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate("ab")
    ]


def cluster(name: str, mode: str | None = None) -> list[str]:
    """An EKS cluster made by a stack of its own, in a VPC of its own; returns its subnets."""
    subnets = two_zone_subnets()
    props: dict[str, Any] = {"Name": name, "RoleArn": ROLE, "ResourcesVpcConfig": {"SubnetIds": subnets}}
    if mode:
        props["AccessConfig"] = {"AuthenticationMode": mode}
    made = stack(f"{name}-cluster", {"ControlPlane": {"Type": "AWS::EKS::Cluster", "Properties": props}})
    assert made["StackStatus"] == "CREATE_COMPLETE", failure(f"{name}-cluster")
    return subnets


def addon(**props: Any) -> dict[str, Any]:
    return {"Type": "AWS::EKS::Addon", "Properties": {"ClusterName": "c1", "AddonName": "vpc-cni", **props}}


def access_entry(**props: Any) -> dict[str, Any]:
    principal = f"arn:aws:iam::{ACCOUNT}:role/dev"
    return {"Type": "AWS::EKS::AccessEntry", "Properties": {"ClusterName": "c1", "PrincipalArn": principal, **props}}


# -- the security group EKS makes for a cluster --------------------------------------------


def test_a_cluster_has_the_security_group_eks_makes_on_its_control_plane_interface(db: Store, clients: Clients) -> None:
    record = given_a_requested_cluster(db, {"name": "sg", "region": REGION})
    ref = create.create_cluster_stack(
        step_context(db=db, clients=clients), steps.ClusterStep(name="sg", clusterId=record["clusterId"])
    )

    config = boto3.client("eks", region_name=REGION).describe_cluster(name="sg")["cluster"]["resourcesVpcConfig"]
    group_id = config["clusterSecurityGroupId"]
    (group,) = ec2().describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    assert group["GroupName"].startswith("eks-cluster-sg-sg-")
    assert group["VpcId"] == config["vpcId"]
    tags = {t["Key"]: t["Value"] for t in group["Tags"]}
    assert tags["kubernetes.io/cluster/sg"] == "owned"
    assert tags["aws:eks:cluster-name"] == "sg"
    (eni,) = ec2().describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [group_id]}])[
        "NetworkInterfaces"
    ]
    assert eni["SubnetId"] in config["subnetIds"]
    assert eni["RequesterManaged"] is True
    with pytest.raises(ClientError) as refused:
        ec2().delete_security_group(GroupId=group_id)
    assert refused.value.response["Error"]["Code"] == "DependencyViolation"
    assert f"resource {group_id} has a dependent object" in refused.value.response["Error"]["Message"]

    cfn().delete_stack(StackName=ref["stackId"])

    assert cfn().describe_stacks(StackName=ref["stackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    assert ec2().describe_security_groups(Filters=[{"Name": "group-id", "Values": [group_id]}])["SecurityGroups"] == []
    assert (
        ec2().describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [group_id]}])["NetworkInterfaces"]
        == []
    )
    assert ec2().describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [config["vpcId"]]}])["Vpcs"] == []


def test_a_security_group_left_in_the_vpc_fails_the_cluster_stack_deletion(db: Store, clients: Clients) -> None:
    record = given_a_requested_cluster(db, {"name": "left", "region": REGION})
    ref = create.create_cluster_stack(
        step_context(db=db, clients=clients), steps.ClusterStep(name="left", clusterId=record["clusterId"])
    )
    vpc = boto3.client("eks", region_name=REGION).describe_cluster(name="left")["cluster"]["resourcesVpcConfig"]
    ec2().create_security_group(GroupName="k8s-elb-leftover", Description="k8s", VpcId=vpc["vpcId"])

    cfn().delete_stack(StackName=ref["stackId"])

    described = cfn().describe_stacks(StackName=ref["stackId"])["Stacks"][0]
    assert described["StackStatus"] == "DELETE_FAILED"
    events = cfn().describe_stack_events(StackName=ref["stackId"])["StackEvents"]
    reasons = [e.get("ResourceStatusReason", "") for e in events if e["ResourceStatus"] == "DELETE_FAILED"]
    assert any("has dependencies and cannot be deleted" in r for r in reasons), reasons


def test_a_cluster_in_subnets_that_do_not_exist_fails_as_eks_refuses_it() -> None:
    props = {"Name": "ghost", "RoleArn": ROLE, "ResourcesVpcConfig": {"SubnetIds": ["subnet-0a", "subnet-0b"]}}

    made = stack("ghost", {"ControlPlane": {"Type": "AWS::EKS::Cluster", "Properties": props}})

    assert made["StackStatus"] == "ROLLBACK_COMPLETE"
    resource, reason = failure("ghost")
    assert resource == "ControlPlane"
    assert "The subnet ID 'subnet-0a' does not exist" in reason
    assert "(Service: Eks, Status Code: 400, Request ID: " in reason


# -- add-ons and access entries -----------------------------------------------------------


def test_add_ons_and_access_entries_are_made_updated_and_deleted(recwarn: pytest.WarningsRecorder) -> None:
    cluster("c1", mode="API_AND_CONFIG_MAP")
    policies = [{"PolicyArn": VIEW_POLICY, "AccessScope": {"Type": "cluster"}}]
    resources = {
        "Cni": addon(AddonVersion="v1.19.0-eksbuild.1", ResolveConflicts="OVERWRITE"),
        "Dev": access_entry(KubernetesGroups=["viewers"], AccessPolicies=policies),
    }

    made = stack("extras", resources)

    assert made["StackStatus"] == "CREATE_COMPLETE"
    assert not [w for w in recwarn if "Tried to parse" in str(w.message)]
    (cni,) = eks_models.addons_of(ACCOUNT, REGION, "c1").values()
    assert (cni.name, cni.version, cni.status) == ("vpc-cni", "v1.19.0-eksbuild.1", "ACTIVE")
    (entry,) = eks_models.access_entries_of(ACCOUNT, REGION, "c1").values()
    assert entry.kubernetes_groups == ["viewers"]
    assert entry.access_policies == policies
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn().describe_stack_resources(StackName="extras")["StackResources"]
    }
    assert physical == {"Cni": "c1|vpc-cni", "Dev": f"c1|arn:aws:iam::{ACCOUNT}:role/dev"}

    resources["Cni"] = addon(AddonVersion="v1.20.1-eksbuild.3", ResolveConflicts="PRESERVE")
    updated = stack("extras", resources, update=True)

    assert updated["StackStatus"] == "UPDATE_COMPLETE"
    (cni,) = eks_models.addons_of(ACCOUNT, REGION, "c1").values()
    assert (cni.version, cni.resolve_conflicts) == ("v1.20.1-eksbuild.3", "PRESERVE")

    cfn().delete_stack(StackName="extras")

    assert eks_models.addons_of(ACCOUNT, REGION, "c1") == {}
    assert eks_models.access_entries_of(ACCOUNT, REGION, "c1") == {}


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        (
            addon(ResolveConflicts="SOMETIMES"),
            "Properties validation failed for resource Extra with message: "
            "[#/ResolveConflicts: failed validation constraint for keyword [enum]]",
        ),
        (
            {"Type": "AWS::EKS::Addon", "Properties": {"ClusterName": "c1"}},
            "Properties validation failed for resource Extra with message: [#: required key [AddonName] not found]",
        ),
        (
            addon(Version="v1"),
            "with message: [#: extraneous key [Version] is not permitted]",
        ),
        (
            addon(PreserveOnDelete="sometimes"),
            "[#/PreserveOnDelete: expected type: Boolean, found: String]",
        ),
        (addon(AddonName="vpc-cnii"), "Addon vpc-cnii specified is not supported in"),
        (addon(AddonVersion="1.19"), "Addon version 1.19 specified is not supported"),
        (addon(ClusterName="nowhere"), '"No cluster found for name: nowhere. (Service: Eks, Status Code: 404'),
        (
            access_entry(AccessPolicies=[{"PolicyArn": VIEW_POLICY, "AccessScope": {"Type": "account"}}]),
            "[#/AccessPolicies/0/AccessScope/Type: failed validation constraint for keyword [enum]]",
        ),
        (access_entry(KubernetesGroups=["system:masters"]), "it cannot start with system:"),
        (access_entry(Type="HYBRID_LINUX"), "require the cluster to have a remote network configuration"),
        (access_entry(PrincipalArn="arn:aws:sts::123456789012:assumed-role/dev/me"), "principalArn is invalid"),
        (
            access_entry(AccessPolicies=[{"PolicyArn": VIEW_POLICY, "AccessScope": {"Type": "namespace"}}]),
            "Namespaces must be specified",
        ),
    ],
)
def test_what_eks_or_the_registry_schema_refuses_fails_the_resource(resource: dict[str, Any], reason: str) -> None:
    cluster("c1", mode="API")

    made = stack("extras", {"Extra": resource})

    assert made["StackStatus"] == "ROLLBACK_COMPLETE"
    failed, why = failure("extras")
    assert failed == "Extra"
    assert reason in why
    assert eks_models.addons_of(ACCOUNT, REGION, "c1") == {}
    assert eks_models.access_entries_of(ACCOUNT, REGION, "c1") == {}


def test_access_entries_need_a_cluster_whose_authentication_mode_has_them() -> None:
    cluster("c1")  # no AccessConfig: CONFIG_MAP, EKS's default through its API and CloudFormation

    made = stack("extras", {"Dev": access_entry()})

    assert made["StackStatus"] == "ROLLBACK_COMPLETE"
    resource, reason = failure("extras")
    assert resource == "Dev"
    assert "authentication mode must be set to one of [API, API_AND_CONFIG_MAP]" in reason
    assert "HandlerErrorCode: InvalidRequest)" in reason


def test_a_second_add_on_of_a_name_is_refused_and_the_first_stays() -> None:
    cluster("c1", mode="API")
    stack("first", {"Cni": addon()})

    made = stack("second", {"Cni": addon()})

    assert made["StackStatus"] == "ROLLBACK_COMPLETE"
    assert "Addon already exists." in failure("second")[1]
    assert list(eks_models.addons_of(ACCOUNT, REGION, "c1")) == ["vpc-cni"]


def test_a_refused_update_rolls_the_stack_back_and_keeps_the_resource() -> None:
    cluster("c1", mode="API")
    stack("extras", {"Cni": addon(AddonVersion="v1.19.0-eksbuild.1")})

    updated = stack("extras", {"Cni": addon(AddonVersion="v1.20.0-eksbuild.1", ResolveConflicts="ALWAYS")}, True)

    assert updated["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert failure("extras")[0] == "Cni"
    assert "#/ResolveConflicts: failed validation constraint for keyword [enum]" in failure("extras")[1]
    assert eks_models.addons_of(ACCOUNT, REGION, "c1")["vpc-cni"].version == "v1.19.0-eksbuild.1"


# -- what the service's deployment declares -------------------------------------------------

ALARM = {
    "Namespace": "AWS/States",
    "MetricName": "ExecutionsFailed",
    "Dimensions": [{"Name": "StateMachineArn", "Value": "arn:aws:states:us-west-2:123456789012:stateMachine:x"}],
    "Statistic": "Sum",
    "Period": 300,
    "EvaluationPeriods": 1,
    "Threshold": 1,
    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    "TreatMissingData": "notBreaching",
}


def alarm(**props: Any) -> dict[str, Any]:
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {**ALARM, **props}}


def test_alarms_are_put_updated_in_place_and_deleted() -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)

    made = stack("alarms", {"Failed": alarm(AlarmName="workflow-failed", Period="60")})

    assert made["StackStatus"] == "CREATE_COMPLETE"
    (found,) = cloudwatch.describe_alarms(AlarmNames=["workflow-failed"])["MetricAlarms"]
    assert (found["Period"], found["Statistic"], found["Threshold"]) == (60, "Sum", 1.0)

    updated = stack("alarms", {"Failed": alarm(AlarmName="workflow-failed", Threshold=3)}, update=True)

    assert updated["StackStatus"] == "UPDATE_COMPLETE"
    (found,) = cloudwatch.describe_alarms(AlarmNames=["workflow-failed"])["MetricAlarms"]
    assert found["Threshold"] == 3.0

    cfn().delete_stack(StackName="alarms")

    assert cloudwatch.describe_alarms()["MetricAlarms"] == []


@pytest.mark.parametrize(
    ("props", "reason"),
    [
        (
            {"ComparisonOperator": "GreaterThan"},
            "[#/ComparisonOperator: failed validation constraint for keyword [enum]]",
        ),
        ({"Statistic": "Total"}, "[#/Statistic: failed validation constraint for keyword [enum]]"),
        ({"Period": "five minutes"}, "[#/Period: expected type: Integer, found: String]"),
        ({"ExtendedStatistic": "p99"}, "#: key [ExtendedStatistic] is not permitted with [Statistic]"),
        ({"EvaluationPeriods": None}, "Missing required parameters: EvaluationPeriods"),
    ],
)
def test_an_alarm_cloudwatch_would_refuse_fails(props: dict[str, Any], reason: str) -> None:
    resource = alarm(**props)
    resource["Properties"] = {k: v for k, v in resource["Properties"].items() if v is not None}

    made = stack("alarms", {"Failed": resource})

    assert made["StackStatus"] == "ROLLBACK_COMPLETE"
    assert reason in failure("alarms")[1]
    assert boto3.client("cloudwatch", region_name=REGION).describe_alarms()["MetricAlarms"] == []


def test_an_api_stage_is_created_on_its_deployment_and_deleted() -> None:
    resources: dict[str, Any] = {
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "ekspress"}},
        # API Gateway deploys no API without a method.
        "Ping": {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ResourceId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                "HttpMethod": "GET",
                "AuthorizationType": "NONE",
                "Integration": {"Type": "HTTP", "IntegrationHttpMethod": "GET", "Uri": "https://example.com"},
            },
        },
        "Deployment": {
            "Type": "AWS::ApiGateway::Deployment",
            "DependsOn": "Ping",
            "Properties": {"RestApiId": {"Ref": "Api"}},
        },
        "Stage": {
            "Type": "AWS::ApiGateway::Stage",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "DeploymentId": {"Ref": "Deployment"},
                "StageName": "api",
                "TracingEnabled": "true",
            },
        },
    }
    apigateway = boto3.client("apigateway", region_name=REGION)

    made = stack("api", resources)

    assert made["StackStatus"] == "CREATE_COMPLETE"
    api_id = apigateway.get_rest_apis()["items"][0]["id"]
    found = apigateway.get_stage(restApiId=api_id, stageName="api")
    assert found["tracingEnabled"] is True
    assert found["deploymentId"] == apigateway.get_deployments(restApiId=api_id)["items"][0]["id"]

    resources["Stage"]["Properties"]["TracingEnabled"] = "sometimes"
    made = stack("api-bad", {**resources, "Api": {**resources["Api"], "Properties": {"Name": "other"}}})

    assert made["StackStatus"] == "ROLLBACK_COMPLETE"
    assert "[#/TracingEnabled: expected type: Boolean, found: String]" in failure("api-bad")[1]

    cfn().delete_stack(StackName="api")

    with pytest.raises(ClientError):
        apigateway.get_stage(restApiId=api_id, stageName="api")
