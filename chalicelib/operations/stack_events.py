"""A stack operation has ended: wake the workflow step waiting for it.

CloudFormation's "CloudFormation Stack Status Change" events arrive through EventBridge and
SQS, at least once and possibly out of order. A step that waits for a stack stores its task
token beforehand (`Store.store_stack_token`, keyed by stack name and the operation's
ClientRequestToken). On a terminal status of one of our stacks the token is looked up and
the step is answered as its describe loop would have been: SendTaskSuccess with the stack's
state (outputs included), or SendTaskFailure `StackFailed` with the state (the first failed
resource and its reason) as the cause.

Everything else is harmless by construction: events of other sources, of stacks not named
`eksctl-`, not tagged as ours, or with no one waiting are ignored; an in-progress status is
ignored (so one arriving after the terminal one changes nothing); a second delivery finds the
token gone; a token Step Functions no longer knows (answered, timed out) is not an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.cfn import stacks
from chalicelib.model import naming
from chalicelib.observability import logger
from chalicelib.operations import stack_waits
from chalicelib.operations.stack_waits import FAILED_ERROR, STALE_TOKEN_ERRORS

if TYPE_CHECKING:
    from chalicelib.operations.context import Context

SOURCE = "aws.cloudformation"
DETAIL_TYPE = "CloudFormation Stack Status Change"
STACK_PREFIX = "eksctl-"


@dataclass(frozen=True)
class StackEvent:
    stack_id: str
    stack_name: str
    region: str
    status: str
    reason: str
    request_token: str


def parse(event: dict[str, Any]) -> StackEvent | None:
    """The stack status change an EventBridge event reports; None for any other event."""
    if event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        return None
    detail = event.get("detail") or {}
    stack_id = detail.get("stack-id")
    status_details = detail.get("status-details") or {}
    status = status_details.get("status")
    if not isinstance(stack_id, str) or not isinstance(status, str):
        return None
    # arn:PARTITION:cloudformation:REGION:ACCOUNT:stack/NAME/UUID
    parts = stack_id.split(":", 5)
    resource = parts[5].split("/") if len(parts) == 6 else []
    if len(resource) != 3 or resource[0] != "stack":
        return None
    return StackEvent(
        stack_id=stack_id,
        stack_name=resource[1],
        # The stack's own region: an event forwarded from another region's bus may say the home one.
        region=parts[3],
        status=status,
        reason=str(status_details.get("status-reason") or ""),
        request_token=str(detail.get("client-request-token") or ""),
    )


def is_terminal(status: str) -> bool:
    return status in stacks.SUCCEEDED or stacks.is_failed(status) or status == stacks.DELETED_STATUS


def stack_state(cfn: Any, stack: dict[str, Any]) -> stacks.StackState:
    """The state the describe loop returns for a stack that has ended (`stacks.describe`'s, no wait)."""
    status = stack["StackStatus"]
    done = status in stacks.SUCCEEDED or status == stacks.DELETED_STATUS
    failed = stacks.is_failed(status)
    state: dict[str, Any] = {"outputs": {}, "reason": None, "failedResource": None}
    if done:
        state["outputs"] = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    if failed:
        failure = stacks.first_failure(cfn, stack["StackId"])
        state["reason"] = failure["reason"] if failure else stack.get("StackStatusReason") or status
        state["failedResource"] = failure["resource"] if failure else None
    return stacks.StackState(
        stackName=stack["StackName"],
        stackId=stack["StackId"],
        status=status,
        done=done,
        failed=failed,
        waitSeconds=0,
        **state,
    )


def _ours(stack: dict[str, Any]) -> bool:
    tags = {t["Key"]: t["Value"] for t in stack.get("Tags", [])}
    return tags.get(naming.TAG_OWNER) == naming.TAG_OWNER_VALUE


def handle(ctx: Context, event: dict[str, Any]) -> str:
    """Answer the step waiting for the stack operation `event` ends, if any; what was done, in a word."""
    change = parse(event)
    if change is None:
        return "not-a-stack-event"
    if not change.stack_name.startswith(STACK_PREFIX):
        return "foreign"
    if not is_terminal(change.status):
        return "in-progress"
    waiting = ctx.store.stack_waiter(change.stack_name, change.request_token)
    if waiting is None:
        return "no-waiter"
    task_token = str(waiting["taskToken"])
    cfn = ctx.clients.cloudformation(change.region)
    found = cfn.describe_stacks(StackName=change.stack_id)["Stacks"]
    if not found or not _ours(found[0]):
        return "foreign"
    if not is_terminal(found[0]["StackStatus"]):
        # A late event of an earlier operation: this one is still running and its own event will come.
        return "stale"
    state = stack_state(cfn, found[0])
    waiter = waiting.get("waiter") or {}
    answer = _recorded(ctx, waiter, state)
    # A step that takes failures as answers decides itself (retry, clean up); any other fails with StackFailed.
    outcome = _answer(ctx, task_token, state.failed and not waiter.get("answerFailures"), answer)
    ctx.store.take_stack_token(change.stack_name, change.request_token, task_token)
    logger.info(
        "stack operation ended",
        extra={"stack": change.stack_name, "status": state.status, "answer": outcome},
    )
    return outcome


def _recorded(ctx: Context, waiter: dict[str, Any], state: stacks.StackState) -> dict[str, Any]:
    """The record told of the stack's end, as the waiting step's describe loop would have told it; the
    answer, which carries on what the step knew of its stack. A token stored without a waiter (by a
    step that records nothing) gets the stack's state alone."""
    # Imported here: most events need neither, and the function starts cold without them.
    from chalicelib.operations.delete import deletion_recorded
    from chalicelib.operations.stack_status import record_stack_state

    stack, name, cluster_id = waiter.get("stack") or {}, waiter.get("name"), waiter.get("clusterId")
    if not (name and cluster_id):
        return state.to_dict()
    if waiter.get("operation") == stack_waits.DELETE:
        return deletion_recorded(ctx, name, cluster_id, {**stack, "stackId": state.stackId}, state)
    return record_stack_state(ctx, name, cluster_id, stack, state)


def _answer(ctx: Context, task_token: str, fails: bool, answer: dict[str, Any]) -> str:
    sfn = ctx.sfn
    try:
        if fails:
            sfn.send_task_failure(taskToken=task_token, error=FAILED_ERROR, cause=json.dumps(answer))
            return "failed"
        sfn.send_task_success(taskToken=task_token, output=json.dumps(answer))
        return "answered" if answer.get("failed") else "succeeded"
    except Exception as exc:
        code = ((getattr(exc, "response", None) or {}).get("Error") or {}).get("Code")
        if code in STALE_TOKEN_ERRORS:
            return "stale-token"
        raise
