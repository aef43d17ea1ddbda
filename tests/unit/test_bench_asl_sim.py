"""The bench's Step Functions simulator runs waiting tasks as Step Functions does (bench/asl_sim.py)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from bench import workflow_sim
from bench.asl_sim import Answer, Interpreter, SimError, Trace
from statemachine.conventions import WAIT_FOR_TOKEN_RESOURCE

CREATE = "${CreateStackFunctionArn}"
DESCRIBE = "${DescribeStackFunctionArn}"
LATENCY = 0.5
STACK_SECONDS = 100.0
DELIVERY = 1.5


def machine() -> dict[str, Any]:
    """A waiting stack step with the deployed shape: timeout from the input, Catch of States.Timeout into a
    Pass "... Event Missed" and the describe loop."""
    return {
        "StartAt": "Create Stack",
        "States": {
            "Create Stack": {
                "Type": "Task",
                "Resource": WAIT_FOR_TOKEN_RESOURCE,
                "Parameters": {
                    "FunctionName": CREATE,
                    "Payload": {"name.$": "$.name", "taskToken.$": "$$.Task.Token", "execution.$": "$$.Execution.Name"},
                },
                "TimeoutSecondsPath": "$.eventWaits.stack",
                "ResultPath": "$.stack",
                "Catch": [
                    {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.eventMissed", "Next": "Stack Event Missed"},
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Stack Failed"},
                ],
                "Next": "Done",
            },
            "Stack Event Missed": {
                "Type": "Pass",
                "Parameters": {"kind": "nodegroup", "name.$": "$.name"},
                "ResultPath": "$.stack",
                "Next": "Describe Stack",
            },
            "Describe Stack": {
                "Type": "Task",
                "Resource": DESCRIBE,
                "Parameters": {"stack.$": "$.stack"},
                "ResultPath": "$.stack",
                "Next": "Is Stack Done?",
            },
            "Is Stack Done?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.stack.done", "BooleanEquals": True, "Next": "Done"}],
                "Default": "Wait For Stack",
            },
            "Wait For Stack": {"Type": "Wait", "SecondsPath": "$.stack.waitSeconds", "Next": "Describe Stack"},
            "Stack Failed": {"Type": "Fail", "Error": "StackFailed"},
            "Done": {"Type": "Succeed"},
        },
    }


class Stack:
    """One stack that finishes `STACK_SECONDS` after its create; its event is delivered, late, failed or lost."""

    def __init__(self, delivery: float | None = DELIVERY, failed: bool = False) -> None:
        self.delivery = delivery
        self.failed = failed
        self.payloads: list[dict[str, Any]] = []
        self.tokens: dict[str, float] = {}
        self.describes: list[float] = []

    def handlers(self) -> dict[str, Any]:
        return {CREATE: self.create, DESCRIBE: self.describe}

    def create(self, payload: dict[str, Any], now: float) -> dict[str, Any]:
        self.payloads.append(payload)
        self.tokens[payload["taskToken"]] = now + STACK_SECONDS
        return {"ignored": True}

    def describe(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        self.describes.append(now)
        done = now >= min(self.tokens.values())
        return {**params["stack"], "done": done, "waitSeconds": 10}

    def answer(self, token: str, now: float) -> Answer | None:
        finished = self.tokens[token]
        if self.delivery is None:
            return None
        if self.failed:
            return Answer(finished + self.delivery, error=SimError("StackFailed", '{"reason": "capacity"}'))
        return Answer(finished + self.delivery, {"status": "CREATE_COMPLETE", "done": True})


def run(stack: Stack, timeout: float = 600, **kwargs: Any) -> tuple[Any, Trace]:
    interpreter = Interpreter(machine(), stack.handlers(), lambda: LATENCY, answers=stack.answer, **kwargs)
    trace = Trace()
    outcome = interpreter.run({"name": "c1", "eventWaits": {"stack": timeout}}, 0.0, trace, execution="exec-1")
    return outcome, trace


def test_a_waiting_task_invokes_its_function_once_and_ends_when_the_event_is_delivered() -> None:
    stack = Stack()
    outcome, trace = run(stack)

    assert outcome.status == "SUCCEEDED"
    assert outcome.end == pytest.approx(STACK_SECONDS + DELIVERY)  # the stack's end plus the delivery
    assert outcome.output["stack"] == {"status": "CREATE_COMPLETE", "done": True}  # SendTaskSuccess's output
    assert [list(p) for p in stack.payloads] == [["name", "taskToken", "execution"]]  # the Payload, not Parameters
    assert stack.payloads[0]["taskToken"].startswith("exec-1/Create Stack/")
    assert (trace.invocations, trace.transitions) == (1, 2)  # one invocation; the task and Succeed
    assert stack.describes == []


def test_a_lost_event_times_out_after_the_wait_read_from_the_input_and_the_describe_loop_takes_over() -> None:
    stack = Stack(delivery=None)
    outcome, trace = run(stack, timeout=60)

    assert outcome.status == "SUCCEEDED"
    assert outcome.output["eventMissed"]["Error"] == "States.Timeout"
    assert outcome.output["stack"]["kind"] == "nodegroup"  # the Pass state's Parameters, then the describe's
    assert stack.describes[0] == pytest.approx(60)  # the timeout counts from the task's start
    # At 60 s, then every 10 s (plus the describe's latency) until one sees the stack ended at 100 s.
    assert stack.describes == pytest.approx([60, 70.5, 81, 91.5, 102])
    assert trace.by_state["Stack Event Missed"] == 1
    assert trace.by_type == {"Task": 6, "Pass": 1, "Choice": 5, "Wait": 4, "Succeed": 1}
    assert trace.transitions == 17
    assert trace.invocations == 6


def test_an_answer_later_than_the_timeout_is_a_timeout() -> None:
    stack = Stack(delivery=30)
    outcome, trace = run(stack, timeout=STACK_SECONDS + 29)

    assert outcome.output["eventMissed"]["Error"] == "States.Timeout"
    assert stack.describes[0] == pytest.approx(STACK_SECONDS + 29)
    assert trace.by_state["Describe Stack"] == 1


def test_a_heartbeat_limit_shorter_than_the_answer_is_caught_as_a_timeout() -> None:
    definition = machine()
    definition["States"]["Create Stack"]["HeartbeatSeconds"] = 30
    stack = Stack()
    interpreter = Interpreter(definition, stack.handlers(), lambda: LATENCY, answers=stack.answer)
    outcome = interpreter.run({"name": "c1", "eventWaits": {"stack": 600}}, 0.0, Trace())

    assert outcome.output["eventMissed"]["Error"] == "States.HeartbeatTimeout"
    assert stack.describes[0] == pytest.approx(30)


def test_send_task_failure_goes_to_the_catch_at_the_answer() -> None:
    outcome, _ = run(Stack(failed=True))

    assert outcome.status == "FAILED"
    assert outcome.error is not None and outcome.error.error == "StackFailed"
    assert outcome.output["error"] == {"Error": "StackFailed", "Cause": '{"reason": "capacity"}'}
    assert outcome.end == pytest.approx(STACK_SECONDS + DELIVERY)


def test_a_timeout_path_that_is_not_there_fails_the_execution_past_every_catch() -> None:
    interpreter = Interpreter(machine(), Stack().handlers(), lambda: LATENCY, answers=Stack().answer)
    trace = Trace()
    outcome = interpreter.run({"name": "c1"}, 0.0, trace)
    assert outcome.status == "FAILED"
    assert outcome.error is not None and outcome.error.error == "States.Runtime"  # States.ALL does not catch it
    assert trace.transitions == 1


def test_a_wait_schedule_sees_how_many_times_its_wait_was_entered() -> None:
    stack = Stack(delivery=None)
    run(stack, timeout=1, waits=lambda asked, nth: 30.0 if nth == 1 else 60.0)
    gaps = [round(b - a, 1) for a, b in zip(stack.describes, stack.describes[1:], strict=False)]
    assert gaps == [30.5, 60.5, 60.5]  # the wait plus the describe's latency


def simulated(policy: workflow_sim.Policy) -> workflow_sim.Run:
    sample = workflow_sim.draw(random.Random(3), "bench-0001")
    (create,) = workflow_sim.simulate(sample, policy, random.Random(4), with_delete=False)
    return create


def test_the_deployed_create_learns_each_stack_from_its_event() -> None:
    create = simulated(workflow_sim.EVENTS)

    assert create.status == "SUCCEEDED"
    assert create.trace.by_type["Wait"] == 0 and "Describe Cluster Stack" not in create.trace.by_state
    assert [d.via for d in create.detections] == ["event"] * 3
    assert all(0 < d.lag < 30 for d in create.detections)
    assert len(create.describe_calls) == 3  # the events function describes each stack once
    assert create.event_invocations == 3 * workflow_sim.EVENTS_PER_OPERATION
    assert create.trace.transitions <= 20


def test_the_deployed_create_with_every_event_lost_falls_back_after_the_deployed_waits() -> None:
    create = simulated(workflow_sim.EVENTS_LOST)
    waits = workflow_sim.event_waits()

    assert create.status == "SUCCEEDED"
    assert create.trace.by_state["Cluster Stack Event Missed"] == 1
    assert create.trace.by_state["Nodegroup Stack Event Missed"] == 2
    assert [d.via for d in create.detections] == ["describe"] * 3
    cluster = next(d for d in create.detections if d.kind == "cluster")
    assert cluster.seen >= waits["cluster"]  # nothing is learnt before the wait is over
    assert create.event_invocations == 0


def test_the_describe_polling_fixture_polls() -> None:
    create = simulated(workflow_sim.ADAPTIVE)

    assert create.status == "SUCCEEDED"
    assert create.trace.by_type["Wait"] > 0
    assert [d.via for d in create.detections] == ["describe"] * 3
