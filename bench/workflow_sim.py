"""One cluster's create and delete workflows, simulated over the real ASL and the real stack code.

The describe tasks call `chalicelib.cfn.stacks.describe` and `describe_deletion` — the code the
deployed Lambdas run, which chooses `waitSeconds` (through `next_wait_seconds` for creates)
— against a CloudFormation double whose stacks finish at sampled times on the virtual
clock. The Wait states read that `waitSeconds` through `SecondsPath`, as deployed. Every
other task (DynamoDB writes, notifications, aws-auth) costs one Lambda invocation and its
latency, nothing more. What is modelled, not measured: stack durations, task latency, and
that no task fails or is throttled.

Stack events. A step that waits for its stack's event (a `waitForTaskToken` task) is answered
the way `chalicelib.operations.stack_events` answers it: when the stack reaches its terminal
status, after an event delivery latency, with one DescribeStacks call and the state
`stack_events.stack_state` makes of it. The latency from the status change to SendTaskSuccess
(EventBridge -> SQS -> Lambda's event source mapping -> the function -> Step Functions) is an
ASSUMPTION: lognormal with median `EVENT_DELIVERY_MEDIAN` s and p95 `EVENT_DELIVERY_P95` s.
Its source: AWS documents EventBridge delivering an event to its targets typically within
about half a second, and Lambda's SQS event source mapping long-polls the queue, so a message
is picked up as it lands; the function's own DescribeStacks, DynamoDB and SendTaskSuccess calls
take a few hundred milliseconds more; the tail (p95 3 s) allows for retries and cold starts.
Each stack operation puts two events (in progress, then terminal) and each costs one
invocation of the events function (no batching assumed: an upper bound). A lost event is
modelled by no answer at all: the step times out after its `TimeoutSecondsPath` value
(`settings.EVENT_WAIT_SECONDS`, as deployed, unscaled) and the workflow's describe loop
takes over.

Baselines run over `bench/fixtures/*.describe_polling.asl.json`: the workflows as they were
before the stack steps waited for events (every stack step followed by the describe loop),
kept as they were deployed so today's design can be compared with yesterday's in one run.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.asl_sim import Answer, Interpreter, Outcome, Trace, states
from chalicelib.aws import workflow
from chalicelib.cfn import stacks
from chalicelib.model import naming, settings
from chalicelib.operations import stack_events

if TYPE_CHECKING:
    import random
    from collections.abc import Callable, Iterator

STATEMACHINE_DIR = Path(__file__).resolve().parent.parent / "statemachine"
FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"
# Which workflow definitions a policy runs: the deployed ones, or the describe-polling ones of before.
DEPLOYED = "deployed"
DESCRIBE_POLLING = "describe_polling"
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
# Stack status change -> SendTaskSuccess, lognormal (assumption; see the module docstring).
EVENT_DELIVERY_MEDIAN = 1.0
EVENT_DELIVERY_P95 = 3.0
EVENTS_PER_OPERATION = 2  # IN_PROGRESS, then the terminal status
_Z95 = 1.6448536269514722

# Tasks whose only effect, for these figures, is one invocation: DynamoDB, Slack, aws-auth.
NO_OP_TASKS = (
    "notify",
    "update_aws_auth",
    "apply_service_accounts",
    "mark_cluster_active",
    "record_failure",
    "delete_kubernetes_load_balancers",
    "mark_cluster_deleted",
    "record_delete_failure",
    # A claim's node group scale and identity mappings (its aws-auth write is one invocation too).
    "change_node_role",
    "finish_nodegroup_change",
    "record_nodegroup_failure",
    "change_access",
    "record_access_failure",
)


def at(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


@cache
def definition(stem: str, asl: str = DEPLOYED) -> dict[str, Any]:
    """The ASL file as deployed (or its describe-polling fixture); `${...FunctionArn}` placeholders stay
    as the handler keys."""
    path = STATEMACHINE_DIR / f"{stem}.asl.json" if asl == DEPLOYED else FIXTURES_DIR / f"{stem}.{asl}.asl.json"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def delivery_latency(rng: random.Random) -> float:
    """One event's delivery latency, seconds (lognormal, `EVENT_DELIVERY_MEDIAN`, `EVENT_DELIVERY_P95`)."""
    sigma = math.log(EVENT_DELIVERY_P95 / EVENT_DELIVERY_MEDIAN) / _Z95
    return rng.lognormvariate(math.log(EVENT_DELIVERY_MEDIAN), sigma)


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
    # stack name -> seconds an UpdateStack takes (a claim's node group scale from zero).
    updates: dict[str, float] = field(default_factory=dict)


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
    """Which workflows run and how they learn a stack is done.

    `asl`: DEPLOYED or DESCRIBE_POLLING. `events`: CloudFormation's events reach the waiting
    steps (False: every one is lost). `fixed_wait`: replaces every Wait state's duration (None:
    the describe tasks' `waitSeconds`); `then_wait`: replaces it from a loop's second wait on.
    """

    label: str
    asl: str = DEPLOYED
    events: bool = True
    fixed_wait: float | None = None
    then_wait: float | None = None

    def waits(self) -> Callable[[float, int], float] | None:
        first, then = self.fixed_wait, self.then_wait
        if first is None:
            return None
        return lambda asked, nth: first if nth == 1 or then is None else then


