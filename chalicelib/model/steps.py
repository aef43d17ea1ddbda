"""What each Step Functions task receives: the JSON contract between the ASL and the Lambda code.

One model per shape of input, named for what the step works on. Field names are the
ASL's (`clusterId`, `nodegroupStacks`), so the payloads in `statemachine/*.asl.json`
read the same as the code. Unknown keys are ignored: a state may pass more than a step uses.

Frozen dataclasses, checked by `from_event` (each field present unless it has a default, and of its
type): the inputs are flat JSON our own ASL writes, and a task whose use-case needs no pydantic model
then starts without importing pydantic at all (a tenth of a second of a cold start).
"""

from __future__ import annotations

import functools
import types
import typing
from dataclasses import MISSING, dataclass, fields
from typing import Any, Self

if typing.TYPE_CHECKING:
    from collections.abc import Mapping


class StepInputError(ValueError):
    """A step's input lacks a field, or has one of another type: the step fails, as a bad payload must."""


@functools.cache
def _checks(cls: Any) -> tuple[tuple[str, bool, tuple[type, ...]], ...]:
    """(name, required, the types its value may have) of each field of `cls`."""
    hints = typing.get_type_hints(cls)
    found = []
    for f in fields(cls):
        hint = hints[f.name]
        options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        kinds = tuple(type(None) if o is None else (typing.get_origin(o) or o) for o in options)
        required = f.default is MISSING and f.default_factory is MISSING
        found.append((f.name, required, kinds))
    return tuple(found)


@dataclass(frozen=True, kw_only=True)
class ClusterStep:
    """A step of one cluster: its name and the id of this incarnation of that name."""

    name: str
    clusterId: str
    # A step that waits for its stack's CloudFormation event (`lambda:invoke.waitForTaskToken`) gets
    # its token; the execution's name is every step's correlation id.
    taskToken: str = ""
    execution: str = ""
    # The waiting step takes a failed stack as its answer (its Choice decides: retry, clean up), instead
    # of failing with StackFailed.
    answerFailures: bool = False

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> Self:
        """The step `event` describes; StepInputError naming each missing or mistyped field."""
        problems, values = [], {}
        shape: Any = cls
        for name, required, kinds in _checks(shape):
            if name not in event:
                if required:
                    problems.append(f"{name}: required")
                continue
            value = event[name]
            # JSON has no separate integers and booleans for Python: a bool is no int here.
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                problems.append(
                    f"{name}: expected {' or '.join(k.__name__ for k in kinds)}, got {type(value).__name__}"
                )
            values[name] = value
        if problems:
            raise StepInputError(f"{cls.__name__} input: {'; '.join(problems)}")
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class ClusterStackStep(ClusterStep):
    """A step on a cluster-wide stack: `kind` names which (`cluster`, `addons`, `fargate`, or a kind with
    one stack per `member`: `iamserviceaccount`, `podidentityrole`)."""

    kind: str = "cluster"
    member: str = ""


@dataclass(frozen=True, kw_only=True)
class NodegroupStep(ClusterStep):
    nodegroup: str


@dataclass(frozen=True, kw_only=True)
class RegionStep(ClusterStep):
    region: str


@dataclass(frozen=True, kw_only=True)
class StackStep(RegionStep):
    """A step on one stack, as the previous step described it (`stackId`, `kind`, `status`, ...)."""

    stack: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class NodeRoleStep(StackStep):
    action: str


@dataclass(frozen=True, kw_only=True)
class ClusterStackDone(ClusterStep):
    clusterStack: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class NodegroupStacksDone(ClusterStep):
    nodegroupStacks: list[dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class FailedStep(ClusterStep):
    """A workflow's Catch: the Step Functions error (`Error`, `Cause`) of the step that failed."""

    error: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class OperationStep(ClusterStep):
    """A step of an operation on an existing cluster (delete, node group change)."""

    operationId: str


@dataclass(frozen=True, kw_only=True)
class FailedOperationStep(OperationStep):
    error: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class StopCreateStep(ClusterStep):
    createExecutionArn: str | None = None


@dataclass(frozen=True, kw_only=True)
class AccessChangeStep(RegionStep):
    change: dict[str, Any]
    retryCount: int = 0


@dataclass(frozen=True, kw_only=True)
class NotifyStep(ClusterStep):
    event: str
