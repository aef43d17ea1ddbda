"""Run one Lambda handler the way Lambda does: a fresh interpreter imports its module directly.

Usage: python lambda_probe.py HANDLER [EVENT_JSON]. Nothing of the project is imported
but the handler's own module (never `app.py`, unless the handler is `app.app`). With an
event, every AWS call the handler makes is answered as AWS answers a throttled caller,
and the handler's error type is printed: the name Step Functions will match a Retry on.
Without one, the handler is only imported and resolved.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any


def throttle_every_call() -> None:
    """Every AWS API call fails as one AWS kept throttling (after botocore's own retries)."""
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    def throttled(self: Any, operation: str, params: Any) -> Any:
        raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, operation)

    BaseClient._make_api_call = throttled  # type: ignore[method-assign]


def main(handler: str, event: str | None) -> str:
    module_name, _, attr = handler.rpartition(".")
    function = getattr(importlib.import_module(module_name), attr)
    if not callable(function):
        return f"not callable: {handler}"
    if event is None:
        return "imported"
    throttle_every_call()
    try:
        result = function(json.loads(event), None)
    except Exception as exc:  # what Lambda reports as errorType
        return type(exc).__name__
    return f"returned {result!r}"


if __name__ == "__main__":
    print(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
