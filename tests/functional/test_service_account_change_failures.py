"""A service account add that fails after its role's stack was made loses that role: no role stays
assumable that the cluster's spec does not list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3

from chalicelib.model import steps
from chalicelib.model.spec import ClusterSpec
from chalicelib.operations import create, rendering, serviceaccount_steps
from tests.functional.helpers import given_a_requested_cluster, step_context

if TYPE_CHECKING:
    from chalicelib.aws.clients import Clients
    from chalicelib.aws.store import Store

REGION = "us-west-2"
ROLE = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
READER = {"metadata": {"name": "reader", "namespace": "apps"}, "attachPolicyARNs": [ROLE]}
STACK = "eksctl-sa-fail-addon-iamserviceaccount-apps-reader"


def status(stack_id: str) -> str:
    cfn = boto3.client("cloudformation", region_name=REGION)
    return str(cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"])


def an_add_whose_stack_was_made(db: Store, clients: Clients) -> tuple[str, dict[str, Any]]:
    """A cluster with its stack, an add operation running, and the new account's role stack made."""
    record = given_a_requested_cluster(db, {"name": "sa-fail", "region": REGION, "iam": {"withOIDC": True}})
    cluster_id = str(record["clusterId"])
    ctx = step_context(db=db, clients=clients)
    create.create_cluster_stack(ctx, steps.ClusterStackStep(name="sa-fail", clusterId=cluster_id))
    target = {**record["spec"], "iam": {"withOIDC": True, "serviceAccounts": [READER]}}
    operation = {"type": "serviceaccount", "action": "add", "serviceAccount": "apps/reader", "id": "op1"}
    db.update_cluster("sa-fail", cluster_id, {"status": "ACTIVE", "operation": {**operation, "spec": target}})
    made = [{"kind": "iamserviceaccount", "member": "apps-reader"}]  # as the add's request renders it
    db.put_templates("sa-fail", "op1", rendering.for_workloads(ClusterSpec.model_validate(target), cluster_id, made))
    ref = create.create_cluster_stack(
        ctx,
        steps.ClusterStackStep(name="sa-fail", clusterId=cluster_id, kind="iamserviceaccount", member="apps-reader"),
    )
    return cluster_id, ref


def test_an_add_that_failed_after_its_stack_deletes_the_role_it_made(db: Store, clients: Clients) -> None:
    cluster_id, ref = an_add_whose_stack_was_made(db, clients)
    assert ref["stackName"] == STACK and status(ref["stackId"]) == "CREATE_COMPLETE"
    error = {"Error": "KubeUnavailableError", "Cause": "the cluster's Kubernetes API did not answer"}

    serviceaccount_steps.record_failure(
        step_context(db=db, clients=clients),
        steps.FailedOperationStep(name="sa-fail", clusterId=cluster_id, operationId="op1", error=error),
    )

    assert status(ref["stackId"]) == "DELETE_COMPLETE"
    record = db.get_cluster("sa-fail")
    assert record["lastFailure"]["serviceAccount"] == "apps/reader"
    assert "serviceAccounts" not in record["spec"].get("iam", {})
    assert "operation" not in record
    events = [e["type"] for e in db.list_events("sa-fail", cluster_id)]
    assert "STACK_DELETING" in events


def test_a_failed_delete_keeps_the_role_the_spec_still_lists(db: Store, clients: Clients) -> None:
    cluster_id, ref = an_add_whose_stack_was_made(db, clients)
    record = db.get_cluster("sa-fail")
    operation = {**record["operation"], "action": "delete"}
    db.update_cluster("sa-fail", cluster_id, {"operation": operation})

    serviceaccount_steps.record_failure(
        step_context(db=db, clients=clients),
        steps.FailedOperationStep(name="sa-fail", clusterId=cluster_id, operationId="op1", error={"Error": "X"}),
    )

    assert status(ref["stackId"]) == "CREATE_COMPLETE"
