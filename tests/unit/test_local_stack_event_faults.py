"""The local engine's stack event delivery faults put (or hold back) the events they say (local/stack_events.py)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from local import stack_events

STACK_ID = "arn:aws:cloudformation:us-west-2:123456789012:stack/eksctl-demo-cluster/1"


@dataclass
class Event:
    resource_status: str
    resource_type: str = stack_events.STACK_TYPE
    logical_resource_id: str = "eksctl-demo-cluster"
    resource_status_reason: str = ""
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Stack:
    events: list[Event]
    name: str = "eksctl-demo-cluster"
    stack_id: str = STACK_ID
    status: str = "CREATE_COMPLETE"


@pytest.fixture
def put(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statuses put on the bus, in order."""
    sent: list[str] = []

    def record(account_id: str, region: str, entry: dict[str, Any]) -> None:
        sent.append(json.loads(entry["Detail"])["status-details"]["status"])

    monkeypatch.setattr(stack_events, "_put", record)
    monkeypatch.setattr(stack_events, "behaviour", stack_events.EventBehaviour())
    return sent


def flush() -> None:
    stack = Stack([Event("CREATE_IN_PROGRESS"), Event("CREATE_COMPLETE")])
    stack_events.flush(stack, "123456789012", "us-west-2")


def test_without_faults_every_event_is_put_once_in_order(put: list[str]) -> None:
    flush()
    assert put == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]


def test_a_dropped_terminal_event_never_reaches_the_bus(put: list[str]) -> None:
    stack_events.behaviour.drop("eksctl-demo-*")
    flush()
    assert put == ["CREATE_IN_PROGRESS"]
    assert stack_events.behaviour.count(stack_events.DROP) == 1


def test_duplicated_events_reach_the_bus_twice(put: list[str]) -> None:
    stack_events.behaviour.duplicate("eksctl-demo-*", times=2)
    flush()
    assert put == ["CREATE_IN_PROGRESS", "CREATE_IN_PROGRESS", "CREATE_COMPLETE", "CREATE_COMPLETE"]


def test_a_reordered_stack_puts_its_end_before_its_start(put: list[str]) -> None:
    stack_events.behaviour.reorder("eksctl-demo-*")
    flush()
    assert put == ["CREATE_COMPLETE", "CREATE_IN_PROGRESS"]


def test_a_delayed_event_is_put_by_the_pump_once_due(put: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack_events, "_backends", list)
    stack_events.behaviour.delay("eksctl-demo-*", 0.2)
    flush()
    assert put == ["CREATE_IN_PROGRESS"]
    assert stack_events.pump_once() == 0
    time.sleep(0.25)
    assert stack_events.pump_once() == 1
    assert put == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]


def test_other_stacks_are_not_faulted(put: list[str]) -> None:
    stack_events.behaviour.drop("eksctl-other-*")
    flush()
    assert put == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]
    assert stack_events.behaviour.armed() == 1


def test_uninstalling_puts_back_everything_install_patched() -> None:
    # A functional test installs and uninstalls; an engine later in the same process must find moto whole.
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    stack_events.uninstall()  # whatever an earlier engine in this process left installed
    before = (StepFunctionsParserBackend._get_executions, CloudFormationResponse.create_stack)
    stack_events.install()
    stack_events.uninstall()

    assert (StepFunctionsParserBackend._get_executions, CloudFormationResponse.create_stack) == before
    assert not hasattr(CloudFormationResponse, "get_executions")
