"""Task `delete_kubernetes_load_balancers`: what Kubernetes made for the cluster goes, nothing else.

Never the security group EKS made for the cluster: it is tagged for the cluster like the load
balancers' groups, but the control plane's network interfaces use it (EC2 refuses to delete it),
and EKS deletes it with the cluster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError

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

    def group(self, name: str, vpc: str, tagged: bool, tags: list[dict[str, str]] | None = None) -> str:
        group = self.ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
        if tagged or tags:
            self.ec2.create_tags(Resources=[group], Tags=tags or self.tag)
        return str(group)

    def eks_cluster_group(self, cluster: str) -> str:
        """The group EKS makes for a cluster, on the control plane's network interface (as EKS puts it)."""
        group = self.group(
            f"eks-cluster-sg-{cluster}-1234567890",
            self.vpc,
            tagged=True,
            tags=[*self.tag, {"Key": load_balancers.EKS_CLUSTER_NAME_TAG, "Value": cluster}],
        )
        self.in_use(group)
        return group

    def in_use(self, group: str) -> str:
        """A network interface using `group` (a control plane's, or a load balancer's on its way out)."""
        eni = self.ec2.create_network_interface(SubnetId=self.subnets[0], Groups=[group])
        return str(eni["NetworkInterface"]["NetworkInterfaceId"])

    def v2(
        self,
        name: str,
        subnets: list[str],
        tagged: bool,
        groups: list[str] | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> str:
        extra = {"Tags": tags or self.tag} if tagged or tags else {}
        made = self.elbv2.create_load_balancer(Name=name, Subnets=subnets, SecurityGroups=groups or [], **extra)
        return str(made["LoadBalancers"][0]["LoadBalancerArn"])

    def classic(self, name: str, subnets: list[str], tagged: bool, groups: list[str] | None = None) -> str:
        self.elb.create_load_balancer(
            LoadBalancerName=name,
            Listeners=[{"Protocol": "TCP", "LoadBalancerPort": 443, "InstancePort": 30443}],
            Subnets=subnets,
            **({"Tags": self.tag} if tagged else {}),
            **({"SecurityGroups": groups} if groups else {}),
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

    assert removed == {"loadBalancers": [], "securityGroups": [], "failed": []}
    assert world.v2_names() == {"team-internal"}
    assert db.list_events("shop", cluster_id)[-1]["type"] == "ACTIVE"


def test_a_cluster_that_never_got_a_vpc_has_nothing_to_clean(db: Store, clients: Clients) -> None:
    record = given_a_requested_cluster(db, {"name": "early"})

    removed = delete.delete_kubernetes_load_balancers(
        step_context(db=db, clients=clients),
        steps.RegionStep(name="early", clusterId=record["clusterId"], region=REGION),
    )

    assert removed == {"loadBalancers": [], "securityGroups": [], "failed": []}


def test_many_load_balancers_are_paged_and_tagged_in_batches(db: Store, clients: Clients, world: World) -> None:
    cluster_id = active_in(db, world, "shop")
    for i in range(25):  # DescribeTags takes at most 20 names at a time
        world.classic(f"k8s-shop-{i}", world.subnets, tagged=i % 2 == 0)

    removed = delete.delete_kubernetes_load_balancers(
        step_context(db=db, clients=clients), steps.RegionStep(name="shop", clusterId=cluster_id, region=REGION)
    )

    assert len(removed["loadBalancers"]) == 13
    assert world.classic_names() == {f"k8s-shop-{i}" for i in range(1, 25, 2)}


def cleanup(db: Store, clients: Clients, cluster_id: str) -> dict[str, Any]:
    return delete.delete_kubernetes_load_balancers(
        step_context(db=db, clients=clients), steps.RegionStep(name="shop", clusterId=cluster_id, region=REGION)
    )


def test_only_the_load_balancers_groups_go_and_the_eks_cluster_group_stays(
    db: Store, clients: Clients, world: World
) -> None:
    cluster_id = active_in(db, world, "shop")
    eks_group = world.eks_cluster_group("shop")
    # The cloud provider's classic load balancer with its k8s-elb group; an annotation put EKS's group on it too.
    classic_group = world.group("k8s-elb-a1b2c3", world.vpc, tagged=True)
    world.classic("a1b2c3", world.subnets, tagged=True, groups=[classic_group, eks_group])
    # The Load Balancer Controller's ALB and its managed group, both tagged elbv2.k8s.aws/cluster.
    controller = [{"Key": load_balancers.LOAD_BALANCER_CONTROLLER_TAG, "Value": "shop"}]
    alb_group = world.group("k8s-shop-web-0f1e2d", world.vpc, tagged=True, tags=controller)
    team_group = world.group("team-frontend", world.vpc, tagged=False)  # a group a user put on the ALB
    world.v2("k8s-shop-web-0f1e2d", world.subnets, tagged=True, groups=[alb_group, team_group], tags=controller)
    # Left behind by the makers on their own: a k8s-elb group whose load balancer is gone, a controller group.
    orphan = world.group("k8s-elb-gone", world.vpc, tagged=True)
    backend = world.group("k8s-traffic-shop-9a8b", world.vpc, tagged=True, tags=controller)
    # Tagged for the cluster, but neither a load balancer's nor named as one's: not Kubernetes' to lose.
    nodes = world.group("shop-nodes", world.vpc, tagged=True)
    other_cluster = world.group(
        "k8s-elb-other", world.vpc, tagged=True, tags=[{"Key": "kubernetes.io/cluster/other", "Value": "owned"}]
    )

    removed = cleanup(db, clients, cluster_id)

    assert sorted(removed["loadBalancers"]) == ["a1b2c3", "k8s-shop-web-0f1e2d"]
    assert sorted(removed["securityGroups"]) == sorted([classic_group, alb_group, orphan, backend])
    assert removed["failed"] == []
    assert {eks_group, team_group, nodes, other_cluster} <= world.group_ids()
    assert not {classic_group, alb_group, orphan, backend} & world.group_ids()
    assert "pendingSecurityGroups" not in db.get_cluster("shop")


def test_a_group_still_in_use_does_not_stop_the_rest_and_is_deleted_on_the_retry(
    db: Store, clients: Clients, world: World
) -> None:
    cluster_id = active_in(db, world, "shop")
    world.eks_cluster_group("shop")
    # Groups the cloud provider tagged; named so that only their load balancers lead to them.
    stuck = world.group("shop-web-lb", world.vpc, tagged=True)
    free = world.group("shop-api-lb", world.vpc, tagged=True)
    world.v2("shop-web", world.subnets, tagged=True, groups=[stuck])
    world.v2("shop-api", world.subnets, tagged=True, groups=[free])
    lingering = world.in_use(stuck)  # the load balancer's interface takes a while to go

    with pytest.raises(load_balancers.DependencyViolationError) as raised:
        cleanup(db, clients, cluster_id)

    assert stuck in str(raised.value)
    assert world.v2_names() == set()
    assert free not in world.group_ids()
    event = db.list_events("shop", cluster_id)[-1]
    assert event["type"] == "KUBERNETES_RESOURCES_NOT_DELETED"
    assert event["details"]["securityGroups"] == [free]
    assert [f["resource"] for f in event["details"]["failed"]] == [stuck]
    assert event["details"]["failed"][0]["error"] == "DependencyViolation"
    assert db.get_cluster("shop")["pendingSecurityGroups"] == sorted([stuck, free])

    world.ec2.delete_network_interface(NetworkInterfaceId=lingering)
    retried = cleanup(db, clients, cluster_id)  # what the workflow's DependencyViolationError retry runs

    assert retried == {"loadBalancers": [], "securityGroups": [stuck], "failed": []}
    assert stuck not in world.group_ids()
    assert "pendingSecurityGroups" not in db.get_cluster("shop")
    assert db.list_events("shop", cluster_id)[-1]["type"] == "KUBERNETES_RESOURCES_DELETED"


def test_a_load_balancer_that_cannot_be_deleted_fails_the_step_after_the_rest_went(
    db: Store, clients: Clients, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster_id = active_in(db, world, "shop")
    protected_group = world.group("k8s-elb-protected", world.vpc, tagged=True)
    protected = world.v2("protected", world.subnets, tagged=True, groups=[protected_group])
    world.classic("k8s-shop-legacy", world.subnets, tagged=True)
    elbv2 = clients.client("elbv2", REGION)
    delete_v2 = elbv2.delete_load_balancer

    def deletion_protection(**kwargs: Any) -> Any:
        if kwargs["LoadBalancerArn"] == protected:
            error = {"Code": "OperationNotPermitted", "Message": "Load balancer has deletion protection enabled"}
            raise ClientError({"Error": error}, "DeleteLoadBalancer")
        return delete_v2(**kwargs)

    monkeypatch.setattr(elbv2, "delete_load_balancer", deletion_protection)

    with pytest.raises(load_balancers.KubernetesCleanupError, match="deletion protection"):
        cleanup(db, clients, cluster_id)

    assert world.classic_names() == set()
    assert world.v2_names() == {"protected"}
    assert protected_group in world.group_ids()  # still on its load balancer: not tried
