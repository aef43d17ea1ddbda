"""The emulator's control loops: Deployments make ReplicaSets and pods, pods are scheduled to Ready nodes and
run, Services get Endpoints, and CoreDNS is there from the start."""

from __future__ import annotations

import ipaddress
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from local.cloud_controller import subnet_cidr_finder
from local.kube.controllers import KubeControllers
from local.kube.objects import DEPLOYMENTS, ENDPOINTS, EVENTS, PODS, REPLICASETS, SERVICES, ObjectStore
from local.nodes import NodeShape, managed_nodes_of, node_object

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

REGION = "us-west-2"
ACCOUNT = "123456789012"


def node(index: int, **overrides: Any) -> dict[str, Any]:
    shape = NodeShape(
        name=f"ip-10-0-1-{index}.{REGION}.compute.internal",
        ip=f"10.0.1.{index}",
        zone=f"{REGION}a",
        instance_id=f"i-0{index:016x}",
        instance_type="m5.large",
        family="al2023",
        arch="amd64",
        created="2026-01-01T00:00:00Z",
    )
    for key, value in overrides.items():
        setattr(shape, key, value)
    return node_object(SimpleNamespace(version="1.32"), REGION, shape)


def deployment(name: str = "web", replicas: int = 3, **spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}]}], **spec},
            },
        },
    }


def wait_until[T](probe: Callable[[], T | None], what: str, timeout: float = 10) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(0.05)


class Cluster:
    """A store, its nodes (a list a test may change) and its controllers, running."""

    def __init__(self, nodes: list[dict[str, Any]]) -> None:
        self.store = ObjectStore()
        self.nodes = nodes
        self.controllers = KubeControllers(self.store, lambda: list(self.nodes), cluster_name="demo", region=REGION)

    def items(self, kind: Any, namespace: str | None = "default") -> list[dict[str, Any]]:
        return list(self.store.list_of(kind, namespace)["items"])

    def pods(self, app: str = "web") -> list[dict[str, Any]]:
        return [p for p in self.items(PODS) if (p["metadata"].get("labels") or {}).get("app") == app]

    def running(self, app: str = "web") -> list[dict[str, Any]]:
        return [p for p in self.pods(app) if p["status"].get("phase") == "Running"]


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    made = Cluster([node(10), node(11)])
    made.controllers.start()
    yield made
    made.controllers.stop()


