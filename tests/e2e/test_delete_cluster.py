"""Delete clusters through the HTTP API: stacks, Kubernetes leftovers, retries, races."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from local import stack_timing

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

REGION = "eu-central-1"


def given_an_active_cluster(api: Api, name: str, **extra: Any) -> dict[str, Any]:
    assert api.call("POST", "/clusters", {"name": name, "region": REGION, **extra}).status == 202
    record = api.wait_for(name, {"ACTIVE", "FAILED"})
    assert record["status"] == "ACTIVE", record.get("failure")
    return record


def live_stacks(engine: LocalEngine, name: str) -> list[str]:
    cfn = engine.client("cloudformation", REGION)
    return [
        s["StackName"]
        for s in cfn.describe_stacks()["Stacks"]
        if s["StackName"].startswith(f"eksctl-{name}-") and s["StackStatus"] != "DELETE_COMPLETE"
    ]


def kubernetes_load_balancers(engine: LocalEngine, record: dict[str, Any], name: str) -> dict[str, str]:
    """What the AWS cloud provider would make for Services of type LoadBalancer, plus one that is not ours."""
    ec2 = engine.client("ec2", REGION)
    vpc = record["cluster"]["vpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]
    tag = [{"Key": f"kubernetes.io/cluster/{name}", "Value": "owned"}]
    group = ec2.create_security_group(GroupName=f"k8s-elb-{name}", Description="k8s", VpcId=vpc)["GroupId"]
    ec2.create_tags(Resources=[group], Tags=tag)
    elbv2 = engine.client("elbv2", REGION)
    ours = elbv2.create_load_balancer(Name=f"k8s-{name}-svc", Subnets=subnets[:2], SecurityGroups=[group], Tags=tag)
    # Not ours: another team's load balancer in a VPC of its own, tagged as Kubernetes would tag ours.
    other_vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    other_subnets = [
        ec2.create_subnet(VpcId=other_vpc, CidrBlock=f"10.99.{i}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for i, zone in enumerate(zones)
    ]
    theirs = elbv2.create_load_balancer(Name=f"other-{name}", Subnets=other_subnets, Tags=tag)
    # The cloud provider gives a classic load balancer a group of its own (without one, ELB would make a
    # `default_elb_*` group nobody deletes, and the VPC could not go).
    classic_group = ec2.create_security_group(GroupName=f"k8s-elb-classic-{name}", Description="k8s", VpcId=vpc)
    ec2.create_tags(Resources=[classic_group["GroupId"]], Tags=tag)
    elb = engine.client("elb", REGION)
    elb.create_load_balancer(
        LoadBalancerName=f"classic-{name}",
        Listeners=[{"Protocol": "TCP", "LoadBalancerPort": 80, "InstancePort": 30080}],
        Subnets=subnets[:2],
        SecurityGroups=[classic_group["GroupId"]],
        Tags=tag,
    )
    return {
        "ours": ours["LoadBalancers"][0]["LoadBalancerArn"],
        "theirs": theirs["LoadBalancers"][0]["LoadBalancerArn"],
        "group": group,
        "classic_group": classic_group["GroupId"],
    }


def test_deleting_removes_our_stacks_and_kubernetes_leftovers_but_nothing_else(api: Api, engine: LocalEngine) -> None:
    record = given_an_active_cluster(api, "doomed", managedNodeGroups=[{"name": "a"}, {"name": "b"}])
    made = kubernetes_load_balancers(engine, record, "doomed")

    reply = api.call("DELETE", "/clusters/doomed")

    assert reply.status == 202
    assert reply.body["status"] == "DELETING"
    final = api.wait_for("doomed", {"DELETED", "DELETE_FAILED"})
    assert final["status"] == "DELETED", final.get("failure")
    assert live_stacks(engine, "doomed") == []
    assert "doomed" not in engine.client("eks", REGION).list_clusters()["clusters"]
    remaining = [
        lb["LoadBalancerArn"] for lb in engine.client("elbv2", REGION).describe_load_balancers()["LoadBalancers"]
    ]
    assert made["ours"] not in remaining
    assert made["theirs"] in remaining
    classic = engine.client("elb", REGION).describe_load_balancers()["LoadBalancerDescriptions"]
    assert "classic-doomed" not in [lb["LoadBalancerName"] for lb in classic]
    kinds = [e["type"] for e in final["events"]]
    assert kinds[0] == "REQUESTED" and kinds[-1] == "DELETED"
    assert {"DELETE_REQUESTED", "KUBERNETES_RESOURCES_DELETED", "STACK_DELETE_COMPLETE"} <= set(kinds)
    assert "operation" not in final


def test_deleting_leaves_the_security_group_eks_made_to_eks_and_ends_deleted(api: Api, engine: LocalEngine) -> None:
    """EKS's own cluster group carries the cluster's Kubernetes tag too, but its control plane uses it: on AWS,
    deleting it fails (DependencyViolation) and EKS deletes it with the cluster. The engine makes it as EKS does."""
    record = given_an_active_cluster(api, "owned")
    ec2 = engine.client("ec2", REGION)
    config = engine.client("eks", REGION).describe_cluster(name="owned")["cluster"]["resourcesVpcConfig"]
    eks_group = config["clusterSecurityGroupId"]
    (found,) = ec2.describe_security_groups(GroupIds=[eks_group])["SecurityGroups"]
    assert found["GroupName"].startswith("eks-cluster-sg-owned-")
    assert {"Key": "kubernetes.io/cluster/owned", "Value": "owned"} in found["Tags"]
    in_use = ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [eks_group]}])
    assert len(in_use["NetworkInterfaces"]) == 1
    made = kubernetes_load_balancers(engine, record, "owned")

    assert api.call("DELETE", "/clusters/owned").status == 202
    final = api.wait_for("owned", {"DELETED", "DELETE_FAILED"})

    assert final["status"] == "DELETED", final.get("failure")
    kinds = [e["type"] for e in final["events"]]
    assert "KUBERNETES_RESOURCES_NOT_DELETED" not in kinds
    cleaned = next(e for e in final["events"] if e["type"] == "KUBERNETES_RESOURCES_DELETED")
    assert sorted(cleaned["details"]["securityGroups"]) == sorted([made["group"], made["classic_group"]])
    # EKS took its group with the cluster, and the VPC could go with the stack.
    assert ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [eks_group]}])["SecurityGroups"] == []
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [config["vpcId"]]}])["Vpcs"] == []


def test_a_stack_that_fails_to_delete_is_tried_once_more(api: Api) -> None:
    given_an_active_cluster(api, "sticky")
    stack_timing.behaviour.fail_delete("eksctl-sticky-cluster", "VPC", "DependencyViolation", times=1)

    assert api.call("DELETE", "/clusters/sticky").status == 202
    final = api.wait_for("sticky", {"DELETED", "DELETE_FAILED"})

    assert final["status"] == "DELETED"
    deletes = [e for e in final["events"] if e["type"] == "STACK_DELETING" and "cluster" in e["message"]]
    assert len(deletes) == 2


def test_a_stack_that_fails_twice_leaves_delete_failed_with_the_resource_and_reason(api: Api) -> None:
    given_an_active_cluster(api, "stuck")
    reason = "resource sg-123 has a dependent object"
    stack_timing.behaviour.fail_delete("eksctl-stuck-cluster", "ControlPlaneSecurityGroup", reason, times=2)

    assert api.call("DELETE", "/clusters/stuck").status == 202
    final = api.wait_for("stuck", {"DELETED", "DELETE_FAILED"})

    assert final["status"] == "DELETE_FAILED"
    assert final["failure"]["reason"] == reason
    assert final["failure"]["resource"] == "ControlPlaneSecurityGroup"
    assert final["failure"]["stack"] == "eksctl-stuck-cluster"
    assert "operation" not in final  # a new delete may be tried


def test_a_deleted_name_can_be_used_again_and_the_old_timeline_is_kept(api: Api) -> None:
    old = given_an_active_cluster(api, "again")
    assert api.call("DELETE", "/clusters/again").status == 202
    assert api.wait_for("again", {"DELETED", "DELETE_FAILED"})["status"] == "DELETED"

    new = given_an_active_cluster(api, "again")

    assert new["clusterId"] != old["clusterId"]
    assert new["events"][0]["type"] == "REQUESTED"
    assert "DELETED" not in [e["type"] for e in new["events"]]


def test_deleting_twice_after_deletion_is_a_conflict(api: Api) -> None:
    given_an_active_cluster(api, "gone")
    assert api.call("DELETE", "/clusters/gone").status == 202
    api.wait_for("gone", {"DELETED", "DELETE_FAILED"})

    again = api.call("DELETE", "/clusters/gone")

    assert again.status == 409
    assert "already deleted" in again.body["message"]
