"""Each fault and load scenario, once: driven through the HTTP API against the local engine.

A scenario takes the API (a `CountingApi`) and the engine, injects its faults
(`local.faults`, `local.stack_timing`), makes its requests, and returns an `Outcome`:
what it tried, every 5xx it saw, what it injected, which records it lost, and the
checks that say whether the service behaved. tests/e2e asserts on the checks;
`python -m reliability` prints them as a table.

Stack durations are zero and the engine's poll scale small, so a scenario costs
seconds; names are distinct per scenario, and every fault is scoped to its
scenario's cluster, so scenarios can share one engine.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from chalicelib.model import naming, settings
from local import stack_events, stack_timing
from local.faults import LAMBDA_CRASH, faults

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from local.engine import LocalEngine

DEV = "arn:aws:iam::123456789012:role/Dev"
ALICE = "arn:aws:iam::123456789012:user/alice"
# botocore's standard retry mode makes this many attempts per call (chalicelib/aws/clients.py).
BOTOCORE_ATTEMPTS = 5
LOAD_NAMES = 50
LOAD_REQUESTS_PER_NAME = 4
LOAD_ACCESS_EDITS = 100


@dataclass
class Reply:
    status: int
    body: Any


class CountingApi:
    """A JSON client for the API that counts the requests a scenario makes and every 5xx it gets.

    Polling (`counted=False`) is not a request the scenario "tried", but a 5xx there is still seen.
    """

    def __init__(self, base: str, timeout: float = 60) -> None:
        self.base = base
        self.timeout = timeout
        self.tried = 0
        self.five_xx: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        counted: bool = True,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """One request: `body` as JSON, or `raw` bytes as they are (with their Content-Type in `headers`)."""
        data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                reply = Reply(resp.status, _decode(resp.read()))
        except urllib.error.HTTPError as err:
            reply = Reply(err.code, _decode(err.read()))
        with self._lock:
            self.tried += counted
            if reply.status >= 500:
                self.five_xx.append((method, path, reply.status))
        return reply

    def record(self, name: str) -> dict[str, Any]:
        reply = self.call("GET", f"/clusters/{name}", counted=False)
        return dict(reply.body) if reply.status == 200 else {}

    def wait_for(self, name: str, statuses: set[str], timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        record: dict[str, Any] = {}
        while time.monotonic() < deadline:
            record = self.record(name)
            if record.get("status") in statuses:
                return record
            time.sleep(0.1)
        return record

    def names(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Every cluster whose name starts with `prefix`, through the paginated listing."""
        found: dict[str, dict[str, Any]] = {}
        token = ""
        while True:
            reply = self.call(
                "GET", "/clusters?limit=100" + (f"&nextToken={quote(token)}" if token else ""), None, False
            )
            if reply.status != 200:
                raise RuntimeError(f"GET /clusters answered {reply.status}: {reply.body}")
            found.update({c["name"]: c for c in reply.body["clusters"] if c["name"].startswith(prefix)})
            token = reply.body.get("nextToken") or ""
            if not token:
                return found


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode(errors="replace")


@dataclass
class Outcome:
    """What one scenario did and whether the service held up."""

    scenario: str
    api: CountingApi
    injected: int = 0
    lost: list[str] = field(default_factory=list)
    checks: list[tuple[str, bool]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    _tried_before: int = 0
    _five_xx_before: int = 0

    def __post_init__(self) -> None:
        self._tried_before = self.api.tried
        self._five_xx_before = len(self.api.five_xx)

    @property
    def tried(self) -> int:
        return self.api.tried - self._tried_before

    @property
    def five_xx(self) -> list[tuple[str, str, int]]:
        return self.api.five_xx[self._five_xx_before :]

    def check(self, what: str, ok: bool) -> bool:
        self.checks.append((what, bool(ok)))
        return bool(ok)

    @property
    def failures(self) -> list[str]:
        problems = [what for what, ok in self.checks if not ok]
        if self.five_xx:
            problems.append(f"5xx answers: {self.five_xx[:5]}")
        if self.lost:
            problems.append(f"records lost: {self.lost[:5]}")
        return problems

    @property
    def ok(self) -> bool:
        return not self.failures and bool(self.checks)


# -- what the engine holds ------------------------------------------------------------------


def stacks_named(engine: LocalEngine, prefix: str, region: str | None = None) -> list[dict[str, Any]]:
    """Every stack ever created under a name starting with `prefix` (deleted ones too)."""
    cfn = engine.client("cloudformation", region)
    found: list[dict[str, Any]] = []
    for page in cfn.get_paginator("list_stacks").paginate():
        found.extend(s for s in page["StackSummaries"] if s["StackName"].startswith(prefix))
    return found


def executions(engine: LocalEngine, machine: str, prefix: str) -> list[dict[str, Any]]:
    sfn = engine.client("stepfunctions")
    found: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=engine.outputs[machine]):
        found.extend(e for e in page["executions"] if e["name"].startswith(prefix))
    return found


