"""Create clusters through the HTTP API; the real state machine runs on the local engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.model import naming
from local import stack_timing
from tests.e2e.conftest import finished_execution

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

REGION = "ap-northeast-1"


def test_given_a_minimal_request_then_the_cluster_becomes_active_with_its_stacks(api: Api, engine: LocalEngine) -> None:
    created = api.call("POST", "/clusters", {"name": "mz-k8s", "region": REGION})

    assert created.status == 202
    assert created.headers["Location"] == "/clusters/mz-k8s"
    assert created.body["status"] == "CREATING"
    record = api.wait_for("mz-k8s", {"ACTIVE", "FAILED"})
    assert record["status"] == "ACTIVE", record.get("failure")
    assert record["phase"] == "DONE"
    assert record["cluster"]["endpoint"].startswith("https://")
    assert record["cluster"]["arn"].endswith(":cluster/mz-k8s")
    ng = record["spec"]["managedNodeGroups"][0]["name"]
    assert {name: s["status"] for name, s in record["stacks"].items()} == {
        "eksctl-mz-k8s-cluster": "CREATE_COMPLETE",
        f"eksctl-mz-k8s-nodegroup-{ng}": "CREATE_COMPLETE",
    }
    kinds = [e["type"] for e in record["events"]]
    assert kinds[:3] == ["REQUESTED", "WORKFLOW_STARTED", "STACK_CREATING"]
    assert kinds[-1] == "ACTIVE"
    assert record["createdAt"] <= record["updatedAt"]

    # What AWS now holds: tagged stacks, a control plane and a sized node group.
    cfn = engine.client("cloudformation", REGION)
    stack = cfn.describe_stacks(StackName="eksctl-mz-k8s-cluster")["Stacks"][0]
    assert naming.is_ours({t["Key"]: t["Value"] for t in stack["Tags"]}, "mz-k8s")
    eks = engine.client("eks", REGION)
    assert eks.describe_cluster(name="mz-k8s")["cluster"]["version"] == record["version"]
    group = eks.describe_nodegroup(clusterName="mz-k8s", nodegroupName=ng)["nodegroup"]
    assert group["scalingConfig"] == {"minSize": 2, "maxSize": 2, "desiredSize": 2}
    assert group["instanceTypes"] == ["m5.large"]
    execution = engine.client("stepfunctions").describe_execution(executionArn=record["executionArn"])
    assert execution["status"] == "SUCCEEDED"


def test_given_two_node_groups_then_both_stacks_are_built(api: Api, engine: LocalEngine) -> None:
    body = {
        "name": "two-groups",
        "region": "eu-west-1",
        "managedNodeGroups": [
            {"name": "general", "instanceType": "m5.xlarge", "minSize": 1, "desiredCapacity": 2, "maxSize": 4},
            {"name": "private", "privateNetworking": True, "labels": {"team": "data"}},
        ],
    }
    assert api.call("POST", "/clusters", body).status == 202

    record = api.wait_for("two-groups", {"ACTIVE", "FAILED"})

    assert record["status"] == "ACTIVE", record.get("failure")
    eks = engine.client("eks", "eu-west-1")
    assert sorted(eks.list_nodegroups(clusterName="two-groups")["nodegroups"]) == ["general", "private"]
    private = eks.describe_nodegroup(clusterName="two-groups", nodegroupName="private")["nodegroup"]
    assert private["labels"] == {"team": "data"}


def test_given_slow_stacks_then_the_record_shows_progress_before_active(api: Api) -> None:
    stack_timing.behaviour.cluster_seconds = 1.5
    stack_timing.behaviour.nodegroup_seconds = 1.0

    assert api.call("POST", "/clusters", {"name": "slow", "region": REGION}).status == 202
    record = api.wait_for("slow", {"ACTIVE", "FAILED"})

    assert record["status"] == "ACTIVE"
    assert record["_seen"][0] == "CREATING"
    describes = [e for e in record["events"] if e["type"] == "STACK_CREATE_COMPLETE"]
    assert len(describes) == 2


def test_given_a_cluster_stack_that_fails_then_the_record_says_which_resource_and_why(
    api: Api, engine: LocalEngine
) -> None:
    reason = "Cannot create cluster 'broken' because us-west-2d does not have sufficient capacity"
    stack_timing.behaviour.fail("eksctl-broken-cluster", "ControlPlane", reason)

    assert api.call("POST", "/clusters", {"name": "broken"}).status == 202
    record = api.wait_for("broken", {"ACTIVE", "FAILED"})

    assert record["status"] == "FAILED"
    assert record["failure"] == {
        "error": "StackFailed",
        "reason": reason,
        "stack": "eksctl-broken-cluster",
        "resource": "ControlPlane",
    }
    assert record["stacks"]["eksctl-broken-cluster"]["status"] == "ROLLBACK_COMPLETE"
    assert record["events"][-1]["type"] == "FAILED"
    assert record["events"][-1]["message"] == reason
    assert finished_execution(engine, record["executionArn"])["status"] == "FAILED"
    # No node group was started after the control plane failed.
    assert not [s for s in record["stacks"] if "-nodegroup-" in s]


def test_given_a_node_group_stack_that_fails_then_the_cluster_is_failed_with_that_reason(api: Api) -> None:
    reason = "Instance type p5.48xlarge is not available in the requested zones"
    stack_timing.behaviour.fail("eksctl-ngfail-nodegroup-gpu", "ManagedNodeGroup", reason)
    body = {"name": "ngfail", "managedNodeGroups": [{"name": "ok"}, {"name": "gpu", "instanceType": "p5.48xlarge"}]}

    assert api.call("POST", "/clusters", body).status == 202
    record = api.wait_for("ngfail", {"ACTIVE", "FAILED"})

    assert record["status"] == "FAILED"
    assert record["failure"]["reason"] == reason
    assert record["failure"]["stack"] == "eksctl-ngfail-nodegroup-gpu"
    assert record["failure"]["resource"] == "ManagedNodeGroup"


def test_given_an_existing_name_then_a_second_request_is_a_conflict_and_starts_nothing(
    api: Api, engine: LocalEngine
) -> None:
    assert api.call("POST", "/clusters", {"name": "taken"}).status == 202
    api.wait_for("taken", {"ACTIVE", "FAILED"})

    again = api.call("POST", "/clusters", {"name": "taken", "region": "eu-west-1"})

    assert again.status == 409
    assert again.body["error"] == "Conflict"
    assert api.call("GET", "/clusters/taken").body["region"] == "us-west-2"
    sfn = engine.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=engine.outputs["create_cluster"])["executions"]
    assert len([e for e in executions if e["name"].startswith("create-taken-")]) == 1


def test_given_the_issue_example_then_422_names_both_fields_and_nothing_is_stored(api: Api) -> None:
    body = {"name": "-bad", "managedNodeGroups": [{"name": "a", "minSize": 3, "desiredCapacity": 1}]}

    reply = api.call("POST", "/clusters", body)

    assert reply.status == 422
    fields = {f["field"]: f for f in reply.body["fields"]}
    assert set(fields) == {"name", "managedNodeGroups[0].desiredCapacity"}
    assert "minSize (3)" in fields["managedNodeGroups[0].desiredCapacity"]["message"]
    assert api.call("GET", "/clusters/-bad").status == 404


def test_malformed_json_is_a_400(api: Api) -> None:
    reply = api.call("POST", "/clusters", raw=b"{not json")

    assert reply.status == 400
    assert "not valid JSON" in reply.body["message"]


def test_unknown_cluster_is_a_404(api: Api) -> None:
    reply = api.call("GET", "/clusters/never-made")

    assert reply.status == 404
    assert reply.body == {"error": "NotFound", "message": "cluster 'never-made' not found", "cluster": "never-made"}


def test_listing_is_paginated(api: Api) -> None:
    for i in range(3):
        assert api.call("POST", "/clusters", {"name": f"page-{i}"}).status == 202

    first = api.call("GET", "/clusters?limit=2")
    assert first.status == 200
    assert len(first.body["clusters"]) == 2
    names = [c["name"] for c in first.body["clusters"]]
    token = first.body["nextToken"]
    while token:
        page = api.call("GET", f"/clusters?limit=2&nextToken={token}").body
        names += [c["name"] for c in page["clusters"]]
        token = page.get("nextToken")

    assert {"page-0", "page-1", "page-2"} <= set(names)
    assert names == sorted(names)
    assert api.call("GET", "/clusters?limit=0").status == 400
