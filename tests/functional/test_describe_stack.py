"""Task `describe_stack` against moto: status, outputs, waits, and the first failure."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import boto3

from chalicelib.cfn import stacks
from chalicelib.model import steps
from chalicelib.model.settings import get_settings
from chalicelib.operations import create, failures
from local import stack_timing
from tests.functional.helpers import given_a_requested_cluster, step_context

if TYPE_CHECKING:
    from chalicelib.aws.clients import Clients
    from chalicelib.aws.store import Store

REGION = "us-east-2"


def _created(db: Store, clients: Clients, name: str) -> tuple[str, dict[str, str]]:
    record = given_a_requested_cluster(db, {"name": name, "region": REGION})
    return record["clusterId"], create.create_cluster_stack(
        step_context(db=db, clients=clients), steps.ClusterStep(name=name, clusterId=record["clusterId"])
    )


def test_a_finished_stack_is_done_with_its_outputs(db: Store, clients: Clients) -> None:
    cluster_id, ref = _created(db, clients, "fine")

    state = create.describe_stack(
        step_context(db=db, clients=clients, settings=get_settings()),
        steps.StackStep(name="fine", clusterId=cluster_id, region=REGION, stack=ref),
    )

    assert (state["done"], state["failed"], state["status"]) == (True, False, "CREATE_COMPLETE")
    assert state["outputs"]["Endpoint"].startswith("https://")
    assert state["kind"] == stacks.KIND_CLUSTER
    assert db.get_cluster("fine")["stacks"]["eksctl-fine-cluster"]["status"] == "CREATE_COMPLETE"


def test_a_stack_in_progress_asks_for_a_wait(db: Store, clients: Clients) -> None:
    stack_timing.behaviour.cluster_seconds = 60
    try:
        cluster_id, ref = _created(db, clients, "slow")
        state = create.describe_stack(
            step_context(db=db, clients=clients, settings=get_settings()),
            steps.StackStep(name="slow", clusterId=cluster_id, region=REGION, stack=ref),
        )
    finally:
        stack_timing.behaviour.cluster_seconds = 0

    assert (state["done"], state["failed"], state["status"]) == (False, False, "CREATE_IN_PROGRESS")
    assert state["waitSeconds"] == stacks.MAX_WAIT
    assert "outputs" not in state or not state["outputs"]


def test_a_failed_stack_names_the_resource_that_failed_first(db: Store, clients: Clients) -> None:
    stack_timing.behaviour.fail("eksctl-sad-cluster", "NATGateway", "The maximum number of addresses has been reached.")
    cluster_id, ref = _created(db, clients, "sad")

    state = create.describe_stack(
        step_context(db=db, clients=clients, settings=get_settings()),
        steps.StackStep(name="sad", clusterId=cluster_id, region=REGION, stack=ref),
    )

    assert (state["done"], state["failed"], state["status"]) == (False, True, "ROLLBACK_COMPLETE")
    assert state["reason"] == "The maximum number of addresses has been reached."
    assert state["failedResource"] == "NATGateway"
    stored = db.get_cluster("sad")
    assert stored["stacks"]["eksctl-sad-cluster"]["reason"] == state["reason"]
    assert [e["type"] for e in db.list_events("sad", cluster_id)][-1] == "STACK_ROLLBACK_COMPLETE"
    # The whole state travels into the failure record through the ASL.
    failure = failures.explain_error({"Error": "StackFailed", "Cause": json.dumps(state)})
    assert failure["resource"] == "NATGateway"


def test_an_unchanged_status_writes_nothing(db: Store, clients: Clients) -> None:
    cluster_id, ref = _created(db, clients, "quiet")
    first = create.describe_stack(
        step_context(db=db, clients=clients, settings=get_settings()),
        steps.StackStep(name="quiet", clusterId=cluster_id, region=REGION, stack=ref),
    )
    events_before = db.list_events("quiet", cluster_id)

    create.describe_stack(
        step_context(db=db, clients=clients, settings=get_settings()),
        steps.StackStep(name="quiet", clusterId=cluster_id, region=REGION, stack=first),
    )

    assert db.list_events("quiet", cluster_id) == events_before


def test_first_failure_skips_cancelled_resources() -> None:
    cfn = boto3.client("cloudformation", region_name=REGION)
    assert stacks.first_failure is not None
    cfn.create_stack(StackName="plain", TemplateBody='{"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}')
    assert stacks.first_failure(cfn, "plain") is None
