"""One cluster's create and delete workflows, simulated over the real ASL and the real polling code.

The describe tasks call `chalicelib.cfn.stacks.describe` and `describe_deletion` — the code the
deployed Lambdas run, which chooses `waitSeconds` (through `next_wait_seconds` for creates)
— against a CloudFormation double whose stacks finish at sampled times on the virtual
clock. The Wait states read that `waitSeconds` through `SecondsPath`, as deployed. Every
other task (DynamoDB writes, notifications, aws-auth) costs one Lambda invocation and its
latency, nothing more. What is modelled, not measured: stack durations, task latency, and
that no task fails or is throttled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.asl_sim import Interpreter, Outcome, Trace, states
from chalicelib.aws import workflow
from chalicelib.cfn import stacks
from chalicelib.model import naming

if TYPE_CHECKING:
    import random
    from collections.abc import Callable, Iterator

STATEMACHINE_DIR = Path(__file__).resolve().parent.parent / "statemachine"
EPOCH = datetime(2025, 1, 6, tzinfo=UTC)
REGION = "us-west-2"
NODEGROUPS = ("ng-1", "ng-2")

# Sampled uniformly, in seconds. Creates: EKS's published ranges (control plane 8-15 min,
# managed node group 2-5 min). Deletes are an assumption: a node group drains and
# terminates in 2-6 min; the cluster stack (control plane, NAT gateway, VPC) goes in 4-10.
CLUSTER_CREATE = (480.0, 900.0)
NODEGROUP_CREATE = (120.0, 300.0)
CLUSTER_DELETE = (240.0, 600.0)
NODEGROUP_DELETE = (120.0, 360.0)
# A warm Lambda invocation making one or two AWS calls, end to end (assumption).
TASK_LATENCY = (0.2, 0.8)
# The delete starts this long after the create ended (it only shifts the clock).
DELETE_AFTER = 3600.0

# Tasks whose only effect, for these figures, is one invocation: DynamoDB, Slack, aws-auth.
NO_OP_TASKS = (
    "notify",
    "update_aws_auth",
    "mark_cluster_active",
    "record_failure",
    "delete_kubernetes_load_balancers",
    "mark_cluster_deleted",
    "record_delete_failure",
)


def at(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


@cache
def definition(stem: str) -> dict[str, Any]:
    """The ASL file as deployed; `${...FunctionArn}` placeholders stay as the Resource keys."""
    loaded: dict[str, Any] = json.loads((STATEMACHINE_DIR / f"{stem}.asl.json").read_text())
    return loaded


def seconds_paths(machine: dict[str, Any]) -> list[str]:
    """Where the Wait states read their duration (`SecondsPath`), Map iterations included."""
    return [state["SecondsPath"] for state in states(machine) if state["Type"] == "Wait" and "SecondsPath" in state]


def placeholder(task: str) -> str:
    return "${" + naming.function_arn_placeholder(task) + "}"


@dataclass(frozen=True)
class Sample:
    """One cluster's stack durations: stack name -> (create seconds, delete seconds)."""

    name: str
    durations: dict[str, tuple[float, float]]


def draw(rng: random.Random, name: str, nodegroups: tuple[str, ...] = NODEGROUPS) -> Sample:
    durations = {naming.cluster_stack_name(name): (rng.uniform(*CLUSTER_CREATE), rng.uniform(*CLUSTER_DELETE))}
    for group in nodegroups:
        durations[naming.nodegroup_stack_name(name, group)] = (
            rng.uniform(*NODEGROUP_CREATE),
            rng.uniform(*NODEGROUP_DELETE),
        )
    return Sample(name, durations)


@dataclass(frozen=True)
class Policy:
    """How the Wait states wait: the tasks' `waitSeconds` (None) or a constant."""

    label: str
    fixed_wait: float | None


ADAPTIVE = Policy("adaptive", None)
EVERY_5S = Policy("fixed 5 s", 5.0)
EVERY_30S = Policy("fixed 30 s", 30.0)
POLICIES = (ADAPTIVE, EVERY_5S, EVERY_30S)


@dataclass(frozen=True)
class Detection:
    """A stack reached its final state at `finished`; a describe first saw it at `seen`."""

    kind: str
    operation: str
    finished: float
    seen: float

    @property
    def lag(self) -> float:
        return self.seen - self.finished


@dataclass
class Run:
    """One execution: its bill, its span on the virtual clock and what CloudFormation saw."""

    operation: str
    trace: Trace
    start: float
    end: float
    status: str
    describe_calls: list[float]
    detections: list[Detection]


