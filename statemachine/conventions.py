"""The conventions every workflow in statemachine/*.asl.json keeps, written once, and the check for drift.

The ASL files repeat these blocks in every Task (Step Functions has no includes); this
module is where they are defined. `violations(definition, file)` lists every place a
definition departs from them; tests/unit/test_statemachine.py asserts it finds none, and
`python -m statemachine.conventions` prints them (exit 1 if any). `--write` rewrites each
Task's Retry to the canonical blocks and adds the execution parameter, keeping the files'
2-space JSON layout.

The convention, for the workflow as a whole:

- Every workflow has a top-level `TimeoutSeconds` (a positive integer). Step Functions
  would otherwise let an execution run for a year. It is a backstop that no Catch sees
  (the execution just ends TIMED_OUT): each stack wait has its own deadline, which the
  describe task enforces by failing with `StackTimedOut` (never retried: no Retry block
  names it), so the failure is recorded. The values are sized in tests/unit/test_statemachine.py.

And state by state:

- Every Task's Retry is exactly `retries_for(task)`: the Lambda-service block, then the
  throttling block (whose names are exactly `chalicelib.aws.clients.THROTTLING_CODES`, the
  codes a task that AWS kept throttling fails with), then the task's own extra blocks
  from `EXTRA_RETRIES`, if any. Order counts: Step Functions tries Retry blocks in order.
  Deliberate exception: notification tasks (`NOTIFY_RESOURCE`, states named "Announce ...")
  retry only the Lambda-service block. They are best-effort: their Catch swallows every
  failure, so the workflow never waits on, or fails for, a notification.
- Every Task, Map and Parallel outside a Map iterator or Parallel branch has exactly one
  Catch, of `States.ALL`, into the workflow's one failure-recording state (the top-level
  Task named "Record ..."), with `ResultPath` "$.error", which is what the recorder reads.
  Deliberate exceptions, each spelled out rather than allowed in general:
  - the recorder has no Catch: it cannot record its own failure; the execution fails,
    which the failed-executions alarm sees;
  - a notification task catches into its own `Next` with `ResultPath` "$.notifyError";
  - `CATCH_RESULT_PATHS` names the states that catch into another `ResultPath` (a cleanup
    that runs after $.error is set must not overwrite the error it is cleaning up after).
  After the recorder come only notification tasks, then a Fail state.
- States inside a Map iterator or Parallel branch have no Catch: a failed iteration fails
  the Map, and the Map's Catch records it, once.
- Every `StartAt`, `Next`, `Default`, Choice rule's `Next` and Catch's `Next` names a state
  of the same scope; every Task, Pass, Wait, Map and Parallel has `Next` or `End`.
- Every Map has a positive `MaxConcurrency` (0 or none means unbounded). The node group
  Maps use 10, `chalicelib.model.spec.MAX_NODEGROUPS`: a valid spec never waits for a slot,
  and a listing that finds more stacks (leftovers) does not fan out without bound into
  CloudFormation's API, which throttles per account.
- Every Wait uses `SecondsPath` ending in ".waitSeconds": the describe (or stop) task before
  it chooses the wait, so tests and the local engine scale it (moto's Wait really sleeps).
- Choice states are questions: their names end in "?".
- A Task's Resource is a `${...FunctionArn}` placeholder, filled by DefinitionSubstitutions,
  or, for a step that waits for a stack, `WAIT_FOR_TOKEN_RESOURCE` with the placeholder as its
  `FunctionName` and its parameters under `Payload`.
- A step that waits for a stack (chalicelib/operations/stack_events.py answers it when
  CloudFormation's event arrives) passes its token (`"taskToken.$": "$$.Task.Token"`), has a
  `TimeoutSecondsPath` under `$.eventWaits.`, and its first Catch takes `States.Timeout` (no
  event came: lost, or late) into a Pass state of the same scope named "... Event Missed" with
  `ResultPath` "$.eventMissed"; that state leads to the describe loop, which looks once and
  finishes or polls. No event is trusted to arrive. Its other Catch, if any, follows the rules
  below.
- Every Task passes the execution's name (`"execution.$": "$$.Execution.Name"`): the task
  wrapper (chalicelib/handlers/task.py) logs it as the correlation id, so one execution's
  logs can be found across all its functions.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

from chalicelib.aws.clients import THROTTLING_CODES
from chalicelib.handlers.task import EXECUTION_KEY

EXECUTION_PARAMETER = (f"{EXECUTION_KEY}.$", "$$.Execution.Name")

DIRECTORY = Path(__file__).resolve().parent

# Lambda's own transient failures: the invoke itself failed, the function never ran or its result was lost.
LAMBDA_RETRY: dict[str, Any] = {
    "ErrorEquals": [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
        "Lambda.Unknown",
    ],
    "IntervalSeconds": 2,
    "MaxAttempts": 6,
    "BackoffRate": 2,
    "JitterStrategy": "FULL",
}
# AWS kept throttling past botocore's retries; the task fails with the error code as its name.
THROTTLING_RETRY: dict[str, Any] = {
    "ErrorEquals": [
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
    ],
    "IntervalSeconds": 5,
    "MaxAttempts": 5,
    "BackoffRate": 2,
    "JitterStrategy": "FULL",
}
# The Kubernetes API of a new cluster answers late, or not at all for a while.
KUBE_UNAVAILABLE_RETRY: dict[str, Any] = {
    "ErrorEquals": ["KubeUnavailableError"],
    "IntervalSeconds": 10,
    "MaxAttempts": 8,
    "BackoffRate": 1.5,
    "JitterStrategy": "FULL",
}
# A load balancer's security group stays in use until its network interfaces are gone.
DEPENDENCY_VIOLATION_RETRY: dict[str, Any] = {
    "ErrorEquals": ["DependencyViolationError"],
    "IntervalSeconds": 15,
    "MaxAttempts": 8,
    "BackoffRate": 1.5,
    "JitterStrategy": "FULL",
}

NOTIFY_RESOURCE = "${NotifyFunctionArn}"
# Retry blocks a task has after the two canonical ones, by the function it runs.
EXTRA_RETRIES: dict[str, list[dict[str, Any]]] = {
    "${UpdateAwsAuthFunctionArn}": [KUBE_UNAVAILABLE_RETRY],
    "${ApplyServiceAccountsFunctionArn}": [KUBE_UNAVAILABLE_RETRY],
    "${RemoveServiceAccountFunctionArn}": [KUBE_UNAVAILABLE_RETRY],
    "${ChangeAccessFunctionArn}": [KUBE_UNAVAILABLE_RETRY],
    "${ChangeNodeRoleFunctionArn}": [KUBE_UNAVAILABLE_RETRY],
    "${DeleteKubernetesLoadBalancersFunctionArn}": [DEPENDENCY_VIOLATION_RETRY],
}
ERROR_RESULT_PATH = "$.error"
NOTIFY_ERROR_RESULT_PATH = "$.notifyError"
# States whose Catch keeps its error apart from $.error, and why.
CATCH_RESULT_PATHS = {
    # Runs after "Explain Nodegroup Stack Failure" set $.error: the recorder must get that error.
    "Remove Failed Nodegroup Stack": "$.cleanupError",
    "Remove Failed Service Account Stack": "$.cleanupError",
}
RECORDER_PREFIX = "Record "
NOTIFY_PREFIX = "Announce "
WAIT_SECONDS_SUFFIX = ".waitSeconds"
WAIT_FOR_TOKEN_RESOURCE = "arn:aws:states:::lambda:invoke.waitForTaskToken"
TASK_TOKEN_PARAMETER = ("taskToken.$", "$$.Task.Token")
EVENT_WAITS_PREFIX = "$.eventWaits."
EVENT_MISSED_SUFFIX = " Event Missed"
EVENT_MISSED_RESULT_PATH = "$.eventMissed"
TIMEOUT_ERRORS = ["States.Timeout"]
PLACEHOLDER = re.compile(r"^\$\{\w+FunctionArn\}$")
CATCH_ALL = ["States.ALL"]
_NEEDS_NEXT_OR_END = ("Task", "Pass", "Wait", "Map", "Parallel")


def waits_for_token(task: dict[str, Any]) -> bool:
    return task.get("Resource") == WAIT_FOR_TOKEN_RESOURCE


def function_of(task: dict[str, Any]) -> Any:
    """The `${...FunctionArn}` placeholder of the function a Task runs."""
    if waits_for_token(task):
        return (task.get("Parameters") or {}).get("FunctionName")
    return task.get("Resource")


def arguments_of(task: dict[str, Any]) -> dict[str, Any]:
    """What the function gets: the Parameters, or a waiting task's Payload."""
    parameters = task.get("Parameters") or {}
    payload = parameters.get("Payload") if waits_for_token(task) else parameters
    return payload if isinstance(payload, dict) else {}


