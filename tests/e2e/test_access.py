"""Who may use a cluster: aws-auth through the EKS token, edits through the API, kubectl."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.model import settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

DEV = "arn:aws:iam::123456789012:role/Dev"
ALICE = "arn:aws:iam::123456789012:user/alice"
PLATFORM = "arn:aws:iam::123456789012:role/platform-admin"


@pytest.fixture(scope="module")
def cluster(api: Api) -> dict[str, Any]:
    body = {
        "name": "access",
        "managedNodeGroups": [{"name": "a"}, {"name": "b", "desiredCapacity": 1}],
        "iamIdentityMappings": [
            {"arn": DEV, "username": "dev", "groups": ["developers"]},
            {"account": "111122223333"},
        ],
    }
    assert api.call("POST", "/clusters", body).status == 202
    record = api.wait_for("access", {"ACTIVE", "FAILED"})
    assert record["status"] == "ACTIVE", record.get("failure")
    return record


def wait_for_executions(engine: LocalEngine, prefix: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    sfn = engine.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        executions = [
            e
            for e in sfn.list_executions(stateMachineArn=engine.outputs["update_access"])["executions"]
            if e["name"].startswith(prefix)
        ]
        if len(executions) >= count and all(e["status"] != "RUNNING" for e in executions):
            return list(executions)
        time.sleep(0.2)
    raise AssertionError(f"access executions {prefix}* did not finish")


def test_a_new_cluster_maps_its_node_roles_and_requested_identities(api: Api, cluster: dict[str, Any]) -> None:
    reply = api.call("GET", "/clusters/access/access")

    assert reply.status == 200
    roles = reply.body["mapRoles"]
    node_roles = [r["rolearn"] for r in roles if "system:nodes" in r.get("groups", [])]
    assert sorted(node_roles) == sorted(cluster["nodeRoles"])
    assert len(node_roles) == 2
    assert {"rolearn": DEV, "username": "dev", "groups": ["developers"]} in roles
    assert reply.body["mapAccounts"] == ["111122223333"]
    assert "AWS_AUTH_UPDATED" in [e["type"] for e in cluster["events"]]


def test_mappings_are_added_and_removed_through_the_api(api: Api, engine: LocalEngine, cluster: dict[str, Any]) -> None:
    added = api.call("POST", "/clusters/access/access", {"arn": ALICE, "username": "alice", "groups": ["viewers"]})
    assert added.status == 202
    assert added.body["executionArn"].rsplit(":", 1)[1].startswith("access-access-")
    wait_for_executions(engine, "access-access-", 1)
    assert {"userarn": ALICE, "username": "alice", "groups": ["viewers"]} in api.call(
        "GET", "/clusters/access/access"
    ).body["mapUsers"]

    removed = api.call("DELETE", f"/clusters/access/access?arn={ALICE}")
    assert removed.status == 202
    executions = wait_for_executions(engine, "access-access-", 2)
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    assert ALICE not in json.dumps(api.call("GET", "/clusters/access/access").body)
    events = [e["type"] for e in api.call("GET", "/clusters/access").body["events"]]
    assert events.count("ACCESS_CHANGED") >= 2


def test_a_node_role_cannot_be_removed(api: Api, cluster: dict[str, Any]) -> None:
    reply = api.call("DELETE", f"/clusters/access/access?arn={cluster['nodeRoles'][0]}")

    assert reply.status == 409
    assert reply.body["error"] == "ProtectedMapping"


def test_granting_cluster_admin_is_refused_without_policy(api: Api, cluster: dict[str, Any]) -> None:
    reply = api.call("POST", "/clusters/access/access", {"arn": DEV + "2", "groups": ["system:masters"]})

    assert reply.status == 403
    assert "system:masters" in reply.body["message"]


def test_a_bad_mapping_names_its_field(api: Api, cluster: dict[str, Any]) -> None:
    reply = api.call("POST", "/clusters/access/access", {"arn": "not-an-arn", "groups": ["system:nodes"]})

    assert reply.status == 422
    assert "arn" in {f["field"] for f in reply.body["fields"]}


def test_many_parallel_edits_are_all_kept(api: Api, engine: LocalEngine, cluster: dict[str, Any]) -> None:
    arns = [f"arn:aws:iam::123456789012:role/Parallel{i}" for i in range(20)]

    with ThreadPoolExecutor(max_workers=10) as pool:
        replies = list(pool.map(lambda a: api.call("POST", "/clusters/access/access", {"arn": a}), arns))

    assert {r.status for r in replies} == {202}
    wait_for_executions(engine, "access-access-", 2 + len(arns))
    mapped = {r["rolearn"] for r in api.call("GET", "/clusters/access/access").body["mapRoles"]}
    assert set(arns) <= mapped


def test_access_on_an_unknown_cluster_is_404(api: Api) -> None:
    assert api.call("GET", "/clusters/nobody/access").status == 404


def test_kubectl_reads_aws_auth_with_the_kubeconfig_from_the_api(
    api: Api, engine: LocalEngine, cluster: dict[str, Any], tmp_path: Path
) -> None:
    kubectl = shutil.which("kubectl")
    aws = Path(sys.executable).with_name("aws")
    if kubectl is None:
        pytest.skip("kubectl is not installed (Debian package kubernetes-client)")
    if not aws.exists():
        pytest.skip("the aws CLI is not installed in this environment")
    reply = api.call("GET", "/clusters/access/kubeconfig")
    assert reply.status == 200
    config = tmp_path / "kubeconfig"
    assert reply.headers["Content-Type"] == "application/yaml"
    config.write_text(reply.body)
    env = {**os.environ, "PATH": f"{aws.parent}{os.pathsep}{os.environ['PATH']}", "KUBECONFIG": str(config)}

    out = subprocess.run(
        [kubectl, "get", "configmap", "aws-auth", "-n", "kube-system", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )

    assert out.returncode == 0, out.stderr
    configmap = json.loads(out.stdout)
    assert DEV in configmap["data"]["mapRoles"]
    nodes = subprocess.run(
        [kubectl, "get", "nodes", "-o", "name"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert nodes.returncode == 0, nodes.stderr
    assert len(nodes.stdout.split()) == 3  # 2 + 1 desired nodes


def _executions(engine: LocalEngine) -> int:
    sfn = engine.client("stepfunctions")
    return len(sfn.list_executions(stateMachineArn=engine.outputs["update_access"])["executions"])


def test_granting_system_masters_later_is_only_for_callers_in_the_masters_allow_list(
    api: Api, engine: LocalEngine, cluster: dict[str, Any], policy: Callable[..., None]
) -> None:
    """The owner may change access, but not grant cluster-admin unless the policy names them."""
    policy(ENV_MASTERS_ALLOWED="arn:aws:iam::123456789012:role/platform-*", ENV_ADMINS=PLATFORM)
    admin = "arn:aws:iam::123456789012:role/LaterAdmin"
    started = _executions(engine)

    refused = api.call("POST", "/clusters/access/access", {"arn": admin, "groups": ["system:masters"]})

    assert refused.status == 403, refused.body
    assert (refused.body["field"], refused.body["rule"]) == ("groups", "cluster_admin_not_allowed")
    assert refused.body["setting"] == settings.ENV_MASTERS_ALLOWED
    assert _executions(engine) == started
    assert admin not in json.dumps(api.call("GET", "/clusters/access/access").body)

    allowed = api.call("POST", "/clusters/access/access", {"arn": admin, "groups": ["system:masters"]}, caller=PLATFORM)

    assert allowed.status == 202, allowed.body
    wait_for_executions(engine, "access-access-", started + 1)
    roles = api.call("GET", "/clusters/access/access").body["mapRoles"]
    assert {"rolearn": admin, "groups": ["system:masters"]} in [
        {k: v for k, v in r.items() if k != "username"} for r in roles
    ]


def test_mapping_to_a_system_user_is_refused_like_system_masters(
    api: Api, engine: LocalEngine, cluster: dict[str, Any], policy: Callable[..., None]
) -> None:
    policy(ENV_MASTERS_ALLOWED="arn:aws:iam::123456789012:role/platform-*")
    started = _executions(engine)
    body = {"arn": "arn:aws:iam::123456789012:role/Sneaky", "username": "system:kube-controller-manager"}

    refused = api.call("POST", "/clusters/access/access", body)

    assert refused.status == 403, refused.body
    assert refused.body["field"] == "username"
    assert _executions(engine) == started


def test_a_node_role_cannot_be_mapped_again_with_other_groups(
    api: Api, engine: LocalEngine, cluster: dict[str, Any]
) -> None:
    started = _executions(engine)

    reply = api.call(
        "POST",
        "/clusters/access/access",
        {"arn": cluster["nodeRoles"][0], "groups": ["cluster-admins"], "noDuplicateARNs": False},
    )

    assert reply.status == 409, reply.body
    assert reply.body["error"] == "ProtectedMapping"
    assert _executions(engine) == started
