"""moto validates a state machine's definition with its ASL parser on every CreateStateMachine: about
0.15 s per workflow, so 0.5 s of every engine start. A definition it accepted once is accepted again,
so each distinct one is parsed once per process. Only the validation is remembered: executions still
parse their definition themselves, and a definition moto refuses is refused every time.
"""

from __future__ import annotations

import threading
from typing import Any

_accepted: set[str] = set()
_lock = threading.Lock()
_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend._validate_definition

    def _validate_definition(definition: str) -> Any:
        with _lock:
            if definition in _accepted:
                return None
        result = original(definition=definition)  # raises InvalidDefinition for a bad one
        with _lock:
            _accepted.add(definition)
        return result

    StepFunctionsParserBackend._validate_definition = staticmethod(_validate_definition)  # type: ignore[method-assign]
    _installed = True