def wait_for_executions(
    engine: LocalEngine, machine: str, prefix: str, count: int, timeout: float = 90
) -> list[dict[str, Any]]:
    """The executions named `prefix*` once `count` exist and none is running (or what there is at the timeout)."""
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = executions(engine, machine, prefix)
        if len(found) >= count and all(e["status"] != "RUNNING" for e in found):
            break
        time.sleep(0.2)
    return found


def task_failures(engine: LocalEngine, execution_arn: str) -> list[str]:
    """The errors of every task invocation that failed in an execution (retried or not): a Lambda task's, or
    a waiting task's (`lambda:invoke.waitForTaskToken`, whose failed invocation is a TaskFailed event), but
    not a waiting task's timeout or its stack's failure (no invocation failed)."""
    sfn = engine.client("stepfunctions")
    errors: list[str] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        for event in page["events"]:
            details = event.get("lambdaFunctionFailedEventDetails") or event.get("taskFailedEventDetails")
            if details and details.get("error") not in ("States.Timeout", "States.HeartbeatTimeout", "StackFailed"):
                errors.append(details.get("error", ""))
    return errors


def aws_auth(api: CountingApi, name: str) -> dict[str, Any]:
    reply = api.call("GET", f"/clusters/{name}/access", counted=False)
    return dict(reply.body) if reply.status == 200 else {}


def mapped_arns(auth: dict[str, Any]) -> list[str]:
    return [e.get("rolearn") or e.get("userarn") for e in (auth.get("mapRoles") or []) + (auth.get("mapUsers") or [])]


