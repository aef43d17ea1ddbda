"""CloudFormation's "Stack Status Change" events, which moto's CloudFormation never sends.

On AWS, CloudFormation puts an event on the account's default EventBridge bus each time a
stack's status changes (source `aws.cloudformation`, detail-type
`CloudFormation Stack Status Change`). Here a pump thread watches every stack moto holds
(live and deleted): it lets stacks whose time has come finish (local/stack_timing.py settles
a stack only when its status is read, and with events nobody reads it), and puts one event
per new stack-level status into moto's EventBridge, oldest first. moto delivers them to the
rules' targets, as AWS would.

moto does not keep a stack's ClientRequestToken either: the CreateStack, UpdateStack and
DeleteStack calls are wrapped to remember it, and the events of that operation carry it.
Those calls and the pump take one lock, so the pump never sees the moment inside a call
where moto has reported a status that stack_timing then takes back.

Delivery faults, as AWS allows them (durable, at least once, possibly out of order, and a
consumer that must never trust one to arrive): `behaviour` drops, duplicates, delays or
reorders the events of matching stacks, each armed for a number of events and counted, so
reliability scenarios can say what they injected.
"""

from __future__ import annotations

import fnmatch
import heapq
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

SOURCE = "aws.cloudformation"
DETAIL_TYPE = "CloudFormation Stack Status Change"
STACK_TYPE = "AWS::CloudFormation::Stack"
# How often the pump looks (seconds): the local engine's EventBridge delivery latency, at most.
INTERVAL = 0.05

_lock = threading.RLock()
_originals: dict[str, Any] = {}
_pump: _Pump | None = None

DROP = "drop"
DUPLICATE = "duplicate"
DELAY = "delay"
REORDER = "reorder"
_sequence = itertools.count()  # orders delayed events due at the same moment
TERMINAL = "*_COMPLETE"  # fnmatch on a status: every terminal status but *_FAILED
IN_PROGRESS = "*_IN_PROGRESS"


@dataclass
class EventFault:
    action: str  # DROP, DUPLICATE, DELAY or REORDER
    pattern: str  # fnmatch on the stack name
    statuses: str  # fnmatch on the event's status
    times: int
    seconds: float = 0.0  # DELAY: how late the event is put on the bus


@dataclass(frozen=True)
class Injected:
    action: str
    stack: str
    status: str