def test_a_deployment_makes_its_replicaset_and_running_pods_on_the_nodes(cluster: Cluster) -> None:
    cluster.store.create("default", deployment(), DEPLOYMENTS)

    pods = wait_until(lambda: len(cluster.running()) == 3 and cluster.running(), "three running pods")

    (rs,) = cluster.items(REPLICASETS)
    made = cluster.store.get(DEPLOYMENTS, "default", "web")
    hashed = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{hashed}"
    assert rs["metadata"]["ownerReferences"][0]["uid"] == made["metadata"]["uid"]
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": hashed}
    nodes = {n["metadata"]["name"]: n for n in cluster.nodes}
    for pod in pods:
        assert pod["metadata"]["name"].startswith(f"web-{hashed}-")
        assert pod["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
        assert pod["metadata"]["labels"]["pod-template-hash"] == hashed
        status = pod["status"]
        assert pod["spec"]["nodeName"] in nodes
        assert status["hostIP"] == nodes[pod["spec"]["nodeName"]]["status"]["addresses"][0]["address"]
        assert ipaddress.ip_address(status["podIP"]) in ipaddress.ip_network("10.0.1.0/24")
        assert status["startTime"]
        assert status["containerStatuses"][0]["ready"] is True
        assert status["containerStatuses"][0]["image"] == "nginx"
        assert "running" in status["containerStatuses"][0]["state"]
        assert {c["type"] for c in status["conditions"] if c["status"] == "True"} >= {"Ready", "PodScheduled"}
    assert len({p["status"]["podIP"] for p in pods}) == 3
    # Round robin: both nodes take pods.
    assert {p["spec"]["nodeName"] for p in pods} == set(nodes)
    # `kubectl rollout status` ends: every count at the desired replicas, the generation observed.
    status = wait_until(
        lambda: (
            (s := cluster.store.get(DEPLOYMENTS, "default", "web").get("status") or {}).get("availableReplicas") == 3
            and s
        ),
        "the deployment's status",
    )
    assert status["replicas"] == status["updatedReplicas"] == status["readyReplicas"] == 3
    assert status["observedGeneration"] >= made["metadata"].get("generation", 0)
    progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == "NewReplicaSetAvailable"
    reasons = {e["reason"] for e in cluster.items(EVENTS)}
    assert {"Scheduled", "Pulled", "Started", "SuccessfulCreate"} <= reasons


def scale(cluster: Cluster, replicas: int) -> None:
    current = cluster.store.get(DEPLOYMENTS, "default", "web")
    current["spec"]["replicas"] = replicas
    cluster.store.replace("default", "web", current, DEPLOYMENTS)


def test_scaling_a_deployment_adds_and_removes_pods(cluster: Cluster) -> None:
    cluster.store.create("default", deployment(replicas=2), DEPLOYMENTS)
    wait_until(lambda: len(cluster.running()) == 2, "two running pods")

    scale(cluster, 5)
    wait_until(lambda: len(cluster.running()) == 5, "five running pods")
    scale(cluster, 1)
    wait_until(lambda: len(cluster.pods()) == 1, "one pod left")

    wait_until(
        lambda: (cluster.store.get(DEPLOYMENTS, "default", "web").get("status") or {}).get("replicas") == 1,
        "the status to say one replica",
    )


def test_a_new_pod_template_rolls_to_a_new_replicaset(cluster: Cluster) -> None:
    cluster.store.create("default", deployment(replicas=2), DEPLOYMENTS)
    wait_until(lambda: len(cluster.running()) == 2, "two running pods")
    current = cluster.store.get(DEPLOYMENTS, "default", "web")
    current["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"
    cluster.store.replace("default", "web", current, DEPLOYMENTS)

    wait_until(
        lambda: (
            {p["spec"]["containers"][0]["image"] for p in cluster.running()} == {"nginx:1.27"}
            and len(cluster.pods()) == 2
        ),
        "the new pods only",
    )
    replicas = sorted(rs["spec"]["replicas"] for rs in cluster.items(REPLICASETS))
    assert replicas == [0, 2]


def test_deleting_a_deployment_deletes_its_replicaset_and_pods(cluster: Cluster) -> None:
    cluster.store.create("default", deployment(replicas=2), DEPLOYMENTS)
    wait_until(lambda: len(cluster.running()) == 2, "two running pods")

    cluster.store.delete(DEPLOYMENTS, "default", "web")

    wait_until(lambda: not cluster.items(REPLICASETS) and not cluster.pods(), "the replicaset and pods to go")


def test_without_nodes_pods_stay_pending_with_a_failed_scheduling_event() -> None:
    empty = Cluster([])
    empty.store.create("default", deployment(replicas=1), DEPLOYMENTS)
    for _ in range(5):
        empty.controllers.reconcile()

    (pod,) = empty.pods()
    assert pod["status"]["phase"] == "Pending" and "nodeName" not in pod["spec"]
    scheduled = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    failed = [e for e in empty.items(EVENTS) if e["reason"] == "FailedScheduling"]
    assert len(failed) == 1  # once, not once a pass
    assert failed[0]["type"] == "Warning" and failed[0]["involvedObject"]["name"] == pod["metadata"]["name"]

    # A node joins (a node group scaled up): the pod is scheduled and runs.
    empty.nodes.append(node(20))
    for _ in range(3):
        empty.controllers.reconcile()
    (pod,) = empty.pods()
    assert pod["spec"]["nodeName"] == empty.nodes[0]["metadata"]["name"]
    assert pod["status"]["phase"] == "Running"


def test_the_scheduler_keeps_off_tainted_nodes_and_honours_node_selectors() -> None:
    tainted = node(30, taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    windows = node(31, family="windows")
    made = Cluster([tainted, windows, node(32)])
    made.store.create("default", deployment(replicas=3, nodeSelector={"kubernetes.io/os": "linux"}), DEPLOYMENTS)
    made.store.create(
        "default", deployment("gpu", 1, tolerations=[{"key": "dedicated", "operator": "Exists"}]), DEPLOYMENTS
    )
    for _ in range(5):
        made.controllers.reconcile()

    assert {p["spec"]["nodeName"] for p in made.pods()} == {made.nodes[2]["metadata"]["name"]}
    assert [p["status"]["phase"] for p in made.pods("gpu")] == ["Running"]


def test_a_service_gets_a_cluster_ip_and_endpoints_from_its_ready_pods(cluster: Cluster) -> None:
    cluster.store.create("default", deployment(replicas=2), DEPLOYMENTS)
    cluster.store.create(
        "default",
        {
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 8080, "targetPort": 80}]},
        },
        SERVICES,
    )

    endpoints = wait_until(
        lambda: (
            (e := next((x for x in cluster.items(ENDPOINTS) if x["metadata"]["name"] == "web"), None))
            and len((e.get("subsets") or [{}])[0].get("addresses") or []) == 2
            and e
        ),
        "the service's endpoints",
    )
    ips = sorted(p["status"]["podIP"] for p in cluster.running())
    (subset,) = endpoints["subsets"]
    assert sorted(a["ip"] for a in subset["addresses"]) == ips
    assert subset["ports"] == [{"port": 80, "protocol": "TCP", "name": "http"}]
    assert {a["targetRef"]["kind"] for a in subset["addresses"]} == {"Pod"}
    service = cluster.store.get(SERVICES, "default", "web")
    assert ipaddress.ip_address(service["spec"]["clusterIP"]) in ipaddress.ip_network("10.100.0.0/16")

    cluster.store.delete(SERVICES, "default", "web")
    wait_until(lambda: all(e["metadata"]["name"] != "web" for e in cluster.items(ENDPOINTS)), "the endpoints to go")


