"""A small Step Functions interpreter that walks the real `statemachine/*.asl.json` on a virtual clock.

Why: what a workflow costs (state transitions, Lambda invocations) and how soon it notices
that a stack finished depend on the shape of the ASL and on the waits the tasks choose,
not on AWS latency. Walking the real ASL files against task handlers that answer from
sampled stack durations gives those figures for hours of simulated time in milliseconds.

Supported: Task, Choice, Wait (`Seconds`, `SecondsPath`), Map (inline; `ItemsPath`,
`ItemSelector`/`Parameters`, `MaxConcurrency`), Pass (`Parameters`, `Result`), Succeed, Fail;
`Parameters` with `.$` paths (`$$.Execution.Name`, `$$.Map.Item.Value`, `$$.Task.Token`) and
`States.JsonToString`, `InputPath`, `ResultPath` (including null), `OutputPath`, `Catch`,
`TimeoutSeconds`/`TimeoutSecondsPath` and `HeartbeatSeconds`/`HeartbeatSecondsPath` on waiting
tasks. Not modelled: `Retry` (no task fails in these simulations), `ResultSelector`, other
intrinsic functions (they raise, so a new one is noticed).

Waiting tasks (`arn:aws:states:::lambda:invoke.waitForTaskToken`) run as Step Functions runs
them: the function named by `Parameters.FunctionName` is invoked once with `Parameters.Payload`
(its return value is dropped; one invocation and its latency), then the task waits for its token.
`answers(token, now)` says when, and with what, SendTaskSuccess or SendTaskFailure reaches it
(None: never). An answer later than the task's timeout, or none, ends the task with
`States.Timeout` at the timeout (`States.HeartbeatTimeout` at its heartbeat limit, if that comes
first: nobody sends heartbeats), which its Catch takes like any other error.

Billing as Step Functions Standard counts it: every state entered is one transition,
so a Map costs its own entry plus every state of every iteration; a waiting task is one
transition however long it waits.
"""

from __future__ import annotations

import heapq
import json
import operator
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from statemachine.conventions import function_of, waits_for_token

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
UNCATCHABLE = frozenset({"States.Runtime", "States.DataLimitExceeded"})
_JSON_TO_STRING = re.compile(r"^States\.JsonToString\((.+)\)$")
_COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "BooleanEquals": operator.eq,
    "StringEquals": operator.eq,
    "NumericEquals": operator.eq,
    "NumericLessThan": operator.lt,
    "NumericLessThanEquals": operator.le,
    "NumericGreaterThan": operator.gt,
    "NumericGreaterThanEquals": operator.ge,
}


class SimError(Exception):
    """A state's error, as Step Functions names it (`Error`, `Cause`), at a virtual time."""

    def __init__(self, error: str, cause: str = "", at: float | None = None) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause
        self.at = at


@dataclass
class Trace:
    """What one execution was billed for: transitions (by state and type) and Lambda invocations."""

    transitions: int = 0
    invocations: int = 0
    by_state: Counter[str] = field(default_factory=Counter)
    by_type: Counter[str] = field(default_factory=Counter)

    def enter(self, name: str, kind: str) -> None:
        self.transitions += 1
        self.by_state[name] += 1
        self.by_type[kind] += 1


@dataclass
class Outcome:
    status: str  # SUCCEEDED or FAILED
    output: Any
    end: float
    error: SimError | None = None


@dataclass(frozen=True)
class Answer:
    """What reaches a waiting task's token, and when: SendTaskSuccess's output, or SendTaskFailure's error."""

    at: float
    output: Any = None
    error: SimError | None = None


@dataclass
class _Step:
    data: Any
    now: float
    next: str | None
    status: str | None = None
    error: SimError | None = None


def iteration(state: dict[str, Any]) -> dict[str, Any]:
    """The state machine a Map state runs per item (`ItemProcessor`, or the older `Iterator`)."""
    processor: dict[str, Any] = state.get("ItemProcessor") or state["Iterator"]
    return processor