@dataclass
class EventBehaviour:
    """Armed delivery faults and what was injected. Thread-safe (the pump and the API calls share it).

    `reorder`: the stack's matching in-progress event is held back and put on the bus right after its
    next event (the terminal one), so the handler sees the end before the start.
    """

    faults: list[EventFault] = field(default_factory=list)
    injected: list[Injected] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _held: dict[str, list[tuple[str, str, dict[str, Any]]]] = field(default_factory=dict)
    _later: list[tuple[float, int, str, str, dict[str, Any]]] = field(default_factory=list)

    def drop(self, pattern: str, statuses: str = TERMINAL, times: int = 1) -> None:
        """The next `times` matching events never reach the bus."""
        self._arm(EventFault(DROP, pattern, statuses, times))

    def duplicate(self, pattern: str, statuses: str = "*", times: int = 1) -> None:
        """The next `times` matching events reach the bus twice."""
        self._arm(EventFault(DUPLICATE, pattern, statuses, times))

    def delay(self, pattern: str, seconds: float, statuses: str = TERMINAL, times: int = 1) -> None:
        """The next `times` matching events reach the bus `seconds` late."""
        self._arm(EventFault(DELAY, pattern, statuses, times, seconds))

    def reorder(self, pattern: str, times: int = 1) -> None:
        """The next `times` in-progress events of matching stacks arrive after the stack's next event."""
        self._arm(EventFault(REORDER, pattern, IN_PROGRESS, times))

    def _arm(self, fault: EventFault) -> None:
        with self.lock:
            self.faults.append(fault)

    def take(self, stack: str, status: str) -> EventFault | None:
        """The armed fault for this event, if any (one of its `times` used, and counted)."""
        with self.lock:
            for fault in self.faults:
                matched = fnmatch.fnmatchcase(stack, fault.pattern) and fnmatch.fnmatchcase(status, fault.statuses)
                if fault.times > 0 and matched:
                    fault.times -= 1
                    self.injected.append(Injected(fault.action, stack, status))
                    return fault
            return None

    def hold(self, stack_id: str, account_id: str, region: str, entry: dict[str, Any]) -> None:
        with self.lock:
            self._held.setdefault(stack_id, []).append((account_id, region, entry))

    def release(self, stack_id: str) -> list[tuple[str, str, dict[str, Any]]]:
        with self.lock:
            return self._held.pop(stack_id, [])

    def later(self, seconds: float, account_id: str, region: str, entry: dict[str, Any]) -> None:
        with self.lock:
            heapq.heappush(self._later, (time.monotonic() + seconds, next(_sequence), account_id, region, entry))

    def due(self) -> list[tuple[str, str, dict[str, Any]]]:
        """The delayed events whose time has come, oldest first."""
        with self.lock:
            found = []
            while self._later and self._later[0][0] <= time.monotonic():
                _, _, account_id, region, entry = heapq.heappop(self._later)
                found.append((account_id, region, entry))
            return found

    def count(self, action: str = "*") -> int:
        with self.lock:
            return sum(1 for i in self.injected if fnmatch.fnmatchcase(i.action, action))

    def armed(self) -> int:
        """How many armed events are still to be faulted."""
        with self.lock:
            return sum(f.times for f in self.faults)

    def clear(self) -> None:
        """Disarm everything; held and delayed events are put on the bus by the next pump, not lost."""
        with self.lock:
            self.faults.clear()
            self.injected.clear()
            held = [h for entries in self._held.values() for h in entries]
            self._held.clear()
            for account_id, region, entry in held:
                heapq.heappush(self._later, (0.0, next(_sequence), account_id, region, entry))


behaviour = EventBehaviour()


def event_entry(stack: Any, event: Any, request_token: str) -> dict[str, Any]:
    """The PutEvents entry CloudFormation would send for one stack-level event of `stack`."""
    detail = {
        "stack-id": stack.stack_id,
        "status-details": {
            "status": event.resource_status,
            "status-reason": event.resource_status_reason or "",
        },
        "client-request-token": request_token,
    }
    return {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": json.dumps(detail),
        "Resources": [stack.stack_id],
        "Time": event.timestamp.timestamp(),
    }


def _stack_events(stack: Any) -> list[Any]:
    return [e for e in stack.events if e.resource_type == STACK_TYPE and e.logical_resource_id == stack.name]


def _put(account_id: str, region: str, entry: dict[str, Any]) -> None:
    from moto.events.models import events_backends

    events_backends[account_id][region].put_events([entry])


def _send(stack: Any, status: str, entry: dict[str, Any], account_id: str, region: str) -> None:
    """One event onto the bus, through whatever delivery fault `behaviour` has armed for it."""
    fault = behaviour.take(stack.name, status)
    action = fault.action if fault is not None else None
    if action == DROP:
        return
    if action == REORDER:
        behaviour.hold(stack.stack_id, account_id, region, entry)
        return
    if fault is not None and action == DELAY:
        behaviour.later(fault.seconds, account_id, region, entry)
        return
    for _ in range(2 if action == DUPLICATE else 1):
        _put(account_id, region, entry)
    for held_account, held_region, held in behaviour.release(stack.stack_id):
        _put(held_account, held_region, held)


def flush(stack: Any, account_id: str, region: str) -> int:
    """Put the stack's stack-level events not yet sent on the default bus; how many were sent."""
    with _lock:
        # Let a stack whose duration is over finish (stack_timing settles on reading the status).
        _ = stack.status
        events = _stack_events(stack)
        sent = stack.__dict__.get("_ekspress_events_sent", 0)
        pending = events[sent:]
        if not pending:
            return 0
        token = stack.__dict__.get("_ekspress_request_token") or ""
        for event in pending:
            _send(stack, event.resource_status, event_entry(stack, event, token), account_id, region)
        stack.__dict__["_ekspress_events_sent"] = len(events)
        return len(pending)


