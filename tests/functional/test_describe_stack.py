"""Task `describe_stack` against moto: status, outputs, waits, and the first failure."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import boto3
import pytest

from chalicelib.cfn import stacks
from chalicelib.model import steps
from chalicelib.model.errors import StackTimedOut
from chalicelib.model.settings import get_settings
from chalicelib.operations import create, failures
from local import stack_timing
from tests.functional.helpers import given_a_requested_cluster, step_context

if TYPE_CHECKING:
    from chalicelib.aws.clients import Clients
    from chalicelib.aws.store import Store

REGION = "us-east-2"
ACCOUNT_ID = "123456789012"


def _created(db: Store, clients: Clients, name: str, **request: object) -> tuple[str, dict[str, str]]:
    record = given_a_requested_cluster(db, {"name": name, "region": REGION, **request})
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


@pytest.mark.parametrize("cancelled", ["Resource creation cancelled", "Resource update cancelled"])
def test_resources_cloudformation_cancelled_before_the_real_failure_are_not_the_reason(
    db: Store, clients: Clients, cancelled: str
) -> None:
    """CloudFormation stops the resources still in progress when one fails, often stamped first: never the cause."""
    real = "The maximum number of addresses has been reached."
    stack_timing.behaviour.fail("eksctl-cascade-cluster", "NATGateway", real)
    cluster_id, ref = _created(db, clients, "cascade")
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.describe_stacks(StackName=ref["stackId"])  # the stack fails, as CloudFormation reports it
    given_cancelled_events_before_the_failure(ref["stackId"], ["ControlPlane", "PublicRouteTable"], cancelled)

    state = create.describe_stack(
        step_context(db=db, clients=clients, settings=get_settings()),
        steps.StackStep(name="cascade", clusterId=cluster_id, region=REGION, stack=ref),
    )

    events = cfn.describe_stack_events(StackName=ref["stackId"])["StackEvents"]
    first = min((e for e in events if e["ResourceStatus"] == "CREATE_FAILED"), key=lambda e: e["Timestamp"])
    assert first["ResourceStatusReason"] == cancelled, "the cancelled events come first, so the filter is needed"
    assert (state["failed"], state["failedResource"], state["reason"]) == (True, "NATGateway", real)
    failure = failures.explain_error({"Error": "StackFailed", "Cause": json.dumps(state)})
    assert (failure["resource"], failure["reason"]) == ("NATGateway", real)
    assert db.get_cluster("cascade")["stacks"]["eksctl-cascade-cluster"]["reason"] == real


def given_cancelled_events_before_the_failure(stack_id: str, resources: list[str], reason: str) -> None:
    """Add CREATE_FAILED events CloudFormation writes for resources it cancelled, stamped before the real failure."""
    from moto.cloudformation.models import cloudformation_backends

    stack = cloudformation_backends[ACCOUNT_ID][REGION].get_stack(stack_id)
    (real,) = [e for e in stack.events if e.resource_status == "CREATE_FAILED"]
    for offset, resource in enumerate(resources, start=1):
        event = stack_timing._resource_event(stack, resource, "CREATE_FAILED", reason)
        event.timestamp = real.timestamp - timedelta(seconds=offset)
        stack.events.append(event)


def test_a_stack_with_no_failed_resource_has_no_first_failure() -> None:
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(StackName="plain", TemplateBody='{"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}')
    assert stacks.first_failure(cfn, "plain") is None


# Deadlines: a stack still in progress past its timeout ends the wait with StackTimedOut.


def _look(db: Store, clients: Clients, name: str, cluster_id: str, stack: dict[str, object]) -> dict[str, object]:
    return create.describe_stack(
        step_context(db=db, clients=clients, settings=get_settings()),
        steps.StackStep(name=name, clusterId=cluster_id, region=REGION, stack=stack),
    )


def test_a_stack_still_creating_past_the_default_deadline_times_out(db: Store, clients: Clients) -> None:
    stack_timing.behaviour.hang("eksctl-stuck-cluster", started_seconds_ago=25 * 60 + 5)
    cluster_id, ref = _created(db, clients, "stuck")

    with pytest.raises(StackTimedOut) as raised:
        _look(db, clients, "stuck", cluster_id, ref)

    assert (
        str(raised.value) == "timed out after 25 min waiting for stack eksctl-stuck-cluster (status CREATE_IN_PROGRESS)"
    )
    # The stack is left as CloudFormation has it: deleting the cluster removes it.
    cfn = boto3.client("cloudformation", region_name=REGION)
    assert cfn.describe_stacks(StackName=ref["stackId"])["Stacks"][0]["StackStatus"] == "CREATE_IN_PROGRESS"


def test_the_requested_timeout_is_the_deadline_and_travels_with_the_stack(db: Store, clients: Clients) -> None:
    stack_timing.behaviour.hang("eksctl-patient-cluster", started_seconds_ago=30 * 60)
    cluster_id, ref = _created(db, clients, "patient", timeoutMinutes=40)

    state = _look(db, clients, "patient", cluster_id, ref)

    assert (state["done"], state["failed"], state["timeoutMinutes"]) == (False, False, 40)
    assert state["waitSeconds"] == 20  # past the earliest finish: looked at often, well before the deadline
    # Later looks keep the deadline the first one found, without reading the record again.
    with pytest.raises(StackTimedOut, match=r"^timed out after 15 min waiting for stack eksctl-patient-cluster "):
        _look(db, clients, "patient", cluster_id, {**state, "timeoutMinutes": 15})


def test_the_last_wait_before_the_deadline_ends_at_it(db: Store, clients: Clients) -> None:
    stack_timing.behaviour.hang("eksctl-close-cluster", started_seconds_ago=0)
    _, ref = _created(db, clients, "close")
    cfn = boto3.client("cloudformation", region_name=REGION)
    created = cfn.describe_stacks(StackName=ref["stackId"])["Stacks"][0]["CreationTime"]

    # The same clock as CloudFormation's: the first look, at once, would sleep MAX_WAIT; not past 3 minutes.
    first = stacks.describe(cfn, ref["stackId"], stacks.KIND_CLUSTER, now=lambda: created, timeout_minutes=3)
    late = stacks.describe(
        cfn,
        ref["stackId"],
        stacks.KIND_CLUSTER,
        now=lambda: created + timedelta(minutes=2, seconds=50),
        timeout_minutes=3,
    )

    assert (first.waitSeconds, late.waitSeconds) == (180, 10)
    with pytest.raises(StackTimedOut):
        stacks.describe(
            cfn, ref["stackId"], stacks.KIND_CLUSTER, now=lambda: created + timedelta(minutes=3), timeout_minutes=3
        )


def test_the_deadline_is_kept_on_the_clock_cloudformation_stamps_stacks_with(db: Store, clients: Clients) -> None:
    stack_timing.behaviour.hang("eksctl-clock-cluster")
    _, ref = _created(db, clients, "clock")

    created = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=ref["stackId"])["Stacks"][0]

    # Aware and in UTC, as `describe` compares it with datetime.now(UTC).
    assert timedelta(0) <= datetime.now(UTC) - created["CreationTime"] < timedelta(minutes=1)
