"""Stack waits end: a stack that never finishes fails the cluster at its deadline, through the HTTP API.

The deadline is wall time (`timeoutMinutes`, not shrunk by the engine's poll scale), so the
stuck stacks here start out nearly that old: stack_timing backdates their CreationTime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from local import stack_timing
from tests.e2e.conftest import finished_execution

if TYPE_CHECKING:
    from collections.abc import Callable

    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

REGION = "ca-central-1"
# Of a one-minute deadline, a stuck stack has used this much when created. With 15 s left,
# the workflow looks at it in time (creating the stack takes seconds on a busy machine),
# waits, looks again until the deadline, and then times out.
MOST_OF_A_MINUTE = 45
# All but a few seconds: the first look may already be past the deadline.
ALMOST_A_MINUTE = 57


@pytest.fixture(autouse=True)
def short_event_waits(policy: Callable[..., None]) -> None:
    """A stuck stack sends no event: its step gives up waiting for one after 3 s (not the 20 s minimum)
    and the describe loop, which enforces the deadline, takes over."""
    policy(ENV_STACK_EVENT_WAIT_SECONDS="3")


def test_given_a_cluster_stack_that_never_completes_then_the_cluster_fails_at_its_deadline(
    api: Api, engine: LocalEngine
) -> None:
    stack_timing.behaviour.hang("eksctl-stuck-cluster", started_seconds_ago=MOST_OF_A_MINUTE)

    created = api.call("POST", "/clusters", {"name": "stuck", "region": REGION, "timeoutMinutes": 1})
    assert created.status == 202
    assert created.body["spec"]["timeoutMinutes"] == 1
    record = api.wait_for("stuck", {"ACTIVE", "FAILED"}, timeout=60)

    reason = "timed out after 1 min waiting for stack eksctl-stuck-cluster (status CREATE_IN_PROGRESS)"
    assert record["status"] == "FAILED"
    assert record["failure"] == {"error": "StackTimedOut", "reason": reason, "stack": "eksctl-stuck-cluster"}
    assert record["events"][-1]["type"] == "FAILED"
    assert record["events"][-1]["message"] == reason
    # The deadline failed the workflow, which recorded why; the execution's own timeout never came into it.
    assert finished_execution(engine, record["executionArn"])["status"] == "FAILED"
    history = engine.client("stepfunctions").get_execution_history(executionArn=record["executionArn"])["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    # Waited for the stack's event while in time (never sent: it hangs), then looked, and failed.
    assert entered[:3] == ["Create Cluster Stack", "Cluster Stack Event Missed", "Describe Cluster Stack"]
    assert not [s for s in record["stacks"] if "-nodegroup-" in s]
    # The stuck stack is left as CloudFormation has it, until the cluster is deleted.
    cfn = engine.client("cloudformation", REGION)
    assert cfn.describe_stacks(StackName="eksctl-stuck-cluster")["Stacks"][0]["StackStatus"] == "CREATE_IN_PROGRESS"

    assert api.call("DELETE", "/clusters/stuck").status == 202
    assert api.wait_for("stuck", {"DELETED", "DELETE_FAILED"})["status"] == "DELETED"
    assert [s["StackStatus"] for s in cfn.describe_stacks()["Stacks"] if s["StackName"] == "eksctl-stuck-cluster"] in (
        [],
        ["DELETE_COMPLETE"],
    )


def test_given_a_node_group_stack_that_never_completes_then_the_failure_names_it(api: Api) -> None:
    stack_timing.behaviour.hang("eksctl-slowng-nodegroup-late", started_seconds_ago=ALMOST_A_MINUTE)
    body = {"name": "slowng", "region": REGION, "timeoutMinutes": 1, "managedNodeGroups": [{"name": "late"}]}

    assert api.call("POST", "/clusters", body).status == 202
    record = api.wait_for("slowng", {"ACTIVE", "FAILED"}, timeout=60)

    assert record["status"] == "FAILED"
    assert record["failure"] == {
        "error": "StackTimedOut",
        "reason": "timed out after 1 min waiting for stack eksctl-slowng-nodegroup-late (status CREATE_IN_PROGRESS)",
        "stack": "eksctl-slowng-nodegroup-late",
    }
    assert record["stacks"]["eksctl-slowng-cluster"]["status"] == "CREATE_COMPLETE"


def test_given_a_timeout_over_the_policy_maximum_then_422_names_it_and_nothing_is_stored(api: Api) -> None:
    reply = api.call("POST", "/clusters", {"name": "patient", "timeoutMinutes": 61})

    assert reply.status == 422
    assert reply.body["fields"] == [
        {
            "field": "timeoutMinutes",
            "rule": "timeout_too_long",
            "message": "timeoutMinutes (61) may be at most 60 minutes per stack (EKSPRESS_MAX_TIMEOUT_MINUTES)",
        }
    ]
    assert api.call("GET", "/clusters/patient").status == 404


def test_given_no_time_at_all_then_422(api: Api) -> None:
    reply = api.call("POST", "/clusters", {"name": "hasty", "timeoutMinutes": 0})

    assert reply.status == 422
    assert [f["field"] for f in reply.body["fields"]] == ["timeoutMinutes"]