def retries_for(task: dict[str, Any]) -> list[dict[str, Any]]:
    """The Retry list a Task state must have, by the function it runs."""
    resource = function_of(task)
    if resource == NOTIFY_RESOURCE:
        return [LAMBDA_RETRY]
    return [LAMBDA_RETRY, THROTTLING_RETRY, *EXTRA_RETRIES.get(str(resource), [])]


def _label(block: dict[str, Any]) -> str:
    if block is LAMBDA_RETRY:
        return "Lambda-service Retry"
    if block is THROTTLING_RETRY:
        return "throttling Retry"
    return f"{'/'.join(block['ErrorEquals'])} Retry"


def _retry_violations(actual: Any, expected: list[dict[str, Any]]) -> list[str]:
    """How a Task's Retry list departs from `expected`, block by block."""
    if not isinstance(actual, list):
        return ["has no Retry"]
    found: list[str] = []
    matched: set[int] = set()
    for position, want in enumerate(expected):
        label = _label(want)
        names = set(want["ErrorEquals"])
        overlap = [
            (len(names & set(block.get("ErrorEquals", []))), index)
            for index, block in enumerate(actual)
            if index not in matched and isinstance(block, dict) and names & set(block.get("ErrorEquals", []))
        ]
        if not overlap:
            found.append(f"{label} is missing")
            continue
        _, index = max(overlap, key=lambda pair: (pair[0], -pair[1]))
        matched.add(index)
        have = actual[index]
        if index != position:
            found.append(f"{label} is block {index + 1}, expected block {position + 1}")
        have_names = list(have.get("ErrorEquals", []))
        found += [f"{label} lacks {name}" for name in want["ErrorEquals"] if name not in have_names]
        found += [f"{label} also names {name}" for name in have_names if name not in names]
        if set(have_names) == names and have_names != want["ErrorEquals"]:
            found.append(f"{label} names its errors in another order: {have_names}")
        for key, value in want.items():
            if key == "ErrorEquals":
                continue
            if key not in have:
                found.append(f"{label} lacks {key} (expected {value!r})")
            elif have[key] != value:
                found.append(f"{label} {key} is {have[key]!r}, expected {value!r}")
        found += [f"{label} has {key}, which the convention does not" for key in have if key not in want]
    for index, block in enumerate(actual):
        if index not in matched:
            names = block.get("ErrorEquals") if isinstance(block, dict) else block
            found.append(f"Retry block {index + 1} ({names}) is not in the convention for this task")
    return found