def create_active(api: CountingApi, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A cluster, ACTIVE (the scenario's starting point); raises if it cannot get there."""
    reply = api.call("POST", "/clusters", {"name": name, **(body or {})}, counted=False)
    if reply.status != 202:
        raise RuntimeError(f"creating {name} answered {reply.status}: {reply.body}")
    record = api.wait_for(name, {"ACTIVE", "FAILED"})
    if record.get("status") != "ACTIVE":
        raise RuntimeError(f"{name} did not become ACTIVE: {record.get('status')} {record.get('failure')}")
    return record


def _one_stack_each(outcome: Outcome, engine: LocalEngine, name: str, nodegroups: int = 1) -> None:
    made = Counter(s["StackName"] for s in stacks_named(engine, f"eksctl-{name}-"))
    outcome.facts["stacks"] = dict(made)
    outcome.check(f"one cluster stack for {name}", made[f"eksctl-{name}-cluster"] == 1)
    outcome.check(
        f"one stack per node group for {name}",
        sum(1 for s in made if "-nodegroup-" in s) == nodegroups and all(n == 1 for n in made.values()),
    )


# -- faults -------------------------------------------------------------------------------------


def throttled_create(api: CountingApi, engine: LocalEngine, name: str = "thr") -> Outcome:
    """Throttling on CloudFormation, EKS and DynamoDB, within botocore's retries: the create succeeds."""
    outcome = Outcome("throttling on CloudFormation, EKS, DynamoDB", api)
    record_key = f'"CLUSTER#{name}"'
    armed = [
        ("dynamodb", "TransactWriteItems", record_key),
        ("dynamodb", "GetItem", record_key),
        ("cloudformation", "CreateStack", f"eksctl-{name}-"),
        ("cloudformation", "DescribeStacks", f"eksctl-{name}-"),
        ("eks", "DescribeCluster", f"/clusters/{name}"),
    ]
    for service, action, contains in armed:
        faults.throttle(service, action, times=BOTOCORE_ATTEMPTS - 1, contains=contains)

    reply = api.call("POST", "/clusters", {"name": name})
    record = api.wait_for(name, {"ACTIVE", "FAILED"})

    outcome.injected = faults.count("aws")
    outcome.check("the request is accepted (202)", reply.status == 202)
    outcome.check("the cluster becomes ACTIVE", record.get("status") == "ACTIVE")
    outcome.check("every armed throttle fired", faults.armed() == 0 and outcome.injected == len(armed) * 4)
    for service, _, _ in armed:
        outcome.check(f"{service} was throttled", faults.count("aws", f"{service}:*") > 0)
    failed_tasks = task_failures(engine, record["executionArn"]) if record.get("executionArn") else ["?"]
    outcome.check("botocore absorbed every throttle (no task failed)", failed_tasks == [])
    _one_stack_each(outcome, engine, name)
    if record.get("status") != "ACTIVE":
        outcome.lost.append(name)
    return outcome


def throttle_storm(api: CountingApi, engine: LocalEngine, name: str = "storm") -> Outcome:
    """CreateStack throttled longer than botocore retries: the ASL retries the task, the create succeeds."""
    outcome = Outcome("throttle storm past botocore's retries", api)
    faults.throttle("cloudformation", "CreateStack", times=BOTOCORE_ATTEMPTS + 1, contains=f"eksctl-{name}-cluster")

    reply = api.call("POST", "/clusters", {"name": name})
    record = api.wait_for(name, {"ACTIVE", "FAILED"}, timeout=120)

    outcome.injected = faults.count("aws")
    failed_tasks = task_failures(engine, record["executionArn"]) if record.get("executionArn") else []
    outcome.facts["task failures"] = failed_tasks
    outcome.check("the request is accepted (202)", reply.status == 202)
    outcome.facts["failure"] = record.get("failure")
    outcome.check("the cluster becomes ACTIVE", record.get("status") == "ACTIVE")
    outcome.check("every armed throttle fired", faults.armed() == 0)
    outcome.check("the task failed as throttled once and the ASL retried it", failed_tasks == ["Throttling"])
    _one_stack_each(outcome, engine, name)
    if record.get("status") != "ACTIVE":
        outcome.lost.append(name)
    return outcome


def failed_stack(api: CountingApi, engine: LocalEngine, name: str = "doomed") -> Outcome:
    """A cluster stack that fails: FAILED with the reason on the record, nothing left running."""
    outcome = Outcome("cluster stack fails", api)
    reason = f"Cannot create cluster '{name}' because us-west-2d does not have sufficient capacity"
    stack_timing.behaviour.fail(f"eksctl-{name}-cluster", "ControlPlane", reason)

    reply = api.call("POST", "/clusters", {"name": name})
    record = api.wait_for(name, {"ACTIVE", "FAILED"})

    outcome.injected = 1
    outcome.check("the request is accepted (202)", reply.status == 202)
    outcome.check("the cluster is FAILED", record.get("status") == "FAILED")
    outcome.check(
        "the record names the stack, resource and reason",
        record.get("failure")
        == {"error": "StackFailed", "reason": reason, "stack": f"eksctl-{name}-cluster", "resource": "ControlPlane"},
    )
    outcome.check("the record holds no running operation", "operation" not in record)
    execution = wait_for_executions(engine, "create_cluster", f"create-{name}-", 1, timeout=30)
    outcome.check("the workflow is not running", [e["status"] for e in execution] == ["FAILED"])
    stacks = stacks_named(engine, f"eksctl-{name}-")
    outcome.check(
        "the stack rolled back and no node group was started",
        [(s["StackName"], s["StackStatus"]) for s in stacks] == [(f"eksctl-{name}-cluster", "ROLLBACK_COMPLETE")],
    )
    outcome.check("no EKS control plane is left", name not in engine.client("eks").list_clusters()["clusters"])
    if not record:
        outcome.lost.append(name)
    return outcome


CRASHING_TASKS = ("create_cluster_stack", "create_nodegroup_stack", "update_aws_auth", "mark_cluster_active")


def crash_once(api: CountingApi, engine: LocalEngine, name: str = "crashy") -> Outcome:
    """Tasks whose runtime dies once after doing their work: the ASL retries, nothing is done twice."""
    outcome = Outcome("Lambda tasks crash once after their work", api)
    for task in CRASHING_TASKS:
        faults.crash_lambda(task, times=1, after=True, contains=f'"{name}"')

    body = {"name": name, "iamIdentityMappings": [{"arn": DEV, "username": "dev", "groups": ["developers"]}]}
    reply = api.call("POST", "/clusters", body)
    record = api.wait_for(name, {"ACTIVE", "FAILED"})
    execution = wait_for_executions(engine, "create_cluster", f"create-{name}-", 1, timeout=30)

    outcome.injected = faults.count("lambda")
    failed_tasks = task_failures(engine, record["executionArn"]) if record.get("executionArn") else []
    outcome.facts["task failures"] = failed_tasks
    outcome.check("the request is accepted (202)", reply.status == 202)
    outcome.check("the cluster becomes ACTIVE", record.get("status") == "ACTIVE")
    outcome.check("the workflow succeeded", [e["status"] for e in execution] == ["SUCCEEDED"])
    outcome.check(
        "each crash was retried by the ASL",
        faults.armed() == 0 and failed_tasks == [LAMBDA_CRASH] * len(CRASHING_TASKS),
    )
    _one_stack_each(outcome, engine, name)
    auth = aws_auth(api, name)
    arns = mapped_arns(auth)
    roles = record.get("nodeRoles") or []
    outcome.check("aws-auth maps the node role once", len(roles) == 1 and arns.count(roles[0]) == 1)
    outcome.check("aws-auth maps the requested identity once", arns.count(DEV) == 1)
    if record.get("status") != "ACTIVE":
        outcome.lost.append(name)
    return outcome


def access_change_crash(api: CountingApi, engine: LocalEngine, name: str = "flaky") -> Outcome:
    """Mapping changes whose task dies once after its write: the retry finds the change made and succeeds."""
    outcome = Outcome("aws-auth changes crash once after their work", api)
    create_active(api, name)
    changes = [
        ("POST", f"/clusters/{name}/access", {"arn": ALICE, "username": "alice", "groups": ["viewers"]}),
        ("DELETE", f"/clusters/{name}/access?arn={ALICE}", None),
    ]
    replies = []
    for number, (method, path, body) in enumerate(changes, start=1):
        faults.crash_lambda("change_access", times=1, after=True, contains=f'"{name}"')
        replies.append(api.call(method, path, body))
        done = wait_for_executions(engine, "update_access", f"access-{name}-", number, timeout=60)

    outcome.injected = faults.count("lambda")
    events = [e["type"] for e in api.record(name).get("events", [])]
    outcome.check("both changes are accepted (202)", [r.status for r in replies] == [202, 202])
    outcome.check("every crash fired", faults.armed() == 0 and outcome.injected == len(changes))
    outcome.check("both access workflows succeeded", [e["status"] for e in done] == ["SUCCEEDED"] * len(changes))
    outcome.check("no change is reported failed", "ACCESS_CHANGE_FAILED" not in events)
    outcome.check("the mapping added then removed is gone", ALICE not in mapped_arns(aws_auth(api, name)))
    return outcome


def aws_auth_conflict(api: CountingApi, engine: LocalEngine, name: str = "racy") -> Outcome:
    """Someone else writes aws-auth between our read and our write (409): we merge, nobody's mapping is lost."""
    outcome = Outcome("409 Conflict on the aws-auth write", api)
    faults.race_aws_auth(name, times=2)
    body = {"name": name, "iamIdentityMappings": [{"arn": DEV, "username": "dev", "groups": ["developers"]}]}
    created = api.call("POST", "/clusters", body)
    record = api.wait_for(name, {"ACTIVE", "FAILED"})
    outcome.check("the request is accepted (202)", created.status == 202)
    outcome.check("the cluster becomes ACTIVE despite the conflicts", record.get("status") == "ACTIVE")

    faults.race_aws_auth(name, times=2)
    added = api.call("POST", f"/clusters/{name}/access", {"arn": ALICE, "username": "alice", "groups": ["viewers"]})
    done = wait_for_executions(engine, "update_access", f"access-{name}-", 1, timeout=60)

    outcome.injected = faults.count("kube")
    # Our writes: PUT .../configmaps/aws-auth, or POST .../configmaps while it does not exist yet.
    writes = [
        r for r in engine.emulator(name, "us-west-2").requests if r[0] in ("PUT", "POST") and "/configmaps" in r[1]
    ]
    conflicts = [r for r in writes if r[2] == 409]
    outcome.facts["409s"] = len(conflicts)
    outcome.check("the mapping is accepted (202)", added.status == 202)
    outcome.check("the access workflow succeeded", [e["status"] for e in done] == ["SUCCEEDED"])
    outcome.check("every race fired and was answered 409", faults.armed() == 0 and len(conflicts) == 4)
    arns = mapped_arns(aws_auth(api, name))
    expected = [*(record.get("nodeRoles") or []), DEV, ALICE, *faults.foreign_mappings()]
    outcome.lost = [arn for arn in expected if arn not in arns]
    outcome.check("every mapping is there: node role, requested, added and the other writer's", not outcome.lost)
    outcome.check("no mapping is there twice", len(arns) == len(set(arns)))
    return outcome


def conditional_check(api: CountingApi, engine: LocalEngine, name: str = "cond") -> Outcome:
    """A DynamoDB write loses its condition to another writer: the caller gets a clear 409, never a 5xx."""
    outcome = Outcome("DynamoDB conditional check fails", api)
    before = create_active(api, name)
    fresh = f"{name}-fresh"

    faults.fail_condition("TransactWriteItems", contains=f'"CLUSTER#{fresh}"')
    create = api.call("POST", "/clusters", {"name": fresh})
    outcome.check("a create that loses its condition is a 409", create.status == 409)
    outcome.check("nothing was recorded or started for it", api.record(fresh) == {})
    outcome.check("no workflow was started for it", executions(engine, "create_cluster", f"create-{fresh}-") == [])

    requests: list[tuple[str, str, str, dict[str, Any] | None]] = [
        ("TransactWriteItems", "POST", f"/clusters/{name}/lease", {"hours": 2}),
        ("UpdateItem", "POST", f"/clusters/{name}/nodegroups", {"name": "extra"}),
        ("UpdateItem", "DELETE", f"/clusters/{name}", None),
    ]
    for action, method, path, body in requests:
        faults.fail_condition(action, contains=f'"CLUSTER#{name}"')
        reply = api.call(method, path, body)
        outcome.check(
            f"{method} {path} that loses its condition is a 409 Conflict",
            reply.status == 409 and isinstance(reply.body, dict) and reply.body.get("error") == "Conflict",
        )
    after = api.record(name)
    outcome.check(
        "the cluster is as it was",
        after.get("status") == "ACTIVE"
        and "operation" not in after
        and after.get("expiresAt") == before.get("expiresAt")
        and after.get("spec") == before.get("spec"),
    )
    outcome.injected = faults.count("aws")
    outcome.check("every armed failure fired", faults.armed() == 0 and outcome.injected == 1 + len(requests))

    # The conflicts were transient: the same requests, sent again, go through.
    outcome.check("the create, sent again, is accepted", api.call("POST", "/clusters", {"name": fresh}).status == 202)
    outcome.check(
        "the lease, sent again, is extended", api.call("POST", f"/clusters/{name}/lease", {"hours": 2}).status == 200
    )
    outcome.check("the delete, sent again, is accepted", api.call("DELETE", f"/clusters/{name}").status == 202)
    if not after:
        outcome.lost.append(name)
    return outcome


# -- stack events: lost, duplicated, delayed, out of order, foreign --------------------------------
#
# The stack steps wait for CloudFormation's events (local/stack_events.py puts them on EventBridge;
# the rule, queue and mapping deliver them to the stack_events function). Its `behaviour` faults
# the delivery; each scenario checks the final state, that one workflow ran, and that no record was lost.

# A waiting step's wait when a scenario wants the fallback: short, so a lost event costs seconds, yet
# longer than the create function itself takes on a busy machine (the wait counts from the invocation,
# and a fallback that looks before the stack was requested finds nothing to look at).
SHORT_EVENT_WAIT = 4
DUPLICATE_WORKFLOWS = "duplicate workflows"  # the fact the table's column reads
FOREIGN_TEMPLATE = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})