@dataclass
class _Stack:
    name: str
    stack_id: str
    tags: dict[str, str]
    created: float
    create_seconds: float
    delete_seconds: float
    deleting_since: float | None = None

    def status(self, now: float) -> str:
        if self.deleting_since is not None:
            return "DELETE_COMPLETE" if now >= self.finished_at() else "DELETE_IN_PROGRESS"
        return "CREATE_COMPLETE" if now >= self.finished_at() else "CREATE_IN_PROGRESS"

    def finished_at(self) -> float:
        if self.deleting_since is not None:
            return self.deleting_since + self.delete_seconds
        return self.created + self.create_seconds


class _AlreadyExists(Exception):
    pass


class _Exceptions:
    AlreadyExistsException = _AlreadyExists
    ClientError = Exception


class FakeCloudFormation:
    """The CloudFormation calls `chalicelib.cfn.stacks` makes, answered at virtual time `now`.

    Every call is recorded as (time, operation), so the API budget can be counted.
    `DeletionTime` is reported from the moment a delete starts (as DescribeStacks does).
    """

    exceptions = _Exceptions

    def __init__(self, sample: Sample) -> None:
        self.sample = sample
        self.now = 0.0
        self.stacks: dict[str, _Stack] = {}
        self.calls: list[tuple[float, str]] = []

    def at(self, now: float) -> FakeCloudFormation:
        self.now = now
        return self

    def create_stack(self, StackName: str, Tags: list[dict[str, str]], **_: Any) -> dict[str, str]:
        self.calls.append((self.now, "CreateStack"))
        if any(s.name == StackName for s in self.stacks.values()):
            raise _AlreadyExists(StackName)
        create_seconds, delete_seconds = self.sample.durations[StackName]
        stack_id = f"arn:aws:cloudformation:{REGION}:123456789012:stack/{StackName}/{len(self.stacks)}"
        tags = {t["Key"]: t["Value"] for t in Tags}
        self.stacks[stack_id] = _Stack(StackName, stack_id, tags, self.now, create_seconds, delete_seconds)
        return {"StackId": stack_id}

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        self.calls.append((self.now, "DescribeStacks"))
        stack = self.stacks.get(StackName) or next(s for s in self.stacks.values() if s.name == StackName)
        return {"Stacks": [self._shape(stack)]}

    def delete_stack(self, StackName: str) -> None:
        self.calls.append((self.now, "DeleteStack"))
        self.stacks[StackName].deleting_since = self.now

    def get_paginator(self, operation: str) -> _Paginator:
        return _Paginator(self, operation)

    def finished_at(self, stack_id: str) -> float:
        return self.stacks[stack_id].finished_at()

    def _shape(self, stack: _Stack) -> dict[str, Any]:
        shaped: dict[str, Any] = {
            "StackName": stack.name,
            "StackId": stack.stack_id,
            "StackStatus": stack.status(self.now),
            "CreationTime": at(stack.created),
            "Tags": [{"Key": k, "Value": v} for k, v in stack.tags.items()],
            "Outputs": [],
        }
        if stack.deleting_since is not None:
            shaped["DeletionTime"] = at(stack.deleting_since)
        return shaped


@dataclass
class _Paginator:
    cfn: FakeCloudFormation
    operation: str

    def paginate(self, **_: Any) -> Iterator[dict[str, Any]]:
        if self.operation == "describe_stacks":
            self.cfn.calls.append((self.cfn.now, "DescribeStacks"))
            yield {"Stacks": [self.cfn._shape(s) for s in self.cfn.stacks.values()]}
        elif self.operation == "describe_stack_events":
            self.cfn.calls.append((self.cfn.now, "DescribeStackEvents"))
            yield {"StackEvents": []}
        else:
            raise NotImplementedError(self.operation)


