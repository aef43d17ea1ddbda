"""Delete workflow tasks against moto: which stacks are ours, deleting them, failures, the end."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import boto3
import pytest

from chalicelib import clusters, naming, stacks, store
from chalicelib.errors import ConflictError
from chalicelib.settings import get_settings
from local import stack_timing
from tests.functional.helpers import given_a_requested_cluster

if TYPE_CHECKING:
    from chalicelib.aws import Clients
    from chalicelib.store import Store

REGION = "us-west-2"
EMPTY = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})


def built(db: Store, clients: Clients, name: str, nodegroups: tuple[str, ...] = ("a",)) -> str:
    """A cluster whose stacks the create workflow made (created in moto, recorded)."""
    body = {"name": name, "managedNodeGroups": [{"name": ng} for ng in nodegroups]}
    record = given_a_requested_cluster(db, body)
    cluster_id = str(record["clusterId"])
    clusters.create_cluster_stack(db, clients, name, cluster_id)
    for nodegroup in nodegroups:
        clusters.create_nodegroup_stack(db, clients, name, cluster_id, nodegroup)
    return cluster_id


def test_only_stacks_tagged_with_the_cluster_id_are_listed(db: Store, clients: Clients) -> None:
    cluster_id = built(db, clients, "web", ("a", "b"))
    cfn = boto3.client("cloudformation", region_name=REGION)
    # Same naming scheme, someone else's: eksctl's own node group, and an old cluster's leftover.
    cfn.create_stack(StackName="eksctl-web-nodegroup-manual", TemplateBody=EMPTY)
    cfn.create_stack(
        StackName="eksctl-web-nodegroup-old",
        TemplateBody=EMPTY,
        Tags=[{"Key": naming.TAG_CLUSTER_ID, "Value": "an-earlier-cluster"}],
    )
    cfn.create_stack(StackName="eksctl-webshop-cluster", TemplateBody=EMPTY)

    listed = clusters.list_stacks(db, clients, "web", cluster_id, REGION)

    assert sorted(s["stackName"] for s in listed["nodegroupStacks"]) == [
        "eksctl-web-nodegroup-a",
        "eksctl-web-nodegroup-b",
    ]
    assert listed["clusterStack"]["stackName"] == "eksctl-web-cluster"
    left_alone = [e["details"]["stack"] for e in db.list_events("web", cluster_id) if e["type"] == "STACK_NOT_OURS"]
    assert sorted(left_alone) == ["eksctl-web-nodegroup-manual", "eksctl-web-nodegroup-old"]


def test_a_node_group_stack_is_deleted_and_its_record_entry_follows(db: Store, clients: Clients) -> None:
    cluster_id = built(db, clients, "web")
    stack = clusters.list_stacks(db, clients, "web", cluster_id, REGION)["nodegroupStacks"][0]

    started = clusters.delete_stack(db, clients, "web", cluster_id, REGION, stack)
    state = clusters.describe_stack_deletion(db, clients, get_settings(), "web", cluster_id, REGION, started)

    assert (started["attempts"], state["done"], state["status"]) == (1, True, "DELETE_COMPLETE")
    assert db.get_cluster("web")["stacks"]["eksctl-web-nodegroup-a"]["status"] == "DELETE_COMPLETE"
    assert [e["type"] for e in db.list_events("web", cluster_id)][-2:] == ["STACK_DELETING", "STACK_DELETE_COMPLETE"]


def test_a_failed_deletion_names_the_resource_and_the_retry_counts_attempts(db: Store, clients: Clients) -> None:
    cluster_id = built(db, clients, "web")
    stack_timing.behaviour.fail_delete("eksctl-web-cluster", "ControlPlane", "Cluster has dependent resources")
    stack = clusters.list_stacks(db, clients, "web", cluster_id, REGION)["clusterStack"]

    first = clusters.delete_stack(db, clients, "web", cluster_id, REGION, stack)
    failed = clusters.describe_stack_deletion(db, clients, get_settings(), "web", cluster_id, REGION, first)
    assert (failed["failed"], failed["failedResource"]) == (True, "ControlPlane")
    assert failed["reason"] == "Cluster has dependent resources"

    # The workflow's Choice sends a first failure back to Delete Cluster Stack, once.
    node_stack = clusters.list_stacks(db, clients, "web", cluster_id, REGION)["nodegroupStacks"][0]
    clusters.delete_stack(db, clients, "web", cluster_id, REGION, node_stack)
    second = clusters.delete_stack(db, clients, "web", cluster_id, REGION, failed)
    done = clusters.describe_stack_deletion(db, clients, get_settings(), "web", cluster_id, REGION, second)
    assert (second["attempts"], done["done"]) == (2, True)
    assert (
        "(attempt 2)" in [e for e in db.list_events("web", cluster_id) if e["type"] == "STACK_DELETING"][-1]["message"]
    )


def test_delete_takes_over_a_create_and_stops_its_execution(db: Store, clients: Clients) -> None:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    role = "arn:aws:iam::123456789012:role/sfn"
    definition = json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}})
    for key in ("create", "delete"):
        sfn.create_state_machine(name=key, definition=definition, roleArn=role)
    arns = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    record = given_a_requested_cluster(db, {"name": "half"})
    execution = sfn.start_execution(stateMachineArn=arns["create"], name="c")["executionArn"]
    db.update_cluster("half", record["clusterId"], {"executionArn": execution})
    settings = get_settings()
    settings = type(settings)(**{**settings.__dict__, "delete_state_machine_arn": arns["delete"]})

    started = clusters.request_delete(db, sfn, settings, "half", "owner")

    assert started["status"] == store.DELETING
    with pytest.raises(ConflictError) as busy:
        clusters.request_delete(db, sfn, settings, "half", "someone-else")
    assert busy.value.details["operation"]["id"] == started["operation"]["id"]
    assert clusters.stop_create(sfn, execution) == {"running": True, "waitSeconds": 1}
    assert clusters.stop_create(sfn, execution)["running"] is False
    with pytest.raises(ConflictError):  # the create's last step can no longer mark it ACTIVE
        clusters.mark_active(db, settings, "half", record["clusterId"], {})


def test_marking_deleted_requires_the_running_delete(db: Store, clients: Clients) -> None:
    record = given_a_requested_cluster(db, {"name": "gone"})
    with pytest.raises(ConflictError):
        clusters.mark_deleted(db, "gone", record["clusterId"], "not-the-operation")
    assert db.get_cluster("gone")["status"] == store.CREATING


def test_a_delete_failure_is_recorded_with_resource_and_reason(db: Store, clients: Clients) -> None:
    record = given_a_requested_cluster(db, {"name": "stuck"})
    operation = {"type": "delete", "id": "op-1"}
    db.begin_operation("stuck", operation, {"status": store.DELETING}, supersedes=("create",))
    error = {
        "Error": "StackDeleteFailed",
        "Cause": json.dumps({"stackName": "eksctl-stuck-cluster", "failedResource": "VPC", "reason": "in use"}),
    }

    result = clusters.record_delete_failure(db, "stuck", record["clusterId"], "op-1", error)

    stored = db.get_cluster("stuck")
    assert stored["status"] == store.DELETE_FAILED == result["status"]
    assert "operation" not in stored
    assert stored["failure"] == {
        "error": "StackDeleteFailed",
        "reason": "in use",
        "stack": "eksctl-stuck-cluster",
        "resource": "VPC",
    }
    assert db.list_events("stuck", record["clusterId"])[-1]["type"] == "DELETE_FAILED"


def test_stack_kinds_come_from_their_names(db: Store, clients: Clients) -> None:
    cluster_id = built(db, clients, "kinds", ("x",))
    ours, others = stacks.owned_stacks(boto3.client("cloudformation", region_name=REGION), "kinds", cluster_id)
    assert {s["stackName"]: s["kind"] for s in ours} == {
        "eksctl-kinds-cluster": stacks.KIND_CLUSTER,
        "eksctl-kinds-nodegroup-x": stacks.KIND_NODEGROUP,
    }
    assert others == []