@contextlib.contextmanager
def event_wait(seconds: int) -> Iterator[None]:
    """Every waiting step gives its stack's event `seconds` (the API reads the setting per request)."""
    name = settings.ENV_STACK_EVENT_WAIT_SECONDS
    before = os.environ.get(name)
    os.environ[name] = str(seconds)
    settings.get_settings.cache_clear()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before
        settings.get_settings.cache_clear()


def entered(engine: LocalEngine, execution_arn: str) -> list[str]:
    """The states an execution entered, in order (Map iterations included)."""
    sfn = engine.client("stepfunctions")
    names: list[str] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        names += [e["stateEnteredEventDetails"]["name"] for e in page["events"] if "stateEnteredEventDetails" in e]
    return names


def _missed(states: list[str]) -> list[str]:
    return [s for s in states if s.endswith(" Event Missed")]


def events_consumed(engine: LocalEngine, timeout: float = 10) -> bool:
    """Every stack event delivered has been taken off the queue: none waiting, none in flight (a handler that
    failed on one would leave it in flight, to come back and end in the dead-letter queue)."""
    sqs = engine.client("sqs")
    urls = [u for u in sqs.list_queues().get("QueueUrls", []) if u.endswith(stack_events.QUEUE_SUFFIX)]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = [
            sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
            for url in urls
        ]
        if urls and all(
            int(c["ApproximateNumberOfMessages"]) + int(c["ApproximateNumberOfMessagesNotVisible"]) == 0 for c in counts
        ):
            return True
        time.sleep(0.2)
    return False


