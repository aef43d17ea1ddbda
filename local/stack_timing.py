"""Make moto's instant stacks behave like CloudFormation's: time passes, and some fail.

moto creates every resource inside CreateStack and reports CREATE_COMPLETE at
once. Here a stack can be given a duration (it reads CREATE_IN_PROGRESS until
then) and a failure (at the end it reports the resource's CREATE_FAILED event
with a reason, rolls back, and ends in ROLLBACK_COMPLETE), so the workflow's
polling and failure paths run as they would on AWS. A stack can also hang: it
never finishes creating, as when CloudFormation waits on a resource that never
stabilizes, so the workflow's deadline is what ends the wait.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend, Event, Stack
from moto.cloudformation.parsing import OutputMap


@dataclass(frozen=True)
class StackFault:
    pattern: str  # fnmatch pattern on the stack name
    resource: str  # logical id of the resource that fails
    reason: str


@dataclass(frozen=True)
class StackHang:
    pattern: str  # fnmatch pattern on the stack name
    # How long the stack has been creating when the workflow first sees it (its CreationTime is
    # that much earlier): a workflow's deadline is minutes of wall time, which no test waits for.
    started_seconds_ago: float


@dataclass
class StackBehaviour:
    """Durations per stack kind (by name) and injected failures. Thread-safe."""

    cluster_seconds: float = 0.0
    nodegroup_seconds: float = 0.0
    faults: list[StackFault] = field(default_factory=list)
    delete_faults: list[StackFault] = field(default_factory=list)
    hangs: list[StackHang] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def duration(self, stack_name: str) -> float:
        """Node group and add-on stacks take minutes on AWS; the cluster's control plane takes longest."""
        if "-nodegroup-" in stack_name or stack_name.endswith("-addons"):
            return self.nodegroup_seconds
        return self.cluster_seconds

    def fault_for(self, stack_name: str) -> StackFault | None:
        with self.lock:
            return next((f for f in self.faults if fnmatch.fnmatchcase(stack_name, f.pattern)), None)

    def fail(self, pattern: str, resource: str, reason: str) -> None:
        with self.lock:
            self.faults.append(StackFault(pattern, resource, reason))

    def hang(self, pattern: str, started_seconds_ago: float = 0.0) -> None:
        """Matching stacks never finish creating: CREATE_IN_PROGRESS until deleted, whatever their duration."""
        with self.lock:
            self.hangs.append(StackHang(pattern, started_seconds_ago))

    def hang_for(self, stack_name: str) -> StackHang | None:
        with self.lock:
            return next((h for h in self.hangs if fnmatch.fnmatchcase(stack_name, h.pattern)), None)

    def fail_delete(self, pattern: str, resource: str, reason: str, times: int = 1) -> None:
        """The next `times` deletions of matching stacks end in DELETE_FAILED on `resource`."""
        with self.lock:
            self.delete_faults.extend([StackFault(pattern, resource, reason)] * times)

    def take_delete_fault(self, stack_name: str) -> StackFault | None:
        with self.lock:
            for fault in self.delete_faults:
                if fnmatch.fnmatchcase(stack_name, fault.pattern):
                    self.delete_faults.remove(fault)
                    return fault
            return None

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.delete_faults.clear()
            self.hangs.clear()


behaviour = StackBehaviour()
_original_create_resources = Stack.create_resources
_original_delete_stack = CloudFormationBackend.delete_stack
_original_update_stack = CloudFormationBackend.update_stack


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
    hang = behaviour.hang_for(self.name)
    if hang is not None and self.status == "CREATE_COMPLETE":
        # Undo moto's instant completion for good: with no due time, `_settle` never finishes it.
        if self.events and self.events[-1].resource_status == "CREATE_COMPLETE":
            self.events.pop()
        self.status = "CREATE_IN_PROGRESS"
        self.creation_time -= timedelta(seconds=hang.started_seconds_ago)
        return
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
    # A rolled-back stack has no outputs; resolving moto's lazy ones would create the resources again.
    stack.output_map = OutputMap(stack.resource_map, {"Outputs": {}}, stack.stack_id)
    stack._add_stack_event("ROLLBACK_COMPLETE")
    stack.__dict__["_ekspress_status"] = "ROLLBACK_COMPLETE"


def _delete_stack(self: CloudFormationBackend, name_or_stack_id: str) -> None:
    stack = self.stacks.get(name_or_stack_id) or next(
        (s for s in self.stacks.values() if s.name == name_or_stack_id), None
    )
    if stack is None:
        _original_delete_stack(self, name_or_stack_id)
        return
    fault = behaviour.take_delete_fault(stack.name)
    if fault is None:
        try:
            _original_delete_stack(self, stack.stack_id)
            # moto resolves outputs lazily, and resolving one of a deleted stack would create
            # its resource again (a describe after the delete brought the EKS cluster back).
            stack.output_map = OutputMap(stack.resource_map, {"Outputs": {}}, stack.stack_id)
            return
        except Exception as exc:
            # moto took the stack out before its resources refused to go: put it back, failed.
            self.deleted_stacks.pop(stack.stack_id, None)
            self.stacks[stack.stack_id] = stack
            fault = StackFault(stack.name, _culprit(stack, str(exc)), str(exc))
    _mark_delete_failed(stack, fault)


def _update_stack(self: CloudFormationBackend, name: str, template: str, *args: Any, **kwargs: Any) -> Stack:
    """CloudFormation refuses an update that changes nothing; moto would run it."""
    stack = self.get_stack(name)
    if json.loads(template) == json.loads(stack.template) and not kwargs.get("parameters"):
        raise ValidationError(stack.stack_id, message="No updates are to be performed.")
    return _original_update_stack(self, name, template, *args, **kwargs)


def _culprit(stack: Stack, message: str) -> str:
    """The logical id of the resource an error message names (by physical id), else the stack."""
    for logical_id in stack.template_dict.get("Resources", {}):
        resource = stack.resource_map._parsed_resources.get(logical_id)
        physical = getattr(resource, "physical_resource_id", None)
        if physical and str(physical) in message:
            return str(logical_id)
    return str(stack.name)


def _mark_delete_failed(stack: Stack, fault: StackFault) -> None:
    """CloudFormation keeps the stack, reports the resource it could not delete, and stops."""
    stack._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
    stack.events.append(_resource_event(stack, fault.resource, "DELETE_FAILED", fault.reason))
    stack._add_stack_event(
        "DELETE_FAILED", resource_status_reason=f"The following resource(s) failed to delete: [{fault.resource}]."
    )
    stack.status = "DELETE_FAILED"


def _get_status(self: Stack) -> str | None:
    _settle(self)
    return self.__dict__.get("_ekspress_status")


def _set_status(self: Stack, value: str | None) -> None:
    self.__dict__["_ekspress_status"] = value


def install() -> None:
    Stack.create_resources = _create_resources  # type: ignore[method-assign]
    CloudFormationBackend.delete_stack = _delete_stack  # type: ignore[method-assign]
    CloudFormationBackend.update_stack = _update_stack  # type: ignore[method-assign]
    # A data descriptor on the class: every read of `stack.status` first lets due stacks settle.
    Stack.status = property(_get_status, _set_status)  # type: ignore[assignment,method-assign]
