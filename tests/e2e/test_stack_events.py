"""A step that waits for its stack learns the stack's end from CloudFormation's own events.

On the local engine, as on AWS: the engine's CloudFormation puts "CloudFormation Stack Status
Change" events on EventBridge, the rule infra/template.yaml declares puts our stacks' events on
the stack-events queue, and the queue's event source mapping runs the `stack_events` function,
which answers the waiting task token. Here a state machine made for the test waits with
`lambda:invoke.waitForTaskToken` on a function (in this module) that stores its token and
creates the stack, as a stack step would: no describe, no Wait loop.
"""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from chalicelib.aws.store import Store
from chalicelib.model import naming, settings
from local import stack_timing
from local.engine import ACCOUNT_ID
from tests.e2e.conftest import finished_execution

if TYPE_CHECKING:
    from collections.abc import Callable

    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

TEMPLATE = json.dumps(
    {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}}},
    }
)


def start_stack(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The waiting step's side: keep the token under the stack and the request, then request the stack."""
    import os

    store = Store(boto3.client("dynamodb"), os.environ[settings.ENV_TABLE_NAME])
    store.store_stack_token(event["stack"], event["request"], event["token"], ttl_seconds=3600, now_epoch=0)
    boto3.client("cloudformation").create_stack(
        StackName=event["stack"],
        TemplateBody=TEMPLATE,
        Tags=[{"Key": k, "Value": v} for k, v in naming.ownership_tags("demo", "cid").items()],
        ClientRequestToken=event["request"],
    )
    return {}


def definition(function_arn: str, timeout_seconds: int) -> str:
    return json.dumps(
        {
            "StartAt": "Create Stack",
            "States": {
                "Create Stack": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                    "Parameters": {
                        "FunctionName": function_arn,
                        "Payload": {"token.$": "$$.Task.Token", "stack.$": "$.stack", "request.$": "$.request"},
                    },
                    "HeartbeatSeconds": timeout_seconds - 1,
                    "TimeoutSeconds": timeout_seconds,
                    "ResultPath": "$.stackState",
                    "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.timedOut", "Next": "Timed Out"}],
                    "End": True,
                },
                "Timed Out": {"Type": "Pass", "End": True},
            },
        }
    )


@pytest.fixture(scope="module")
def machine(engine: LocalEngine) -> dict[int, str]:
    """The test's state machines by wait timeout, with the function the waiting task runs."""
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as zf:
        zf.writestr("README.txt", "runs in-process\n")
    function = engine.client("lambda").create_function(
        FunctionName="test-start-stack",
        Runtime="python3.12",
        Role=f"arn:aws:iam::{ACCOUNT_ID}:role/ekspress-local-role",
        Handler=f"{__name__}.start_stack",
        Code={"ZipFile": code.getvalue()},
        Timeout=60,
    )["FunctionArn"]
    sfn = engine.client("stepfunctions")
    return {
        seconds: sfn.create_state_machine(
            name=f"test-wait-for-stack-{seconds}",
            definition=definition(function, seconds),
            roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/ekspress-local-role",
        )["stateMachineArn"]
        for seconds in (2, 60)
    }


def run(engine: LocalEngine, machine_arn: str, stack: str) -> tuple[dict[str, Any], list[str]]:
    sfn = engine.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=machine_arn,
        name=uuid.uuid4().hex,
        input=json.dumps({"stack": stack, "request": f"req-{uuid.uuid4().hex[:8]}"}),
    )["executionArn"]
    execution = finished_execution(engine, arn, timeout=45)
    history = [e["type"] for e in sfn.get_execution_history(executionArn=arn)["events"]]
    return execution, history


