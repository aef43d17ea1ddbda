"""Self-managed node groups and load balancers against moto: the request-time check of targetGroupARNs and
classicLoadBalancerNames, and the local engine's Auto Scaling group, which refuses what Auto Scaling refuses
and registers its instances with its target groups. Also the Bottlerocket user data the engine boots with."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from chalicelib.cfn import templates
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.spec import ClusterSpec
from chalicelib.operations.load_balancer_targets import check_load_balancer_targets
from local.bootstrap_userdata import parse_text
from tests.functional.helpers import step_context
from tests.functional.test_selfmanaged_engine import (
    bottlerocket,
    cluster,  # noqa: F401 (a fixture)
    failure,
    network,
    nodegroup,
    stack,
    vpc_of,
)

if TYPE_CHECKING:
    from chalicelib.operations.context import Context

REGION = "us-west-2"
ACCOUNT = "123456789012"


@pytest.fixture
def ctx() -> Context:
    return step_context()


def elbv2(region: str = REGION) -> Any:
    return boto3.client("elbv2", region_name=region)


def target_group(vpc: str, name: str = "web", kind: str = "instance", region: str = REGION) -> str:
    made = elbv2(region).create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc, TargetType=kind)
    return str(made["TargetGroups"][0]["TargetGroupArn"])


def classic(name: str, subnets: list[str]) -> None:
    listener = [{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}]
    boto3.client("elb", region_name=REGION).create_load_balancer(
        LoadBalancerName=name, Listeners=listener, Subnets=subnets
    )


def spec_of(vpc: str | None, subnets: list[str], **group: Any) -> ClusterSpec:
    body: dict[str, Any] = {"name": "lb", "region": REGION, "nodeGroups": [{"name": "plain"}, {"name": "web", **group}]}
    if vpc is not None:
        body["vpc"] = {
            "id": vpc,
            "subnets": {"public": {f"{REGION}{z}": {"id": s} for z, s in zip("ab", subnets, strict=True)}},
        }
    return ClusterSpec.model_validate(body)


def refused(ctx: Context, spec: ClusterSpec, **kw: Any) -> dict[str, str]:
    with pytest.raises(SpecValidationError) as caught:
        check_load_balancer_targets(ctx, spec, **kw)
    return {f["field"]: f["rule"] for f in caught.value.details["fields"]}


# --- the request-time check --------------------------------------------------------------------------


def test_an_instance_target_group_and_a_classic_load_balancer_in_the_vpc_pass(ctx: Context) -> None:
    subnets = network()
    vpc = vpc_of(subnets)
    classic("web-classic", subnets)
    spec = spec_of(vpc, subnets, targetGroupARNs=[target_group(vpc)], classicLoadBalancerNames=["web-classic"])

    check_load_balancer_targets(ctx, spec)
    check_load_balancer_targets(ctx, spec_of(vpc, subnets))  # no load balancers: nothing asked


def test_missing_target_groups_and_load_balancers_are_named_with_their_group(ctx: Context) -> None:
    subnets = network()
    vpc = vpc_of(subnets)
    arn = target_group(vpc)
    missing = arn.rsplit("/", 1)[0] + "/0123456789abcdef"
    spec = spec_of(vpc, subnets, targetGroupARNs=[arn, missing], classicLoadBalancerNames=["nowhere"])

    assert refused(ctx, spec) == {
        "nodeGroups[1].targetGroupARNs[1]": "target_group_not_found",
        "nodeGroups[1].classicLoadBalancerNames[0]": "load_balancer_not_found",
    }
    # A group being added is named as its own body names it.
    assert refused(ctx, spec, only="web") == {
        "targetGroupARNs[1]": "target_group_not_found",
        "classicLoadBalancerNames[0]": "load_balancer_not_found",
    }


def test_ip_target_groups_other_regions_and_other_vpcs_are_refused(ctx: Context) -> None:
    subnets = network()
    vpc = vpc_of(subnets)
    other_vpc = boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    east_vpc = boto3.client("ec2", region_name="us-east-1").create_vpc(CidrBlock="10.98.0.0/16")["Vpc"]["VpcId"]
    arns = [
        target_group(vpc, "ips", kind="ip"),
        target_group(other_vpc, "elsewhere"),
        target_group(east_vpc, "east", region="us-east-1"),
    ]

    other_subnet = boto3.client("ec2", region_name=REGION).create_subnet(
        VpcId=other_vpc, CidrBlock="10.99.0.0/24", AvailabilityZone=f"{REGION}a"
    )["Subnet"]["SubnetId"]
    classic("elsewhere", [other_subnet])
    spec = spec_of(vpc, subnets, targetGroupARNs=arns, classicLoadBalancerNames=["elsewhere"])

    assert refused(ctx, spec) == {
        "nodeGroups[1].targetGroupARNs[0]": "target_group_type",
        "nodeGroups[1].targetGroupARNs[1]": "load_balancer_vpc",
        "nodeGroups[1].targetGroupARNs[2]": "target_group_region",
        "nodeGroups[1].classicLoadBalancerNames[0]": "load_balancer_vpc",
    }


def test_a_vpc_the_service_builds_holds_no_load_balancer_yet_but_an_active_clusters_does(ctx: Context) -> None:
    subnets = network()
    vpc = vpc_of(subnets)
    spec = spec_of(None, subnets, targetGroupARNs=[target_group(vpc)])

    assert refused(ctx, spec) == {"nodeGroups[1].targetGroupARNs[0]": "load_balancer_needs_vpc"}
    check_load_balancer_targets(ctx, spec, only="web", vpc_id=vpc)  # added to a cluster whose VPC exists


def test_the_create_request_runs_the_check_before_recording_anything(ctx: Context) -> None:
    from chalicelib.operations import create

    subnets = network()
    vpc = vpc_of(subnets)
    spec = spec_of(vpc, subnets, classicLoadBalancerNames=["nowhere"])
    with pytest.raises(SpecValidationError) as caught:
        create.request_create(ctx, spec, "arn:aws:iam::123456789012:user/alice")
    assert "nodeGroups[1].classicLoadBalancerNames[0]" in str(caught.value.details)


# --- the local engine's Auto Scaling group -----------------------------------------------------------


def with_load_balancers(
    resources: dict[str, Any], targets: list[str], names: list[str] | None = None
) -> dict[str, Any]:
    properties = resources["NodeGroup"]["Properties"]
    if targets:
        properties["TargetGroupARNs"] = targets
    if names:
        properties["LoadBalancerNames"] = names
    return resources


def registered(arn: str) -> set[str]:
    health = elbv2().describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return {h["Target"]["Id"] for h in health if h["TargetHealth"]["State"] not in ("unused", "draining")}


def group_instances() -> set[str]:
    (group,) = boto3.client("autoscaling", region_name=REGION).describe_auto_scaling_groups()["AutoScalingGroups"]
    return {i["InstanceId"] for i in group["Instances"]}


def test_the_auto_scaling_group_refuses_a_target_group_that_does_not_exist(cluster: Any) -> None:  # noqa: F811
    made, _, subnets = cluster
    arn = target_group(vpc_of(subnets))
    missing = arn.rsplit("/", 1)[0] + "/0123456789abcdef"
    resources = with_load_balancers(nodegroup(subnets, bottlerocket(made)), [missing])

    assert stack("sm-ng-1", resources) == "ROLLBACK_COMPLETE"
    logical, reason = failure("sm-ng-1")
    assert logical == "NodeGroup"
    assert "Provided Target Groups may not be valid" in reason


def test_the_auto_scaling_group_refuses_a_classic_load_balancer_that_does_not_exist(cluster: Any) -> None:  # noqa: F811
    made, _, subnets = cluster
    resources = with_load_balancers(nodegroup(subnets, bottlerocket(made)), [], ["nowhere"])

    assert stack("sm-ng-1", resources) == "ROLLBACK_COMPLETE"
    assert "Provided Load Balancers may not be valid" in failure("sm-ng-1")[1]


def test_instances_are_registered_with_the_target_group_while_they_are_in_the_group(cluster: Any) -> None:  # noqa: F811
    made, _, subnets = cluster
    arn = target_group(vpc_of(subnets))
    classic("web-classic", subnets)
    resources = with_load_balancers(nodegroup(subnets, bottlerocket(made)), [arn], ["web-classic"])

    assert stack("sm-ng-1", resources) == "CREATE_COMPLETE"
    assert len(group_instances()) == 2
    assert registered(arn) == group_instances()
    elb = boto3.client("elb", region_name=REGION)
    (described,) = elb.describe_load_balancers(LoadBalancerNames=["web-classic"])["LoadBalancerDescriptions"]
    assert {i["InstanceId"] for i in described["Instances"]} == group_instances()

    scaled = with_load_balancers(nodegroup(subnets, bottlerocket(made), desired=1), [arn], ["web-classic"])
    assert stack("sm-ng-1", scaled, update=True) == "UPDATE_COMPLETE"
    assert registered(arn) == group_instances() and len(group_instances()) == 1

    # Naming no target group any more takes the instances out of it, in place.
    assert stack("sm-ng-1", nodegroup(subnets, bottlerocket(made), desired=1), update=True) == "UPDATE_COMPLETE"
    assert registered(arn) == set()
    (described,) = elb.describe_load_balancers(LoadBalancerNames=["web-classic"])["LoadBalancerDescriptions"]
    assert described["Instances"] == []

    assert stack("sm-ng-1", with_load_balancers(nodegroup(subnets, bottlerocket(made)), [arn]), update=True) == (
        "UPDATE_COMPLETE"
    )
    assert len(registered(arn)) == 2
    boto3.client("cloudformation", region_name=REGION).delete_stack(StackName="sm-ng-1")
    assert registered(arn) == set()


# --- Bottlerocket user data as a node reads it ---------------------------------------------------------


def built_user_data(group: dict[str, Any]) -> str:
    spec = ClusterSpec.model_validate(
        {"name": "br", "region": REGION, "nodeGroups": [{"imageId": "ami-0123456789abcdef0", **group}]}
    )
    data = templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid")["Resources"]["NodeGroupLaunchTemplate"]
    text, _ = data["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]["Fn::Sub"]
    endpoint = "https://ABC.gr7.us-west-2.eks.amazonaws.com"
    return str(text.replace("${Endpoint}", endpoint).replace("${CA}", "Q0E=").replace("${!", "${"))


def test_the_bottlerocket_user_data_the_service_builds_boots_with_its_settings() -> None:
    text = built_user_data(
        {
            "name": "br",
            "amiFamily": "Bottlerocket",
            "labels": {"team": "blue"},
            "bottlerocket": {"enableAdminContainer": True, "settings": {"motd": "hi", "kernel": {"lockdown": "none"}}},
        }
    )
    boot = parse_text(text)

    assert boot is not None and boot.format == "bottlerocket"
    assert (boot.cluster, boot.endpoint, boot.certificate_authority) == (
        "br",
        "https://ABC.gr7.us-west-2.eks.amazonaws.com",
        "Q0E=",
    )
    assert boot.labels["team"] == "blue"
    assert parse_text(base64.b64decode(base64.b64encode(text.encode())).decode()) == boot


@pytest.mark.parametrize(
    "broken",
    [
        # bad TOML
        "[settings.kubernetes\ncluster-name = 'br'",
        # a required cluster setting missing
        '[settings.kubernetes]\ncluster-name = "br"\napi-server = "https://x"\n',
        '[settings.kubernetes]\napi-server = "https://x"\ncluster-certificate = "Q0E="\n',
        # settings of the wrong type: Bottlerocket applies none of them
        '[settings.kubernetes]\ncluster-name = "br"\napi-server = "https://x"\ncluster-certificate = "Q0E="\n'
        'max-pods = "58"\n',
        '[settings.kubernetes]\ncluster-name = "br"\napi-server = "https://x"\ncluster-certificate = "Q0E="\n'
        "[settings.kubernetes.node-labels]\nteam = 1\n",
        '[settings.kubernetes]\ncluster-name = "br"\napi-server = "https://x"\ncluster-certificate = "Q0E="\n'
        '[settings.host-containers.admin]\nenabled = "yes"\n',
    ],
)
def test_bottlerocket_user_data_a_node_would_not_boot_with_bootstraps_nothing(broken: str) -> None:
    assert parse_text(broken) is None


def test_json_dumps_of_settings_is_not_toml() -> None:
    # A JSON object is not TOML user data: such a node never joins.
    assert parse_text(json.dumps({"settings": {"kubernetes": {"cluster-name": "br"}}})) is None
