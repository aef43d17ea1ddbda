"""Self-managed node groups with Bottlerocket settings and behind a load balancer's target group, over HTTP.

The target group is made first (in the caller's VPC, where the nodes go); the Bottlerocket nodes boot
from TOML user data with the caller's settings merged in, and join only if it is what Bottlerocket would
boot with. A target group that does not exist is a 422 before anything is recorded.
"""

from __future__ import annotations

import base64
import tomllib
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from chalicelib.aws.clients import Clients
from chalicelib.operations.access import connect
from tests.e2e.conftest import wait_until

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

REGION = "us-east-2"
NAME = "rocket-lb"
GROUP_LABEL = "alpha.eksctl.io/nodegroup-name"


@pytest.fixture
def network(engine: LocalEngine) -> dict[str, Any]:
    """The caller's VPC (a private and a public subnet in two zones) and an instance target group in it."""
    ec2 = engine.client("ec2", REGION)
    vpc = ec2.create_vpc(CidrBlock="10.70.0.0/16")["Vpc"]["VpcId"]
    subnets: dict[str, dict[str, Any]] = {"private": {}, "public": {}}
    for index, (kind, zone) in enumerate([("private", "a"), ("private", "b"), ("public", "a"), ("public", "b")]):
        made = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.70.{index * 16}.0/20", AvailabilityZone=f"{REGION}{zone}")
        subnets[kind][f"{REGION}{zone}"] = {"id": made["Subnet"]["SubnetId"]}
    group = engine.client("elbv2", REGION).create_target_group(
        Name=f"web-{vpc[-8:]}", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance"
    )
    return {"vpc": {"id": vpc, "subnets": subnets}, "targetGroup": group["TargetGroups"][0]["TargetGroupArn"]}


def body(network: dict[str, Any], target_group: str) -> dict[str, Any]:
    return {
        "name": NAME,
        "region": REGION,
        "vpc": network["vpc"],
        "nodeGroups": [
            {
                "name": "rocket",
                "amiFamily": "Bottlerocket",
                "desiredCapacity": 1,
                "labels": {"role": "rocket"},
                "bottlerocket": {
                    "enableAdminContainer": True,
                    "settings": {
                        "motd": "Hello, ekspress!",
                        "kubernetes": {"eviction-hard": {"memory.available": "15%"}},
                    },
                },
            },
            {"name": "web", "desiredCapacity": 2, "targetGroupARNs": [target_group]},
        ],
    }


def ready_nodes() -> dict[str, int]:
    found: dict[str, int] = {}
    for node in connect(Clients(REGION), REGION, NAME).list_nodes():
        conditions = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
        if conditions.get("Ready") == "True":
            group = node["metadata"].get("labels", {}).get(GROUP_LABEL, "")
            found[group] = found.get(group, 0) + 1
    return found


def stack_resource(engine: LocalEngine, group: str, kind: str) -> str:
    resources = engine.client("cloudformation", REGION).describe_stack_resources(
        StackName=f"eksctl-{NAME}-nodegroup-{group}"
    )["StackResources"]
    return str(next(r["PhysicalResourceId"] for r in resources if r["ResourceType"] == kind))


def registered(engine: LocalEngine, arn: str) -> set[str]:
    health = engine.client("elbv2", REGION).describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return {h["Target"]["Id"] for h in health if h["TargetHealth"]["State"] not in ("unused", "draining")}


def test_bottlerocket_settings_and_a_target_group_from_request_to_deletion(
    api: Api, engine: LocalEngine, network: dict[str, Any]
) -> None:
    target_group = network["targetGroup"]
    reply = api.call("POST", "/clusters", body(network, target_group))
    assert reply.status == 202, reply.body
    record = api.wait_for(NAME, {"ACTIVE", "FAILED"}, timeout=180)
    assert record["status"] == "ACTIVE", record.get("failure")

    assert wait_until(lambda: ready_nodes() == {"rocket": 1, "web": 2}, "every node to be Ready")

    # The Bottlerocket group boots from TOML with the caller's settings and the cluster's.
    template = stack_resource(engine, "rocket", "AWS::EC2::LaunchTemplate")
    ec2 = engine.client("ec2", REGION)
    data = ec2.describe_launch_template_versions(LaunchTemplateId=template)["LaunchTemplateVersions"][-1]
    settings = tomllib.loads(base64.b64decode(data["LaunchTemplateData"]["UserData"]).decode())["settings"]
    assert settings["motd"] == "Hello, ekspress!"
    assert settings["host-containers"]["admin"]["enabled"] is True
    assert settings["kubernetes"]["eviction-hard"] == {"memory.available": "15%"}
    assert settings["kubernetes"]["cluster-name"] == NAME
    assert settings["kubernetes"]["node-labels"]["role"] == "rocket"

    # The web group's Auto Scaling group names the target group, which holds its instances.
    autoscaling = engine.client("autoscaling", REGION)
    name = stack_resource(engine, "web", "AWS::AutoScaling::AutoScalingGroup")
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    assert group["TargetGroupARNs"] == [target_group]
    instances = {i["InstanceId"] for i in group["Instances"]}
    assert len(instances) == 2 and registered(engine, target_group) == instances

    # GET .../config gives the fields back.
    exported = api.call("GET", f"/clusters/{NAME}/config").body
    config = yaml.safe_load(exported) if isinstance(exported, str) else exported
    groups = {g["name"]: g for g in config["nodeGroups"]}
    assert groups["web"]["targetGroupARNs"] == [target_group]
    assert groups["rocket"]["bottlerocket"] == body(network, target_group)["nodeGroups"][0]["bottlerocket"]

    # A group added to the ACTIVE cluster is checked too, its fields named as its body names them.
    gone = target_group.rsplit("/", 2)[0] + "/gone/0123456789abcdef"
    added = api.call("POST", f"/clusters/{NAME}/nodegroups?managed=false", {"name": "more", "targetGroupARNs": [gone]})
    assert added.status == 422, added.body
    assert {f["field"]: f["rule"] for f in added.body["fields"]} == {"targetGroupARNs[0]": "target_group_not_found"}

    assert api.call("DELETE", f"/clusters/{NAME}").status == 202
    final = api.wait_for(NAME, {"DELETED", "DELETE_FAILED"}, timeout=180)
    assert final["status"] == "DELETED", final.get("failure")
    assert registered(engine, target_group) == set(), "the deleted nodes left the target group"


def test_a_target_group_that_does_not_exist_is_a_422_naming_it(
    api: Api, engine: LocalEngine, network: dict[str, Any]
) -> None:
    missing = network["targetGroup"].rsplit("/", 2)[0] + "/gone/0123456789abcdef"
    reply = api.call("POST", "/clusters", {**body(network, missing), "name": "rocket-lb-missing"})

    assert reply.status == 422, reply.body
    fields = {f["field"]: f["rule"] for f in reply.body["fields"]}
    assert fields == {"nodeGroups[1].targetGroupARNs[0]": "target_group_not_found"}
    assert api.call("GET", "/clusters/rocket-lb-missing").status == 404