def _stack_of(event: dict[str, Any]) -> str:
    """The stack a timeline event is about: its details, else its message ("Stack NAME is STATUS")."""
    named = (event.get("details") or {}).get("stack")
    return str(named) if named else str(event.get("message", "")).removeprefix("Stack ").split(" ", 1)[0]


def _evented_create(
    outcome: Outcome, api: CountingApi, engine: LocalEngine, name: str, nodegroups: int = 2
) -> tuple[dict[str, Any], list[str]]:
    """Create `name` with `nodegroups` node groups; check it ends ACTIVE through one workflow, every stack's end
    recorded once; the record and the states its workflow entered."""
    body = {"name": name, "managedNodeGroups": [{"name": f"ng-{i}"} for i in range(1, nodegroups + 1)]}
    reply = api.call("POST", "/clusters", body)
    record = api.wait_for(name, {"ACTIVE", "FAILED"})
    runs = wait_for_executions(engine, "create_cluster", f"create-{name}-", 1, timeout=30)
    outcome.check("the request is accepted (202)", reply.status == 202)
    outcome.check("the cluster becomes ACTIVE", record.get("status") == "ACTIVE")
    outcome.check("one create workflow, succeeded", [e["status"] for e in runs] == ["SUCCEEDED"])
    outcome.facts["workflows"] = len(runs)
    outcome.facts[DUPLICATE_WORKFLOWS] = max(0, len(runs) - 1)
    ends = Counter(_stack_of(e) for e in record.get("events", []) if e["type"] == "STACK_CREATE_COMPLETE")
    expected = {naming.cluster_stack_name(name)} | {
        naming.nodegroup_stack_name(name, f"ng-{i}") for i in range(1, nodegroups + 1)
    }
    outcome.check("every stack's end is on the timeline once", ends == Counter(expected))
    outcome.check(
        "the record has every stack CREATE_COMPLETE",
        {n: s.get("status") for n, s in (record.get("stacks") or {}).items()}
        == dict.fromkeys(expected, "CREATE_COMPLETE"),
    )
    _one_stack_each(outcome, engine, name, nodegroups)
    if record.get("status") != "ACTIVE":
        outcome.lost.append(name)
        outcome.facts["failure"] = record.get("failure")
        outcome.facts["record stacks"] = record.get("stacks")
    states = entered(engine, record["executionArn"]) if record.get("executionArn") else []
    return record, states


