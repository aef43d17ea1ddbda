"""CloudFormation driver: create stacks idempotently, read their state, explain failures.

The workflow polls through `describe`; this module never loops or sleeps. How
long to wait before the next look is decided here (`next_wait_seconds`) and
carried out by the state machine's Wait state; so is when to stop waiting: a stack
still in progress at its deadline raises StackTimedOut (`deadlines.within_deadline`); templates
too big for the request go by TemplateURL (`upload.template_source`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.cfn import kinds
from chalicelib.cfn.deadlines import operation_started, within_deadline
from chalicelib.cfn.upload import TemplateBucket, template_source
from chalicelib.model import naming
from chalicelib.model.errors import StackNotOursError
from chalicelib.model.settings import DEFAULT_TIMEOUT_MINUTES

if TYPE_CHECKING:
    from collections.abc import Callable

# The kind names many modules compare against; each kind itself is defined in `kinds`.
KIND_CLUSTER = kinds.CLUSTER.name
KIND_NODEGROUP = kinds.NODEGROUP.name

SUCCEEDED = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
MAX_WAIT = 300
# CloudFormation's note on resources it stopped because another one failed: never the cause.
_CANCELLED = ("Resource creation cancelled", "Resource update cancelled")


@dataclass(frozen=True)
class StackState:
    """What the workflow needs to know about a stack after one look."""

    stackName: str
    stackId: str
    status: str
    done: bool
    failed: bool
    waitSeconds: int
    outputs: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    failedResource: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_failed(status: str) -> bool:
    return status.endswith("_FAILED") or ("ROLLBACK" in status and status.endswith("_COMPLETE"))


def next_wait_seconds(kind: str, elapsed: float, scale: float = 1.0) -> int:
    """Adaptive poll interval for creating or updating a stack of `kind` (see `wait_seconds`)."""
    return wait_seconds(kinds.kind(kind).create_schedule, elapsed, scale)


def wait_seconds(schedule: kinds.Schedule, elapsed: float, scale: float = 1.0) -> int:
    """Sleep through the time a stack can't finish in (at most MAX_WAIT at once), then look often."""
    earliest, interval = schedule
    base = min(MAX_WAIT, earliest - elapsed) if elapsed < earliest else interval
    return max(1, math.ceil(base * scale))


def create_stack(
    cfn: Any,
    stack_name: str,
    template_body: str,
    tags: dict[str, str],
    request_token: str,
    role_arn: str = "",
    bucket: TemplateBucket | None = None,
) -> dict[str, str]:
    """Create a stack, or return the one this same request already created.

    `request_token` (the cluster id plus the step) is CloudFormation's
    ClientRequestToken, so a retried call is recognised by AWS too. A stack of
    that name that is not ours, or belongs to another cluster, is refused.
    `role_arn` is the service role CloudFormation builds the stack with; a template
    over the TemplateBody limit goes through `bucket` (see `template_source`).
    """
    source = template_source(template_body, stack_name, bucket)
    try:
        resp = cfn.create_stack(
            StackName=stack_name,
            **source,
            Capabilities=["CAPABILITY_IAM"],
            Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
            ClientRequestToken=request_token,
            **_role(role_arn),
        )
        return {"stackName": stack_name, "stackId": resp["StackId"]}
    except cfn.exceptions.AlreadyExistsException:
        existing = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        existing_tags = {t["Key"]: t["Value"] for t in existing.get("Tags", [])}
        if existing_tags.get(naming.TAG_CLUSTER_ID) != tags.get(naming.TAG_CLUSTER_ID):
            raise StackNotOursError(
                f"stack {stack_name} already exists and was not created for this cluster",
                stack=stack_name,
            ) from None
        return {"stackName": stack_name, "stackId": existing["StackId"]}


NO_UPDATES = "No updates are to be performed"


def _role(role_arn: str) -> dict[str, str]:
    return {"RoleARN": role_arn} if role_arn else {}