def states(machine: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every state of a state machine in file order, each Map's iteration states right after the Map."""
    for state in machine["States"].values():
        yield state
        if state["Type"] == "Map":
            yield from states(iteration(state))


def task_resources(machine: dict[str, Any]) -> Iterator[str]:
    """The function every Task runs (its `Resource`, or a waiting task's `FunctionName`), Map iterations included."""
    return (str(function_of(state)) for state in states(machine) if state["Type"] == "Task")


def timeout_seconds(
    state: dict[str, Any], data: Any, context: dict[str, Any], field: str = "TimeoutSeconds"
) -> float | None:
    """A task's `TimeoutSeconds` (or `HeartbeatSeconds`), or the value its `...Path` reads from its input; None:
    none."""
    if field in state:
        return float(state[field])
    if f"{field}Path" in state:
        value = read_path(state[f"{field}Path"], data, context)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise SimError("States.Runtime", f"{field}Path {state[f'{field}Path']} is {value!r}")
        return float(value)
    return None


def read_path(path: str, data: Any, context: dict[str, Any]) -> Any:
    """A reference path (`$.a.b`, `$$.Map.Item.Value`); SimError when it is not there."""
    root, rest = (context, path[2:]) if path.startswith("$$") else (data, path[1:])
    value = root
    for part in filter(None, rest.split(".")):
        if not isinstance(value, dict) or part not in value:
            raise SimError("States.Runtime", f"path {path} not found")
        value = value[part]
    return value


def evaluate(expression: str, data: Any, context: dict[str, Any]) -> Any:
    """The value of a `.$` field: a path or `States.JsonToString(path)`."""
    match = _JSON_TO_STRING.match(expression)
    if match:
        return json.dumps(evaluate(match.group(1), data, context), separators=(",", ":"))
    if expression.startswith("States."):
        raise NotImplementedError(f"intrinsic function not modelled: {expression}")
    return read_path(expression, data, context)


def resolve(template: Any, data: Any, context: dict[str, Any]) -> Any:
    """A `Parameters`/`ItemSelector` template with its `.$` fields filled in."""
    if isinstance(template, dict):
        out: dict[str, Any] = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = evaluate(value, data, context)
            else:
                out[key] = resolve(value, data, context)
        return out
    if isinstance(template, list):
        return [resolve(v, data, context) for v in template]
    return template


def _set(data: Any, parts: list[str], value: Any) -> dict[str, Any]:
    base = dict(data) if isinstance(data, dict) else {}
    base[parts[0]] = value if len(parts) == 1 else _set(base.get(parts[0]), parts[1:], value)
    return base


def apply_result_path(data: Any, result: Any, state: dict[str, Any]) -> Any:
    """ResultPath: `$` (the default) replaces the input, null keeps it, `$.a.b` sets a field."""
    path = state.get("ResultPath", "$")
    if path is None:
        return data
    if path == "$":
        return result
    return _set(data, path[2:].split("."), result)


def matches(rule: dict[str, Any], data: Any, context: dict[str, Any]) -> bool:
    """One Choice rule (with And/Or/Not, IsNull, IsPresent and the comparison operators)."""
    if "And" in rule:
        return all(matches(r, data, context) for r in rule["And"])
    if "Or" in rule:
        return any(matches(r, data, context) for r in rule["Or"])
    if "Not" in rule:
        return not matches(rule["Not"], data, context)
    variable = rule["Variable"]
    if "IsPresent" in rule:
        try:
            read_path(variable, data, context)
        except SimError:
            return not rule["IsPresent"]
        return bool(rule["IsPresent"])
    value = read_path(variable, data, context)
    if "IsNull" in rule:
        return (value is None) == bool(rule["IsNull"])
    for name, compare in _COMPARATORS.items():
        if name in rule or f"{name}Path" in rule:
            other = rule[name] if name in rule else read_path(rule[f"{name}Path"], data, context)
            return _comparable(name, value) and compare(value, other)
    raise NotImplementedError(f"Choice rule not modelled: {sorted(rule)}")


def catches(catcher: dict[str, Any], error: str) -> bool:
    """Whether a Catch (or Retry) block takes `error`: by name, or by `States.ALL`, which takes every error
    but `States.Runtime` and `States.DataLimitExceeded` (those fail the execution whatever it catches)."""
    names = set(catcher["ErrorEquals"])
    if error == HEARTBEAT_TIMEOUT and "States.Timeout" in names:  # a missed heartbeat is a timeout too
        return True
    return error in names or ("States.ALL" in names and error not in UNCATCHABLE)


def _comparable(name: str, value: Any) -> bool:
    if name.startswith("Boolean"):
        return isinstance(value, bool)
    if name.startswith("Numeric"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)


class Interpreter:
    """Runs one state machine definition; every execution adds to the `trace` it is given.

    `latency()` is how long a Task takes (Lambda invoke and its AWS calls). `fixed_wait`,
    when set, replaces every Wait state's duration: the "poll every N seconds" baseline;
    `waits(asked, nth)`, when set, chooses it from the seconds the state asks and how many
    times this Wait state has been entered in its scope (1 for the first): other schedules.
    `answers(token, now)` answers waiting tasks (see the module docstring); without it no
    token is ever answered, so every waiting task times out.
    """

    def __init__(
        self,
        definition: dict[str, Any],
        handlers: dict[str, Callable[[dict[str, Any], float], Any]],
        latency: Callable[[], float],
        fixed_wait: float | None = None,
        answers: Callable[[str, float], Answer | None] | None = None,
        waits: Callable[[float, int], float] | None = None,
    ) -> None:
        missing = sorted(set(task_resources(definition)) - set(handlers))
        if missing:
            raise ValueError(f"no simulated handler for {', '.join(missing)}")
        self.definition = definition
        self.handlers = handlers
        self.latency = latency
        self.fixed_wait = fixed_wait
        self.answers = answers
        self.waits = waits
        self._tokens = 0

    def run(self, data: Any, start: float, trace: Trace, execution: str = "simulated") -> Outcome:
        # The context object every Task reads its execution name from (`$$.Execution.Name`).
        return self._machine(self.definition, data, start, {"Execution": {"Name": execution}}, trace)

    def _machine(
        self, machine: dict[str, Any], data: Any, now: float, context: dict[str, Any], trace: Trace
    ) -> Outcome:
        name = machine["StartAt"]
        waited: Counter[str] = Counter()
        while True:
            state = machine["States"][name]
            trace.enter(name, state["Type"])
            if state["Type"] == "Wait":
                waited[name] += 1
            try:
                state_context = {"Name": name, "RetryCount": 0}  # no task fails here, so none is retried
                step = self._step(state, data, now, {**context, "State": state_context}, trace, waited[name])
            except SimError as err:
                now = err.at if err.at is not None else now
                catch = next((c for c in state.get("Catch", []) if catches(c, err.error)), None)
                if catch is None:
                    return Outcome("FAILED", data, now, err)
                data = apply_result_path(data, {"Error": err.error, "Cause": err.cause}, catch)
                name = catch["Next"]
                continue
            data, now = step.data, step.now
            if step.status is not None:
                return Outcome(step.status, data, now, step.error)
            if step.next is None:
                return Outcome("SUCCEEDED", data, now)
            name = step.next

    def _step(
        self, state: dict[str, Any], data: Any, now: float, context: dict[str, Any], trace: Trace, nth: int = 1
    ) -> _Step:
        kind = state["Type"]
        effective = read_path(state["InputPath"], data, context) if state.get("InputPath") else data
        if kind == "Task":
            return self._task(state, data, effective, now, context, trace)
        if kind == "Map":
            return self._map(state, data, effective, now, context, trace)
        if kind == "Wait":
            asked = float(
                state["Seconds"] if "Seconds" in state else read_path(state["SecondsPath"], effective, context)
            )
            if self.fixed_wait is not None:
                seconds = self.fixed_wait
            elif self.waits is not None:
                seconds = self.waits(asked, nth)
            else:
                seconds = asked
            return _Step(self._output(state, effective), now + float(seconds), state.get("Next"))
        if kind == "Choice":
            chosen = next((c["Next"] for c in state["Choices"] if matches(c, effective, context)), state.get("Default"))
            if chosen is None:
                raise SimError("States.NoChoiceMatched", "no rule matched and there is no Default")
            return _Step(self._output(state, effective), now, chosen)
        if kind == "Pass":
            result = resolve(state["Parameters"], effective, context) if "Parameters" in state else state.get("Result")
            result = effective if result is None and "Result" not in state else result
            return _Step(self._output(state, apply_result_path(data, result, state)), now, state.get("Next"))
        if kind == "Succeed":
            return _Step(self._output(state, effective), now, None, status="SUCCEEDED")
        if kind == "Fail":
            cause = evaluate(state["CausePath"], effective, context) if "CausePath" in state else state.get("Cause", "")
            return _Step(data, now, None, status="FAILED", error=SimError(state.get("Error", "States.Fail"), cause))
        raise NotImplementedError(f"state type not modelled: {kind}")

    def _task(
        self, state: dict[str, Any], data: Any, effective: Any, now: float, context: dict[str, Any], trace: Trace
    ) -> _Step:
        if waits_for_token(state):
            return self._waiting_task(state, data, effective, now, context, trace)
        params = resolve(state["Parameters"], effective, context) if "Parameters" in state else effective
        trace.invocations += 1
        result = self.handlers[state["Resource"]](params, now)
        end = now + self.latency()
        return _Step(self._output(state, apply_result_path(data, result, state)), end, state.get("Next"))

    def _waiting_task(
        self, state: dict[str, Any], data: Any, effective: Any, now: float, context: dict[str, Any], trace: Trace
    ) -> _Step:
        """Invoke the function once with the Payload (its token in it), then wait for the token's answer."""
        self._tokens += 1
        token = f"{context['Execution']['Name']}/{context['State']['Name']}/{self._tokens}"
        params = resolve(state["Parameters"], effective, {**context, "Task": {"Token": token}})
        timeout = timeout_seconds(state, effective, context)
        heartbeat = timeout_seconds(state, effective, context, "HeartbeatSeconds")
        trace.invocations += 1
        self.handlers[params["FunctionName"]](params.get("Payload") or {}, now)  # its return value is dropped
        invoked = now + self.latency()
        answer = self.answers(token, invoked) if self.answers is not None else None
        # Nobody sends heartbeats (the events function answers once): a heartbeat wait shorter than the
        # answer ends the task like its timeout.
        limits = [(now + s, error) for s, error in ((heartbeat, HEARTBEAT_TIMEOUT), (timeout, "States.Timeout")) if s]
        if limits:
            deadline, error = min(limits)
            if answer is None or answer.at > deadline:
                raise SimError(error, f"no answer to the task token within {deadline - now:g} s", at=deadline)
        if answer is None:
            raise ValueError(f"{context['State']['Name']}: a token nobody answers and no timeout waits forever")
        end = max(invoked, answer.at)
        if answer.error is not None:
            raise SimError(answer.error.error, answer.error.cause, at=end)
        return _Step(self._output(state, apply_result_path(data, answer.output, state)), end, state.get("Next"))

    def _map(
        self, state: dict[str, Any], data: Any, effective: Any, now: float, context: dict[str, Any], trace: Trace
    ) -> _Step:
        """Iterations run side by side (up to MaxConcurrency); the Map ends with the last one."""
        items = read_path(state.get("ItemsPath", "$"), effective, context)
        selector = state.get("ItemSelector") or state.get("Parameters")
        processor = iteration(state)
        limit = int(state.get("MaxConcurrency", 0)) or max(1, len(items))
        free_at = [now] * min(limit, max(1, len(items)))
        results: list[Any] = []
        end = now
        for index, item in enumerate(items):
            start = heapq.heappop(free_at)
            item_context = {**context, "Map": {"Item": {"Index": index, "Value": item}}}
            item_input = resolve(selector, effective, item_context) if selector else item
            outcome = self._machine(processor, item_input, start, item_context, trace)
            if outcome.status != "SUCCEEDED":
                error = outcome.error or SimError("States.TaskFailed")
                raise SimError(error.error, error.cause, at=outcome.end)
            heapq.heappush(free_at, outcome.end)
            results.append(outcome.output)
            end = max(end, outcome.end)
        return _Step(self._output(state, apply_result_path(data, results, state)), end, state.get("Next"))

    @staticmethod
    def _output(state: dict[str, Any], data: Any) -> Any:
        path = state.get("OutputPath", "$")
        if path is None:
            return {}
        return data if path == "$" else read_path(path, data, {})
