"""Make moto's instant stacks behave like CloudFormation's: time passes, and some fail.

moto creates every resource inside CreateStack and reports CREATE_COMPLETE at
once. Here a stack can be given a duration (it reads CREATE_IN_PROGRESS until
then) and a failure (at the end it reports the resource's CREATE_FAILED event
with a reason, rolls back, and ends in ROLLBACK_COMPLETE), so the workflow's
polling and failure paths run as they would on AWS.
"""

from __future__ import annotations

import contextlib
import fnmatch
import threading
import time
from dataclasses import dataclass, field

from moto.cloudformation.models import Event, Stack


@dataclass(frozen=True)
class StackFault:
    pattern: str  # fnmatch pattern on the stack name
    resource: str  # logical id of the resource that fails
    reason: str


@dataclass
class StackBehaviour:
    """Durations per stack kind (by name) and injected failures. Thread-safe."""

    cluster_seconds: float = 0.0
    nodegroup_seconds: float = 0.0
    faults: list[StackFault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def duration(self, stack_name: str) -> float:
        return self.nodegroup_seconds if "-nodegroup-" in stack_name else self.cluster_seconds

    def fault_for(self, stack_name: str) -> StackFault | None:
        with self.lock:
            return next((f for f in self.faults if fnmatch.fnmatchcase(stack_name, f.pattern)), None)

    def fail(self, pattern: str, resource: str, reason: str) -> None:
        with self.lock:
            self.faults.append(StackFault(pattern, resource, reason))

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()


behaviour = StackBehaviour()
_original_create_resources = Stack.create_resources


def _resource_event(stack: Stack, logical_id: str, status: str, reason: str | None) -> Event:
    resource = stack.resource_map._parsed_resources.get(logical_id)
    template = stack.template_dict.get("Resources", {}).get(logical_id, {})
    return Event(
        stack_id=stack.stack_id,
        stack_name=stack.name,
        logical_resource_id=logical_id,
        physical_resource_id=getattr(resource, "physical_resource_id", "") or "",
        resource_type=template.get("Type", "AWS::CloudFormation::CustomResource"),
        resource_status=status,
        resource_status_reason=reason,
        resource_properties=None,
    )


def _create_resources(self: Stack) -> None:
    _original_create_resources(self)
    delay = behaviour.duration(self.name)
    fault = behaviour.fault_for(self.name)
    if self.status != "CREATE_COMPLETE" or (delay <= 0 and fault is None):
        return
    # Undo moto's instant completion; `_settle` finishes the stack when its time comes.
    if self.events and self.events[-1].resource_status == "CREATE_COMPLETE":
        self.events.pop()
    self.status = "CREATE_IN_PROGRESS"
    self.__dict__["_ekspress_due"] = time.monotonic() + delay
    self.__dict__["_ekspress_fault"] = fault


def _settle(stack: Stack) -> None:
    due = stack.__dict__.get("_ekspress_due")
    if due is None or time.monotonic() < due:
        return
    fault: StackFault | None = stack.__dict__.pop("_ekspress_fault", None)
    stack.__dict__.pop("_ekspress_due", None)
    if fault is None:
        stack.__dict__["_ekspress_status"] = "CREATE_COMPLETE"
        stack._add_stack_event("CREATE_COMPLETE")
        return
    stack.events.append(_resource_event(stack, fault.resource, "CREATE_FAILED", fault.reason))
    stack._add_stack_event(
        "ROLLBACK_IN_PROGRESS",
        resource_status_reason=(
            f"The following resource(s) failed to create: [{fault.resource}]. Rollback requested by user."
        ),
    )
    # Roll back as CloudFormation would; a model moto cannot delete leaves debris, not an error.
    with contextlib.suppress(Exception):
        stack.resource_map.delete()
    stack._add_stack_event("ROLLBACK_COMPLETE")
    stack.__dict__["_ekspress_status"] = "ROLLBACK_COMPLETE"


def _get_status(self: Stack) -> str | None:
    _settle(self)
    return self.__dict__.get("_ekspress_status")


def _set_status(self: Stack, value: str | None) -> None:
    self.__dict__["_ekspress_status"] = value


def install() -> None:
    Stack.create_resources = _create_resources  # type: ignore[method-assign]
    # A data descriptor on the class: every read of `stack.status` first lets due stacks settle.
    Stack.status = property(_get_status, _set_status)  # type: ignore[assignment,method-assign]