def update_stack(
    cfn: Any,
    stack: dict[str, Any],
    template_body: str,
    cluster_id: str,
    role_arn: str = "",
    bucket: TemplateBucket | None = None,
    request_token: str = "",
) -> dict[str, Any]:
    """Update one of our stacks to a new template; an unchanged template is already done.

    The stack must carry this cluster's id tag: an update never touches a stack we
    did not create. Tags are kept as they are (CloudFormation keeps them when
    `Tags` is not sent). A template over the TemplateBody limit goes through `bucket`.
    """
    found = cfn.describe_stacks(StackName=stack["stackId"])["Stacks"][0]
    tags = {t["Key"]: t["Value"] for t in found.get("Tags", [])}
    if tags.get(naming.TAG_CLUSTER_ID) != cluster_id:
        raise StackNotOursError(
            f"stack {found['StackName']} was not created for this cluster", stack=found["StackName"]
        )
    source = template_source(template_body, found["StackName"], bucket)
    try:
        cfn.update_stack(
            StackName=stack["stackId"],
            **source,
            Capabilities=["CAPABILITY_IAM"],
            **_role(role_arn),
            **({"ClientRequestToken": request_token} if request_token else {}),
        )
    except cfn.exceptions.ClientError as exc:
        if NO_UPDATES not in str(exc):
            raise
        return {**stack, "unchanged": True}
    return {**stack, "unchanged": False}


def describe(
    cfn: Any,
    stack_id: str,
    kind: str,
    scale: float = 1.0,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    timeout_minutes: float = DEFAULT_TIMEOUT_MINUTES,
) -> StackState:
    """One look at a stack: its status, outputs when done, the first failure when failed.

    A stack still in progress `timeout_minutes` after its create or update began raises StackTimedOut.
    """
    stack = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
    status = stack["StackStatus"]
    at = now()
    # An update's clock starts at the update, not at the stack's creation.
    elapsed = (at - (stack.get("LastUpdatedTime") or stack["CreationTime"])).total_seconds()
    state: dict[str, Any] = {
        "stackName": stack["StackName"],
        "stackId": stack["StackId"],
        "status": status,
        "done": status in SUCCEEDED,
        "failed": is_failed(status),
        "waitSeconds": next_wait_seconds(kind, elapsed, scale),
    }
    if not (state["done"] or state["failed"]):
        state["waitSeconds"] = within_deadline(
            stack, operation_started(stack), state["waitSeconds"], timeout_minutes, at
        )
    if state["done"]:
        state["outputs"] = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    if state["failed"]:
        failure = first_failure(cfn, stack["StackId"])
        state["reason"] = failure["reason"] if failure else stack.get("StackStatusReason") or status
        state["failedResource"] = failure["resource"] if failure else None
    return StackState(**state)


def first_failure(cfn: Any, stack_id: str) -> dict[str, str] | None:
    """The earliest failed resource event: the cause, not the cascade it set off.

    Failures of resources CloudFormation cancelled
    because of another failure are skipped, as is the stack's own summary
    event when a resource event explains more.
    """
    events: list[dict[str, Any]] = []
    for page in cfn.get_paginator("describe_stack_events").paginate(StackName=stack_id):
        events.extend(page["StackEvents"])
    events.sort(key=lambda e: e["Timestamp"])  # oldest first; sort is stable for equal times
    failures = [
        e
        for e in events
        if e["ResourceStatus"].endswith("_FAILED") and not str(e.get("ResourceStatusReason", "")).startswith(_CANCELLED)
    ]
    resource_failures = [e for e in failures if e.get("ResourceType") != "AWS::CloudFormation::Stack"]
    if not failures:
        return None
    chosen = (resource_failures or failures)[0]
    return {
        "resource": chosen["LogicalResourceId"],
        "type": chosen.get("ResourceType", ""),
        "status": chosen["ResourceStatus"],
        "reason": chosen.get("ResourceStatusReason") or chosen["ResourceStatus"],
    }


# -- deletion -----------------------------------------------------------------------

DELETED_STATUS = "DELETE_COMPLETE"
DELETE_IN_PROGRESS_STATUS = "DELETE_IN_PROGRESS"
# A delete has no request to take a deadline from: eksctl's --timeout default, per attempt.
DELETE_TIMEOUT_MINUTES = 25