@dataclass
class SimulatedCluster:
    """The task handlers of one cluster's workflows, backed by its CloudFormation double."""

    sample: Sample
    cfn: FakeCloudFormation
    detections: list[Detection] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    @property
    def cluster_id(self) -> str:
        return f"{self.sample.name}-0001"

    def handlers(self) -> dict[str, Callable[[dict[str, Any], float], Any]]:
        by_task: dict[str, Callable[[dict[str, Any], float], Any]] = {
            "create_cluster_stack": self._create_cluster_stack,
            "create_nodegroup_stack": self._create_nodegroup_stack,
            "describe_stack": self._describe_stack,
            "stop_create_workflow": lambda params, now: {"running": False},
            "list_cluster_stacks": self._list_stacks,
            "delete_stack": self._delete_stack,
            "describe_stack_deletion": self._describe_deletion,
        }
        by_task.update({task: lambda params, now: {} for task in NO_OP_TASKS})
        return {placeholder(task): handler for task, handler in by_task.items()}

    def _tags(self) -> dict[str, str]:
        return naming.ownership_tags(self.sample.name, self.cluster_id)

    def _create_cluster_stack(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        if params.get("kind") == "addons":  # the simulated clusters ask for no add-on that needs nodes
            return {"skipped": True}
        name = naming.cluster_stack_name(params["name"])
        ref = stacks.create_stack(self.cfn.at(now), name, "{}", self._tags(), f"{self.cluster_id}-cluster")
        return {**ref, "kind": stacks.KIND_CLUSTER}

    def _create_nodegroup_stack(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        group = params["nodegroup"]
        name = naming.nodegroup_stack_name(params["name"], group)
        ref = stacks.create_stack(self.cfn.at(now), name, "{}", self._tags(), f"{self.cluster_id}-ng-{group}")
        return {**ref, "kind": stacks.KIND_NODEGROUP, "nodegroup": group}

    def _describe_stack(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        stack = params["stack"]
        state = stacks.describe(self.cfn.at(now), stack["stackId"], stack["kind"], 1.0, now=lambda: at(now))
        self._note(stack, "create", state.done or state.failed, now)
        return {**state.to_dict(), **{k: v for k, v in stack.items() if k in ("kind", "nodegroup")}}

    def _list_stacks(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        ours, _ = stacks.owned_stacks(self.cfn.at(now), params["name"], self.cluster_id)
        return {
            "nodegroupStacks": [s for s in ours if s["kind"] == stacks.KIND_NODEGROUP],
            "clusterStack": next((s for s in ours if s["kind"] == stacks.KIND_CLUSTER), None),
            "addonsStack": None,
        }

    def _delete_stack(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        return stacks.delete(self.cfn.at(now), params["stack"])

    def _describe_deletion(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        stack = params["stack"]
        state = stacks.describe_deletion(self.cfn.at(now), stack, 1.0, now=lambda: at(now))
        self._note(stack, "delete", state["done"] or state["failed"], now)
        return state

    def _note(self, stack: dict[str, Any], operation: str, finished: bool, now: float) -> None:
        key = f"{operation}:{stack['stackId']}"
        if finished and key not in self._seen:
            self._seen.add(key)
            self.detections.append(Detection(stack["kind"], operation, self.cfn.finished_at(stack["stackId"]), now))


def _run(
    cluster: SimulatedCluster,
    stem: str,
    operation: str,
    payload: dict[str, Any],
    start: float,
    policy: Policy,
    latency: Callable[[], float],
) -> Run:
    interpreter = Interpreter(definition(stem), cluster.handlers(), latency, policy.fixed_wait)
    trace = Trace()
    calls_before, seen_before = len(cluster.cfn.calls), len(cluster.detections)
    outcome: Outcome = interpreter.run(payload, start, trace)
    calls = cluster.cfn.calls[calls_before:]
    return Run(
        operation=operation,
        trace=trace,
        start=start,
        end=outcome.end,
        status=outcome.status,
        describe_calls=[t for t, op in calls if op.startswith("Describe")],
        detections=cluster.detections[seen_before:],
    )


def simulate(
    sample: Sample, policy: Policy, rng: random.Random, start: float = 0.0, with_delete: bool = True
) -> list[Run]:
    """Create the cluster (and then delete it) through the real ASL; one Run per workflow."""
    cluster = SimulatedCluster(sample, FakeCloudFormation(sample))
    groups = [{"name": n.rsplit("-nodegroup-", 1)[1]} for n in sample.durations if "-nodegroup-" in n]
    record = {
        "name": sample.name,
        "clusterId": cluster.cluster_id,
        "spec": {"region": REGION, "managedNodeGroups": groups},
    }

    def latency() -> float:
        return rng.uniform(*TASK_LATENCY)

    create = _run(cluster, "create_cluster", "create", workflow.create_input(record), start, policy, latency)
    if not with_delete:
        return [create]
    payload = {
        "name": sample.name,
        "clusterId": cluster.cluster_id,
        "region": REGION,
        "operationId": "delete-0001",
        "createExecutionArn": None,
    }
    delete = _run(cluster, "delete_cluster", "delete", payload, create.end + DELETE_AFTER, policy, latency)
    return [create, delete]
