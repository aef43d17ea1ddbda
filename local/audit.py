"""Which function called which AWS action: the evidence for least-privilege policies.

moto does not evaluate IAM policies for Lambda roles, so the local engine records
instead: every botocore API call made while a Lambda handler (or an API request)
runs is attributed to that function as an IAM action (`states:StartExecution`).
Tests compare what each function did with what its policy in `.chalice/` allows.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections import defaultdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

# botocore's signing name where it differs from the IAM service prefix.
_IAM_PREFIX = {"monitoring": "cloudwatch"}

_principal: contextvars.ContextVar[str | None] = contextvars.ContextVar("ekspress_audit_principal", default=None)
_lock = threading.Lock()
_calls: dict[str, set[str]] = defaultdict(set)
_installed = False
API_HANDLER = "api_handler"  # Chalice's name for the function behind the REST API


# API operations authorized as an IAM action of another name (Lambda's Invoke is lambda:InvokeFunction).
_IAM_ACTION = {("lambda", "Invoke"): "InvokeFunction"}
# DynamoDB transactions are authorized as the item operations inside them.
_TRANSACT_ITEMS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def iam_actions(service_model: Any, operation: str, params: Any) -> set[str]:
    prefix = service_model.signing_name or service_model.endpoint_prefix
    prefix = _IAM_PREFIX.get(prefix, prefix)
    if prefix == "dynamodb" and operation in ("TransactWriteItems", "TransactGetItems"):
        kinds = {kind for item in params.get("TransactItems", []) for kind in item}
        return {f"dynamodb:{_TRANSACT_ITEMS.get(kind, 'GetItem')}" for kind in kinds}
    return {f"{prefix}:{_IAM_ACTION.get((prefix, operation), operation)}"}


@contextlib.contextmanager
def acting_as(function: str) -> Iterator[None]:
    """Attribute the AWS calls made inside this block (this thread) to `function`."""
    token = _principal.set(function)
    try:
        yield
    finally:
        _principal.reset(token)


def actions() -> dict[str, set[str]]:
    """function → the IAM actions it called so far."""
    with _lock:
        return {fn: set(calls) for fn, calls in _calls.items()}


def reset() -> None:
    with _lock:
        _calls.clear()


def install() -> None:
    """Wrap botocore's single call path once per process; idle unless inside `acting_as`."""
    global _installed
    if _installed:
        return
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def _make_api_call(self: BaseClient, operation_name: str, api_params: Any) -> Any:
        function = _principal.get()
        if function is not None:
            called = iam_actions(self.meta.service_model, operation_name, api_params)
            with _lock:
                _calls[function].update(called)
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = _make_api_call  # type: ignore[method-assign]

    # API requests (Chalice's local server calls the app in this process) act as the API handler.
    from app import app

    def _as_api_handler(event: Any, get_response: Any) -> Any:
        with acting_as(API_HANDLER):
            return get_response(event)

    app.register_middleware(_as_api_handler, "http")
    _installed = True


def principal_of(handler: str) -> str:
    """The Chalice function name (the key of its policy) behind a Lambda `Handler` string."""
    from app import app

    if handler == "app.app":
        return API_HANDLER
    names = {fn.handler_string: fn.name for fn in app.pure_lambda_functions}
    names.update({fn.handler_string: fn.name for fn in getattr(app, "event_sources", [])})
    return names.get(handler, handler)