def _backends() -> list[tuple[str, str, Any]]:
    from moto.cloudformation.models import cloudformation_backends

    found = []
    for account_id, regions in list(cloudformation_backends.items()):
        for region, backend in list(regions.items()):
            found.append((account_id, region, backend))
    return found


def pump_once() -> int:
    """One look at every stack in every account and region; how many events were sent."""
    sent = 0
    with _lock:
        for account_id, region, entry in behaviour.due():
            _put(account_id, region, entry)
            sent += 1
        for account_id, region, backend in _backends():
            for stack in [*backend.stacks.values(), *backend.deleted_stacks.values()]:
                sent += flush(stack, account_id, region)
    return sent


class _Pump(threading.Thread):
    def __init__(self, interval: float) -> None:
        super().__init__(name="cloudformation-events", daemon=True)
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                pump_once()
            except Exception:  # a stack moto half-made must not stop every other stack's events
                continue


def _find(backend: Any, name_or_id: str) -> Any:
    stack = backend.stacks.get(name_or_id)
    if stack is not None:
        return stack
    return next((s for s in backend.stacks.values() if s.name == name_or_id), None)


def _wrap(action: str) -> Any:
    original = _originals[action]

    def call(self: Any) -> Any:
        backend = self.cloudformation_backend
        name = self._get_param("StackName")
        token = self._get_param("ClientRequestToken") or ""
        with _lock:
            before = _find(backend, name)
            if before is not None:
                # The previous operation's events carry its own token.
                flush(before, self.current_account, self.region)
                if action != "create_stack":
                    before.__dict__["_ekspress_request_token"] = token
            result = original(self)
            if action == "create_stack":
                created = _find(backend, name)
                if created is not None and created is not before:
                    created.__dict__["_ekspress_request_token"] = token
        return result

    call.__name__ = action
    return call


def _send_task_failure(self: Any) -> Any:
    """SendTaskFailure with its Cause: moto's handler passes the Error on and drops the Cause."""
    from moto.core.responses import EmptyResult

    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return EmptyResult()


def _send_to_targets(self: Any, event: Any, transform_input: bool = True) -> None:
    """A rule with a schedule and no pattern matches no event (moto's matches every one), nor does a disabled rule."""
    if (self.scheduled_expression and not self.event_pattern.get_pattern()) or self.state != "ENABLED":
        return
    _originals["send_to_targets"](self, event, transform_input)


def _answerable_executions(self: Any, execution_status: Any = None) -> list[Any]:
    """SendTask* look for the token among RUNNING executions; moto's fails on one that has no worker
    yet (just started), which cannot hold a token anyway: it is skipped."""
    found: list[Any] = _originals["get_executions"](self, execution_status)
    if execution_status is None:
        return found
    return [e for e in found if getattr(e, "exec_worker", None) is not None]


def install() -> None:
    """Remember request tokens, keep SendTaskFailure's cause, let only pattern rules take events (idempotent);
    `start` runs the pump."""
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.events.models import Rule
    from moto.stepfunctions.responses import StepFunctionResponse

    if "send_to_targets" not in _originals:
        _originals["send_to_targets"] = Rule.send_to_targets
        Rule.send_to_targets = _send_to_targets  # type: ignore[method-assign]

    for action in ("create_stack", "update_stack", "delete_stack"):
        if action not in _originals:
            _originals[action] = getattr(CloudFormationResponse, action)
            setattr(CloudFormationResponse, action, _wrap(action))
    if "get_executions" not in _originals:
        from moto.stepfunctions.parser.models import StepFunctionsParserBackend

        _originals["get_executions"] = StepFunctionsParserBackend._get_executions
        StepFunctionsParserBackend._get_executions = _answerable_executions  # type: ignore[method-assign]
    if "send_task_failure" not in _originals:
        _originals["send_task_failure"] = StepFunctionResponse.send_task_failure
        StepFunctionResponse.send_task_failure = _send_task_failure  # type: ignore[method-assign]


