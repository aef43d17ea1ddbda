"""Task `delete_kubernetes_load_balancers`: what Kubernetes made for the cluster goes, nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
import pytest

from chalicelib.aws import load_balancers
from chalicelib.model import steps
from chalicelib.model.settings import get_settings
from chalicelib.operations import create, delete
from tests.functional.helpers import given_a_requested_cluster, step_context

if TYPE_CHECKING:
    from chalicelib.aws.clients import Clients
    from chalicelib.aws.store import Store

REGION = "us-west-2"


class World:
    """A cluster VPC with Kubernetes-made load balancers, and look-alikes that are not ours."""

    def __init__(self, cluster: str) -> None:
        self.ec2 = boto3.client("ec2", region_name=REGION)
        self.elb = boto3.client("elb", region_name=REGION)
        self.elbv2 = boto3.client("elbv2", region_name=REGION)
        self.tag = [{"Key": load_balancers.cluster_tag(cluster), "Value": "owned"}]
        self.vpc, self.subnets = self.network("10.1")
        self.other_vpc, self.other_subnets = self.network("10.2")

    def network(self, prefix: str) -> tuple[str, list[str]]:
        vpc = self.ec2.create_vpc(CidrBlock=f"{prefix}.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            self.ec2.create_subnet(VpcId=vpc, CidrBlock=f"{prefix}.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")[
                "Subnet"
            ]["SubnetId"]
            for i, zone in enumerate("ab")
        ]
        return vpc, subnets

    def group(self, name: str, vpc: str, tagged: bool) -> str:
        group = self.ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
        if tagged:
            self.ec2.create_tags(Resources=[group], Tags=self.tag)
        return str(group)

    def v2(self, name: str, subnets: list[str], tagged: bool, groups: list[str] | None = None) -> str:
        extra = {"Tags": self.tag} if tagged else {}
        made = self.elbv2.create_load_balancer(Name=name, Subnets=subnets, SecurityGroups=groups or [], **extra)
        return str(made["LoadBalancers"][0]["LoadBalancerArn"])

    def classic(self, name: str, subnets: list[str], tagged: bool) -> str:
        self.elb.create_load_balancer(
            LoadBalancerName=name,
            Listeners=[{"Protocol": "TCP", "LoadBalancerPort": 443, "InstancePort": 30443}],
            Subnets=subnets,
            **({"Tags": self.tag} if tagged else {}),
        )
        return name

    def v2_names(self) -> set[str]:
        return {lb["LoadBalancerName"] for lb in self.elbv2.describe_load_balancers()["LoadBalancers"]}

    def classic_names(self) -> set[str]:
        return {lb["LoadBalancerName"] for lb in self.elb.describe_load_balancers()["LoadBalancerDescriptions"]}

    def group_ids(self) -> set[str]:
        return {g["GroupId"] for g in self.ec2.describe_security_groups()["SecurityGroups"]}


@pytest.fixture
def world() -> World:
    return World("shop")


def active_in(db: Store, world: World, name: str) -> str:
    record = given_a_requested_cluster(db, {"name": name})
    create.mark_active(
        step_context(db=db, settings=get_settings()),
        steps.ClusterStackDone(name=name, clusterId=record["clusterId"], clusterStack={"outputs": {"VPC": world.vpc}}),
    )
    return str(record["clusterId"])


def test_ours_go_and_look_alikes_stay(db: Store, clients: Clients, world: World) -> None:
    cluster_id = active_in(db, world, "shop")
    ours_group = world.group("k8s-elb-shop", world.vpc, tagged=True)
    world.v2("k8s-shop-web", world.subnets, tagged=True, groups=[ours_group])
    world.classic("k8s-shop-legacy", world.subnets, tagged=True)
    # Not ours: untagged in the cluster's VPC, and tagged for the cluster but in another VPC.
    kept_group = world.group("team-sg", world.vpc, tagged=False)
    world.v2("team-internal", world.subnets, tagged=False)
    world.classic("team-classic", world.subnets, tagged=False)
    world.v2("elsewhere", world.other_subnets, tagged=True)
    elsewhere_group = world.group("k8s-elb-elsewhere", world.other_vpc, tagged=True)

    removed = delete.delete_kubernetes_load_balancers(
        step_context(db=db, clients=clients), steps.RegionStep(name="shop", clusterId=cluster_id, region=REGION)
    )

    assert sorted(removed["loadBalancers"]) == ["k8s-shop-legacy", "k8s-shop-web"]
    assert removed["securityGroups"] == [ours_group]
    assert world.v2_names() == {"team-internal", "elsewhere"}
    assert world.classic_names() == {"team-classic"}
    assert {kept_group, elsewhere_group} <= world.group_ids()
    assert ours_group not in world.group_ids()
    event = db.list_events("shop", cluster_id)[-1]
    assert event["type"] == "KUBERNETES_RESOURCES_DELETED"


def test_a_cluster_without_leftovers_changes_nothing(db: Store, clients: Clients, world: World) -> None:
    cluster_id = active_in(db, world, "shop")
    world.v2("team-internal", world.subnets, tagged=False)

    removed = delete.delete_kubernetes_load_balancers(
        step_context(db=db, clients=clients), steps.RegionStep(name="shop", clusterId=cluster_id, region=REGION)
    )

    assert removed == {"loadBalancers": [], "securityGroups": []}
    assert world.v2_names() == {"team-internal"}
    assert db.list_events("shop", cluster_id)[-1]["type"] == "ACTIVE"


def test_a_cluster_that_never_got_a_vpc_has_nothing_to_clean(db: Store, clients: Clients) -> None:
    record = given_a_requested_cluster(db, {"name": "early"})

    removed = delete.delete_kubernetes_load_balancers(
        step_context(db=db, clients=clients),
        steps.RegionStep(name="early", clusterId=record["clusterId"], region=REGION),
    )

    assert removed == {"loadBalancers": [], "securityGroups": []}


def test_many_load_balancers_are_paged_and_tagged_in_batches(db: Store, clients: Clients, world: World) -> None:
    cluster_id = active_in(db, world, "shop")
    for i in range(25):  # DescribeTags takes at most 20 names at a time
        world.classic(f"k8s-shop-{i}", world.subnets, tagged=i % 2 == 0)

    removed = delete.delete_kubernetes_load_balancers(
        step_context(db=db, clients=clients), steps.RegionStep(name="shop", clusterId=cluster_id, region=REGION)
    )

    assert len(removed["loadBalancers"]) == 13
    assert world.classic_names() == {f"k8s-shop-{i}" for i in range(1, 25, 2)}
