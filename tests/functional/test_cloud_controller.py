"""The local cloud controller: a LoadBalancer Service makes a classic ELB or an NLB in the cluster's public
subnets, tagged as the AWS cloud provider tags them, and takes it away with the Service."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from chalicelib.aws import load_balancers
from local.cloud_controller import CloudController, controllers_for, load_balancer_name
from local.kube.objects import EVENTS, SERVICES, ObjectStore

REGION = "us-west-2"
CLUSTER = "demo"
NLB = {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}


def aws(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def network() -> dict[str, Any]:
    """A VPC as the cluster stack makes it: public subnets tagged for ELBs, private ones for internal ELBs."""
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="192.168.0.0/16")["Vpc"]["VpcId"]
    made: dict[str, Any] = {"vpc": vpc, "public": [], "private": []}
    for index, zone in enumerate("abc"):
        for kind, role, offset in (
            ("public", "kubernetes.io/role/elb", 0),
            ("private", "kubernetes.io/role/internal-elb", 96),
        ):
            subnet = ec2.create_subnet(
                VpcId=vpc,
                CidrBlock=f"192.168.{offset + index * 32}.0/19",
                AvailabilityZone=f"{REGION}{zone}",
                TagSpecifications=[
                    {
                        "ResourceType": "subnet",
                        "Tags": [
                            {"Key": role, "Value": "1"},
                            {"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"},
                        ],
                    }
                ],
            )["Subnet"]["SubnetId"]
            made[kind].append(subnet)
    aws("eks").create_cluster(
        name=CLUSTER,
        roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={"subnetIds": made["public"] + made["private"]},
    )
    return made


def service(name: str = "web", annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "annotations": annotations or {}},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"}],
            **spec,
        },
    }


@pytest.fixture
def cluster() -> SimpleNamespace:
    made = network()
    store = ObjectStore()
    emulator = SimpleNamespace(objects=store, cluster_name=CLUSTER, region=REGION, nodes=lambda: [])
    controllers = controllers_for(emulator, aws)
    (cloud,) = controllers.extra
    return SimpleNamespace(store=store, controllers=controllers, cloud=cloud, **made)


def settle(cluster: SimpleNamespace) -> None:
    for _ in range(3):
        cluster.controllers.reconcile()


def hostname(cluster: SimpleNamespace, name: str = "web") -> str | None:
    status = cluster.store.get(SERVICES, "default", name).get("status") or {}
    ingress = (status.get("loadBalancer") or {}).get("ingress") or [{}]
    return ingress[0].get("hostname")


def tags_of(described: list[dict[str, Any]]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in described[0]["Tags"]}


def test_a_load_balancer_service_gets_a_classic_elb_in_the_public_subnets(cluster: SimpleNamespace) -> None:
    created = cluster.store.create("default", service(), SERVICES)
    settle(cluster)

    elb = aws("elb")
    name = load_balancer_name(created["metadata"]["uid"])
    (found,) = elb.describe_load_balancers()["LoadBalancerDescriptions"]
    assert found["LoadBalancerName"] == name and len(name) == 32
    assert hostname(cluster) == found["DNSName"] and found["DNSName"].endswith("elb.amazonaws.com")
    assert sorted(found["Subnets"]) == sorted(cluster.public)
    assert found["Scheme"] == "internet-facing"
    node_port = cluster.store.get(SERVICES, "default", "web")["spec"]["ports"][0]["nodePort"]
    (listener,) = [d["Listener"] for d in found["ListenerDescriptions"]]
    assert (listener["LoadBalancerPort"], listener["InstancePort"], listener["Protocol"]) == (80, node_port, "TCP")
    tags = tags_of(elb.describe_tags(LoadBalancerNames=[name])["TagDescriptions"])
    assert tags == {f"kubernetes.io/cluster/{CLUSTER}": "owned", "kubernetes.io/service-name": "default/web"}
    (group_id,) = found["SecurityGroups"]
    (group,) = aws("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    assert group["GroupName"] == f"k8s-elb-{name}" and group["VpcId"] == cluster.vpc
    assert {t["Key"]: t["Value"] for t in group["Tags"]}[f"kubernetes.io/cluster/{CLUSTER}"] == "owned"
    assert any(p.get("FromPort") == 80 for p in group["IpPermissions"])
    reasons = [e["reason"] for e in cluster.store.list_of(EVENTS, "default")["items"]]
    assert "EnsuredLoadBalancer" in reasons
    # A Service that does not change is not acted on again.
    settle(cluster)
    reasons = [e["reason"] for e in cluster.store.list_of(EVENTS, "default")["items"]]
    assert reasons.count("EnsuringLoadBalancer") == 1

    cluster.store.delete(SERVICES, "default", "web")
    settle(cluster)

    assert elb.describe_load_balancers()["LoadBalancerDescriptions"] == []
    groups = aws("ec2").describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [cluster.vpc]}])
    assert group_id not in {g["GroupId"] for g in groups["SecurityGroups"]}


def test_an_nlb_annotated_service_gets_a_network_load_balancer(cluster: SimpleNamespace) -> None:
    cluster.store.create("default", service("api", NLB), SERVICES)
    settle(cluster)

    elbv2 = aws("elbv2")
    (found,) = elbv2.describe_load_balancers()["LoadBalancers"]
    assert found["Type"] == "network" and found["Scheme"] == "internet-facing"
    assert hostname(cluster, "api") == found["DNSName"] and found["DNSName"].endswith("elb.amazonaws.com")
    assert sorted(z["SubnetId"] for z in found["AvailabilityZones"]) == sorted(cluster.public)
    tags = tags_of(elbv2.describe_tags(ResourceArns=[found["LoadBalancerArn"]])["TagDescriptions"])
    assert tags == {f"kubernetes.io/cluster/{CLUSTER}": "owned", "kubernetes.io/service-name": "default/api"}
    (listener,) = elbv2.describe_listeners(LoadBalancerArn=found["LoadBalancerArn"])["Listeners"]
    (group,) = elbv2.describe_target_groups(LoadBalancerArn=found["LoadBalancerArn"])["TargetGroups"]
    node_port = cluster.store.get(SERVICES, "default", "api")["spec"]["ports"][0]["nodePort"]
    assert (listener["Port"], listener["Protocol"]) == (80, "TCP")
    assert (group["Port"], group["TargetType"]) == (node_port, "instance")
    assert aws("elb").describe_load_balancers()["LoadBalancerDescriptions"] == []

    cluster.store.delete(SERVICES, "default", "api")
    settle(cluster)

    assert elbv2.describe_load_balancers()["LoadBalancers"] == []
    assert elbv2.describe_target_groups()["TargetGroups"] == []


def test_an_internal_service_goes_in_the_private_subnets(cluster: SimpleNamespace) -> None:
    internal = {"service.beta.kubernetes.io/aws-load-balancer-internal": "true"}
    cluster.store.create("default", service(annotations=internal), SERVICES)
    settle(cluster)

    (found,) = aws("elb").describe_load_balancers()["LoadBalancerDescriptions"]
    assert found["Scheme"] == "internal" and sorted(found["Subnets"]) == sorted(cluster.private)


def test_a_changed_port_changes_the_listeners_and_a_type_change_removes_the_load_balancer(
    cluster: SimpleNamespace,
) -> None:
    cluster.store.create("default", service(), SERVICES)
    settle(cluster)
    current = cluster.store.get(SERVICES, "default", "web")
    current["spec"]["ports"].append({"name": "https", "port": 443, "targetPort": 443, "protocol": "TCP"})
    cluster.store.replace("default", "web", current, SERVICES)
    settle(cluster)

    elb = aws("elb")
    (found,) = elb.describe_load_balancers()["LoadBalancerDescriptions"]
    assert sorted(d["Listener"]["LoadBalancerPort"] for d in found["ListenerDescriptions"]) == [80, 443]

    current = cluster.store.get(SERVICES, "default", "web")
    current["spec"]["type"] = "ClusterIP"
    cluster.store.replace("default", "web", current, SERVICES)
    settle(cluster)

    assert elb.describe_load_balancers()["LoadBalancerDescriptions"] == []
    assert hostname(cluster) is None


def test_the_cluster_deletes_cleanup_finds_what_the_controller_made(cluster: SimpleNamespace) -> None:
    cluster.store.create("default", service(), SERVICES)
    cluster.store.create("default", service("api", NLB), SERVICES)
    settle(cluster)

    removed = load_balancers.delete_load_balancers(aws("elb"), aws("elbv2"), aws("ec2"), CLUSTER, cluster.vpc)

    assert len(removed["loadBalancers"]) == 2 and len(removed["securityGroups"]) == 1
    assert removed["failed"] == []
    # The controller does not make them again while the Services stay as they are.
    settle(cluster)
    assert aws("elb").describe_load_balancers()["LoadBalancerDescriptions"] == []
    assert aws("elbv2").describe_load_balancers()["LoadBalancers"] == []


def test_a_cluster_without_suitable_subnets_gets_a_warning_event() -> None:
    store = ObjectStore()
    cloud = CloudController(store, "missing", aws)
    store.create("default", service(), SERVICES)
    current = store.get(SERVICES, "default", "web")
    current["spec"]["ports"][0]["nodePort"] = 30080
    store.replace("default", "web", current, SERVICES)

    cloud.reconcile()  # DescribeCluster says no such cluster: nothing made, nothing raised

    assert aws("elb").describe_load_balancers()["LoadBalancerDescriptions"] == []
    assert (store.get(SERVICES, "default", "web").get("status") or {}).get("loadBalancer", {}).get("ingress") is None