def event_lost(api: CountingApi, engine: LocalEngine, name: str = "evlost") -> Outcome:
    """The cluster stack's completion event never comes: the step times out, looks once, and the create goes on."""
    outcome = Outcome("stack event lost: the wait ends, the describe loop finishes", api)
    stack_events.behaviour.drop(naming.cluster_stack_name(name))
    with event_wait(SHORT_EVENT_WAIT):
        _, states = _evented_create(outcome, api, engine, name)
    outcome.injected = stack_events.behaviour.count()
    outcome.check("the event was dropped", outcome.injected == 1 and stack_events.behaviour.armed() == 0)
    outcome.check("only the cluster step missed its event", _missed(states) == ["Cluster Stack Event Missed"])
    outcome.check("the describe loop took over", "Describe Cluster Stack" in states)
    outcome.check("every event delivered was consumed", events_consumed(engine))
    return outcome


def event_duplicated(api: CountingApi, engine: LocalEngine, name: str = "evdup") -> Outcome:
    """Every event of every stack arrives twice: each step is answered once, the record written once."""
    outcome = Outcome("stack events duplicated", api)
    stack_events.behaviour.duplicate(f"eksctl-{name}-*", times=6)
    _, states = _evented_create(outcome, api, engine, name)
    outcome.injected = stack_events.behaviour.count()
    outcome.check("every event was duplicated (3 stacks x 2 events)", outcome.injected == 6)
    outcome.check("no step missed its event", _missed(states) == [])
    outcome.check("no describe loop ran", not [s for s in states if s.startswith(("Describe ", "Wait "))])
    outcome.check("every event delivered was consumed", events_consumed(engine))
    return outcome


def event_delayed_past_wait(api: CountingApi, engine: LocalEngine, name: str = "evlate") -> Outcome:
    """The cluster stack's event comes after the step stopped waiting: the fallback finishes, the late answer
    to a token Step Functions dropped is harmless."""
    outcome = Outcome("stack event delayed past the wait", api)
    delay = SHORT_EVENT_WAIT + 2
    stack_events.behaviour.delay(naming.cluster_stack_name(name), delay)
    with event_wait(SHORT_EVENT_WAIT):
        _, states = _evented_create(outcome, api, engine, name)
    time.sleep(max(0.0, delay - SHORT_EVENT_WAIT))  # let the late event reach the handler
    outcome.injected = stack_events.behaviour.count()
    outcome.check("the event was delayed", outcome.injected == 1)
    outcome.check("only the cluster step missed its event", _missed(states) == ["Cluster Stack Event Missed"])
    outcome.check("the late event was consumed without error", events_consumed(engine))
    return outcome


def event_delayed_within_wait(api: CountingApi, engine: LocalEngine, name: str = "evslow") -> Outcome:
    """Every stack's event comes a second late, well within the wait: the steps just wait longer."""
    outcome = Outcome("stack events delayed within the wait", api)
    stack_events.behaviour.delay(f"eksctl-{name}-*", 1.0, times=3)
    _, states = _evented_create(outcome, api, engine, name)
    outcome.injected = stack_events.behaviour.count()
    outcome.check("every stack's end was delayed", outcome.injected == 3)
    outcome.check("no step missed its event", _missed(states) == [])
    outcome.check("every event delivered was consumed", events_consumed(engine))
    return outcome