def test_load_balancer_services_get_node_ports() -> None:
    made = Cluster([node(40)])
    made.store.create(
        "default",
        {
            "metadata": {"name": "lb", "namespace": "default"},
            "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}, {"port": 443}]},
        },
        SERVICES,
    )
    made.controllers.reconcile()

    ports = [p["nodePort"] for p in made.store.get(SERVICES, "default", "lb")["spec"]["ports"]]
    assert len(set(ports)) == 2 and all(30000 <= p <= 32767 for p in ports)


def test_coredns_and_the_kubernetes_service_are_there_from_the_start(cluster: Cluster) -> None:
    dns = cluster.store.get(SERVICES, "kube-system", "kube-dns")
    assert dns["spec"]["clusterIP"] == "10.100.0.10"
    assert dns["metadata"]["labels"]["kubernetes.io/cluster-service"] == "true"
    assert dns["metadata"]["labels"]["kubernetes.io/name"] == "CoreDNS"
    assert {(p["port"], p["protocol"]) for p in dns["spec"]["ports"]} >= {(53, "UDP"), (53, "TCP")}
    api = cluster.store.get(SERVICES, "default", "kubernetes")
    assert api["spec"]["clusterIP"] == "10.100.0.1" and api["spec"]["ports"][0]["port"] == 443

    coredns = cluster.store.get(DEPLOYMENTS, "kube-system", "coredns")
    assert coredns["spec"]["replicas"] == 2
    assert coredns["spec"]["template"]["metadata"]["labels"]["k8s-app"] == "kube-dns"
    running = wait_until(
        lambda: (
            [p for p in cluster.items(PODS, "kube-system") if p["status"].get("phase") == "Running"]
            if len(cluster.items(PODS, "kube-system")) == 2
            else None
        ),
        "coredns's pods",
    )
    assert all(p["metadata"]["name"].startswith("coredns-") for p in running)
    endpoints = wait_until(
        lambda: next(
            (
                e
                for e in cluster.items(ENDPOINTS, "kube-system")
                if e["metadata"]["name"] == "kube-dns" and len(e.get("subsets", [{}])[0].get("addresses", [])) == 2
            ),
            None,
        ),
        "kube-dns's endpoints",
    )
    assert endpoints["subsets"][0]["addresses"]


def test_managed_nodes_take_addresses_in_their_subnets_and_pods_follow() -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = {
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]: cidr
        for cidr, zone in (("10.20.32.0/19", f"{REGION}a"), ("10.20.64.0/19", f"{REGION}b"))
    }
    group = SimpleNamespace(
        nodegroup_name="ng",
        instance_types=["t3.medium"],
        ami_type="AL2023_x86_64_STANDARD",
        taints=[],
        labels={},
        scaling_config={"desiredSize": 4},
        subnets=list(subnets),
        launch_template=None,
        capacity_type="ON_DEMAND",
        created_at=None,
    )
    made = SimpleNamespace(
        name="demo", version="1.32", arn=f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/demo", nodegroups={"ng": group}
    )

    nodes = managed_nodes_of(made, REGION)

    networks = [ipaddress.ip_network(c) for c in subnets.values()]
    for found in nodes:
        ip = ipaddress.ip_address(found["status"]["addresses"][0]["address"])
        (inside,) = [n for n in networks if ip in n]
        zone = found["metadata"]["labels"]["topology.kubernetes.io/zone"]
        assert zone == (f"{REGION}a" if str(inside) == "10.20.32.0/19" else f"{REGION}b")
    finder = subnet_cidr_finder(lambda service: boto3.client(service, region_name=REGION))
    cluster = Cluster(nodes)
    cluster.controllers.subnet_cidr = finder
    cluster.store.create("default", deployment(replicas=4), DEPLOYMENTS)
    for _ in range(5):
        cluster.controllers.reconcile()
    by_node = {n["metadata"]["name"]: n for n in nodes}
    for pod in cluster.running():
        node_ip = by_node[pod["spec"]["nodeName"]]["status"]["addresses"][0]["address"]
        network = next(n for n in networks if ipaddress.ip_address(node_ip) in n)
        assert ipaddress.ip_address(pod["status"]["podIP"]) in network