EVENTS = Policy("events (this design)")
ADAPTIVE = Policy("adaptive polling (describe loop)", DESCRIBE_POLLING, events=False)
EVERY_5S = Policy("polling every 5 s (CDK default)", DESCRIBE_POLLING, events=False, fixed_wait=5.0)
EKSCTL = Policy("polling 30 s, then 60 s (eksctl)", DESCRIBE_POLLING, events=False, fixed_wait=30.0, then_wait=60.0)
POLICIES = (EVENTS, ADAPTIVE, EVERY_5S, EKSCTL)
# The fallback: the deployed workflows with every stack event lost.
EVENTS_LOST = Policy("events, every event lost (fallback)", events=False)


@dataclass(frozen=True)
class Detection:
    """A stack reached its final state at `finished`; the workflow learnt it at `seen`, `via` an event or a describe."""

    kind: str
    operation: str
    finished: float
    seen: float
    via: str = "describe"

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
    # Invocations of the events function (not billed to the execution: Lambda only).
    event_invocations: int = 0


@dataclass
class _Stack:
    name: str
    stack_id: str
    tags: dict[str, str]
    created: float
    create_seconds: float
    delete_seconds: float
    deleting_since: float | None = None
    update_seconds: float = 0.0
    updating_since: float | None = None

    def status(self, now: float) -> str:
        if self.deleting_since is not None:
            return "DELETE_COMPLETE" if now >= self.finished_at() else "DELETE_IN_PROGRESS"
        if self.updating_since is not None:
            return "UPDATE_COMPLETE" if now >= self.finished_at() else "UPDATE_IN_PROGRESS"
        return "CREATE_COMPLETE" if now >= self.finished_at() else "CREATE_IN_PROGRESS"

    def finished_at(self) -> float:
        if self.deleting_since is not None:
            return self.deleting_since + self.delete_seconds
        if self.updating_since is not None:
            return self.updating_since + self.update_seconds
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
        return {"Stacks": [self._shape(self.find(StackName))]}

    def find(self, name_or_id: str) -> _Stack:
        return self.stacks.get(name_or_id) or next(s for s in self.stacks.values() if s.name == name_or_id)

    def delete_stack(self, StackName: str, **_: Any) -> None:
        self.calls.append((self.now, "DeleteStack"))
        self.find(StackName).deleting_since = self.now

    def update_stack(self, StackName: str, **_: Any) -> None:
        self.calls.append((self.now, "UpdateStack"))
        stack = self.find(StackName)
        stack.updating_since, stack.update_seconds = self.now, self.sample.updates[stack.name]

    def get_paginator(self, operation: str) -> _Paginator:
        return _Paginator(self, operation)

    def finished_at(self, stack_id: str) -> float:
        return self.find(stack_id).finished_at()

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
class _Waiter:
    """A step's task token, kept (as `stack_waits.await_stack_event` keeps it) for its stack's operation."""

    stack_id: str
    operation: str  # create, update or delete
    stack: dict[str, Any]  # what the step knows of its stack (kind, nodegroup, ...)