def owned_stacks(cfn: Any, cluster: str, cluster_id: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(ours, not ours): the cluster's live stacks, found by our tags, ours in delete order.

    A stack is ours only when it carries this cluster's id and name tags; its kind
    comes from its kind tag (from its name for stacks older than that tag). A name
    alone never makes a stack ours: stacks named for the cluster that are
    not ours (eksctl's own, another tool's, an earlier cluster's) are reported and
    left alone. A kind tag this version does not know is an error: deleting the
    cluster stack while a stack we cannot name still imports its exports would fail.
    """
    ours: list[tuple[kinds.StackKind, dict[str, str]]] = []
    others: list[dict[str, str]] = []
    for page in cfn.get_paginator("describe_stacks").paginate():
        for stack in page["Stacks"]:
            if stack["StackStatus"] == DELETED_STATUS:
                continue
            name = stack["StackName"]
            tags = {t["Key"]: t["Value"] for t in stack.get("Tags", [])}
            named_kind = kinds.by_stack_name(cluster, name)
            if tags.get(naming.TAG_CLUSTER_ID) != cluster_id or tags.get(naming.TAG_CLUSTER) != cluster:
                if named_kind is not None:
                    others.append({"stackName": name, "stackId": stack["StackId"], "kind": named_kind.name})
                continue
            tagged = tags.get(naming.TAG_STACK_KIND)
            # Stacks created before the kind tag existed carry only our ownership tags:
            # those were cluster and node group stacks, and their names say which.
            stack_kind = kinds.kind(tagged) if tagged else named_kind
            if stack_kind is None:
                # Neither tagged with a kind nor named like any: not a stack we created. Not named
                # for the cluster either, so it is none of the delete's business.
                continue
            ref = {"stackName": name, "stackId": stack["StackId"], "kind": stack_kind.name}
            if naming.TAG_NODEGROUP in tags:
                ref["nodegroup"] = tags[naming.TAG_NODEGROUP]
            ours.append((stack_kind, ref))
    ours.sort(key=lambda found: (found[0].delete_order, found[1]["stackName"]))
    return [ref for _, ref in ours], others


def delete(cfn: Any, stack: dict[str, Any], role_arn: str = "", request_token: str = "") -> dict[str, Any]:
    """Ask CloudFormation to delete a stack (by id, so a newer stack of that name is safe).

    `request_token` is the attempt's ClientRequestToken: the stack's events carry it back.
    """
    token = {"ClientRequestToken": request_token} if request_token else {}
    cfn.delete_stack(StackName=stack["stackId"], **_role(role_arn), **token)
    return {**stack, "attempts": delete_attempt(stack), "done": False, "failed": False}


def delete_attempt(stack: dict[str, Any]) -> int:
    """Which attempt at deleting `stack` the next DeleteStack is (the workflow carries `attempts`)."""
    return int(stack.get("attempts", 0)) + 1


def describe_deletion(
    cfn: Any,
    stack: dict[str, Any],
    scale: float = 1.0,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    timeout_minutes: float = DELETE_TIMEOUT_MINUTES,
) -> dict[str, Any]:
    """One look at a stack being deleted: done, failed (with the first failure) or wait.

    A deletion still in progress `timeout_minutes` after its DeletionTime raises StackTimedOut.
    """
    found = cfn.describe_stacks(StackName=stack["stackId"])["Stacks"][0]
    status = found["StackStatus"]
    at = now()
    since = found.get("DeletionTime") or found.get("LastUpdatedTime") or found["CreationTime"]
    elapsed = (at - since).total_seconds()
    state = {
        **stack,
        "status": status,
        "done": status == DELETED_STATUS,
        "failed": status == "DELETE_FAILED",
        "waitSeconds": wait_seconds(kinds.kind(stack["kind"]).delete_schedule, elapsed, scale),
    }
    if not (state["done"] or state["failed"]):
        # Only a deletion's own start counts: the stack's creation may be days old.
        state["waitSeconds"] = within_deadline(
            found, found.get("DeletionTime"), state["waitSeconds"], timeout_minutes, at
        )
    if state["failed"]:
        failure = first_failure(cfn, found["StackId"])
        state["reason"] = failure["reason"] if failure else found.get("StackStatusReason") or status
        state["failedResource"] = failure["resource"] if failure else None
    return state