def start(interval: float = INTERVAL) -> None:
    global _pump
    install()
    if _pump is None or not _pump.is_alive():
        _pump = _Pump(interval)
        _pump.start()


def stop() -> None:
    global _pump
    if _pump is not None:
        _pump.stopped.set()
        _pump.join(timeout=5)
        _pump = None


def uninstall() -> None:
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.events.models import Rule
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    stop()
    owners = {"send_task_failure": StepFunctionResponse, "send_to_targets": Rule}
    for action, original in _originals.items():
        if action == "get_executions":
            StepFunctionsParserBackend._get_executions = original  # type: ignore[method-assign]
            continue
        setattr(owners.get(action, CloudFormationResponse), action, original)
    _originals.clear()


def wait_idle(timeout: float = 5.0) -> None:
    """Until a look sends nothing more (tests: every status so far is on the bus)."""
    deadline = time.monotonic() + timeout
    while pump_once() and time.monotonic() < deadline:
        pass


# -- delivery: the rule, the queue, and Lambda's event source mapping -----------------------------
#
# infra/template.yaml's StackEventsRule, StackEventsQueue (+ dead-letter queue) and StackEventsMapping.
# moto's EventBridge delivers to SQS, as AWS does; moto's own SQS-to-Lambda shortcut runs the function
# inside SendMessage, one record at a time, ignoring batch item failures. The engine detaches it and
# polls each mapping as Lambda does (`QueuePoller`).

QUEUE_SUFFIX = "-stack-events"
DLQ_SUFFIX = "-stack-events-dlq"
RULE_SUFFIX = "-stack-events"
FORWARD_RULE_SUFFIX = "-stack-events-forward"
VISIBILITY_TIMEOUT = 360
RETENTION_SECONDS = 86400
DLQ_RETENTION_SECONDS = 1209600
MAX_RECEIVE_COUNT = 5
BATCH_SIZE = 10


def event_pattern(partition: str, region: str, account_id: str) -> dict[str, Any]:
    """The home region's rule (infra/template.yaml): our account's eksctl-* stacks of every region,
    those of other regions forwarded by their region's rule (`forward_pattern`)."""
    return {
        "source": [SOURCE],
        "detail-type": [DETAIL_TYPE],
        "detail": {"stack-id": [{"wildcard": f"arn:{partition}:cloudformation:*:{account_id}:stack/eksctl-*"}]},
    }


def forward_pattern(partition: str, region: str, account_id: str) -> dict[str, Any]:
    """A cluster region's rule (infra/stack-events-forwarder.yaml): its own eksctl-* stacks, to the home bus."""
    return {
        "source": [SOURCE],
        "detail-type": [DETAIL_TYPE],
        "detail": {"stack-id": [{"prefix": f"arn:{partition}:cloudformation:{region}:{account_id}:stack/eksctl-"}]},
    }


def deploy_forwarders(client: Any, stack_name: str, home: str, regions: list[str], account_id: str) -> None:
    """CloudFormation's events go to the bus of the stack's region: each other region a cluster may be
    made in forwards ours to the home region's bus, as infra/stack-events-forwarder.yaml does there."""
    home_bus = f"arn:aws:events:{home}:{account_id}:event-bus/default"
    role = f"arn:aws:iam::{account_id}:role/{stack_name}-stack-events-forwarder"
    for region in regions:
        if region == home:  # the home rule takes them; a forwarder there would loop
            continue
        events = client("events", region)
        rule = stack_name + FORWARD_RULE_SUFFIX
        events.put_rule(Name=rule, EventPattern=json.dumps(forward_pattern("aws", region, account_id)), State="ENABLED")
        events.put_targets(Rule=rule, Targets=[{"Id": "HomeEventBus", "Arn": home_bus, "RoleArn": role}])


