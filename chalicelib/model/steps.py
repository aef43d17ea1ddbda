"""What each Step Functions task receives: the JSON contract between the ASL and the Lambda code.

One model per shape of input, named for what the step works on. Field names are the
ASL's (`clusterId`, `nodegroupStacks`), so the payloads in `statemachine/*.asl.json`
read the same as the code. Unknown keys are ignored: a state may pass more than a step uses.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class ClusterStep(BaseModel):
    """A step of one cluster: its name and the id of this incarnation of that name."""

    # Each model's validator is built when it first validates: a function validates one shape of input,
    # and its cold start builds that one, not all of them.
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    name: str
    clusterId: str
    # A step that waits for its stack's CloudFormation event (`lambda:invoke.waitForTaskToken`) gets
    # its token; the execution's name is every step's correlation id.
    taskToken: str = ""
    execution: str = ""
    # The waiting step takes a failed stack as its answer (its Choice decides: retry, clean up), instead
    # of failing with StackFailed.
    answerFailures: bool = False


class ClusterStackStep(ClusterStep):
    """A step on a cluster-wide stack: `kind` names which (`cluster`, `addons`, `fargate`, or a kind with
    one stack per `member`: `iamserviceaccount`, `podidentityrole`)."""

    kind: str = "cluster"
    member: str = ""


class NodegroupStep(ClusterStep):
    nodegroup: str


class RegionStep(ClusterStep):
    region: str


class StackStep(RegionStep):
    """A step on one stack, as the previous step described it (`stackId`, `kind`, `status`, ...)."""

    stack: dict[str, Any]


class NodeRoleStep(StackStep):
    action: str


class ClusterStackDone(ClusterStep):
    clusterStack: dict[str, Any]


class NodegroupStacksDone(ClusterStep):
    nodegroupStacks: list[dict[str, Any]]


class FailedStep(ClusterStep):
    """A workflow's Catch: the Step Functions error (`Error`, `Cause`) of the step that failed."""

    error: dict[str, Any]


class OperationStep(ClusterStep):
    """A step of an operation on an existing cluster (delete, node group change)."""

    operationId: str


class FailedOperationStep(OperationStep):
    error: dict[str, Any]


class StopCreateStep(ClusterStep):
    createExecutionArn: str | None = None


class AccessChangeStep(RegionStep):
    change: dict[str, Any]
    retryCount: int = 0


class NotifyStep(ClusterStep):
    event: str
