"""AWS's eksctl getting-started walk, with the real `kubectl` and the real `aws` CLI against the local engine.

Create a cluster by name, look at it with kubectl, let a developer's new IAM user in through aws-auth
(refused first, then a `readonly` group bound to `view`: it may list, not create), run nginx behind a
`LoadBalancer` Service, then delete the cluster and watch the load balancer go with it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.conftest import wait_until

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

NAME = "walk"
REGION = "us-west-2"
KUBECTL = shutil.which("kubectl")
AWS = Path(sys.executable).with_name("aws")

# Outside CI a missing kubectl skips the walk; in CI (.ci/run installs kubectl) it is a failure.
pytestmark = pytest.mark.skipif(
    KUBECTL is None and not os.environ.get("CI"), reason="kubectl is not installed (.ci/run installs it)"
)


def run(args: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(args, capture_output=True, text=True, env=env, timeout=90, check=False)
    if check:
        assert out.returncode == 0, f"{' '.join(args)}\n{out.stdout}\n{out.stderr}"
    return out


def test_the_getting_started_walk_with_kubectl_a_second_iam_user_and_nginx_behind_a_load_balancer(
    api: Api, engine: LocalEngine, tmp_path: Path
) -> None:
    assert KUBECTL is not None
    assert AWS.exists(), "the aws CLI comes with requirements-dev.txt"
    # The engine's own credential is the cluster creator (the local developer).
    admin = {
        **os.environ,
        "PATH": f"{AWS.parent}{os.pathsep}{os.environ['PATH']}",
        "AWS_ENDPOINT_URL": engine.endpoint,
        "AWS_DEFAULT_REGION": REGION,
    }

    # eksctl create cluster --name walk
    reply = api.call("POST", "/clusters", {"name": NAME, "region": REGION, "managedNodeGroups": [{"name": "ng-1"}]})
    assert reply.status == 202, reply.body
    record = api.wait_for(NAME, {"ACTIVE", "FAILED"}, timeout=180)
    assert record["status"] == "ACTIVE", record.get("failure")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(api.call("GET", f"/clusters/{NAME}/kubeconfig").body)
    admin["KUBECONFIG"] = str(kubeconfig)
    kubectl = [KUBECTL]

    # kubectl cluster-info: the control plane and CoreDNS.
    info = run([*kubectl, "cluster-info"], admin).stdout
    assert "Kubernetes control plane is running at https://" in info
    assert "CoreDNS is running at https://" in info

    # kubectl get nodes -o wide: Ready, with the cluster's version, an internal IP and an OS image.
    nodes = json.loads(run([*kubectl, "get", "nodes", "-o", "json"], admin).stdout)["items"]
    assert len(nodes) == 2
    for node in nodes:
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])
        assert node["status"]["nodeInfo"]["kubeletVersion"].startswith(f"v{record['spec']['version']}.")
    wide = run([*kubectl, "get", "nodes", "-o", "wide"], admin).stdout.splitlines()
    assert wide[0].split()[:6] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP"]
    assert all(" Ready " in line and "Amazon Linux" in line for line in wide[1:])

    # The kubeconfig `aws eks update-kubeconfig` writes works as well as the API's.
    written = tmp_path / "written"
    run([str(AWS), "eks", "update-kubeconfig", "--name", NAME, "--kubeconfig", str(written)], admin)
    assert len(run([*kubectl, "--kubeconfig", str(written), "get", "nodes", "-o", "name"], admin).stdout.split()) == 2

    # A developer's new IAM user, made with the aws CLI in the engine, is refused until mapped.
    run([str(AWS), "iam", "create-user", "--user-name", "walk-dev"], admin)
    key = json.loads(run([str(AWS), "iam", "create-access-key", "--user-name", "walk-dev"], admin).stdout)["AccessKey"]
    user_arn = json.loads(run([str(AWS), "iam", "get-user", "--user-name", "walk-dev"], admin).stdout)["User"]["Arn"]
    developer = {k: v for k, v in admin.items() if k != "AWS_SESSION_TOKEN"}
    developer |= {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    refused = run([*kubectl, "get", "pods"], developer, check=False)
    assert refused.returncode != 0
    assert "Unauthorized" in refused.stderr or "provide credentials" in refused.stderr, refused.stderr

    # eksctl create iamidentitymapping --arn USER --username walk-dev --group readonly; readonly is bound to view.
    reply = api.call(
        "POST", f"/clusters/{NAME}/access", {"arn": user_arn, "username": "walk-dev", "groups": ["readonly"]}
    )
    assert reply.status == 202, reply.body
    run([*kubectl, "create", "clusterrolebinding", "readonly", "--clusterrole=view", "--group=readonly"], admin)
    wait_until(lambda: run([*kubectl, "get", "pods"], developer, check=False).returncode == 0, "the mapping to let in")
    denied = run([*kubectl, "run", "intruder", "--image", "nginx", "--restart", "Never"], developer, check=False)
    assert denied.returncode != 0
    assert 'User "walk-dev" cannot create resource "pods"' in denied.stderr, denied.stderr

    # nginx, Running, behind a LoadBalancer Service with an ELB hostname that exists in the engine.
    run([*kubectl, "run", "nginx", "--image", "nginx", "--restart", "Never", "--port", "80"], admin)
    run([*kubectl, "wait", "--for=condition=Ready", "pod/nginx", "--timeout=60s"], admin)
    run([*kubectl, "expose", "pod", "nginx", "--type", "LoadBalancer", "--port", "80"], admin)

    def hostname() -> str | None:
        service = json.loads(run([*kubectl, "get", "service", "nginx", "-o", "json"], admin).stdout)
        ingress = service.get("status", {}).get("loadBalancer", {}).get("ingress") or [{}]
        return ingress[0].get("hostname")

    dns = wait_until(hostname, "the nginx service's load balancer", timeout=60)
    assert dns.endswith(".elb.amazonaws.com")
    described = json.loads(run([str(AWS), "elb", "describe-load-balancers"], admin).stdout)
    assert dns in [lb["DNSName"] for lb in described["LoadBalancerDescriptions"]]
    # The developer may list what runs (view), and sees the service's hostname too.
    assert dns in run([*kubectl, "get", "services", "-o", "wide"], developer).stdout

    # eksctl delete cluster --name walk: the load balancer goes with it.
    assert api.call("DELETE", f"/clusters/{NAME}").status == 202
    final: dict[str, Any] = api.wait_for(NAME, {"DELETED", "DELETE_FAILED"}, timeout=180)
    assert final["status"] == "DELETED", final.get("failure")
    described = json.loads(run([str(AWS), "elb", "describe-load-balancers"], admin).stdout)
    assert dns not in [lb["DNSName"] for lb in described["LoadBalancerDescriptions"]]