def deploy(client: Any, stack_name: str, function_name: str, region: str, account_id: str) -> str:
    """The rule, queues and mapping infra/template.yaml declares, made one call at a time; the queue's URL."""
    sqs, events, lam = client("sqs"), client("events"), client("lambda")
    dlq = sqs.create_queue(
        QueueName=stack_name + DLQ_SUFFIX,
        Attributes={"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS), "SqsManagedSseEnabled": "true"},
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName=stack_name + QUEUE_SUFFIX,
        Attributes={
            "VisibilityTimeout": str(VISIBILITY_TIMEOUT),
            "MessageRetentionPeriod": str(RETENTION_SECONDS),
            "SqsManagedSseEnabled": "true",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = stack_name + RULE_SUFFIX
    events.put_rule(Name=rule, EventPattern=json.dumps(event_pattern("aws", region, account_id)), State="ENABLED")
    events.put_targets(Rule=rule, Targets=[{"Id": "StackEventsQueue", "Arn": arn}])
    lam.create_event_source_mapping(
        FunctionName=function_name,
        EventSourceArn=arn,
        BatchSize=BATCH_SIZE,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    return str(url)


def _detach_moto_delivery(queue_arn: str) -> None:
    """moto's SendMessage would run the mapped function itself; the poller does it instead."""
    from moto.sqs.models import sqs_backends

    _, _, _, region, account_id, name = queue_arn.split(":", 5)
    sqs_backends[account_id][region].get_queue(name).lambda_event_source_mappings.clear()


class QueuePoller(threading.Thread):
    """Lambda's event source mapping for an SQS queue: long-poll a batch, invoke the function with it,
    delete the records it took (all, or all but its `batchItemFailures`); the rest come back after the
    queue's visibility timeout, and go to the dead-letter queue after its maxReceiveCount."""

    def __init__(self, client: Any, queue_url: str, wait_seconds: int = 1) -> None:
        super().__init__(name="stack-events-mapping", daemon=True)
        self.sqs, self.lam = client("sqs"), client("lambda")
        self.queue_url = queue_url
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.wait_seconds = wait_seconds
        self.stopped = threading.Event()
        self.mappings = [
            m
            for m in self.lam.list_event_source_mappings(EventSourceArn=self.queue_arn)["EventSourceMappings"]
            if m.get("State", "Enabled") == "Enabled"
        ]
        _detach_moto_delivery(self.queue_arn)

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                if not self.poll_once():
                    continue
            except Exception:  # the engine is stopping, or one batch failed: keep polling as Lambda does
                self.stopped.wait(0.2)

    def poll_once(self) -> int:
        """One batch per mapping; how many records were received."""
        received = 0
        for mapping in self.mappings:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, int(mapping.get("BatchSize") or BATCH_SIZE)),
                WaitTimeSeconds=self.wait_seconds,
                AttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                continue
            received += len(messages)
            failed = self._invoke(mapping, messages)
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
        return received

    def _invoke(self, mapping: dict[str, Any], messages: list[dict[str, Any]]) -> set[str]:
        """The ids of the records to leave on the queue: all of them when the function failed."""
        region = self.queue_arn.split(":")[3]
        batch = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": region,
                }
                for m in messages
            ]
        }
        response = self.lam.invoke(FunctionName=mapping["FunctionArn"], Payload=json.dumps(batch).encode())
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            return {m["MessageId"] for m in messages}
        if "ReportBatchItemFailures" not in (mapping.get("FunctionResponseTypes") or []):
            return set()
        failures = payload.get("batchItemFailures") if isinstance(payload, dict) else None
        return {str(f.get("itemIdentifier")) for f in failures or []}

    def stop(self) -> None:
        # The thread notices within one long poll and ends; a stopping engine need not wait for it.
        self.stopped.set()
        self.join(timeout=0.1)
