"""Instance types chosen by `instanceSelector` and `asgSuspendProcesses`, from a ClusterConfig to ACTIVE and back;
and an existing VPC's shared node security group (`vpc.sharedNodeSecurityGroup`), used and left behind.

The selector's types are found in the local engine's EC2 facts when the cluster is requested, kept in its
record, given to EKS and to the Auto Scaling group, and given back by GET .../config; the suspended
processes are in the self-managed group's rolling update policy, as eksctl writes them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from chalicelib.aws.clients import Clients
from chalicelib.operations.access import connect
from tests.e2e.conftest import wait_until
from tests.e2e.test_clusterconfig import send

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

CONFIG = Path(__file__).resolve().parents[1] / "data" / "clusterconfigs" / "nodegroup-selection.yaml"
NAME = "selection"
REGION = "us-west-2"
GROUP_LABEL = "alpha.eksctl.io/nodegroup-name"
MANAGED_GROUP_LABEL = "eks.amazonaws.com/nodegroup"


def offered(engine: LocalEngine, vcpus: int, mib: int, gpus: int | None = None) -> list[str]:
    """The x86_64 types the engine's EC2 offers with these facts, read here apart from the service."""
    ec2 = engine.client("ec2", REGION)
    in_region = {o["InstanceType"] for o in ec2.describe_instance_type_offerings()["InstanceTypeOfferings"]}
    filters = [{"Name": "vcpu-info.default-vcpus", "Values": [str(vcpus)]}]
    pages = ec2.get_paginator("describe_instance_types").paginate(Filters=filters)
    found = []
    for info in (i for page in pages for i in page["InstanceTypes"]):
        count = sum(g["Count"] for g in (info.get("GpuInfo") or {}).get("Gpus", []))
        if (
            info["MemoryInfo"]["SizeInMiB"] == mib
            and "x86_64" in info["ProcessorInfo"]["SupportedArchitectures"]
            and (gpus is None or count == gpus)
            and info["InstanceType"] in in_region
        ):
            found.append(info["InstanceType"])
    return sorted(found)


def ready_nodes() -> dict[str, int]:
    found: dict[str, int] = {}
    for node in connect(Clients(REGION), REGION, NAME).list_nodes():
        conditions = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
        if conditions.get("Ready") == "True":
            labels = node["metadata"].get("labels", {})
            group = labels.get(GROUP_LABEL) or labels.get(MANAGED_GROUP_LABEL, "")
            found[group] = found.get(group, 0) + 1
    return found


def node_group_stack(engine: LocalEngine, group: str, cluster: str = NAME) -> tuple[dict[str, Any], str]:
    """The group's deployed template and its Auto Scaling group's name."""
    cloudformation = engine.client("cloudformation", REGION)
    stack = f"eksctl-{cluster}-nodegroup-{group}"
    body = cloudformation.get_template(StackName=stack)["TemplateBody"]
    template = body if isinstance(body, dict) else yaml.safe_load(body)
    resources = cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
    asg = next((r["PhysicalResourceId"] for r in resources if r["ResourceType"].startswith("AWS::AutoScaling")), "")
    return dict(template), str(asg)


