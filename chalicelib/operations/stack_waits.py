"""A step that waits for its stack keeps its task token where the stack's event will find it.

Waiting steps run as `lambda:invoke.waitForTaskToken`: the function requests the stack operation
and returns, and the step waits until `stack_events` answers the token on CloudFormation's own
"Stack Status Change" event. The token is stored **before** the operation is requested, so even
an event that comes back at once finds it. A step run as a plain task (no token) stores nothing
and the workflow's describe loop follows, as before.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.model.steps import ClusterStep
    from chalicelib.operations.context import Context

# A token outlives every wait (the longest is the stack deadline, at most a few hours); then the
# table's TTL removes it. An answer to a token Step Functions has dropped is harmless anyway.
TOKEN_TTL_SECONDS = 2 * 24 * 3600
FAILED_ERROR = "StackFailed"  # what the describe loops' Fail states raise
# Step Functions' answers for a token it will not take (already answered, timed out, unknown).
STALE_TOKEN_ERRORS = frozenset({"TaskDoesNotExist", "InvalidToken", "TaskTimedOut"})
CREATE = "create"
UPDATE = "update"
DELETE = "delete"
# Set on a stack (by the ASL's "... Event Missed" state) whose waiting step timed out.
EVENT_MISSED = "eventMissed"


def await_stack_event(
    ctx: Context, step: ClusterStep, stack_name: str, request_token: str, stack: dict[str, Any], operation: str
) -> None:
    """Before requesting `operation` on `stack_name` with `request_token`: keep the step's token.

    `stack` is what the workflow knows of the stack (`kind`, `nodegroup`, `member`, ...): the answer
    carries it on, as the describe step would.
    """
    if not step.taskToken:
        return
    ctx.store.store_stack_token(
        stack_name,
        request_token,
        step.taskToken,
        ttl_seconds=TOKEN_TTL_SECONDS,
        now_epoch=int(time.time()),
        execution=step.execution,
        waiter={
            "name": step.name,
            "clusterId": step.clusterId,
            "operation": operation,
            "stack": stack,
            "answerFailures": step.answerFailures,
        },
    )


def answer_now(ctx: Context, step: ClusterStep, answer: dict[str, Any], failed: bool = False) -> None:
    """A waiting step whose stack sends no event (nothing to change, no stack, a repeated request) is
    answered here, as its event would have answered it: a failure with StackFailed unless the step
    takes failures as answers. A token Step Functions no longer takes is not an error."""
    if not step.taskToken:
        return
    try:
        if failed and not step.answerFailures:
            ctx.sfn.send_task_failure(taskToken=step.taskToken, error=FAILED_ERROR, cause=json.dumps(answer))
        else:
            ctx.sfn.send_task_success(taskToken=step.taskToken, output=json.dumps(answer))
    except Exception as exc:
        code = ((getattr(exc, "response", None) or {}).get("Error") or {}).get("Code")
        if code not in STALE_TOKEN_ERRORS:
            raise
