"""Delete workflow tasks against moto: which stacks are ours, deleting them, failures, the end."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import boto3
import pytest

from chalicelib.aws import store
from chalicelib.aws.clients import Clients
from chalicelib.cfn import kinds, stacks
from chalicelib.model import naming, steps
from chalicelib.model.errors import ConflictError
from chalicelib.model.settings import get_settings
from chalicelib.operations import create, delete
from chalicelib.operations.context import Context
from local import stack_timing
from tests.functional.helpers import RecordingSfn, given_a_requested_cluster, step_context

if TYPE_CHECKING:
    from chalicelib.aws.clients import Clients
    from chalicelib.aws.store import Store

REGION = "us-west-2"
EMPTY = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})


def built(db: Store, clients: Clients, name: str, nodegroups: tuple[str, ...] = ("a",)) -> str:
    """A cluster whose stacks the create workflow made (created in moto, recorded)."""
    body = {"name": name, "managedNodeGroups": [{"name": ng} for ng in nodegroups]}
    record = given_a_requested_cluster(db, body)
    cluster_id = str(record["clusterId"])
    create.create_cluster_stack(
        step_context(db=db, clients=clients), steps.ClusterStep(name=name, clusterId=cluster_id)
    )
    for nodegroup in nodegroups:
        create.create_nodegroup_stack(
            step_context(db=db, clients=clients),
            steps.NodegroupStep(name=name, clusterId=cluster_id, nodegroup=nodegroup),
        )
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

    listed = delete.list_stacks(
        step_context(db=db, clients=clients), steps.RegionStep(name="web", clusterId=cluster_id, region=REGION)
    )

    assert sorted(s["stackName"] for s in listed["nodegroupStacks"]) == [
        "eksctl-web-nodegroup-a",
        "eksctl-web-nodegroup-b",
    ]
    assert listed["clusterStack"]["stackName"] == "eksctl-web-cluster"
    left_alone = [e["details"]["stack"] for e in db.list_events("web", cluster_id) if e["type"] == "STACK_NOT_OURS"]
    assert sorted(left_alone) == ["eksctl-web-nodegroup-manual", "eksctl-web-nodegroup-old"]


def test_a_node_group_stack_is_deleted_and_its_record_entry_follows(db: Store, clients: Clients) -> None:
    cluster_id = built(db, clients, "web")
    stack = delete.list_stacks(
        step_context(db=db, clients=clients), steps.RegionStep(name="web", clusterId=cluster_id, region=REGION)
    )["nodegroupStacks"][0]

    started = delete.delete_stack(
        step_context(db=db, clients=clients),
        steps.StackStep(name="web", clusterId=cluster_id, region=REGION, stack=stack),
    )
    state = delete.describe_stack_deletion(
        step_context(db=db, clients=clients, settings=get_settings()),
        steps.StackStep(name="web", clusterId=cluster_id, region=REGION, stack=started),
    )

    assert (started["attempts"], state["done"], state["status"]) == (1, True, "DELETE_COMPLETE")
    assert db.get_cluster("web")["stacks"]["eksctl-web-nodegroup-a"]["status"] == "DELETE_COMPLETE"
    assert [e["type"] for e in db.list_events("web", cluster_id)][-2:] == ["STACK_DELETING", "STACK_DELETE_COMPLETE"]


def test_a_failed_deletion_names_the_resource_and_the_retry_counts_attempts(db: Store, clients: Clients) -> None:
    cluster_id = built(db, clients, "web")
    stack_timing.behaviour.fail_delete("eksctl-web-cluster", "ControlPlane", "Cluster has dependent resources")
    stack = delete.list_stacks(
        step_context(db=db, clients=clients), steps.RegionStep(name="web", clusterId=cluster_id, region=REGION)
    )["clusterStack"]

    first = delete.delete_stack(
        step_context(db=db, clients=clients),
        steps.StackStep(name="web", clusterId=cluster_id, region=REGION, stack=stack),
    )
    failed = delete.describe_stack_deletion(
        step_context(db=db, clients=clients, settings=get_settings()),
        steps.StackStep(name="web", clusterId=cluster_id, region=REGION, stack=first),
    )
    assert (failed["failed"], failed["failedResource"]) == (True, "ControlPlane")
    assert failed["reason"] == "Cluster has dependent resources"

    # The workflow's Choice sends a first failure back to Delete Cluster Stack, once.
    node_stack = delete.list_stacks(
        step_context(db=db, clients=clients), steps.RegionStep(name="web", clusterId=cluster_id, region=REGION)
    )["nodegroupStacks"][0]
    delete.delete_stack(
        step_context(db=db, clients=clients),
        steps.StackStep(name="web", clusterId=cluster_id, region=REGION, stack=node_stack),
    )
    second = delete.delete_stack(
        step_context(db=db, clients=clients),
        steps.StackStep(name="web", clusterId=cluster_id, region=REGION, stack=failed),
    )
    done = delete.describe_stack_deletion(
        step_context(db=db, clients=clients, settings=get_settings()),
        steps.StackStep(name="web", clusterId=cluster_id, region=REGION, stack=second),
    )
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

    started = delete.request_delete(step_context(db=db, settings=settings), "half", "owner")

    assert started["status"] == store.DELETING
    with pytest.raises(ConflictError) as busy:
        delete.request_delete(step_context(db=db, settings=settings), "half", "someone-else")
    assert busy.value.details["operation"]["id"] == started["operation"]["id"]
    assert delete.stop_create(
        step_context(),
        steps.StopCreateStep(name="-", clusterId="-", createExecutionArn=execution),
    ) == {"running": True, "waitSeconds": 1}
    assert (
        delete.stop_create(
            step_context(),
            steps.StopCreateStep(name="-", clusterId="-", createExecutionArn=execution),
        )["running"]
        is False
    )
    with pytest.raises(ConflictError):  # the create's last step can no longer mark it ACTIVE
        create.mark_active(
            step_context(db=db, settings=settings),
            steps.ClusterStackDone(name="half", clusterId=record["clusterId"], clusterStack={"outputs": {}}),
        )


def test_marking_deleted_requires_the_running_delete(db: Store, clients: Clients) -> None:
    record = given_a_requested_cluster(db, {"name": "gone"})
    with pytest.raises(ConflictError):
        delete.mark_deleted(
            step_context(db=db),
            steps.OperationStep(name="gone", clusterId=record["clusterId"], operationId="not-the-operation"),
        )
    assert db.get_cluster("gone")["status"] == store.CREATING


def test_a_delete_failure_is_recorded_with_resource_and_reason(db: Store, clients: Clients) -> None:
    record = given_a_requested_cluster(db, {"name": "stuck"})
    operation = {"type": "delete", "id": "op-1"}
    db.begin_operation("stuck", operation, {"status": store.DELETING}, supersedes=("create",))
    error = {
        "Error": "StackDeleteFailed",
        "Cause": json.dumps({"stackName": "eksctl-stuck-cluster", "failedResource": "VPC", "reason": "in use"}),
    }

    result = delete.record_delete_failure(
        step_context(db=db),
        steps.FailedOperationStep(name="stuck", clusterId=record["clusterId"], operationId="op-1", error=error),
    )

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


def _tags(pairs: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in pairs.items()]


def test_stack_kinds_come_from_their_kind_tags(db: Store, clients: Clients) -> None:
    cluster_id = built(db, clients, "kinds", ("x",))
    cfn = boto3.client("cloudformation", region_name=REGION)

    ours, others = stacks.owned_stacks(cfn, "kinds", cluster_id)

    tagged = {
        s["StackName"]: {t["Key"]: t["Value"] for t in s["Tags"]}.get(naming.TAG_STACK_KIND)
        for s in cfn.describe_stacks()["Stacks"]
    }
    assert tagged == {"eksctl-kinds-cluster": "cluster", "eksctl-kinds-nodegroup-x": "nodegroup"}
    assert ours == [
        {
            "stackName": "eksctl-kinds-nodegroup-x",
            "stackId": ours[0]["stackId"],
            "kind": stacks.KIND_NODEGROUP,
            "nodegroup": "x",
        },
        {"stackName": "eksctl-kinds-cluster", "stackId": ours[1]["stackId"], "kind": stacks.KIND_CLUSTER},
    ]
    assert others == []


def test_a_stack_with_our_name_but_not_our_tags_is_not_ours(db: Store, clients: Clients) -> None:
    cluster_id = built(db, clients, "web", ())
    cfn = boto3.client("cloudformation", region_name=REGION)
    another = {**naming.ownership_tags("web", "another-cluster-id"), naming.TAG_STACK_KIND: "nodegroup"}
    other_name = {**naming.ownership_tags("webshop", cluster_id), naming.TAG_STACK_KIND: "nodegroup"}
    cfn.create_stack(StackName="eksctl-web-nodegroup-another", TemplateBody=EMPTY, Tags=_tags(another))
    cfn.create_stack(StackName="eksctl-web-nodegroup-other-name", TemplateBody=EMPTY, Tags=_tags(other_name))
    cfn.create_stack(StackName="eksctl-web-nodegroup-untagged", TemplateBody=EMPTY)

    ours, others = stacks.owned_stacks(cfn, "web", cluster_id)

    assert [s["stackName"] for s in ours] == ["eksctl-web-cluster"]
    assert sorted((s["stackName"], s["kind"]) for s in others) == [
        ("eksctl-web-nodegroup-another", stacks.KIND_NODEGROUP),
        ("eksctl-web-nodegroup-other-name", stacks.KIND_NODEGROUP),
        ("eksctl-web-nodegroup-untagged", stacks.KIND_NODEGROUP),
    ]


def test_a_stack_from_before_the_kind_tag_is_classified_by_its_name(db: Store, clients: Clients) -> None:
    cluster_id = built(db, clients, "web", ())
    cfn = boto3.client("cloudformation", region_name=REGION)
    older = {**naming.ownership_tags("web", cluster_id), naming.TAG_NODEGROUP: "old"}
    cfn.create_stack(StackName="eksctl-web-nodegroup-old", TemplateBody=EMPTY, Tags=_tags(older))

    ours, others = stacks.owned_stacks(cfn, "web", cluster_id)

    assert [(s["stackName"], s["kind"], s.get("nodegroup")) for s in ours] == [
        ("eksctl-web-nodegroup-old", stacks.KIND_NODEGROUP, "old"),
        ("eksctl-web-cluster", stacks.KIND_CLUSTER, None),
    ]
    assert others == []


def test_node_group_stacks_are_listed_before_the_cluster_stack(db: Store, clients: Clients) -> None:
    cluster_id = built(db, clients, "web", ("b", "a"))

    ours, _ = stacks.owned_stacks(boto3.client("cloudformation", region_name=REGION), "web", cluster_id)

    # By name alone "eksctl-web-cluster" would come first; delete order puts it last.
    assert [s["stackName"] for s in ours] == [
        "eksctl-web-nodegroup-a",
        "eksctl-web-nodegroup-b",
        "eksctl-web-cluster",
    ]


def test_a_kind_tag_this_version_does_not_know_stops_the_listing(db: Store, clients: Clients) -> None:
    cluster_id = built(db, clients, "web", ())
    cfn = boto3.client("cloudformation", region_name=REGION)
    newer = {**naming.ownership_tags("web", cluster_id), naming.TAG_STACK_KIND: "karpenter"}
    cfn.create_stack(StackName="eksctl-web-karpenter", TemplateBody=EMPTY, Tags=_tags(newer))

    with pytest.raises(kinds.UnknownStackKindError, match="'karpenter'"):
        stacks.owned_stacks(cfn, "web", cluster_id)


def test_a_waiting_deletion_of_a_stack_already_deleted_is_answered_at_once(
    db: Store, clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An earlier request deleted it (a delete workflow run again): a DeleteStack now would send no
    # event for this request's token, so the step would wait out its whole wait.
    cluster_id = built(db, clients, "web")
    stack = delete.list_stacks(
        step_context(db=db, clients=clients), steps.RegionStep(name="web", clusterId=cluster_id, region=REGION)
    )["nodegroupStacks"][0]
    delete.delete_stack(
        step_context(db=db, clients=clients),
        steps.StackStep(name="web", clusterId=cluster_id, region=REGION, stack=stack),
    )
    sfn = RecordingSfn()
    monkeypatch.setattr(Context, "sfn", property(lambda self: sfn))

    state = delete.delete_stack(
        step_context(db=db, clients=clients),
        steps.StackStep(name="web", clusterId=cluster_id, region=REGION, stack=stack, taskToken="t"),
    )

    assert (state["done"], state["status"]) == (True, "DELETE_COMPLETE")
    assert sfn.answers == [("success", "t")]
    assert db.get_cluster("web")["stacks"]["eksctl-web-nodegroup-a"]["status"] == "DELETE_COMPLETE"