def test_the_waiting_step_gets_the_stacks_outputs_from_its_completion_event(
    engine: LocalEngine, machine: dict[int, str]
) -> None:
    stack_timing.behaviour.cluster_seconds = 0.5
    try:
        execution, history = run(engine, machine[60], "eksctl-events-cluster")
    finally:
        stack_timing.behaviour.cluster_seconds = 0.0

    assert execution["status"] == "SUCCEEDED", execution
    state = json.loads(execution["output"])["stackState"]
    assert (state["status"], state["done"], state["failed"]) == ("CREATE_COMPLETE", True, False)
    assert state["outputs"]["TopicArn"].startswith("arn:aws:sns:")
    # One task, answered: no Wait state, no second look.
    assert history.count("TaskStateEntered") == 1
    assert "WaitStateEntered" not in history


def test_the_waiting_step_fails_with_the_first_failed_resource(engine: LocalEngine, machine: dict[int, str]) -> None:
    stack_timing.behaviour.fail("eksctl-broken-cluster", "Topic", "Topic limit exceeded")
    try:
        execution, _ = run(engine, machine[60], "eksctl-broken-cluster")
    finally:
        stack_timing.behaviour.clear()

    assert execution["status"] == "FAILED"
    assert execution["error"] == "StackFailed"
    cause = json.loads(execution["cause"])
    assert (cause["failedResource"], cause["reason"], cause["status"]) == (
        "Topic",
        "Topic limit exceeded",
        "ROLLBACK_COMPLETE",
    )


def test_a_wait_no_event_ends_times_out_into_the_fallback(engine: LocalEngine, machine: dict[int, str]) -> None:
    stack_timing.behaviour.hang("eksctl-stuck-cluster")
    try:
        execution, history = run(engine, machine[2], "eksctl-stuck-cluster")
    finally:
        stack_timing.behaviour.clear()

    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])["timedOut"]["Error"] == "States.Timeout"
    assert "TaskTimedOut" in history


def entered_states(engine: LocalEngine, execution_arn: str) -> list[str]:
    """The states an execution entered, in order (Map iterations included)."""
    sfn = engine.client("stepfunctions")
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def test_a_create_learns_every_stack_end_from_its_event_and_never_polls(api: Api, engine: LocalEngine) -> None:
    stack_timing.behaviour.cluster_seconds = 0.5
    stack_timing.behaviour.nodegroup_seconds = 0.5
    body = {"name": "evented", "managedNodeGroups": [{"name": "one"}, {"name": "two"}]}

    assert api.call("POST", "/clusters", body).status == 202
    record = api.wait_for("evented", {"ACTIVE", "FAILED"})

    assert record["status"] == "ACTIVE", record.get("failure")
    entered = entered_states(engine, record["executionArn"])
    assert entered.count("Create Nodegroup Stack") == 2
    # Each stack step was answered by its event: no missed event, no describe, no Wait.
    assert not [s for s in entered if s.endswith("Event Missed") or s.startswith(("Describe ", "Wait "))], entered
    # The record reads as the describe loop wrote it: every stack's end on the timeline.
    ends = [e["message"] for e in record["events"] if e["type"] == "STACK_CREATE_COMPLETE"]
    assert sorted(ends) == [
        f"Stack {naming.cluster_stack_name('evented')} is CREATE_COMPLETE",
        f"Stack {naming.nodegroup_stack_name('evented', 'one')} is CREATE_COMPLETE",
        f"Stack {naming.nodegroup_stack_name('evented', 'two')} is CREATE_COMPLETE",
    ]
    assert {s["status"] for s in record["stacks"].values()} == {"CREATE_COMPLETE"}


def test_a_missed_event_costs_one_look_and_a_poll_not_the_cluster(
    api: Api, engine: LocalEngine, policy: Callable[..., None]
) -> None:
    # Every wait ends after a second; the cluster stack takes longer, so its step times out, looks
    # for itself and polls. Its event still comes, late, for a token Step Functions dropped: harmless.
    policy(ENV_STACK_EVENT_WAIT_SECONDS="1")
    stack_timing.behaviour.cluster_seconds = 3.0

    assert api.call("POST", "/clusters", {"name": "missed"}).status == 202
    record = api.wait_for("missed", {"ACTIVE", "FAILED"})

    assert record["status"] == "ACTIVE", record.get("failure")
    entered = entered_states(engine, record["executionArn"])
    assert entered[:3] == ["Create Cluster Stack", "Cluster Stack Event Missed", "Describe Cluster Stack"]
    assert "Announce Control Plane" in entered
    assert record["stacks"][naming.cluster_stack_name("missed")]["status"] == "CREATE_COMPLETE"
    assert record["cluster"]["endpoint"]