def _catch_violations(state: dict[str, Any], target: str | None, result_path: str) -> list[str]:
    """A state's Catch must be exactly one catch-all into `target` with `result_path`."""
    catchers = state.get("Catch")
    if not catchers:
        return [f"has no Catch of States.ALL (expected one into {target!r})"]
    found: list[str] = []
    if len(catchers) != 1:
        found.append(f"has {len(catchers)} Catch blocks, expected one")
    catcher = catchers[0]
    if catcher.get("ErrorEquals") != CATCH_ALL:
        found.append(f"Catch names {catcher.get('ErrorEquals')}, expected {CATCH_ALL}")
    if catcher.get("Next") != target:
        found.append(f"Catch goes to {catcher.get('Next')!r}, expected {target!r}")
    if catcher.get("ResultPath") != result_path:
        found.append(f"Catch ResultPath is {catcher.get('ResultPath')!r}, expected {result_path!r}")
    return found


def _waiting_violations(state: dict[str, Any], states: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """What is wrong with a waiting task's token, timeout and Catch of States.Timeout; the state
    without that Catch, for the checks every Task gets."""
    found: list[str] = []
    key, value = TASK_TOKEN_PARAMETER
    if arguments_of(state).get(key) != value:
        found.append(f'Payload lacks "{key}": "{value}" (the token the stack\'s event answers)')
    path = state.get("TimeoutSecondsPath")
    if not (isinstance(path, str) and path.startswith(EVENT_WAITS_PREFIX)):
        found.append(f"TimeoutSecondsPath is {path!r}, expected one under {EVENT_WAITS_PREFIX!r}: no event is trusted")
    catchers = list(state.get("Catch") or [])
    first = catchers[0] if catchers else {}
    target = first.get("Next")
    if first.get("ErrorEquals") != TIMEOUT_ERRORS:
        found.append(f"its first Catch names {first.get('ErrorEquals')}, expected {TIMEOUT_ERRORS} (a missed event)")
    elif not (
        isinstance(target, str)
        and target.endswith(EVENT_MISSED_SUFFIX)
        and states.get(target, {}).get("Type") == "Pass"
    ):
        found.append(
            f"its Catch of States.Timeout goes to {target!r}, expected a Pass state '...{EVENT_MISSED_SUFFIX}'"
        )
    elif first.get("ResultPath") != EVENT_MISSED_RESULT_PATH:
        found.append(f"its Catch of States.Timeout has ResultPath {first.get('ResultPath')!r}")
    rest = {k: v for k, v in state.items() if k != "Catch"}
    if len(catchers) > 1:
        rest["Catch"] = catchers[1:]
    return found, rest


def _scopes(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The nested state machines of a Map (ItemProcessor, or the older Iterator) or Parallel."""
    nested = [state[key] for key in ("ItemProcessor", "Iterator") if isinstance(state.get(key), dict)]
    return nested + [branch for branch in state.get("Branches", []) if isinstance(branch, dict)]


def _recorder(states: dict[str, Any]) -> tuple[str | None, list[str]]:
    """The workflow's failure-recording state, and what is wrong with it and the path after it."""
    names = [n for n, s in states.items() if n.startswith(RECORDER_PREFIX) and s.get("Type") == "Task"]
    if len(names) != 1:
        return None, [f"has {len(names)} failure-recording Tasks {names}, expected one named {RECORDER_PREFIX!r}..."]
    (recorder,) = names
    found = [f'"{recorder}": the failure recorder has a Catch'] if states[recorder].get("Catch") else []
    after, seen = states[recorder].get("Next"), {recorder}
    while after in states and after not in seen and states[after].get("Resource") == NOTIFY_RESOURCE:
        seen.add(after)
        after = states[after].get("Next")
    if after not in states or states[after].get("Type") != "Fail":
        found.append(f'"{recorder}": the failure recorder leads (past notifications) to {after!r}, not a Fail state')
    return recorder, found


def _scope_violations(scope: dict[str, Any], nested: bool) -> list[str]:
    states: dict[str, Any] = scope.get("States") or {}
    found: list[str] = []
    if not states:
        return ["a scope has no States"]
    if scope.get("StartAt") not in states:
        found.append(f"StartAt {scope.get('StartAt')!r} is not a state")
    recorder = None
    if not nested:
        recorder, problems = _recorder(states)
        found += problems
    for name, state in states.items():
        kind = state.get("Type")
        problems: list[str] = []
        targets = [("Next", state.get("Next")), ("Default", state.get("Default"))]
        targets += [("Choice Next", rule.get("Next")) for rule in state.get("Choices", [])]
        targets += [("Catch Next", catcher.get("Next")) for catcher in state.get("Catch", [])]
        problems += [f"{field} {to!r} is not a state" for field, to in targets if to and to not in states]
        if kind in _NEEDS_NEXT_OR_END and not state.get("Next") and not state.get("End"):
            problems.append("has neither Next nor End")
        if kind == "Task" and waits_for_token(state):
            waiting, state = _waiting_violations(state, states)
            problems += waiting
        if kind == "Task":
            resource = function_of(state)
            if not isinstance(resource, str) or not PLACEHOLDER.match(resource):
                problems.append(f"Resource {resource!r} is not a ${{...FunctionArn}} placeholder")
            if (resource == NOTIFY_RESOURCE) != name.startswith(NOTIFY_PREFIX):
                problems.append(f"notification tasks, and only they, are named {NOTIFY_PREFIX!r}...")
            problems += _retry_violations(state.get("Retry"), retries_for(state))
            key, value = EXECUTION_PARAMETER
            if arguments_of(state).get(key) != value:
                problems.append(f'Parameters lack "{key}": "{value}" (the logs\' correlation id)')
        if kind == "Map":
            limit = state.get("MaxConcurrency")
            if not (isinstance(limit, int) and limit > 0):
                problems.append(f"Map MaxConcurrency is {limit!r}, expected a positive integer (0 or none: unbounded)")
        if kind == "Wait":
            path = state.get("SecondsPath")
            if any(key in state for key in ("Seconds", "Timestamp", "TimestampPath")) or not path:
                problems.append("Wait must use SecondsPath only: the task before it chooses the wait")
            elif not str(path).endswith(WAIT_SECONDS_SUFFIX):
                problems.append(f"Wait SecondsPath {path!r} does not end in {WAIT_SECONDS_SUFFIX!r}")
        if kind == "Choice" and not name.endswith("?"):
            problems.append("Choice state names are questions: end it with '?'")
        if kind in ("Task", "Map", "Parallel"):
            if state.get("Resource") == NOTIFY_RESOURCE:
                problems += _catch_violations(state, state.get("Next"), NOTIFY_ERROR_RESULT_PATH)
            elif nested:
                if state.get("Catch"):
                    problems.append("has a Catch in a Map iterator or Parallel branch: the enclosing state catches")
            elif name != recorder and recorder is not None:
                problems += _catch_violations(state, recorder, CATCH_RESULT_PATHS.get(name, ERROR_RESULT_PATH))
        found += [f'"{name}": {problem}' for problem in problems]
        for inner in _scopes(state):
            found += _scope_violations(inner, nested=True)
    return found


def violations(definition: dict[str, Any], file: str) -> list[str]:
    """Every place `definition` (one parsed ASL file) departs from the convention, as "file: "State": what"."""
    found: list[str] = []
    timeout = definition.get("TimeoutSeconds")
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0:
        found.append(f"TimeoutSeconds is {timeout!r}, expected a positive integer (the execution's backstop)")
    if set(THROTTLING_RETRY["ErrorEquals"]) != THROTTLING_CODES:
        found.append(
            f"the throttling Retry names {sorted(THROTTLING_RETRY['ErrorEquals'])}, "
            f"but chalicelib.aws.clients.THROTTLING_CODES is {sorted(THROTTLING_CODES)}"
        )
    found += _scope_violations(definition, nested=False)
    return [f"{file}: {problem}" for problem in found]


def canonical(definition: dict[str, Any]) -> dict[str, Any]:
    """A copy of `definition` with every Task's Retry set to the canonical blocks (key order kept)."""
    result = copy.deepcopy(definition)

    def rewrite(scope: dict[str, Any]) -> None:
        for state in scope.get("States", {}).values():
            if state.get("Type") == "Task":
                state["Retry"] = copy.deepcopy(retries_for(state))
                key, value = EXECUTION_PARAMETER
                parameters = state.setdefault("Parameters", {})
                (parameters.setdefault("Payload", {}) if waits_for_token(state) else parameters)[key] = value
            for inner in _scopes(state):
                rewrite(inner)

    rewrite(result)
    return result


def dumps(definition: dict[str, Any]) -> str:
    """The layout of the ASL files: 2-space JSON, non-ASCII kept, a final newline."""
    return json.dumps(definition, indent=2, ensure_ascii=False) + "\n"


def files(directory: Path = DIRECTORY) -> list[Path]:
    return sorted(directory.glob("*.asl.json"))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["--write"]):
        print("usage: python -m statemachine.conventions [--write]", file=sys.stderr)
        return 2
    found: list[str] = []
    for path in files():
        text = path.read_text()
        definition = json.loads(text)
        if args == ["--write"]:
            definition = canonical(definition)
            if dumps(definition) != text:
                path.write_text(dumps(definition))
                print(f"rewrote {path.name}")
        found += violations(definition, path.name)
    print("\n".join(found) or f"{len(files())} workflows keep the convention")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
