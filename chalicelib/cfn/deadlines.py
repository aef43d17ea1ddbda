"""When to stop waiting for a stack: its operation's start, by CloudFormation's clock, plus the deadline."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from chalicelib.model.errors import StackTimedOut

if TYPE_CHECKING:
    from datetime import datetime


def operation_started(stack: dict[str, Any]) -> datetime | None:
    """When the operation a stack is in began, by CloudFormation's clock (None: it does not say).

    A create and its rollback count from CreationTime, an update from LastUpdatedTime, a
    delete from DeletionTime; never from an older time, which would end a wait that just began.
    """
    status = str(stack["StackStatus"])
    if status.startswith("DELETE_"):
        return stack.get("DeletionTime")
    if status.startswith(("UPDATE_", "IMPORT_")):
        return stack.get("LastUpdatedTime")
    return stack.get("CreationTime")


def seconds_left(started: datetime, now: datetime, timeout_minutes: float) -> float:
    """Seconds from `now` to the deadline of a wait that began at `started` (0 or less: past it)."""
    return timeout_minutes * 60 - (now - started).total_seconds()


def within_deadline(
    stack: dict[str, Any], started: datetime | None, wait: int, timeout_minutes: float, now: datetime
) -> int:
    """The wait before the next look at a stack still in progress, never past its deadline.

    Past the deadline the wait is over: StackTimedOut. The deadline is wall time, unlike
    `wait` (which `poll_scale` shrinks): CloudFormation's times and `now` are the same
    clock on AWS and on the local engine. With no start time there is no deadline to
    keep; the execution's TimeoutSeconds still ends the workflow.
    """
    if started is None:
        return wait
    left = seconds_left(started, now, timeout_minutes)
    if left <= 0:
        raise StackTimedOut.waiting(stack["StackName"], stack["StackStatus"], timeout_minutes)
    return min(wait, math.ceil(left))