def test_selected_instance_types_and_suspended_processes_from_request_to_deletion(
    api: Api, engine: LocalEngine
) -> None:
    selfmanaged, managed = offered(engine, 2, 4096, gpus=0), offered(engine, 2, 2048)
    assert selfmanaged and managed

    status, body, _ = send(api, "POST", "/clusters", CONFIG.read_bytes(), **{"Content-Type": "application/x-yaml"})
    assert status == 202, body
    record = api.wait_for(NAME, {"ACTIVE", "FAILED"}, timeout=240)
    assert record["status"] == "ACTIVE", record.get("failure")
    assert wait_until(lambda: ready_nodes() == {"ng": 1, "mng": 1} or None, "both groups' nodes to be Ready")

    # The managed group: EKS runs the selected types.
    eks = engine.client("eks", REGION)
    assert eks.describe_nodegroup(clusterName=NAME, nodegroupName="mng")["nodegroup"]["instanceTypes"] == managed

    # The self-managed group: its Auto Scaling group mixes the selected types, and a rolling update suspends
    # the processes named.
    template, asg_name = node_group_stack(engine, "ng")
    update = template["Resources"]["NodeGroup"]["UpdatePolicy"]["AutoScalingRollingUpdate"]
    assert update == {"SuspendProcesses": ["AZRebalance", "ScheduledActions"]}
    autoscaling = engine.client("autoscaling", REGION)
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[asg_name])["AutoScalingGroups"]
    overrides = group["MixedInstancesPolicy"]["LaunchTemplate"]["Overrides"]
    assert [o["InstanceType"] for o in overrides] == selfmanaged
    assert group["SuspendedProcesses"] == []  # suspended only while CloudFormation rolls the nodes

    # GET .../config gives the criteria and what they selected back, and that reads as the same request.
    status, exported, _ = send(api, "GET", f"/clusters/{NAME}/config")
    assert status == 200
    config = yaml.safe_load(exported) if isinstance(exported, str) else exported
    groups = {g["name"]: g for g in [*config["nodeGroups"], *config["managedNodeGroups"]]}
    assert groups["ng"]["instanceSelector"] == {"vCPUs": 2, "memory": "4", "gpus": 0}
    assert groups["ng"]["instancesDistribution"]["instanceTypes"] == selfmanaged
    assert groups["ng"]["asgSuspendProcesses"] == ["AZRebalance", "ScheduledActions"]
    assert groups["mng"]["instanceTypes"] == managed

    assert api.call("DELETE", f"/clusters/{NAME}").status == 202
    final = api.wait_for(NAME, {"DELETED", "DELETE_FAILED"}, timeout=240)
    assert final["status"] == "DELETED", final.get("failure")
    assert autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[asg_name])["AutoScalingGroups"] == []


def test_an_existing_shared_node_security_group_is_used_and_left_behind(api: Api, engine: LocalEngine) -> None:
    ec2 = engine.client("ec2", REGION)
    vpc = ec2.create_vpc(CidrBlock="10.80.0.0/16")["Vpc"]["VpcId"]
    private = {}
    for index, zone in enumerate(("a", "b")):
        made = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.80.{index * 16}.0/20", AvailabilityZone=f"{REGION}{zone}")
        private[f"{REGION}{zone}"] = {"id": made["Subnet"]["SubnetId"]}
    shared = ec2.create_security_group(GroupName="nodes", Description="shared by nodes", VpcId=vpc)["GroupId"]
    name = "shared-sg"
    body = {
        "name": name,
        "region": REGION,
        "vpc": {"id": vpc, "subnets": {"private": private}, "sharedNodeSecurityGroup": shared},
        "nodeGroups": [{"name": "ng", "desiredCapacity": 1, "privateNetworking": True}],
    }

    reply = api.call("POST", "/clusters", body)
    assert reply.status == 202, reply.body
    record = api.wait_for(name, {"ACTIVE", "FAILED"}, timeout=240)
    assert record["status"] == "ACTIVE", record.get("failure")

    # The nodes are in the given group, which the cluster stack opened to EKS's cluster security group.
    cloudformation = engine.client("cloudformation", REGION)
    outputs = cloudformation.describe_stacks(StackName=f"eksctl-{name}-cluster")["Stacks"][0]["Outputs"]
    assert {o["OutputKey"]: o["OutputValue"] for o in outputs}["SharedNodeSecurityGroup"] == shared
    (group,) = ec2.describe_security_groups(GroupIds=[shared])["SecurityGroups"]
    sources = {pair["GroupId"] for rule in group["IpPermissions"] for pair in rule.get("UserIdGroupPairs", [])}
    assert len(sources) == 1 and shared not in sources  # EKS's cluster security group only
    template, _ = node_group_stack(engine, "ng", name)
    data = template["Resources"]["NodeGroupLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert f"eksctl-{name}-cluster::SharedNodeSecurityGroup" in json.dumps(data)

    exported = api.call("GET", f"/clusters/{name}/config").body
    config = yaml.safe_load(exported) if isinstance(exported, str) else exported
    assert config["vpc"]["sharedNodeSecurityGroup"] == shared

    assert api.call("DELETE", f"/clusters/{name}").status == 202
    final = api.wait_for(name, {"DELETED", "DELETE_FAILED"}, timeout=240)
    assert final["status"] == "DELETED", final.get("failure")
    (left,) = ec2.describe_security_groups(GroupIds=[shared])["SecurityGroups"]  # the caller's group stays
    assert [rule for rule in left["IpPermissions"] if rule.get("UserIdGroupPairs")] == []
