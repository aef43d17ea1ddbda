"""The one wrapper every Step Functions task goes through, whoever imports it.

Lambda imports the module named in a function's `Handler` directly; `app.py` never
runs there, so nothing a Chalice blueprint attaches at registration (middleware) can
be relied on. Everything a task needs happens in `step_task`'s wrapper instead:

- the input is parsed with the step's pydantic model (a bad payload fails the step);
- the use-case gets a required `Context` (store, clients, settings);
- an AWS call still throttled after botocore's retries fails with AWS's error code as
  its error name, which is what the ASL's throttling Retry matches;
- logs carry the step, the cluster and the execution name as correlation id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from chalicelib.aws.clients import throttled_error
from chalicelib.observability import logger
from chalicelib.operations.context import Context

if TYPE_CHECKING:
    from collections.abc import Callable

    from chalice.app import Blueprint

# The key the ASL passes the execution's name under ("$$.Execution.Name").
EXECUTION_KEY = "execution"


def step_task[S: BaseModel](
    blueprint: Blueprint,
    name: str,
    model: type[S],
    operation: Callable[[Context, S], dict[str, Any]],
    handler: str | None = None,
    context: Callable[[], Context] = Context.default,
) -> Any:
    """Register `operation` as the Lambda function `name`, taking `model` as its input.

    `handler` is the module attribute the result is assigned to (default: `name`);
    Chalice derives the function's `Handler` string from it, so they must agree.
    """

    def run(event: dict[str, Any], lambda_context: Any) -> dict[str, Any]:
        step = model.model_validate(event)
        keys = {"step": name, "cluster": getattr(step, "name", None), "clusterId": getattr(step, "clusterId", None)}
        if lambda_context is not None:
            keys["function_request_id"] = getattr(lambda_context, "aws_request_id", None)
        logger.set_correlation_id(event.get(EXECUTION_KEY))
        with logger.append_context_keys(**{k: v for k, v in keys.items() if v}):
            try:
                return operation(context(), step)
            except Exception as exc:
                named = throttled_error(exc)
                if named is None:
                    raise
                logger.warning("AWS kept throttling", extra={"error": type(named).__name__})
                raise named from exc

    run.__name__ = run.__qualname__ = handler or name
    run.__doc__ = operation.__doc__
    return blueprint.lambda_function(name=name)(run)