def test_a_delete_learns_every_stack_end_from_its_event_and_never_polls(api: Api, engine: LocalEngine) -> None:
    body = {"name": "gone", "managedNodeGroups": [{"name": "one"}]}
    assert api.call("POST", "/clusters", body).status == 202
    assert api.wait_for("gone", {"ACTIVE", "FAILED"})["status"] == "ACTIVE"
    stack_timing.behaviour.cluster_seconds = 0.5
    stack_timing.behaviour.nodegroup_seconds = 0.5

    deleting = api.call("DELETE", "/clusters/gone")
    assert deleting.status == 202
    record = api.wait_for("gone", {"DELETED", "DELETE_FAILED"})

    assert record["status"] == "DELETED", record.get("failure")
    entered = entered_states(engine, deleting.body["operation"]["executionArn"])
    assert entered.count("Delete Nodegroup Stack") == 1
    assert entered.count("Delete Cluster Stack") == 1
    assert not [s for s in entered if s.endswith("Event Missed") or s.startswith(("Describe ", "Wait "))], entered
    ends = [e["message"] for e in record["events"] if e["type"] == "STACK_DELETE_COMPLETE"]
    assert sorted(ends) == [
        f"Stack {naming.cluster_stack_name('gone')} is DELETE_COMPLETE",
        f"Stack {naming.nodegroup_stack_name('gone', 'one')} is DELETE_COMPLETE",
    ]


def test_a_cluster_in_another_region_hears_its_stacks_through_that_regions_forwarder(
    api: Api, engine: LocalEngine
) -> None:
    # CloudFormation puts a stack's events on its own region's bus; the forwarder there sends them home.
    assert engine.region != "eu-central-1"
    stack_timing.behaviour.cluster_seconds = 0.5

    assert api.call("POST", "/clusters", {"name": "abroad", "region": "eu-central-1"}).status == 202
    record = api.wait_for("abroad", {"ACTIVE", "FAILED"})

    assert record["status"] == "ACTIVE", record.get("failure")
    entered = entered_states(engine, record["executionArn"])
    assert not [s for s in entered if s.endswith("Event Missed") or s.startswith(("Describe ", "Wait "))], entered


def _settled(api: Api, name: str) -> dict[str, Any]:
    for _ in range(300):
        record = api.call("GET", f"/clusters/{name}").body
        if "operation" not in record:
            return dict(record)
        time.sleep(0.1)
    raise AssertionError(f"{name} still busy: {record.get('operation')}")


def test_node_group_changes_learn_from_events_and_an_unchanged_scale_is_answered_at_once(
    api: Api, engine: LocalEngine
) -> None:
    assert api.call("POST", "/clusters", {"name": "scaled"}).status == 202
    assert api.wait_for("scaled", {"ACTIVE", "FAILED"})["status"] == "ACTIVE"
    stack_timing.behaviour.nodegroup_seconds = 0.5
    change = {"name": "extra", "minSize": 1, "maxSize": 3, "desiredCapacity": 1}
    patches = [("POST", "/clusters/scaled/nodegroups", change)]
    patches += [("PATCH", "/clusters/scaled/nodegroups/extra", {"desiredCapacity": 2, "maxSize": 3})] * 2
    patches += [("DELETE", "/clusters/scaled/nodegroups/extra", None)]

    for method, path, body in patches:
        started = api.call(method, path, body)
        assert started.status == 202, started.body
        _settled(api, "scaled")
        entered = entered_states(engine, started.body["operation"]["executionArn"])
        assert "Nodegroup Changed" in entered, entered
        missed = [s for s in entered if s.endswith("Event Missed") or s.startswith(("Describe ", "Wait "))]
        assert not missed, (method, path, entered)
