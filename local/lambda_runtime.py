"""An in-process Lambda runtime for moto: invoke imports the function's Handler and calls it.

moto's docker-less Lambda back end answers every invoke with a canned string.
This replaces its `invoke` so Step Functions tasks run our real handlers, in
this process, with a Lambda-shaped context and Lambda-shaped errors.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.awslambda_simple.models import LambdaSimpleBackend

from local import audit

logger = logging.getLogger(__name__)


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    timeout_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_ms


@dataclass
class InvocationLog:
    """What the runtime did, so tests can count invocations and see errors."""

    calls: list[tuple[str, str]] = field(default_factory=list)  # (function, "ok" | error type)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, function: str, outcome: str) -> None:
        with self.lock:
            self.calls.append((function, outcome))

    def count(self, function: str | None = None) -> int:
        with self.lock:
            return sum(1 for f, _ in self.calls if function is None or f == function)


invocations = InvocationLog()
# Set when the engine runs a deployed template: every function must be configured with
# exactly the ekspress settings this process runs with (the deployment's wiring).
strict_environment = False
SETTINGS_PREFIX = "EKSPRESS_"


def check_environment(function_name: str, configured: dict[str, str]) -> None:
    """A function whose configured settings differ from the running ones is miswired: fail like it would."""
    if not strict_environment:
        return
    import os

    from chalicelib.model.settings import ENV_LOCAL_IDENTITY_KEY  # the engine's own, never deployed

    names = {k for k in (*configured, *os.environ) if k.startswith(SETTINGS_PREFIX)} - {ENV_LOCAL_IDENTITY_KEY}
    wrong = sorted(k for k in names if configured.get(k) != os.environ.get(k))
    if wrong:
        raise RuntimeError(f"{function_name} is deployed with other settings than the service runs with: {wrong}")


_original_invoke = LambdaSimpleBackend.invoke
# A function with reserved concurrency runs at most that many invocations at once. Lambda throttles an
# asynchronous invocation beyond it and retries it later; here it waits for a free slot (the same order).
_slots: dict[str, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


def _slot(function_name: str, reserved: Any) -> threading.BoundedSemaphore | None:
    if not reserved:
        return None
    with _slots_lock:
        return _slots.setdefault(function_name, threading.BoundedSemaphore(int(reserved)))


def resolve_handler(handler: str) -> Any:
    module_name, _, attr = handler.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def _invoke(
    self: LambdaSimpleBackend, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
) -> bytes:
    if (headers or {}).get("X-Amz-Invocation-Type") == "Event":
        # Asynchronous: Lambda queues the event and answers 202 at once; the function runs later.
        fn = self.get_function(function_name, qualifier)  # an unknown function is refused now, as on AWS
        worker = threading.Thread(
            target=_run_event,
            args=(self, fn.function_name, qualifier, body),
            name=f"lambda-{fn.function_name}",
            daemon=True,
        )
        worker.start()
        return b""
    fn = self.get_function(function_name, qualifier)
    context = LambdaContext(
        function_name=fn.function_name,
        memory_limit_in_mb=int(fn.memory_size or 128),
        invoked_function_arn=fn.function_arn,
        timeout_ms=int(fn.timeout or 60) * 1000,
    )
    try:
        check_environment(fn.function_name, dict(fn.environment_vars or {}))
        event = json.loads(body) if body else {}
        with audit.acting_as(audit.principal_of(fn.handler)):
            result = resolve_handler(fn.handler)(event, context)
        payload = json.dumps(result)
        invocations.record(fn.function_name, "ok")
    except Exception as exc:  # reported to the caller as Lambda does, never raised into moto
        response_headers["x-amz-function-error"] = "Unhandled"
        payload = json.dumps(
            {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "stackTrace": traceback.format_exception(exc)[-5:],
            }
        )
        invocations.record(fn.function_name, type(exc).__name__)
    response_headers["Content-Length"] = str(len(payload.encode()))
    return payload.encode()


def _run_event(backend: LambdaSimpleBackend, function_name: str, qualifier: str | None, body: Any) -> None:
    """An asynchronous invocation: nobody waits for its answer, so a failure is logged with its trace."""
    headers: dict[str, str] = {}
    slot = _slot(function_name, backend.get_function(function_name, qualifier).reserved_concurrency)
    if slot is not None:
        slot.acquire()
    try:
        payload = _invoke(backend, function_name, qualifier, body, {}, headers)
    finally:
        if slot is not None:
            slot.release()
    if "x-amz-function-error" in headers:
        failure = json.loads(payload)
        logger.error(
            "asynchronous invocation of %s failed: %s: %s\n%s",
            function_name,
            failure["errorType"],
            failure["errorMessage"],
            "".join(failure["stackTrace"]),
        )


def install() -> None:
    LambdaSimpleBackend.invoke = _invoke  # type: ignore[method-assign]


def uninstall() -> None:
    LambdaSimpleBackend.invoke = _original_invoke  # type: ignore[method-assign]
