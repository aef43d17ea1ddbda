"""Node group changes through the HTTP API, on the local engine: add, scale, delete, one at a time."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from local import stack_timing

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

REGION = "ap-northeast-1"


def settled(api: Api, name: str, timeout: float = 60) -> dict[str, Any]:
    """The record once no operation runs on it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = api.call("GET", f"/clusters/{name}").body
        if "operation" not in record:
            return dict(record)
        time.sleep(0.2)
    raise AssertionError(f"{name} still busy: {record.get('operation')}")


def groups(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["name"]: g for g in record["spec"]["managedNodeGroups"]}


def node_role_mapped(api: Api, name: str, role: str) -> bool:
    access = api.call("GET", f"/clusters/{name}/access").body
    return any(e.get("rolearn") == role and "system:nodes" in e.get("groups", []) for e in access["mapRoles"])


@pytest.fixture(scope="module")
def cluster(api: Api) -> str:
    body = {"name": "fleet", "region": REGION, "managedNodeGroups": [{"name": "base"}]}
    assert api.call("POST", "/clusters", body).status == 202
    assert api.wait_for("fleet", {"ACTIVE", "FAILED"})["status"] == "ACTIVE"
    return "fleet"


def test_add_scale_and_delete_a_node_group(api: Api, engine: LocalEngine, cluster: str) -> None:
    eks = engine.client("eks", REGION)

    added = api.call("POST", f"/clusters/{cluster}/nodegroups", {"name": "batch", "instanceType": "c5.xlarge"})
    assert added.status == 202, added.body
    assert added.body["operation"]["action"] == "add"
    record = settled(api, cluster)
    assert set(groups(record)) == {"base", "batch"}
    assert groups(record)["batch"]["instanceType"] == "c5.xlarge"
    assert "batch" in eks.list_nodegroups(clusterName=cluster)["nodegroups"]
    assert record["stacks"]["eksctl-fleet-nodegroup-batch"]["status"] == "CREATE_COMPLETE"
    batch_role = eks.describe_nodegroup(clusterName=cluster, nodegroupName="batch")["nodegroup"]["nodeRole"]
    assert node_role_mapped(api, cluster, batch_role)
    assert batch_role in record["nodeRoles"]

    scaled = api.call("PATCH", f"/clusters/{cluster}/nodegroups/batch", {"maxSize": 6, "desiredCapacity": 4})
    assert scaled.status == 202, scaled.body
    record = settled(api, cluster)
    assert {k: groups(record)["batch"][k] for k in ("minSize", "desiredCapacity", "maxSize")} == {
        "minSize": 2,
        "desiredCapacity": 4,
        "maxSize": 6,
    }
    scaling = eks.describe_nodegroup(clusterName=cluster, nodegroupName="batch")["nodegroup"]["scalingConfig"]
    assert scaling == {"minSize": 2, "maxSize": 6, "desiredSize": 4}
    assert record["stacks"]["eksctl-fleet-nodegroup-batch"]["status"] == "UPDATE_COMPLETE"

    deleted = api.call("DELETE", f"/clusters/{cluster}/nodegroups/batch")
    assert deleted.status == 202, deleted.body
    record = settled(api, cluster)
    assert set(groups(record)) == {"base"}
    assert "batch" not in eks.list_nodegroups(clusterName=cluster)["nodegroups"]
    assert not node_role_mapped(api, cluster, batch_role)
    assert batch_role not in record["nodeRoles"]
    cfn = engine.client("cloudformation", REGION)
    live = {s["StackName"] for s in cfn.describe_stacks()["Stacks"] if s["StackStatus"] != "DELETE_COMPLETE"}
    assert "eksctl-fleet-nodegroup-batch" not in live
    types = [e["type"] for e in record["events"]]
    for done in ("NODEGROUP_ADDED", "NODEGROUP_SCALED", "NODEGROUP_DELETED"):
        assert done in types
    assert record["status"] == "ACTIVE"


def test_a_second_change_while_one_runs_is_a_conflict_naming_it(api: Api, cluster: str) -> None:
    stack_timing.behaviour.nodegroup_seconds = 2
    first = api.call("POST", f"/clusters/{cluster}/nodegroups", {"name": "slow"})
    assert first.status == 202

    second = api.call("PATCH", f"/clusters/{cluster}/nodegroups/base", {"minSize": 1, "desiredCapacity": 1})
    also = api.call("DELETE", f"/clusters/{cluster}")

    holder = first.body["operation"]
    for refused in (second, also):
        assert refused.status == 409, refused.body
        running = refused.body.get("operation")
        assert isinstance(running, dict), f"the 409 does not name the running operation: {refused.body}"
        fields = ("type", "id", "by", "startedAt", "executionArn", "action", "nodegroup")
        assert {k: running.get(k) for k in fields} == {k: holder[k] for k in fields}
        assert "spec" not in running
    settled(api, cluster)
    assert "slow" in groups(api.call("GET", f"/clusters/{cluster}").body)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("PATCH", "/nodegroups/base", {"desiredCapacity": 9}, 422, "desiredCapacity"),
        ("PATCH", "/nodegroups/base", {}, 422, "(body)"),
        ("PATCH", "/nodegroups/base", {"nodes": 3}, 422, "nodes"),
        ("PATCH", "/nodegroups/nope", {"desiredCapacity": 1}, 404, None),
        ("DELETE", "/nodegroups/nope", None, 404, None),
        ("POST", "/nodegroups", {"name": "base"}, 409, None),
        ("POST", "/nodegroups", {"name": "Bad Name!"}, 422, "name"),
        ("POST", "/nodegroups", {"name": "x", "minSize": 3, "maxSize": 2}, 422, "maxSize"),
    ],
)
def test_bad_changes_are_refused_before_anything_starts(
    api: Api, cluster: str, method: str, path: str, body: Any, status: int, field: str | None
) -> None:
    settled(api, cluster)
    reply = api.call(method, f"/clusters/{cluster}{path}", body)

    assert reply.status == status, reply.body
    if field:
        assert field in [f["field"] for f in reply.body["fields"]]
    assert "operation" not in api.call("GET", f"/clusters/{cluster}").body


def test_a_failed_addition_leaves_the_spec_says_why_and_can_be_tried_again(
    api: Api, engine: LocalEngine, cluster: str
) -> None:
    settled(api, cluster)
    stack_timing.behaviour.fail("eksctl-fleet-nodegroup-broken", "ManagedNodeGroup", "Insufficient capacity")

    assert api.call("POST", f"/clusters/{cluster}/nodegroups", {"name": "broken"}).status == 202
    record = settled(api, cluster)

    assert record["status"] == "ACTIVE"
    assert "broken" not in groups(record)
    assert record["lastFailure"]["reason"] == "Insufficient capacity"
    assert record["lastFailure"]["nodegroup"] == "broken"
    assert record["events"][-1]["type"] == "NODEGROUP_CHANGE_FAILED"
    # The rolled-back stack is removed, so the same name can be tried again.
    cfn = engine.client("cloudformation", REGION)
    live = {s["StackName"] for s in cfn.describe_stacks()["Stacks"] if s["StackStatus"] != "DELETE_COMPLETE"}
    assert "eksctl-fleet-nodegroup-broken" not in live
    stack_timing.behaviour.clear()
    assert api.call("POST", f"/clusters/{cluster}/nodegroups", {"name": "broken"}).status == 202
    again = settled(api, cluster)
    assert "broken" in groups(again), again.get("lastFailure")
