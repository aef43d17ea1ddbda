"""Node group change tasks against moto: requests, the stack update, node roles, finishing."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from chalicelib.aws import store
from chalicelib.cfn import stacks
from chalicelib.kube import awsauth
from chalicelib.model import naming, steps
from chalicelib.model.errors import ConflictError, NotFoundError, SpecValidationError, StackNotOursError
from chalicelib.model.settings import get_settings
from chalicelib.operations import create, nodegroup_steps, nodegroups
from chalicelib.operations.access import connect
from tests.functional.helpers import given_a_requested_cluster, settings_with_workflows, step_context

if TYPE_CHECKING:
    from chalicelib.aws.clients import Clients
    from chalicelib.aws.store import Store
    from chalicelib.model.settings import Settings

REGION = "us-west-2"


@pytest.fixture
def settings() -> Settings:
    """Settings with a node group state machine that exists (moto does not run it here)."""
    return settings_with_workflows("nodegroup_state_machine_arn")


def live_cluster(db: Store, clients: Clients, name: str, *groups: str) -> str:
    """A cluster built as the create workflow builds it, stacks complete, marked ACTIVE."""
    record = given_a_requested_cluster(db, {"name": name, "managedNodeGroups": [{"name": g} for g in groups]})
    cluster_id = str(record["clusterId"])
    ref = create.create_cluster_stack(
        step_context(db=db, clients=clients), steps.ClusterStep(name=name, clusterId=cluster_id)
    )
    for group in groups:
        create.create_nodegroup_stack(
            step_context(db=db, clients=clients), steps.NodegroupStep(name=name, clusterId=cluster_id, nodegroup=group)
        )
    outputs = create.describe_stack(
        step_context(db=db, clients=clients, settings=get_settings()),
        steps.StackStep(name=name, clusterId=cluster_id, region=REGION, stack=ref),
    )["outputs"]
    create.mark_active(
        step_context(db=db, settings=get_settings()),
        steps.ClusterStackDone(name=name, clusterId=cluster_id, clusterStack={"outputs": outputs}),
    )
    return cluster_id


def test_scaling_updates_the_stack_and_the_node_group_in_place(db: Store, clients: Clients, settings: Settings) -> None:
    cluster_id = live_cluster(db, clients, "grow", "web")
    started = nodegroups.request_scale(
        step_context(db=db, settings=settings), "grow", "web", {"maxSize": 5, "desiredCapacity": 3}, "me"
    )
    stack = {**nodegroups._stack_ref(db.get_cluster("grow"), "web")}

    updated = nodegroup_steps.update_nodegroup_stack(
        step_context(db=db, clients=clients),
        steps.StackStep(name="grow", clusterId=cluster_id, region=REGION, stack=stack),
    )
    state = create.describe_stack(
        step_context(db=db, clients=clients, settings=get_settings()),
        steps.StackStep(name="grow", clusterId=cluster_id, region=REGION, stack=updated),
    )
    nodegroup_steps.finish(
        step_context(db=db),
        steps.OperationStep(name="grow", clusterId=cluster_id, operationId=started["operation"]["id"]),
    )

    assert (updated["unchanged"], state["status"], state["done"]) == (False, "UPDATE_COMPLETE", True)
    scaling = boto3.client("eks", region_name=REGION).describe_nodegroup(clusterName="grow", nodegroupName="web")
    assert scaling["nodegroup"]["scalingConfig"] == {"minSize": 2, "maxSize": 5, "desiredSize": 3}
    record = db.get_cluster("grow")
    assert record["spec"]["managedNodeGroups"][0]["desiredCapacity"] == 3
    assert "operation" not in record


def test_an_update_to_the_same_sizes_is_already_done(db: Store, clients: Clients, settings: Settings) -> None:
    cluster_id = live_cluster(db, clients, "same", "web")
    nodegroups.request_scale(step_context(db=db, settings=settings), "same", "web", {"desiredCapacity": 2}, "me")
    stack = nodegroups._stack_ref(db.get_cluster("same"), "web")

    assert (
        nodegroup_steps.update_nodegroup_stack(
            step_context(db=db, clients=clients),
            steps.StackStep(name="same", clusterId=cluster_id, region=REGION, stack=stack),
        )["unchanged"]
        is True
    )


def test_a_stack_without_our_cluster_id_is_never_updated(db: Store, clients: Clients) -> None:
    cfn = boto3.client("cloudformation", region_name=REGION)
    body = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
    made = cfn.create_stack(StackName="eksctl-other-nodegroup-x", TemplateBody=body)
    stack = {"stackName": "eksctl-other-nodegroup-x", "stackId": made["StackId"], "kind": stacks.KIND_NODEGROUP}

    with pytest.raises(StackNotOursError):
        stacks.update_stack(cfn, stack, body, "some-cluster-id")


def test_requests_are_checked_before_the_record_is_locked(db: Store, clients: Clients, settings: Settings) -> None:
    live_cluster(db, clients, "strict", "web")

    with pytest.raises(NotFoundError):
        nodegroups.request_scale(step_context(db=db, settings=settings), "strict", "nope", {"desiredCapacity": 1}, "me")
    with pytest.raises(SpecValidationError) as bad:
        nodegroups.request_scale(step_context(db=db, settings=settings), "strict", "web", {"desiredCapacity": 7}, "me")
    assert bad.value.details["fields"][0]["field"] == "desiredCapacity"
    with pytest.raises(ConflictError):
        nodegroups.request_add(step_context(db=db, settings=settings), "strict", {"name": "web"}, "me")
    assert "operation" not in db.get_cluster("strict")


def test_an_added_name_must_keep_the_stack_name_within_cloudformations_limit(
    db: Store, clients: Clients, settings: Settings
) -> None:
    name = "c" * 90
    live_cluster(db, clients, name, "web")
    too_long = "n" * (naming.longest_nodegroup_name(name) + 1)

    with pytest.raises(SpecValidationError) as refused:
        nodegroups.request_add(step_context(db=db, settings=settings), name, {"name": too_long}, "me")

    assert refused.value.details["fields"][0] == {
        "field": "managedNodeGroups[1].name",
        "rule": "stack_name_too_long",
        "message": refused.value.details["fields"][0]["message"],
    }


def test_a_cluster_that_is_not_active_takes_no_node_group_change(db: Store, settings: Settings) -> None:
    given_a_requested_cluster(db, {"name": "young"})

    with pytest.raises(ConflictError) as refused:
        nodegroups.request_add(step_context(db=db, settings=settings), "young", {"name": "more"}, "me")
    assert refused.value.details["status"] == store.CREATING


def test_node_roles_are_mapped_and_unmapped(db: Store, clients: Clients, settings: Settings, kube: Any) -> None:
    cluster_id = live_cluster(db, clients, "roles", "web")
    stack = nodegroups._stack_ref(db.get_cluster("roles"), "web")

    mapped = nodegroup_steps.change_node_role(
        step_context(db=db, clients=clients),
        steps.NodeRoleStep(name="roles", clusterId=cluster_id, region=REGION, action=nodegroup_steps.ADD, stack=stack),
    )
    again = nodegroup_steps.change_node_role(
        step_context(db=db, clients=clients),
        steps.NodeRoleStep(name="roles", clusterId=cluster_id, region=REGION, action=nodegroup_steps.ADD, stack=stack),
    )
    auth = awsauth.parse(connect(clients, REGION, "roles").get_configmap(awsauth.NAMESPACE, awsauth.NAME))
    assert [e["rolearn"] for e in auth.roles].count(mapped["role"]) == 1 and again == mapped
    assert db.get_cluster("roles")["nodeRoles"] == [mapped["role"]]

    nodegroup_steps.change_node_role(
        step_context(db=db, clients=clients),
        steps.NodeRoleStep(
            name="roles", clusterId=cluster_id, region=REGION, action=nodegroup_steps.DELETE, stack=stack
        ),
    )
    auth = awsauth.parse(connect(clients, REGION, "roles").get_configmap(awsauth.NAMESPACE, awsauth.NAME))
    assert mapped["role"] not in [e["rolearn"] for e in auth.roles]
    assert db.get_cluster("roles")["nodeRoles"] == []


def test_a_failure_keeps_the_spec_and_frees_the_cluster(db: Store, clients: Clients, settings: Settings) -> None:
    cluster_id = live_cluster(db, clients, "oops", "web")
    started = nodegroups.request_add(step_context(db=db, settings=settings), "oops", {"name": "gpu"}, "me")
    error = {"Error": "StackFailed", "Cause": json.dumps({"stackName": "s", "reason": "no capacity"})}

    with pytest.raises(ConflictError):
        nodegroup_steps.finish(
            step_context(db=db), steps.OperationStep(name="oops", clusterId=cluster_id, operationId="another-operation")
        )
    nodegroup_steps.record_failure(
        step_context(db=db),
        steps.FailedOperationStep(
            name="oops", clusterId=cluster_id, operationId=started["operation"]["id"], error=error
        ),
    )

    record = db.get_cluster("oops")
    assert [g["name"] for g in record["spec"]["managedNodeGroups"]] == ["web"]
    assert record["lastFailure"]["reason"] == "no capacity"
    assert (record["lastFailure"]["operation"], record["lastFailure"]["nodegroup"]) == ("add", "gpu")
    assert record["lastFailure"]["operationId"] == started["operation"]["id"]  # whose failure it is (the CLI)
    assert "operation" not in record and record["status"] == store.ACTIVE