@dataclass
class SimulatedCluster:
    """The task handlers of one cluster's workflows, backed by its CloudFormation double.

    `events`: whether CloudFormation's events reach the waiting steps; `delivery()` their latency.
    """

    sample: Sample
    cfn: FakeCloudFormation
    events: bool = True
    delivery: Callable[[], float] = lambda: EVENT_DELIVERY_MEDIAN
    detections: list[Detection] = field(default_factory=list)
    event_invocations: int = 0
    _seen: set[str] = field(default_factory=set)
    _waiters: dict[str, _Waiter] = field(default_factory=dict)

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
            "update_nodegroup_stack": self._update_stack,
            # A fully private cluster's last step (the simulated clusters are not private).
            "close_public_endpoint": self._update_stack,
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
        self._await(params, ref["stackId"], "create", {"kind": stacks.KIND_CLUSTER})
        return {**ref, "kind": stacks.KIND_CLUSTER}

    def _create_nodegroup_stack(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        group = params["nodegroup"]
        name = naming.nodegroup_stack_name(params["name"], group)
        ref = stacks.create_stack(self.cfn.at(now), name, "{}", self._tags(), f"{self.cluster_id}-ng-{group}")
        carried = {"kind": stacks.KIND_NODEGROUP, "nodegroup": group}
        self._await(params, ref["stackId"], "create", carried)
        return {**ref, **carried}

    def _update_stack(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        stack = params["stack"]
        result = stacks.update_stack(self.cfn.at(now), stack, "{}", self.cluster_id)
        self._await(params, stack["stackId"], "update", {k: stack[k] for k in ("kind", "nodegroup") if k in stack})
        return result

    def _await(self, params: dict[str, Any], stack_id: str, operation: str, stack: dict[str, Any]) -> None:
        """A step run with a task token keeps it for the stack's event (the real step stores it in DynamoDB)."""
        token = params.get("taskToken")
        if token:
            self._waiters[str(token)] = _Waiter(stack_id, operation, stack)

    def answer(self, token: str, now: float) -> Answer | None:
        """When the stack's terminal event reaches `stack_events` and it answers the token; None: lost."""
        waiter = self._waiters.pop(token, None)
        if waiter is None:
            return None
        if not self.events:
            return None
        self.event_invocations += EVENTS_PER_OPERATION
        finished = self.cfn.finished_at(waiter.stack_id)
        at = max(now, finished + self.delivery())
        found = self.cfn.at(at).describe_stacks(StackName=waiter.stack_id)["Stacks"][0]
        state = stack_events.stack_state(self.cfn, found)
        if waiter.operation == "delete":
            output: dict[str, Any] = {
                **waiter.stack,
                "status": state.status,
                "done": state.status == stacks.DELETED_STATUS,
                "failed": state.failed,
                "waitSeconds": 0,
            }
        else:
            output = {**state.to_dict(), **waiter.stack}
        self._note(
            {**waiter.stack, "stackId": waiter.stack_id}, waiter.operation, state.done or state.failed, at, "event"
        )
        return Answer(at, output)

    def _stack_id(self, params: dict[str, Any]) -> str:
        """The stack's id; after a missed event the step knows only its kind (the real step reads the record)."""
        stack = params["stack"]
        if stack.get("stackId"):
            return str(stack["stackId"])
        if stack["kind"] == stacks.KIND_NODEGROUP:
            return self.cfn.find(naming.nodegroup_stack_name(params["name"], stack["nodegroup"])).stack_id
        return self.cfn.find(naming.cluster_stack_name(params["name"])).stack_id

    def _describe_stack(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        stack = {**params["stack"], "stackId": self._stack_id(params)}
        state = stacks.describe(self.cfn.at(now), stack["stackId"], stack["kind"], 1.0, now=lambda: at(now))
        self._note(stack, "create", state.done or state.failed, now)
        return {**state.to_dict(), **{k: v for k, v in stack.items() if k in ("kind", "nodegroup")}}

    def _list_stacks(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        ours, _ = stacks.owned_stacks(self.cfn.at(now), params["name"], self.cluster_id)
        return {
            "nodegroupStacks": [s for s in ours if s["kind"] == stacks.KIND_NODEGROUP],
            "clusterStack": next((s for s in ours if s["kind"] == stacks.KIND_CLUSTER), None),
            "addonsStack": None,
            "workloadStacks": [],
        }

    def _delete_stack(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        stack = {**params["stack"], "stackId": self._stack_id(params)}
        self._await(params, stack["stackId"], "delete", stack)
        return stacks.delete(self.cfn.at(now), stack)

    def _describe_deletion(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        stack = {**params["stack"], "stackId": self._stack_id(params)}
        state = stacks.describe_deletion(self.cfn.at(now), stack, 1.0, now=lambda: at(now))
        self._note(stack, "delete", state["done"] or state["failed"], now)
        return state

    def _note(self, stack: dict[str, Any], operation: str, finished: bool, now: float, via: str = "describe") -> None:
        key = f"{operation}:{stack['stackId']}"
        if finished and key not in self._seen:
            self._seen.add(key)
            self.detections.append(
                Detection(stack["kind"], operation, self.cfn.finished_at(stack["stackId"]), now, via)
            )


@cache
def _workload_stacks(name: str, nodegroups: tuple[str, ...]) -> list[dict[str, str]]:
    """The stacks a create makes after its node groups, as the API computes them (none for these specs)."""
    from chalicelib.cfn import templates
    from chalicelib.model.spec import ClusterSpec

    spec = ClusterSpec.model_validate(
        {"name": name, "region": REGION, "managedNodeGroups": [{"name": n} for n in nodegroups]}
    )
    return templates.workload_stacks(spec)


def _run(
    cluster: SimulatedCluster,
    stem: str,
    operation: str,
    payload: dict[str, Any],
    start: float,
    policy: Policy,
    latency: Callable[[], float],
) -> Run:
    interpreter = Interpreter(
        definition(stem, policy.asl), cluster.handlers(), latency, answers=cluster.answer, waits=policy.waits()
    )
    trace = Trace()
    calls_before, seen_before = len(cluster.cfn.calls), len(cluster.detections)
    events_before = cluster.event_invocations
    outcome: Outcome = interpreter.run(payload, start, trace, execution=f"{operation}-{cluster.cluster_id}")
    calls = cluster.cfn.calls[calls_before:]
    return Run(
        operation=operation,
        trace=trace,
        start=start,
        end=outcome.end,
        status=outcome.status,
        describe_calls=[t for t, op in calls if op.startswith("Describe")],
        detections=cluster.detections[seen_before:],
        event_invocations=cluster.event_invocations - events_before,
    )


def event_waits() -> dict[str, int]:
    """The waits the deployed service gives each stack's event (`settings.EVENT_WAIT_SECONDS`, unscaled)."""
    return dict(settings.EVENT_WAIT_SECONDS)


def simulate(
    sample: Sample, policy: Policy, rng: random.Random, start: float = 0.0, with_delete: bool = True
) -> list[Run]:
    """Create the cluster (and then delete it) through the real ASL; one Run per workflow.

    Event delivery latencies come from their own stream (seeded from `rng`), so every policy
    sees the same task latencies.
    """
    events_rng = type(rng)(rng.getrandbits(32))
    cluster = SimulatedCluster(
        sample, FakeCloudFormation(sample), events=policy.events, delivery=lambda: delivery_latency(events_rng)
    )
    groups = tuple(n.rsplit("-nodegroup-", 1)[1] for n in sample.durations if "-nodegroup-" in n)
    record = {
        "name": sample.name,
        "clusterId": cluster.cluster_id,
        "spec": {"region": REGION, "managedNodeGroups": [{"name": g} for g in groups]},
    }

    def latency() -> float:
        return rng.uniform(*TASK_LATENCY)

    payload = workflow.create_input(record, _workload_stacks(sample.name, groups), event_waits())
    create = _run(cluster, "create_cluster", "create", payload, start, policy, latency)
    if not with_delete:
        return [create]
    payload = {
        "name": sample.name,
        "clusterId": cluster.cluster_id,
        "region": REGION,
        "operationId": "delete-0001",
        "createExecutionArn": None,
        "eventWaits": event_waits(),
    }
    delete = _run(cluster, "delete_cluster", "delete", payload, create.end + DELETE_AFTER, policy, latency)
    return [create, delete]


def simulate_claim(sample: Sample, nodegroup: str, policy: Policy, rng: random.Random, start: float) -> list[Run]:
    """A claim of a READY pool cluster (its stacks made long before `start`), through the real ASL.

    What the API does after its conditional take: the `change_nodegroup` workflow scales the pool's
    node group from zero (an UpdateStack lasting `sample.updates`), and the `update_access` workflow
    maps the caller's identities; both start at `start` and run side by side. One Run per workflow.
    """
    events_rng = type(rng)(rng.getrandbits(32))
    cluster = SimulatedCluster(
        sample, FakeCloudFormation(sample), events=policy.events, delivery=lambda: delivery_latency(events_rng)
    )
    built = start - 86_400.0  # the pool built it a day ago: every stack has long finished
    for stack_name in sample.durations:
        stacks.create_stack(cluster.cfn.at(built), stack_name, "{}", cluster._tags(), f"{cluster.cluster_id}-pool")
    stack_name = naming.nodegroup_stack_name(sample.name, nodegroup)
    stack = {
        "stackName": stack_name,
        "stackId": cluster.cfn.find(stack_name).stack_id,
        "kind": stacks.KIND_NODEGROUP,
        "nodegroup": nodegroup,
    }
    common = {"name": sample.name, "clusterId": cluster.cluster_id, "region": REGION, "eventWaits": event_waits()}

    def latency() -> float:
        return rng.uniform(*TASK_LATENCY)

    scale = {**common, "operationId": "claim-scale", "action": "scale", "nodegroup": nodegroup, "stack": stack}
    access = {**common, "change": {"action": "add", "mapping": {}}}
    return [
        _run(cluster, "change_nodegroup", "claim-scale", scale, start, policy, latency),
        _run(cluster, "update_access", "claim-access", access, start, policy, latency),
    ]