def event_out_of_order(api: CountingApi, engine: LocalEngine, name: str = "evorder") -> Outcome:
    """Each stack's end arrives before its start (IN_PROGRESS after CREATE_COMPLETE): the start changes nothing."""
    outcome = Outcome("stack events out of order", api)
    stack_events.behaviour.reorder(f"eksctl-{name}-*", times=3)
    _, states = _evented_create(outcome, api, engine, name)
    outcome.injected = stack_events.behaviour.count()
    outcome.check("every stack's start came after its end", outcome.injected == 3)
    outcome.check("no step missed its event", _missed(states) == [])
    outcome.check("every event delivered was consumed", events_consumed(engine))
    return outcome


def foreign_stack_events(api: CountingApi, engine: LocalEngine, name: str = "evmine") -> Outcome:
    """While our cluster is created, another eksctl user's stack (eksctl- but not tagged ours) and another team's
    stack finish in the same account and region: their events wake nothing and change nothing."""
    outcome = Outcome("a foreign stack's events", api)
    neighbour, other = "eksctl-neighbour-cluster", "other-team-app"
    stack_timing.behaviour.cluster_seconds = 1.0
    cfn = engine.client("cloudformation")
    try:
        reply = api.call("POST", "/clusters", {"name": name, "managedNodeGroups": [{"name": "ng-1"}]})
        ours = f"{(reply.body or {}).get('clusterId')}-cluster" if isinstance(reply.body, dict) else "token"
        for stack in (neighbour, other):
            cfn.create_stack(
                StackName=stack,
                TemplateBody=FOREIGN_TEMPLATE,
                Tags=[{"Key": "team", "Value": "someone-else"}],
                ClientRequestToken=ours,  # even the request token of our cluster stack
            )
        outcome.check("the request is accepted (202)", reply.status == 202)
        record = api.wait_for(name, {"ACTIVE", "FAILED"})
    finally:
        stack_timing.behaviour.cluster_seconds = 0.0
    runs = wait_for_executions(engine, "create_cluster", f"create-{name}-", 1, timeout=30)
    outcome.facts[DUPLICATE_WORKFLOWS] = max(0, len(runs) - 1)
    states = entered(engine, record["executionArn"]) if record.get("executionArn") else []
    outcome.injected = 2
    outcome.check("the cluster becomes ACTIVE", record.get("status") == "ACTIVE")
    outcome.check("one create workflow, succeeded", [e["status"] for e in runs] == ["SUCCEEDED"])
    outcome.check("no step missed its event", _missed(states) == [])
    outcome.check(
        "the record names only our stacks",
        sorted(record.get("stacks") or {})
        == sorted([naming.cluster_stack_name(name), naming.nodegroup_stack_name(name, "ng-1")]),
    )
    foreign = {
        s["StackName"]: s["StackStatus"] for s in stacks_named(engine, "") if s["StackName"] in (neighbour, other)
    }
    outcome.check(
        "the foreign stacks are untouched", foreign == {neighbour: "CREATE_COMPLETE", other: "CREATE_COMPLETE"}
    )
    outcome.check("no record was made for them", api.record("neighbour") == {})
    outcome.check("every event delivered was consumed", events_consumed(engine))
    for stack in (neighbour, other):
        cfn.delete_stack(StackName=stack)
    if record.get("status") != "ACTIVE":
        outcome.lost.append(name)
    return outcome


# -- load ------------------------------------------------------------------------------------------


