"""The one wrapper every Step Functions task goes through, whoever imports it.

Lambda imports the module named in a function's `Handler` directly; `app.py` never
runs there, so nothing a Chalice blueprint attaches at registration (middleware) can
be relied on. Everything a task needs happens in `step_task`'s wrapper instead:

- the input is checked against the step's input type (model/steps.py; a bad payload fails the step);
- the use-case gets a required `Context` (store, clients, settings);
- an AWS call still throttled after botocore's retries fails with AWS's error code as
  its error name, which is what the ASL's throttling Retry matches;
- logs carry the step, the cluster and the execution name as correlation id.

Every task's handler lives in one module (tasks.py), but each function runs one use-case:
the use-case is named there by reference ("module:function" in `chalicelib.operations`) and
imported on the function's first call, so a cold start loads its own operation module, not
every task's (the templates and the cluster spec only where a step builds or reads them).
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.aws.clients import throttled_error
from chalicelib.observability import logger
from chalicelib.operations.context import Context

if TYPE_CHECKING:
    from collections.abc import Callable

    from chalice.app import Blueprint

    from chalicelib.model.steps import ClusterStep

# The key the ASL passes the execution's name under ("$$.Execution.Name").
EXECUTION_KEY = "execution"
# Where a use-case named by reference lives.
OPERATIONS = "chalicelib.operations"

type UseCase = Callable[[Context, Any], dict[str, Any]]


@functools.cache
def resolve(reference: str) -> UseCase:
    """The use-case `reference` names ("module:function", the module in `chalicelib.operations`), imported."""
    module, separator, function = reference.partition(":")
    if not (separator and module and function):
        raise ValueError(f"a use-case is named 'module:function', not {reference!r}")
    found = getattr(importlib.import_module(f"{OPERATIONS}.{module}"), function)
    if not callable(found):
        raise TypeError(f"{OPERATIONS}.{module}.{function} is not a function")
    return found  # type: ignore[no-any-return]


@dataclass(frozen=True)
class StepTask:
    """One registered task: its function's name, its input model, its use-case (or where to find it) and the
    module attribute its handler is."""

    name: str
    model: type[ClusterStep]
    operation: str | UseCase
    handler: str

    def use_case(self) -> UseCase:
        return resolve(self.operation) if isinstance(self.operation, str) else self.operation

    def load(self) -> UseCase:
        """What the first call loads before it runs: the use-case's module."""
        return self.use_case()


# Every task registered by `step_task`, by function name.
REGISTERED: dict[str, StepTask] = {}


def step_task[S: ClusterStep](
    blueprint: Blueprint,
    name: str,
    model: type[S],
    operation: str | Callable[[Context, S], dict[str, Any]],
    handler: str | None = None,
    context: Callable[[], Context] = Context.default,
) -> Any:
    """Register `operation` as the Lambda function `name`, taking `model` as its input.

    `operation` is the use-case, or its reference ("module:function" in `chalicelib.operations`),
    imported on the first call. `handler` is the module attribute the result is assigned to
    (default: `name`); Chalice derives the function's `Handler` string from it, so they must agree.
    """
    task = REGISTERED[name] = StepTask(name, model, operation, handler or name)

    def run(event: dict[str, Any], lambda_context: Any) -> dict[str, Any]:
        step = model.from_event(event)
        keys = {"step": name, "cluster": getattr(step, "name", None), "clusterId": getattr(step, "clusterId", None)}
        if lambda_context is not None:
            keys["function_request_id"] = getattr(lambda_context, "aws_request_id", None)
        logger.set_correlation_id(event.get(EXECUTION_KEY))
        with logger.append_context_keys(**{k: v for k, v in keys.items() if v}):
            try:
                return task.use_case()(context(), step)
            except Exception as exc:
                named = throttled_error(exc)
                if named is None:
                    raise
                logger.warning("AWS kept throttling", extra={"error": type(named).__name__})
                raise named from exc

    run.__name__ = run.__qualname__ = handler or name
    run.__doc__ = f"Step task {name}: {getattr(operation, '__name__', operation)}."
    return blueprint.lambda_function(name=name)(run)
