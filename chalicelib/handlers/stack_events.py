"""The `stack_events` function: CloudFormation's stack status events, from their SQS queue.

EventBridge puts each "CloudFormation Stack Status Change" of an `eksctl-` stack on a queue
(infra/template.yaml); Lambda's event source mapping hands this function batches of them.
Lambda imports this module directly (never app.py), so, like `step_task` (task.py), the
handler builds its own Context and log keys. A record that fails is reported back
(`batchItemFailures`) and only it is delivered again, until the queue's redrive policy moves
it to the dead-letter queue; the others are deleted.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.observability import logger
from chalicelib.operations import stack_events as operation
from chalicelib.operations.context import Context

if TYPE_CHECKING:
    from collections.abc import Callable

stack_events_handlers = Blueprint(__name__)


def handle_batch(event: dict[str, Any], context: Callable[[], Context] = Context.default) -> dict[str, Any]:
    """Each SQS record's EventBridge event handled on its own; the ids of those that failed."""
    failures: list[dict[str, str]] = []
    ctx: Context | None = None
    for record in event.get("Records") or []:
        message_id = str(record.get("messageId", ""))
        with logger.append_context_keys(step="stack_events", message_id=message_id):
            try:
                body = json.loads(record.get("body") or "null")
                if not isinstance(body, dict):
                    logger.warning("not an EventBridge event; dropped")
                    continue
                ctx = ctx or context()
                operation.handle(ctx, body)
            except json.JSONDecodeError:
                logger.warning("not JSON; dropped")
            except Exception:
                logger.exception("stack event not handled; it will be delivered again")
                failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


@stack_events_handlers.lambda_function(name="stack_events")
def stack_events(event: dict[str, Any], lambda_context: Any) -> dict[str, Any]:
    return handle_batch(event)
