"""The local cloud controller end to end: a cluster made through the API runs nginx behind a LoadBalancer Service,
which gets an ELB in the engine; deleting the cluster leaves no load balancer behind."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from local.kube.objects import DEPLOYMENTS, PODS, SERVICES
from tests.e2e.conftest import wait_until

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

REGION = "eu-west-2"
NAME = "lb-walk"


def nginx(replicas: int = 2) -> dict[str, Any]:
    labels = {"app": "nginx"}
    return {
        "metadata": {"name": "nginx", "namespace": "default", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}]}]},
            },
        },
    }


def test_a_load_balancer_service_gets_an_elb_that_goes_with_the_cluster(api: Api, engine: LocalEngine) -> None:
    reply = api.call("POST", "/clusters", {"name": NAME, "region": REGION, "managedNodeGroups": [{"name": "ng"}]})
    assert reply.status == 202, reply.body
    record = api.wait_for(NAME, {"ACTIVE", "FAILED"}, timeout=180)
    assert record["status"] == "ACTIVE", record.get("failure")
    store = engine.emulator(NAME, REGION).objects

    # The nodes are there, so CoreDNS and nginx run on them.
    store.create("default", nginx(), DEPLOYMENTS)
    store.create(
        "default",
        {
            "metadata": {"name": "nginx", "namespace": "default"},
            "spec": {"type": "LoadBalancer", "selector": {"app": "nginx"}, "ports": [{"port": 80, "targetPort": 80}]},
        },
        SERVICES,
    )

    def running(namespace: str, prefix: str) -> list[dict[str, Any]]:
        pods = store.list_of(PODS, namespace)["items"]
        return [p for p in pods if p["metadata"]["name"].startswith(prefix) and p["status"].get("phase") == "Running"]

    wait_until(lambda: len(running("default", "nginx-")) == 2, "nginx's pods to run")
    wait_until(lambda: len(running("kube-system", "coredns-")) == 2, "coredns's pods to run")

    def hostname() -> str | None:
        ingress = (store.get(SERVICES, "default", "nginx").get("status") or {}).get("loadBalancer", {}).get("ingress")
        return str(ingress[0]["hostname"]) if ingress else None

    dns = wait_until(hostname, "the service's load balancer hostname", timeout=60)
    assert dns.endswith("elb.amazonaws.com")
    elb = engine.client("elb", REGION)
    (found,) = elb.describe_load_balancers()["LoadBalancerDescriptions"]
    assert found["DNSName"] == dns
    assert found["VPCId"] == record["cluster"]["vpcId"]
    public = {
        s["SubnetId"]
        for s in engine.client("ec2", REGION).describe_subnets(SubnetIds=found["Subnets"])["Subnets"]
        if any(t["Key"] == "kubernetes.io/role/elb" for t in s.get("Tags") or [])
    }
    assert public == set(found["Subnets"])

    reply = api.call("DELETE", f"/clusters/{NAME}")
    assert reply.status == 202, reply.body
    final = api.wait_for(NAME, {"DELETED", "DELETE_FAILED"}, timeout=180)

    assert final["status"] == "DELETED", final.get("failure")
    # The delete's cleanup found the load balancer and its group by the cloud provider's tags.
    cleaned = next(e for e in final["events"] if e["type"] == "KUBERNETES_RESOURCES_DELETED")
    assert cleaned["details"]["loadBalancers"] == [found["LoadBalancerName"]]
    assert cleaned["details"]["securityGroups"] == found["SecurityGroups"]
    assert elb.describe_load_balancers()["LoadBalancerDescriptions"] == []
    groups = engine.client("ec2", REGION).describe_security_groups()["SecurityGroups"]
    assert not [g for g in groups if g["GroupName"].startswith("k8s-elb-")]