def concurrent_creates(
    api: CountingApi, engine: LocalEngine, names: int = LOAD_NAMES, per_name: int = LOAD_REQUESTS_PER_NAME
) -> Outcome:
    """`names * per_name` creates at once, `per_name` for each name: one wins per name, the rest are clean 409s."""
    outcome = Outcome(f"{names * per_name} concurrent creates, {names} names", api)
    prefix = "load-"
    # Each workflow is parked at its first task: this measures the API, not the 50 builds (test_create_cluster
    # covers those), and it keeps the run short. They are stopped, and let go, at the end.
    faults.hold_lambda("create_cluster_stack", contains=f'"{prefix}')
    requests = [(f"{prefix}{i:02d}", j) for j in range(per_name) for i in range(names)]
    gate = threading.Barrier(len(requests))

    def send(request: tuple[str, int]) -> tuple[str, int, Reply]:
        name, attempt = request
        gate.wait()
        return name, attempt, api.call("POST", "/clusters", {"name": name, "tags": {"attempt": str(attempt)}})

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        replies = list(pool.map(send, requests))

    statuses = Counter(r.status for _, _, r in replies)
    outcome.facts["statuses"] = dict(statuses)
    winners: dict[str, list[tuple[int, Reply]]] = {}
    for name, attempt, reply in replies:
        if reply.status == 202:
            winners.setdefault(name, []).append((attempt, reply))
    outcome.check(f"exactly {names} accepted (202)", statuses[202] == names)
    outcome.check(f"exactly {names * (per_name - 1)} refused (409)", statuses[409] == names * (per_name - 1))
    outcome.check(
        "one winner per name",
        sorted(winners) == sorted({n for n, _ in requests}) and all(len(w) == 1 for w in winners.values()),
    )
    conflicts = [r for _, _, r in replies if r.status == 409]
    outcome.check(
        "every 409 is a Conflict naming its cluster",
        all(
            isinstance(r.body, dict) and r.body.get("error") == "Conflict" and r.body.get("cluster") for r in conflicts
        ),
    )

    started = executions(engine, "create_cluster", f"create-{prefix}")
    per_name_started = Counter(e["name"].rsplit("-", 1)[0].removeprefix("create-") for e in started)
    outcome.facts["workflows"] = len(started)
    outcome.check(f"exactly {names} workflows started", len(started) == names)
    outcome.check("one workflow per name", all(n == 1 for n in per_name_started.values()))
    listed = api.names(prefix)
    for name, won in winners.items():
        attempt, reply = won[0]
        record = api.record(name)
        if (
            name not in listed
            or record.get("clusterId") != reply.body.get("clusterId")
            or record.get("spec", {}).get("tags", {}).get("attempt") != str(attempt)
            or record.get("executionArn") not in {e["executionArn"] for e in started}
        ):
            outcome.lost.append(name)
    outcome.check("every accepted create has its record, with its own spec and workflow", not outcome.lost)

    sfn = engine.client("stepfunctions")
    for execution in started:
        sfn.stop_execution(executionArn=execution["executionArn"], error="LoadTestDone")
    faults.release()
    return outcome


def concurrent_access_edits(
    api: CountingApi, engine: LocalEngine, name: str = "busy", edits: int = LOAD_ACCESS_EDITS
) -> Outcome:
    """`edits` POST /access at once on one ACTIVE cluster, distinct ARNs: every one ends up in aws-auth."""
    outcome = Outcome(f"{edits} concurrent aws-auth edits, one cluster", api)
    record = create_active(api, name)
    arns = [f"arn:aws:iam::123456789012:role/load-{i:03d}" for i in range(edits)]
    gate = threading.Barrier(len(arns))

    def send(arn: str) -> Reply:
        gate.wait()
        return api.call("POST", f"/clusters/{name}/access", {"arn": arn, "username": arn.rsplit("/", 1)[1]})

    with ThreadPoolExecutor(max_workers=len(arns)) as pool:
        replies = list(pool.map(send, arns))
    done = wait_for_executions(engine, "update_access", f"access-{name}-", edits, timeout=150)

    statuses = Counter(r.status for r in replies)
    outcome.facts["statuses"] = dict(statuses)
    outcome.facts["workflows"] = Counter(e["status"] for e in done)
    conflicts = [r for r in engine.emulator(name, "us-west-2").requests if r[1].endswith("/aws-auth") and r[2] == 409]
    outcome.facts["aws-auth 409s"] = len(conflicts)
    outcome.check(f"all {edits} accepted (202)", statuses[202] == edits)
    outcome.check(
        f"{edits} access workflows, all succeeded", len(done) == edits and all(e["status"] == "SUCCEEDED" for e in done)
    )
    mapped = set(mapped_arns(aws_auth(api, name)))
    outcome.lost = [arn for arn in arns if arn not in mapped]
    outcome.check(f"all {edits} ARNs are in aws-auth", not outcome.lost)
    outcome.check("the node role is still mapped", set(record.get("nodeRoles") or ["?"]) <= mapped)
    return outcome


FAULTS: tuple[Callable[[CountingApi, LocalEngine], Outcome], ...] = (
    throttled_create,
    throttle_storm,
    failed_stack,
    crash_once,
    access_change_crash,
    aws_auth_conflict,
    conditional_check,
)
STACK_EVENTS: tuple[Callable[[CountingApi, LocalEngine], Outcome], ...] = (
    event_lost,
    event_duplicated,
    event_delayed_past_wait,
    event_delayed_within_wait,
    event_out_of_order,
    foreign_stack_events,
)
LOAD: tuple[Callable[[CountingApi, LocalEngine], Outcome], ...] = (concurrent_creates, concurrent_access_edits)


def reset() -> None:
    """Disarm every fault (between scenarios)."""
    faults.clear()
    stack_timing.behaviour.clear()
    stack_events.behaviour.clear()
